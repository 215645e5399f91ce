"""Runs end with a status that tells the truth: FINISHED, FAILED with a traceback, KILLED."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import train_command


def _start(name: str = "r"):  # type: ignore[no-untyped-def]
    from mlops_tracking.runs.lifecycle import tracked_run
    from mlops_tracking.runs.store import ensure_experiment, open_store

    open_store()
    return tracked_run(ensure_experiment("lifecycle"), name, {"k": "v"}, "a run", None)


def _traceback(run_id: str) -> str:
    import mlflow

    return mlflow.artifacts.load_text(f"runs:/{run_id}/error/traceback.txt")


def test_a_clean_block_finishes_the_run(client) -> None:  # type: ignore[no-untyped-def]
    with _start() as run:
        pass
    stored = client.get_run(run.info.run_id)
    assert stored.info.status == "FINISHED"
    assert stored.data.tags["k"] == "v"
    assert stored.data.tags["mlflow.note.content"] == "a run"


def test_an_exception_fails_the_run_and_keeps_the_traceback(client) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="bad fold"), _start() as run:
        raise ValueError("bad fold")
    stored = client.get_run(run.info.run_id)
    assert stored.info.status == "FAILED"
    assert stored.data.tags["mlops.error"] == "ValueError: bad fold"
    text = _traceback(run.info.run_id)
    assert "Traceback (most recent call last)" in text and "ValueError: bad fold" in text


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, "RunInterrupted"])
def test_an_interrupt_kills_the_run(interrupt: object, client) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.runs.lifecycle import RunInterrupted

    error = RunInterrupted("SIGTERM") if interrupt == "RunInterrupted" else KeyboardInterrupt()
    with pytest.raises(type(error)), _start() as run:
        raise error
    assert client.get_run(run.info.run_id).info.status == "KILLED"


def test_nested_runs_end_independently(client) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.runs.lifecycle import tracked_run

    with (
        _start("parent") as parent,
        pytest.raises(RuntimeError, match="child broke"),
        tracked_run(parent.info.experiment_id, "child", {}, "", None) as child,
    ):
        raise RuntimeError("child broke")
    child_run = client.get_run(child.info.run_id)
    assert child_run.info.status == "FAILED"
    assert child_run.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert client.get_run(parent.info.run_id).info.status == "FINISHED"


def test_a_training_crash_leaves_a_failed_run_with_traceback(  # type: ignore[no-untyped-def]
    fast_config, monkeypatch: pytest.MonkeyPatch, client
) -> None:
    from mlops_tracking.core import training
    from mlops_tracking.runs.workflow import train_and_log

    def broken(*args: object, **kwargs: object) -> None:
        raise FloatingPointError("loss diverged at epoch 3")

    monkeypatch.setattr(training, "fit_with_history", broken)
    with pytest.raises(FloatingPointError, match="loss diverged"):
        train_and_log(fast_config)
    (run,) = client.search_runs(
        [client.get_experiment_by_name("breast_cancer-binary").experiment_id]
    )
    assert run.info.status == "FAILED"
    assert "loss diverged at epoch 3" in _traceback(run.info.run_id)


def _wait_for_running_run(store: str, process: subprocess.Popen[str], timeout: float = 60.0) -> str:
    from mlflow import MlflowClient

    client = MlflowClient(store)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output, _ = process.communicate()
            raise AssertionError(
                f"train exited {process.returncode} before its run started:\n{output}"
            )
        try:
            experiments = [e.experiment_id for e in client.search_experiments()]
            runs = client.search_runs(experiments, "attributes.status = 'RUNNING'")
        except Exception:  # the store may still be being created
            runs = []
        if runs:
            return str(runs[0].info.run_id)
        time.sleep(0.2)
    raise AssertionError("no RUNNING run appeared")


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_kills_the_run_and_exits_without_a_traceback(  # type: ignore[no-untyped-def]
    sig: signal.Signals, code: int, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    from mlops_tracking.runs.store import open_store

    store = f"sqlite:///{tmp_path / 'signal.db'}"
    # Create the schema before two processes open the store: a fresh sqlite schema created
    # concurrently by the test's polling client and by `train` can fail in either of them.
    open_store(store)
    env = {**os.environ, "MLFLOW_TRACKING_URI": store}
    # An MLP with an epoch budget it will not exhaust: the run is busy when the signal lands.
    command = train_command(
        "model.name=mlp", "model.mlp.max_epochs=100000", "model.mlp.patience=null"
    )
    process = subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        run_id = _wait_for_running_run(store, process)
        time.sleep(1.0)  # let training start
        process.send_signal(sig)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()  # closes the pipe, which garbage collection would warn about
    assert process.returncode == code, output
    assert f"MLflow run {run_id} ended KILLED" in output
    assert "Traceback" not in output
    run = MlflowClient(store).get_run(run_id)
    assert run.info.status == "KILLED"
    assert run.data.tags["mlops.error"].startswith(("RunInterrupted", "KeyboardInterrupt"))


def test_an_error_the_store_cannot_record_says_so(  # type: ignore[no-untyped-def]
    client, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    def store_refuses(*args: object, **kwargs: object) -> None:
        raise OSError("No space left on device")

    monkeypatch.setattr(mlflow.MlflowClient, "log_text", store_refuses)
    with pytest.raises(ValueError, match="bad fold") as failed, _start() as run:
        raise ValueError("bad fold")
    notes = failed.value.__notes__
    assert notes[0] == f"MLflow run {run.info.run_id} ended FAILED."
    assert (
        notes[1]
        == "Its traceback could not be recorded on the run: OSError: No space left on device"
    )
    assert client.get_run(run.info.run_id).info.status == "FAILED"


def test_system_metrics_are_sampled_without_reading_the_run_and_sent_in_batches(
    client, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Every sample keeps its own step, but the sampler never reads the run back and sends one
    request per flush period (and one at the end), not one per sample."""
    from mlflow.tracking.client import MlflowClient

    from mlops_tracking.runs import lifecycle

    calls = {"get_run": 0, "log_batch": 0}
    get_run, log_batch = MlflowClient.get_run, MlflowClient.log_batch

    def counted_get_run(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls["get_run"] += 1
        return get_run(self, *args, **kwargs)

    def counted_log_batch(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls["log_batch"] += 1
        return log_batch(self, *args, **kwargs)

    monkeypatch.setattr(lifecycle, "SYSTEM_METRICS_FLUSH_SECONDS", 60.0)
    with _start() as run:
        monkeypatch.setattr(MlflowClient, "get_run", counted_get_run)
        monkeypatch.setattr(MlflowClient, "log_batch", counted_log_batch)
        with lifecycle.system_metrics(run.info.run_id, 0.05):
            time.sleep(1.0)
        monkeypatch.setattr(MlflowClient, "get_run", get_run)
        monkeypatch.setattr(MlflowClient, "log_batch", log_batch)
    assert calls == {"get_run": 0, "log_batch": 1}  # the final flush only
    history = client.get_metric_history(run.info.run_id, "system/cpu_utilization_percentage")
    steps = [metric.step for metric in history]
    assert len(steps) >= 5 and steps == list(range(1, len(steps) + 1))
    assert len({metric.timestamp for metric in history}) > 1  # each sample at its own time


def test_a_server_lost_during_run_creation_is_named_with_the_reaper(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server may have made the run and lost its reply: the error says so, and how the
    run it may hold gets ended, instead of claiming that no run had started."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from mlops_tracking.runs.lifecycle import CREATION_LOST_NOTE

    def lost(**kwargs: object) -> None:
        raise MlflowException(
            "API request to http://h:5000/api/2.0/mlflow/runs/create failed with exception "
            "HTTPConnectionPool(host='h', port=5000): Read timed out. (read timeout=5)"
        )

    with _start() as _:
        pass  # the store and experiment exist; now creation fails
    monkeypatch.setattr(mlflow, "start_run", lost)
    with pytest.raises(MlflowException) as raised, _start():
        pytest.fail("no run was created")
    assert CREATION_LOST_NOTE in raised.value.__notes__
    assert "mlops-tracking runs --reap" in CREATION_LOST_NOTE


def test_other_errors_at_run_creation_get_no_such_note(monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow

    def refused(**kwargs: object) -> None:
        raise ValueError("experiment id must be a string")

    with _start() as _:
        pass
    monkeypatch.setattr(mlflow, "start_run", refused)
    with pytest.raises(ValueError) as raised, _start():
        pytest.fail("no run was created")
    assert getattr(raised.value, "__notes__", []) == []
