"""A randomized crash test: stop signals at random moments of real training runs.

52 runs of ``train`` (13 each of SIGINT, SIGTERM, SIGHUP and SIGKILL), two at a time, each
signalled at a random moment: half after its run appeared in the store (during data
logging, training and evaluation), half after its first LoggedModel did (model logging, the
longest store calls of a run). Afterwards no run may be RUNNING except
the SIGKILLed ones, every other interrupted run is KILLED with its traceback, and one reap
ends the SIGKILLed runs KILLED and fails their PENDING models.

The runs start from a fork server that imported the project once, so a trial costs its
training, not the ~4 s of imports of a fresh interpreter.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import FAST, PARAMS, sets

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

PER_SIGNAL = 13
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL)
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129, signal.SIGKILL: -9}


def _train(store: str, folder: str, experiment: str, output: str | None = None) -> None:
    """The ``train`` command as a user runs it (in a forked child), printing to ``output``.

    Each trial has an experiment of its own: its run is the one run there (a process id is
    no name for it: ids are reused, and a reused one would point at an earlier trial's run).
    """
    if output is not None:  # each trial's own file: a wrong exit code shows what it printed
        sink = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(sink, 1)
        os.dup2(sink, 2)
    os.environ["MLFLOW_TRACKING_URI"] = store
    os.chdir(folder)
    from mlops_tracking.cli.app import app

    # no reaping at the start: the final reap must find every SIGKILLed run
    overrides = sets(*FAST, "tracking.reap_stale_runs=false")
    command = ["train", "-c", str(PARAMS), "--experiment", experiment, *overrides]
    app(command, prog_name="mlops-tracking")


@dataclass(frozen=True)
class Trial:
    sig: signal.Signals
    run_id: str | None  # None: the run finished before the signal was due
    exit_code: int | None
    seconds_to_exit: float  # from the signal to the process's end
    models_at_signal: int  # LoggedModels the run had when the signal was sent
    status: str  # the run's status once the process ended
    output: str = ""  # the end of what the process printed

    def __str__(self) -> str:
        return f"{self.sig.name} exit {self.exit_code}, run {self.status}:\n{self.output}"

    @property
    def killed_while_running(self) -> bool:
        """The signal landed while the run ran (not after it had ended FINISHED)."""
        return self.run_id is not None and self.status != "FINISHED"


def _run_of(client, experiment: str, timeout: float = 90.0) -> str:  # type: ignore[no-untyped-def]
    """The run of the trial whose experiment is ``experiment``, once it is in the store."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = client.get_experiment_by_name(experiment)
            runs = client.search_runs([found.experiment_id]) if found is not None else []
        except Exception:  # the store is being written: try again
            runs = []
        if runs:
            return str(runs[0].info.run_id)
        time.sleep(0.05)
    raise AssertionError(f"no run in experiment {experiment} after {timeout:.0f} s")


def _models_of(client, run_id: str) -> int:  # type: ignore[no-untyped-def]
    run = client.get_run(run_id)
    return len(client.search_logged_models([run.info.experiment_id], f"source_run_id = '{run_id}'"))


@dataclass(frozen=True)
class Moment:
    """When a trial's signal is sent: ``delay`` seconds after its run appeared, or (during
    model logging) after its first LoggedModel did. Timed from what the store shows, not from
    the clock alone, so a trial faster or slower than the calibration run still lands there."""

    delay: float
    during_model_logging: bool


def _trial(context, store: str, folder: Path, sig: signal.Signals, moment: Moment) -> Trial:  # type: ignore[no-untyped-def]
    from mlflow import MlflowClient

    client = MlflowClient(store)
    experiment = f"trial-{uuid.uuid4().hex[:12]}"
    output = folder / f"{experiment}.out"
    process = context.Process(target=_train, args=(store, str(folder), experiment, str(output)))
    process.start()
    try:
        run_id = _run_of(client, experiment)
        while moment.during_model_logging and process.is_alive():
            if _models_of(client, run_id):
                break
            time.sleep(0.05)
        time.sleep(moment.delay)
        models = _models_of(client, run_id)
        if process.exitcode is not None:  # finished first
            return Trial(sig, None, process.exitcode, 0.0, models, "FINISHED")
        sent = time.monotonic()
        os.kill(process.pid, sig)
        process.join(timeout=120)
        seconds = time.monotonic() - sent
        status = client.get_run(run_id).info.status
        printed = output.read_text(errors="replace")[-3000:]
        return Trial(sig, run_id, process.exitcode, seconds, models, status, printed)
    finally:
        if process.is_alive():
            process.kill()
            process.join()


def test_stop_signals_at_random_moments_never_leave_a_run_running(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    from mlops_tracking.runs.reaper import reap
    from mlops_tracking.runs.store import open_store

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(
        ["mlops_tracking.cli.app", "mlflow", "sklearn.ensemble", "onnxruntime", "skl2onnx"]
    )
    lanes = []
    for lane in range(2):  # one store and folder per concurrent lane
        folder = tmp_path / f"lane{lane}"
        folder.mkdir()
        lanes.append((open_store(f"sqlite:///{folder / 'mlflow.db'}"), folder))  # schema first
    # calibrate: how long one undisturbed run lasts once it is in the store
    store, folder = lanes[0]
    started = time.monotonic()
    calibration = context.Process(target=_train, args=(store, str(folder), "calibration"))
    calibration.start()
    run_id = _run_of(MlflowClient(store), "calibration")
    in_store = time.monotonic()
    first_model = None  # when model logging began, after the run appeared
    while calibration.is_alive():
        if first_model is None and _models_of(MlflowClient(store), run_id):
            first_model = time.monotonic() - in_store
        time.sleep(0.05)
    calibration.join(timeout=300)
    assert calibration.exitcode == 0
    duration = time.monotonic() - in_store
    print(
        f"\nundisturbed run: {time.monotonic() - started:.1f} s, {duration:.1f} s in the store, "
        f"model logging from {first_model} s"
    )

    chooser = random.Random(2026)
    plan = [sig for sig in SIGNALS for _ in range(PER_SIGNAL)]
    chooser.shuffle(plan)
    # half of them while the four models are logged, the rest before
    logging_starts = first_model if first_model is not None else duration / 2
    moments = [
        Moment(chooser.uniform(0.0, 0.6 * (duration - logging_starts)), True)
        if index % 2
        else Moment(chooser.uniform(0.0, 0.8 * logging_starts), False)
        for index in range(len(plan))
    ]
    with ThreadPoolExecutor(max_workers=len(lanes)) as pool:
        trials = list(
            pool.map(
                lambda index: _trial(context, *lanes[index % 2], plan[index], moments[index]),
                range(len(plan)),
            )
        )

    interrupted = [t for t in trials if t.killed_while_running]
    caught = [t for t in interrupted if t.sig != signal.SIGKILL]
    print(
        f"{len(trials)} runs, {len(interrupted)} signalled while running "
        f"({dict(Counter(t.sig.name for t in interrupted))}); LoggedModels at the signal: "
        f"{dict(sorted(Counter(t.models_at_signal for t in interrupted).items()))}; slowest "
        f"exit {max(t.seconds_to_exit for t in interrupted):.1f} s after the signal"
    )
    assert len(interrupted) >= 36, "most signals must land while the run is running"
    assert all(t.exit_code == EXIT_CODES[t.sig] for t in interrupted), "\n\n".join(
        str(t) for t in interrupted if t.exit_code != EXIT_CODES[t.sig]
    )
    assert all(t.status == "KILLED" for t in caught), "\n\n".join(
        str(t) for t in caught if t.status != "KILLED"
    )
    assert max(t.seconds_to_exit for t in interrupted) < 30, "no lock wait after a signal"

    still_running: list[str] = []
    for store, _ in lanes:
        client = MlflowClient(store)
        for trial in caught:
            if trial.run_id is None:
                continue
            try:
                run = client.get_run(trial.run_id)
            except Exception:  # the run lives in the other lane's store
                continue
            assert run.info.status == "KILLED", (trial.sig.name, run.info.status)
            assert (
                run.data.tags["mlops.error"] == f"RunInterrupted: interrupted by {trial.sig.name}"
            )
            names = {f.path for f in client.list_artifacts(trial.run_id, "error")}
            assert names == {"error/traceback.txt"}
        experiments = [e.experiment_id for e in client.search_experiments()]
        running = client.search_runs(experiments, "attributes.status = 'RUNNING'")
        killed_9 = {t.run_id for t in interrupted if t.sig == signal.SIGKILL}
        assert {r.info.run_id for r in running} <= killed_9
        still_running += [r.info.run_id for r in running]
        reaped = reap(300, client)
        assert {r.run_id for r in reaped} == {r.info.run_id for r in running}
        assert client.search_runs(experiments, "attributes.status = 'RUNNING'") == []
        pending = [
            m
            for m in client.search_logged_models(experiments)
            if str(m.status) not in {"READY", "FAILED"}
        ]
        assert pending == []
    print(f"RUNNING after the signals: {len(still_running)} (all SIGKILL), 0 after one reap")
    assert len(still_running) == sum(t.sig == signal.SIGKILL for t in interrupted)
