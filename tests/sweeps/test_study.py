"""Where a sweep's study lives, and a study that two workers share through PostgreSQL on the
team server."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from conftest import FAST, PARAMS
from team_server import POSTGRES


def _config(*overrides: str):  # type: ignore[no-untyped-def]
    from mlops_tracking.core.config import load_config

    return load_config(PARAMS, list(overrides))


@pytest.mark.parametrize(
    ("overrides", "tracking", "storage"),
    [
        ((), "sqlite:///mlflow.db", "journal:build/sweeps/optuna.journal"),
        ((), "http://team:5050", "postgresql://postgres@127.0.0.1:5432/optuna"),
        (
            ("server.backend_store_uri=postgresql://ml:secret@db:5432/mlflow",),
            "https://team",
            "postgresql://ml:secret@db:5432/optuna",
        ),
        (
            ("sweep.storage=/shared/study.journal",),
            "http://team:5050",
            "journal:/shared/study.journal",
        ),
        (("sweep.storage=mysql://u@db/optuna",), "sqlite:///mlflow.db", "mysql://u@db/optuna"),
    ],
)
def test_the_storage_follows_the_tracking_store(overrides, tracking, storage) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.sweeps.study import StudyPlace, storage_url

    url = storage_url(_config(*overrides), tracking)
    if storage == "journal:build/sweeps/optuna.journal":
        storage = f"journal:{Path.cwd() / 'build/sweeps/optuna.journal'}"
    assert url == storage
    assert "secret" not in StudyPlace("s", url).shown


def test_auto_storage_on_a_server_without_postgresql_says_what_to_set() -> None:
    from mlops_tracking.core.errors import ConfigError
    from mlops_tracking.sweeps.study import storage_url

    config = _config("server.backend_store_uri=sqlite:///server.db")
    with pytest.raises(ConfigError, match=r"set sweep\.storage to a postgresql:// URL"):
        storage_url(config, "http://team:5050")


def test_workers_taking_tickets_run_exactly_the_sweeps_trials() -> None:
    import multiprocessing
    import threading

    from mlops_tracking.sweeps.workers import Tickets

    local = Tickets(3)
    assert [local.take() for _ in range(5)] == [True, True, True, False, False]
    shared = Tickets(500, multiprocessing.get_context("spawn").Value("i", 0))
    taken = [0] * 4

    def worker(index: int) -> None:
        while shared.take():
            taken[index] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(taken) == 500 and not shared.take()


@pytest.mark.slow
def test_a_sweep_on_the_team_server_keeps_its_study_in_postgresql(  # type: ignore[no-untyped-def]
    team_server, tmp_path, monkeypatch
) -> None:
    import optuna
    from mlflow import MlflowClient

    from conftest import cli, sets

    experiment = f"team-sweep-{uuid.uuid4().hex[:8]}"
    result = cli(
        "sweep",
        "--config",
        str(PARAMS),
        "--experiment",
        experiment,
        "--trials",
        "6",
        "--workers",
        "2",
        *sets(
            *FAST,
            # trials of a second or so: the spawned worker joins the command's own
            "model.name=mlp",
            "model.mlp.max_epochs=80",
            "model.mlp.patience=null",
            "sweep.pruner=none",
            "tracking.system_metrics=false",
            f"server.backend_store_uri={team_server.backend_store_uri}",
        ),
        env=team_server.env("alice"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    storage = f"{POSTGRES}/optuna"
    assert f"Study storage: {storage}" in result.stdout
    study_name = f"{experiment}-mlp"
    rdb = optuna.storages.RDBStorage(storage)
    try:
        study = optuna.load_study(study_name=study_name, storage=rdb)
        # two workers, one study in PostgreSQL: no trial number twice, none lost
        assert sorted(t.number for t in study.trials) == list(range(6))
        assert len({t.user_attrs["worker"] for t in study.trials}) == 2
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", team_server.users["admin"])
        client = MlflowClient(team_server.uri)
        runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
        trial_runs = {r.info.run_id for r in runs if r.data.tags.get("sweep.trial_state")}
        assert trial_runs == {t.user_attrs["mlflow_run_id"] for t in study.trials}
        assert {r.info.user_id for r in runs} == {"alice"}
        assert [r for r in runs if r.data.tags.get("sweep.role") == "best"]
    finally:
        optuna.delete_study(study_name=study_name, storage=rdb)
        rdb.engine.dispose()
