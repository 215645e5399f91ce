"""sweep: an Optuna study read back from the store as one parent, light trial runs and a full
run of the best trial; the study itself read back from its storage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import FAST, PARAMS, count_runs

# Small forests so a dozen trials take seconds; the pruner may act from the third trial on.
FOREST = [
    *FAST,
    "sweep.space.random_forest.n_estimators.low=5",
    "sweep.space.random_forest.n_estimators.high=40",
    "sweep.space.random_forest.max_depth.high=8",
    "sweep.pruner_startup_trials=2",
    "sweep.pruner_warmup_steps=1",
    "tracking.system_metrics=false",
]
STATE_OF_RUN = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed"}


def _config(*overrides: str):  # type: ignore[no-untyped-def]
    from mlops_tracking.core.config import load_config

    return load_config(PARAMS, [*FOREST, *overrides])


def _study(name: str) -> Any:
    import optuna

    from mlops_tracking.sweeps.study import JOURNAL

    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(JOURNAL))
    )
    return optuna.load_study(study_name=name, storage=storage)


def _children(client: Any, outcome: Any) -> list[Any]:
    return client.search_runs(
        [outcome.experiment.id],
        f"tags.mlflow.parentRunId = '{outcome.parent_run_id}'",
        max_results=1000,
    )


def test_a_sweep_reads_back_as_a_parent_its_trials_and_a_full_best_run(client) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.audit.checklist import audit_run
    from mlops_tracking.core.config import RegistryConfig
    from mlops_tracking.registry.release import register_run
    from mlops_tracking.sweeps.sweep import sweep_and_log

    outcome = sweep_and_log(_config("sweep.trials=12"))
    parent = client.get_run(outcome.parent_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["mlops.run_type"] == "sweep"
    children = _children(client, outcome)
    trials = {
        c.data.tags["sweep.trial"]: c for c in children if c.data.tags.get("sweep.trial_state")
    }
    best_runs = [c for c in children if c.data.tags.get("sweep.role") == "best"]
    assert len(trials) == 12 and len(best_runs) == 1 and len(children) == 13
    study = _study(outcome.place.name)
    assert [t.number for t in study.trials] == list(range(12))
    states = {STATE_OF_RUN[t.state.name] for t in study.trials}
    assert "complete" in states and "pruned" in states, states
    for frozen in study.trials:
        run = trials[str(frozen.number)]
        assert frozen.user_attrs["mlflow_run_id"] == run.info.run_id
        assert run.info.run_name == f"trial-{frozen.number:03d}"
        assert run.data.tags["sweep.trial_state"] == STATE_OF_RUN[frozen.state.name]
        assert run.info.status == "FINISHED"
        for key, value in frozen.user_attrs["hyperparameters"].items():
            assert run.data.params[f"model.{key}"] == str(value)
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "val_loss")]
        assert steps == sorted(steps) and steps
        if frozen.state.name == "PRUNED":
            # stopped where the pruner said, before it was scored
            assert run.data.tags["sweep.pruned_at"] == str(steps[-1])
            assert max(frozen.intermediate_values) <= steps[-1]
            assert not any(k.startswith("validation_") for k in run.data.metrics)
        else:
            assert run.data.metrics["validation_log_loss"] == pytest.approx(frozen.value)
            assert steps[-1] == frozen.user_attrs["hyperparameters"]["n_estimators"]
        trial_report = audit_run(run.info.run_id)
        assert trial_report.passed, [(i.item, i.location) for i in trial_report.missing]
    # the parent: its settings, the summary read back against the children's own metrics
    assert parent.data.params["sweep.trials"] == "12"
    assert parent.data.params["sweep.space.n_estimators"] == "[5.0, 40.0] log"
    assert parent.data.params["model.name"] == "random_forest"
    complete = [c for c in trials.values() if c.data.tags["sweep.trial_state"] == "complete"]
    best_trial = min(complete, key=lambda c: c.data.metrics["validation_log_loss"])
    assert parent.data.metrics["best_validation_log_loss"] == pytest.approx(
        best_trial.data.metrics["validation_log_loss"]
    )
    assert parent.data.metrics["trials_complete"] == len(complete)
    assert parent.data.metrics["trials_pruned"] == 12 - len(complete)
    assert parent.data.tags["sweep.best_trial_run_id"] == best_trial.info.run_id
    history = client.get_metric_history(outcome.parent_run_id, "best_so_far_validation_log_loss")
    assert [m.value for m in history] == sorted((m.value for m in history), reverse=True)
    table = client.load_table(
        outcome.experiment.id, "sweep/trials.json", run_ids=[outcome.parent_run_id]
    )
    assert sorted(table["run_id"]) == sorted(c.info.run_id for c in trials.values())
    artifacts = {a.path for a in client.list_artifacts(outcome.parent_run_id, "plots")}
    assert "plots/sweep_history.png" in artifacts and "plots/sweep_importances.png" in artifacts
    report = audit_run(outcome.parent_run_id)
    assert report.profile == "sweep" and report.passed, [
        (i.item, i.location) for i in report.missing
    ]
    # the best trial, trained again in full: every model format, audited, registrable
    best = best_runs[0]
    assert parent.data.tags["sweep.best_run_id"] == best.info.run_id
    assert best.data.tags["sweep.trial_run_id"] == best_trial.info.run_id
    for key, value in json.loads(
        json.dumps(study.best_trial.user_attrs["hyperparameters"])
    ).items():
        assert best.data.params[f"model.{key}"] == str(value)
    assert best.data.metrics["validation_log_loss"] == pytest.approx(
        best_trial.data.metrics["validation_log_loss"]
    )
    assert audit_run(best.info.run_id).passed
    registration = register_run(best.info.run_id, RegistryConfig())
    version = client.get_model_version(registration.version.name, registration.version.version)
    assert version.run_id == best.info.run_id
    assert not client.search_runs([outcome.experiment.id], "attributes.status = 'RUNNING'")


def test_pruned_mlp_trials_stop_training_early(client) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.sweeps.sweep import sweep_and_log

    outcome = sweep_and_log(
        _config(
            "model.name=mlp",
            "model.mlp.max_epochs=12",
            "model.mlp.patience=null",
            "sweep.trials=8",
            "sweep.retrain_best=false",
        )
    )
    epochs: dict[str, list[int]] = {}
    for run in _children(client, outcome):
        steps = client.get_metric_history(run.info.run_id, "val_loss")
        epochs.setdefault(run.data.tags["sweep.trial_state"], []).append(len(steps))
    assert set(epochs["complete"]) == {12}  # no early stopping: every epoch
    assert epochs["pruned"] and max(epochs["pruned"]) < 12, epochs
    assert (
        outcome.best_run is None
        and "sweep.best_run_id" not in client.get_run(outcome.parent_run_id).data.tags
    )


def test_bad_sweeps_fail_before_any_run_exists() -> None:
    from mlops_tracking.core.errors import ConfigError
    from mlops_tracking.sweeps.sweep import sweep_and_log

    with pytest.raises(ConfigError, match=r"sweep\.space\.ridge is empty"):
        sweep_and_log(_config("data.dataset=diabetes", "model.name=ridge", "sweep.space.ridge={}"))
    assert count_runs() == 0
    sweep_and_log(_config("sweep.trials=2", "sweep.retrain_best=false", "sweep.study=shared"))
    before = count_runs()
    with pytest.raises(ConfigError, match=r"study 'shared' .* optimises .*model=random_forest"):
        sweep_and_log(_config("model.name=logistic_regression", "sweep.study=shared"))
    assert count_runs() == before


@pytest.mark.slow
def test_two_workers_share_one_study_and_a_second_sweep_resumes_it(client) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.sweeps.sweep import sweep_and_log

    # trials of a second or so each: the spawned worker (ready after its ~5 s start-up) and the
    # command's own worker run side by side
    first = sweep_and_log(
        _config(
            "model.name=mlp",
            "model.mlp.max_epochs=80",
            "model.mlp.patience=null",
            "sweep.pruner=none",
            "sweep.trials=10",
            "sweep.workers=2",
            "sweep.retrain_best=false",
        )
    )
    assert len(first.workers) == 2 and all(w.exit_code == 0 for w in first.workers)
    study = _study(first.place.name)
    assert [t.number for t in study.trials] == list(range(10))  # no duplicate, none lost
    workers = {t.user_attrs["worker"] for t in study.trials}
    assert len(workers) == 2
    runs = _children(client, first)
    assert sorted(r.data.tags["sweep.trial"] for r in runs) == sorted(map(str, range(10)))
    assert {r.data.tags["sweep.worker"] for r in runs} == workers
    assert all(r.info.status == "FINISHED" for r in runs)
    # a second sweep of the same study continues it: new trial numbers, a new parent
    second = sweep_and_log(
        _config(
            "model.name=mlp",
            "model.mlp.max_epochs=10",
            "model.mlp.patience=null",
            "sweep.trials=3",
            "sweep.retrain_best=false",
        )
    )
    assert second.place == first.place and second.earlier_trials == 10
    assert [t.number for t in second.trials] == [10, 11, 12]
    assert len(_study(first.place.name).trials) == 13
    assert client.get_run(second.parent_run_id).data.tags["sweep.resumed"] == "true"
    table = client.load_table(
        second.experiment.id, "sweep/trials.json", run_ids=[second.parent_run_id]
    )
    assert len(table) == 13


def _wait_for(predicate: Any, timeout: float = 120.0) -> Any:
    import time

    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


@pytest.mark.slow
def test_a_killed_worker_leaves_its_trial_failed_and_its_run_ended(client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import os
    import signal
    import subprocess
    import sys

    from optuna.trial import TrialState

    from conftest import sets

    slow_trials = [
        *FOREST,
        "model.name=mlp",
        "model.mlp.max_epochs=400",
        "model.mlp.patience=null",
        "sweep.pruner=none",
        "sweep.retrain_best=false",
        "sweep.study=kill",
    ]
    command = [sys.executable, "-m", "mlops_tracking", "sweep", "--config", str(PARAMS)]
    process = subprocess.Popen(
        [*command, "--trials", "4", "--workers", "2", *sets(*slow_trials)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        def running_trial() -> Any:
            try:
                trials = _study("kill").get_trials(states=(TrialState.RUNNING,))
            except Exception:  # the study or its journal is not there yet
                return None
            # a trial of a spawned worker: worker 0 is the command itself
            return next(
                (
                    t
                    for t in trials
                    if "mlflow_run_id" in t.user_attrs
                    and not t.user_attrs["worker"].endswith(f":{process.pid}/0")
                ),
                None,
            )

        victim = _wait_for(running_trial)
        os.kill(int(victim.user_attrs["worker"].split(":")[1].split("/")[0]), signal.SIGKILL)
        output, _ = process.communicate(timeout=240)
    finally:
        process.kill()
    assert process.returncode == 1, output
    assert "exit code -9" in output and f"trial(s) {victim.number} failed" in output, output
    assert "[I 20" not in output and "Warning" not in output, output  # no raw library logs
    study = _study("kill")
    failed = study.trials[victim.number]
    assert failed.state == TrialState.FAIL
    assert failed.user_attrs["error"] == "its worker process died"
    run = client.get_run(victim.user_attrs["mlflow_run_id"])
    assert run.info.status == "KILLED"
    assert run.data.tags["sweep.trial_state"] == "failed"
    assert "exit code -9" in run.data.tags["mlops.error"]
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]
    parent = client.get_run(run.data.tags["mlflow.parentRunId"])
    assert parent.info.status == "FAILED"
    experiments = [e.experiment_id for e in client.search_experiments()]
    assert not client.search_runs(experiments, "attributes.status = 'RUNNING'")
    # the other worker went on: its trials completed
    survivors = [
        t for t in study.trials if t.user_attrs.get("worker") != victim.user_attrs["worker"]
    ]
    assert survivors and all(t.state == TrialState.COMPLETE for t in survivors)


@pytest.mark.slow
def test_a_stopped_sweep_ends_its_trial_and_parent_killed(client) -> None:  # type: ignore[no-untyped-def]
    import signal
    import subprocess
    import sys

    from optuna.trial import TrialState

    from conftest import sets

    slow_trials = [
        *FOREST,
        "model.name=mlp",
        "model.mlp.max_epochs=400",
        "model.mlp.patience=null",
        "sweep.pruner=none",
        "sweep.study=stop",
    ]
    command = [sys.executable, "-m", "mlops_tracking", "sweep", "--config", str(PARAMS)]
    process = subprocess.Popen(
        [*command, "--trials", "3", *sets(*slow_trials)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        def running_trial() -> Any:
            try:
                trials = _study("stop").get_trials(states=(TrialState.RUNNING,))
            except Exception:  # the study or its journal is not there yet
                return None
            return next((t for t in trials if "mlflow_run_id" in t.user_attrs), None)

        victim = _wait_for(running_trial)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 143, output
    assert "interrupted by SIGTERM" in output and "[W 20" not in output, output
    trial = _study("stop").trials[victim.number]
    assert trial.state == TrialState.FAIL
    run = client.get_run(victim.user_attrs["mlflow_run_id"])
    assert (run.info.status, run.data.tags["sweep.trial_state"]) == ("KILLED", "failed")
    assert client.get_run(run.data.tags["mlflow.parentRunId"]).info.status == "KILLED"
    experiments = [e.experiment_id for e in client.search_experiments()]
    assert not client.search_runs(experiments, "attributes.status = 'RUNNING'")


def test_failed_trials_are_recorded_and_a_sweep_of_only_failures_fails(client) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.sweeps.sweep import SweepFailedError, sweep_and_log

    # the schema takes any float for max_features; scikit-learn refuses one above 1.0
    with pytest.raises(SweepFailedError, match=r"every trial failed \(3 ran\).*max_features"):
        sweep_and_log(
            _config("sweep.trials=3", "sweep.space.random_forest.max_features.choices=[2.5]")
        )
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments)
    trials = [r for r in runs if r.data.tags.get("mlops.run_type") == "sweep_trial"]
    assert len(trials) == 3
    for run in trials:
        assert (run.info.status, run.data.tags["sweep.trial_state"]) == ("FAILED", "failed")
        assert "max_features" in run.data.tags["mlops.error"]
    parent = next(r for r in runs if r.data.tags.get("mlops.run_type") == "sweep")
    assert parent.info.status == "FAILED"
    assert parent.data.metrics["trials_failed"] == 3
    assert all(t.state.name == "FAIL" for t in _study(parent.data.tags["sweep.study"]).trials)
