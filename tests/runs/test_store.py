"""The store: URI resolution, safe creation (also by parallel processes), experiments."""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from conftest import count_runs, train_command


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("sqlite:///mlflow.db", Path("mlflow.db")),
        ("sqlite:////tmp/stores/a.db", Path("/tmp/stores/a.db")),
        ("postgresql://user@127.0.0.1/mlflow", None),
        ("http://127.0.0.1:5000", None),
    ],
)
def test_sqlite_path(uri: str, expected: Path | None) -> None:
    from mlops_tracking.runs.store import sqlite_path

    assert sqlite_path(uri) == expected


def test_default_uri_is_local_sqlite_never_mlruns(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_tracking.runs.store import tracking_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert tracking_uri() == "sqlite:///mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking:5000")
    assert tracking_uri() == "http://tracking:5000"


def test_open_store_creates_the_schema_once(tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.runs.store import open_store

    database = tmp_path / "nested" / "dir" / "store.db"
    uri = f"sqlite:///{database}"
    assert open_store(uri) == uri
    assert open_store(uri) == uri  # idempotent
    assert database.is_file()
    assert [e.name for e in client.search_experiments()] == ["Default"]


def test_open_store_reports_an_unusable_location(tmp_path: Path) -> None:
    from mlops_tracking.core.errors import StoreError
    from mlops_tracking.runs.store import open_store

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot open the tracking store"):
        open_store(f"sqlite:///{blocker / 'store.db'}")


def test_ensure_experiment_gets_or_creates(client) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.runs.store import ensure_experiment, open_store

    open_store()
    first = ensure_experiment("churn", tags={"team": "risk"})
    assert ensure_experiment("churn") == first
    assert client.get_experiment(first).tags["team"] == "risk"


def test_a_deleted_experiment_is_refused_with_the_restore_command(client) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.core.errors import StoreError
    from mlops_tracking.runs.store import ensure_experiment, open_store

    open_store()
    experiment_id = ensure_experiment("old")
    client.delete_experiment(experiment_id)
    with pytest.raises(
        StoreError,
        match=rf"mlflow experiments restore --experiment-id "
        rf"{experiment_id}",
    ):
        ensure_experiment("old")


def _open_and_create(uri: str) -> str:
    from mlops_tracking.runs.store import ensure_experiment, open_store

    open_store(uri)
    return ensure_experiment("shared")


def test_parallel_processes_open_a_fresh_store(tmp_path: Path) -> None:
    """Four processes creating the same new store and experiment at once all succeed."""
    uri = f"sqlite:///{tmp_path / 'fresh.db'}"
    with ProcessPoolExecutor(max_workers=4) as pool:
        ids = list(pool.map(_open_and_create, [uri] * 4))
    assert len(set(ids)) == 1


@pytest.mark.slow
def test_two_train_commands_on_a_fresh_store_both_succeed(tmp_path: Path) -> None:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'fresh.db'}"}
    processes = [
        subprocess.Popen(
            train_command("model.name=logistic_regression", f"data.seed={seed}"),
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for seed in (1, 2)
    ]
    outputs = [p.communicate(timeout=240)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    os.environ["MLFLOW_TRACKING_URI"] = env["MLFLOW_TRACKING_URI"]
    assert count_runs() == 2


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("postgresql://alice:s3cret@db:5432/mlflow", "postgresql://alice:***@db:5432/mlflow"),
        ("http://bob:pw@tracking:5000", "http://bob:***@tracking:5000"),
        ("sqlite:///mlflow.db", "sqlite:///mlflow.db"),
    ],
)
def test_credentials_are_never_printed(uri: str, shown: str) -> None:
    from mlops_tracking.runs.store import redact

    assert redact(uri) == shown


def test_local_artifacts_live_next_to_the_database(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    from mlops_tracking.runs.store import ensure_experiment, open_store

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    os.chdir(elsewhere)  # the working directory must not matter
    open_store(uri)
    experiment = MlflowClient(uri).get_experiment(ensure_experiment("churn model v2"))
    assert (
        experiment.artifact_location == (tmp_path / "store" / "mlruns" / "churn-model-v2").as_uri()
    )


def _documented_move_statements() -> list[str]:
    """The SQL of the documented "move a store" procedure, exactly as the docs print it."""
    page = Path(__file__).resolve().parents[2] / "docs" / "reference" / "configuration.md"
    statements = [line for line in page.read_text().splitlines() if line.startswith("UPDATE ")]
    assert len(statements) == 4, "the documented move procedure changed: update this test"
    return [line.removesuffix('"') for line in statements]


def test_the_documented_move_procedure_moves_a_store(binary_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Copy a trained store elsewhere, rewrite the prefix as the docs say, read it all back.

    A plain copy still points at the original folder (absolute artifact locations); after the
    rewrite every artifact, the logged model and new experiments live in the new folder.
    """
    import shutil
    import sqlite3

    import mlflow
    from mlflow import MlflowClient

    from mlops_tracking.runs.store import ensure_experiment, open_store, sqlite_path

    old = sqlite_path(binary_run.uri)
    assert old is not None
    new = tmp_path / "moved"
    new.mkdir()
    shutil.copy(old, new / "mlflow.db")
    shutil.copytree(old.parent / "mlruns", new / "mlruns")
    uri = f"sqlite:///{new / 'mlflow.db'}"
    copied = MlflowClient(uri).get_run(binary_run.run_id).info.artifact_uri
    assert copied.startswith(f"file://{old.parent}/mlruns/")  # a copy alone is not a move

    with sqlite3.connect(new / "mlflow.db") as database:
        for statement in _documented_move_statements():
            database.execute(statement.replace("$OLD", str(old.parent)).replace("$NEW", str(new)))

    client = MlflowClient(uri)
    run = client.get_run(binary_run.run_id)
    assert run.info.artifact_uri.startswith(f"file://{new}/mlruns/")
    config = client.download_artifacts(run.info.run_id, "config/resolved.yaml", str(tmp_path))
    assert "data:" in Path(config).read_text()
    model_id = run.data.tags["model_uri.pyfunc"].removeprefix("models:/")
    assert client.get_logged_model(model_id).artifact_location.startswith(f"file://{new}/")
    mlflow.set_tracking_uri(uri)
    model = mlflow.pyfunc.load_model(run.data.tags["model_uri.pyfunc"])
    assert model.metadata.model_id == model_id
    open_store(uri)
    location = client.get_experiment(ensure_experiment("after the move")).artifact_location
    assert location.startswith(new.as_uri())


def test_open_store_leaves_the_run_phase_retries_in_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient
    from mlflow.environment_variables import (
        MLFLOW_HTTP_REQUEST_MAX_RETRIES,
        MLFLOW_HTTP_REQUEST_TIMEOUT,
    )

    from mlops_tracking.core.config import HttpConfig
    from mlops_tracking.runs import http_settings
    from mlops_tracking.runs.store import open_store

    for name in http_settings.VARIABLES:
        monkeypatch.setenv(name, "")  # so that teardown restores the variable's absence too
        monkeypatch.delenv(name)
    monkeypatch.setattr(http_settings, "_applied", {})
    http = HttpConfig(outage_window_seconds=30, run_timeout_seconds=20)
    uri = open_store(f"sqlite:///{tmp_path / 'store.db'}", http)
    assert MLFLOW_HTTP_REQUEST_MAX_RETRIES.get() == http_settings.retries_spanning(30, 1) == 5
    assert MLFLOW_HTTP_REQUEST_TIMEOUT.get() == 20
    assert [e.name for e in MlflowClient(uri).search_experiments()] == ["Default"]
