"""The offline spool: a train whose server refuses goes, whole, to the spool; a 401 and
``tracking.offline: off`` do not; sync then copies the spooled run to the store it names."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import FAST, cli, sets
from fake_server import answering, closed_port


def environment(uri: str, spool: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_HTTP_REQUEST")}
    return {**env, "MLFLOW_TRACKING_URI": uri, "MLOPS_TRACKING_SPOOL_URI": spool}


def train(uri: str, spool: str, *overrides: str) -> Any:
    from conftest import PARAMS

    quick = ("tracking.http.max_retries=0", *overrides)
    args = ("train", "--config", str(PARAMS), *sets(*FAST, *quick))
    return cli(*args, env=environment(uri, spool))


def spooled_runs(spool: str) -> list[Any]:
    from mlflow import MlflowClient

    client = MlflowClient(spool)
    return list(client.search_runs([e.experiment_id for e in client.search_experiments()]))


def test_a_train_whose_server_refuses_is_written_whole_to_the_spool(tmp_path: Path) -> None:
    import mlflow

    from mlops_tracking.audit.checklist import audit_run

    server = closed_port()  # nothing listens: connections are refused
    spool = f"sqlite:///{tmp_path / 'spool' / 'mlflow.db'}"
    result = train(server, spool)
    said = " ".join(result.stdout.split())
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Offline: the tracking server {server} refused the connection" in said
    assert f"into the spool {spool}" in said
    assert "`mlops-tracking sync` copies them there" in said
    [run] = spooled_runs(spool)
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlops.spool.target"] == server
    assert "mlops.spool.abandoned" not in run.data.tags
    mlflow.set_tracking_uri(spool)
    os.environ["MLFLOW_TRACKING_URI"] = spool  # audit reads the current store
    assert audit_run(run.info.run_id).passed


def test_with_offline_off_a_refused_server_fails_and_nothing_is_spooled(tmp_path: Path) -> None:
    server = closed_port()
    result = train(server, f"sqlite:///{tmp_path / 'spool.db'}", "tracking.offline=off")
    assert result.returncode == 2, result.stdout
    assert "refused the connection" in result.stdout
    assert not (tmp_path / "spool.db").exists()


@pytest.fixture
def login_required() -> Iterator[str]:
    """A server that answers every request with 401, as MLflow's basic-auth app does."""
    body = '{"error_code": "UNAUTHENTICATED", "message": "login required"}'
    headers = {"Content-Type": "application/json", "WWW-Authenticate": 'Basic realm="mlflow"'}
    with answering({"": (401, body)}, headers) as url:
        yield url


def test_a_401_is_an_error_not_an_outage(login_required: str, tmp_path: Path) -> None:
    result = train(login_required, f"sqlite:///{tmp_path / 'spool.db'}")
    assert result.returncode == 2, result.stdout
    assert "requires a login (HTTP 401)" in " ".join(result.stdout.split())
    assert "Offline" not in result.stdout
    assert not (tmp_path / "spool.db").exists()


def test_sync_copies_the_spooled_run_to_the_store_it_names(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    server = closed_port()
    spool = f"sqlite:///{tmp_path / 'spool' / 'mlflow.db'}"
    assert train(server, spool).returncode == 0
    [original] = spooled_runs(spool)
    moved = f"sqlite:///{tmp_path / 'moved' / 'mlflow.db'}"
    first = cli("sync", "--to", moved, "--audit", env=environment(server, spool))
    assert first.returncode == 0, first.stdout + first.stderr
    said = " ".join(first.stdout.split())
    assert "Synced: 1 runs copied, 0 skipped" in said
    assert "every copy matches its original" in said
    assert ": PASS" in said
    client = MlflowClient(moved)
    [copy] = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert copy.data.tags["mlops.sync.source"].endswith(f"/{original.info.run_id}")
    assert copy.data.params == original.data.params
    again = cli("sync", "--to", moved, env=environment(server, spool))
    assert "Synced: 0 runs copied, 1 skipped" in " ".join(again.stdout.split())
    assert len(client.search_runs([copy.info.experiment_id])) == 1
