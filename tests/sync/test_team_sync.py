"""The spool and ``sync`` against a real team server: killed mid-train, back, synced once.

alice trains against a PostgreSQL + basic-auth server; the server is SIGKILLed as soon as her
run is RUNNING there. The train must still succeed, whole, into the spool; once the server is
back (same databases), ``mlops-tracking sync`` copies the run there, ends the abandoned run
KILLED, and a second sync adds nothing. Everything is read back with ``MlflowClient``, from
the spool's SQLite file and through the server. The figures printed go in the docs (run with
``-s`` to see them).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from conftest import FAST, PARAMS, cli, sets
from team_server import TeamServer, requires_postgres, running_team_server

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200), requires_postgres]

WINDOW = 5  # tracking.http.outage_window_seconds: the dead server is given up on quickly
MODELS = 4  # sklearn, pickle, onnx, pyfunc (tracking.model_formats)
SOURCE_TAG = "mlops.sync.source"
ABANDONED_TAG = "mlops.spool.abandoned"


def client_environment(server: TeamServer, spool: str) -> dict[str, str]:
    env = {k: v for k, v in server.env("alice").items() if not k.startswith("MLFLOW_HTTP_REQ")}
    return {**env, "MLOPS_TRACKING_SPOOL_URI": spool}


def all_runs(client: MlflowClient) -> list[Run]:
    experiments = [e.experiment_id for e in client.search_experiments()]
    return list(client.search_runs(experiments)) if experiments else []


def models_of(client: MlflowClient, run: Run) -> dict[str, Any]:
    found = client.search_logged_models(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"source_run_id = '{run.info.run_id}'",
    )
    return {model.name: model for model in found}


def model_count(client: MlflowClient) -> int:
    experiments = [e.experiment_id for e in client.search_experiments()]
    return len(client.search_logged_models(experiment_ids=experiments)) if experiments else 0


def histories(client: MlflowClient, run: Run) -> dict[str, list[tuple[int, int, str]]]:
    """Every metric history of ``run``: (step, timestamp, value as text, so NaN equals NaN)."""
    return {
        key: sorted(
            (m.step, m.timestamp, repr(m.value))
            for m in client.get_metric_history(run.info.run_id, key)
        )
        for key in run.data.metrics
    }


def tree(lister: Any, resource: str, path: str | None = None) -> dict[str, int | None]:
    """Every artifact file under ``path`` with its size."""
    files: dict[str, int | None] = {}
    for entry in lister(resource, path):
        if entry.is_dir:
            files.update(tree(lister, resource, entry.path))
        else:
            files[entry.path] = entry.file_size
    return files


class Figures(list[str]):
    """The figures for the docs, printed as they come (``-s``) so a slow step shows."""

    def append(self, figure: str) -> None:
        print(f"figure: {figure}", flush=True)
        super().append(figure)


def start_train(env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    overrides = (*FAST, f"tracking.http.outage_window_seconds={WINDOW}")
    command = [sys.executable, "-m", "mlops_tracking", "train", "--config", str(PARAMS)]
    return subprocess.Popen(
        [*command, *sets(*overrides)],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for_a_running_run(server: MlflowClient, process: subprocess.Popen[str]) -> str:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        running = [run for run in all_runs(server) if run.info.status == "RUNNING"]
        if running:
            return str(running[0].info.run_id)
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"train made no RUNNING run on the server: {process.communicate()[0]}")


def test_a_train_spooled_when_its_server_died_syncs_back_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    spool = f"sqlite:///{tmp_path / 'spool' / 'mlflow.db'}"
    figures = Figures()
    with running_team_server(tmp_path / "server") as server:
        env = client_environment(server, spool)
        for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            monkeypatch.setenv(name, env[name])  # this process reads the server as alice
        remote = MlflowClient(server.uri)

        started = time.monotonic()
        process = start_train(env, tmp_path)
        abandoned = wait_for_a_running_run(remote, process)
        figures.append(f"run RUNNING on the server {time.monotonic() - started:.1f} s after start")
        server.kill()
        killed = time.monotonic()
        output, _ = process.communicate(timeout=600)
        figures.append(
            f"train ended {time.monotonic() - killed:.1f} s after the kill "
            f"({time.monotonic() - started:.1f} s in all, window {WINDOW} s)"
        )
        said = " ".join(output.split())
        assert process.returncode == 0, output
        assert f"Offline: the tracking server {server.uri}" in said, said
        assert abandoned in said
        assert f"into the spool {spool}" in said

        # the spooled run is complete: read back from the spool's own store
        local = MlflowClient(spool)
        [original] = all_runs(local)
        assert original.info.status == "FINISHED"
        assert original.data.tags["mlops.spool.target"] == server.uri
        assert original.data.tags[ABANDONED_TAG] == abandoned
        spooled_models = models_of(local, original)
        assert len(spooled_models) == MODELS, sorted(spooled_models)
        assert {str(m.status) for m in spooled_models.values()} == {"READY"}
        spooled_artifacts = tree(local.list_artifacts, original.info.run_id)
        assert spooled_artifacts
        spooled_histories = histories(local, original)
        assert "test_accuracy" in spooled_histories or "test_rmse" in spooled_histories
        audited = cli("audit", original.info.run_id, env={**env, "MLFLOW_TRACKING_URI": spool})
        assert audited.returncode == 0, audited.stdout + audited.stderr
        figures.append(
            f"spooled run: {len(spooled_histories)} metric keys, "
            f"{sum(map(len, spooled_histories.values()))} values, "
            f"{len(spooled_artifacts)} artifact files, {len(spooled_models)} models"
        )

        down = time.monotonic()
        server.start()
        figures.append(f"server back (same databases) in {time.monotonic() - down:.1f} s")
        assert remote.get_run(abandoned).info.status == "RUNNING"  # nothing ended it yet

        synced_at = time.monotonic()
        first = cli("sync", env=env, cwd=tmp_path, timeout=900)
        figures.append(f"first sync {time.monotonic() - synced_at:.1f} s")
        said = " ".join(first.stdout.split())
        assert first.returncode == 0, first.stdout + first.stderr
        assert "Synced: 1 runs copied, 0 skipped" in said, said
        assert f"ended the abandoned server run {abandoned} KILLED" in said, said
        assert "every copy matches its original" in said, said

        [copy] = [r for r in all_runs(remote) if SOURCE_TAG in r.data.tags]
        assert copy.data.tags[SOURCE_TAG].endswith(f"/{original.info.run_id}")
        assert copy.info.status == "FINISHED"
        assert copy.info.run_id != abandoned
        audit = cli("audit", copy.info.run_id, env=env, cwd=tmp_path)
        assert audit.returncode == 0, audit.stdout + audit.stderr
        assert histories(remote, copy) == spooled_histories
        assert copy.data.params == original.data.params
        copied_models = models_of(remote, copy)
        assert sorted(copied_models) == sorted(spooled_models)
        assert {str(m.status) for m in copied_models.values()} == {"READY"}
        for name, model in copied_models.items():
            assert tree(remote.list_logged_model_artifacts, model.model_id) == tree(
                local.list_logged_model_artifacts, spooled_models[name].model_id
            ), name
        assert tree(remote.list_artifacts, copy.info.run_id) == spooled_artifacts
        left = remote.get_run(abandoned)
        assert left.info.status == "KILLED"
        assert left.data.tags["mlops.sync.replaced_by"] == copy.info.run_id

        runs_before, models_before = len(all_runs(remote)), model_count(remote)
        synced_at = time.monotonic()
        second = cli("sync", env=env, cwd=tmp_path)
        figures.append(f"second sync {time.monotonic() - synced_at:.1f} s")
        assert second.returncode == 0, second.stdout + second.stderr
        assert "Synced: 0 runs copied, 1 skipped" in " ".join(second.stdout.split())
        assert (len(all_runs(remote)), model_count(remote)) == (runs_before, models_before)
        figures.append(f"server after sync: {runs_before} runs, {models_before} models")
        figures.append(first.stdout.strip().splitlines()[-1])
