"""Run a sweep's trials in worker processes that share one Optuna study.

Worker 0 is the command's own process, already warm; the others are spawned (``spawn``: a fork
of a process holding MLflow's and the store's connections is not safe), each loading its
libraries and the data once, and join the study as soon as they are ready. Each opens the
study with its own sampler seed and takes a ticket before each trial (``Tickets``), so the
sweep runs exactly ``sweep.trials`` trials however they fall between the workers, and starts
none after the deadline.

A worker stopped by a signal fails the trial it was running and ends its run KILLED before it
exits. A worker killed outright (SIGKILL, out of memory) cannot: the command sees its exit code,
fails its RUNNING trials in the study and ends their runs KILLED with the reason. On a team's
PostgreSQL storage, Optuna's heartbeat does the same for a worker on another machine.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_tracking.runs.interrupts import RunInterrupted, stop_signals_raise
from mlops_tracking.sweeps.study import (
    StudyPlace,
    close_storages,
    fail_orphans,
    load_study,
    quiet_optuna,
    worker_id,
)

if TYPE_CHECKING:
    from mlops_tracking.core.config import Config
    from mlops_tracking.core.records import TrainingInputs

POLL_SECONDS = 0.5
STOP_GRACE_SECONDS = 30.0
# Said to the progress callback after each finished trial: (number, state, value).
TrialListener = Callable[[int, str, float | None], None]


@dataclass(frozen=True)
class WorkerPlan:
    """Everything a worker process needs (picklable: it crosses to spawned processes)."""

    config: Config
    config_file: Path | None
    place: StudyPlace
    experiment_id: str
    parent_run_id: str
    tracking_uri: str
    metric: str
    goal: str
    user: str  # the parent run's user: MlflowClient.create_run records "unknown" without it


@dataclass
class WorkerReport:
    """How one worker ended: its exit code and the trials that were failed for it."""

    index: int
    worker: str
    exit_code: int
    orphans: list[int] = field(default_factory=list)


class Tickets:
    """How many of the sweep's trials have been started, shared by its worker processes.

    A worker takes a ticket before each trial and stops when none is left, so the count is
    exact (no worker overshoots) and a worker that starts late or runs slower trials simply
    takes fewer. Workers of other commands (other machines) count their own.
    """

    def __init__(self, total: int, counter: Any = None) -> None:
        self.total = total
        self.counter = counter  # a multiprocessing Value shared with spawned workers

    def take(self) -> bool:
        if self.counter is None:
            self.total -= 1
            return self.total >= 0
        with self.counter.get_lock():
            if self.counter.value >= self.total:
                return False
            self.counter.value += 1
            return True


def run_workers(
    plan: WorkerPlan,
    *,
    workers: int,
    timeout: float | None,
    on_trial: TrialListener,
    prepare: Callable[[], None] | None = None,
    inputs: TrainingInputs | None = None,
) -> list[WorkerReport]:
    """Run ``plan.config.sweep.trials`` trials over ``workers`` workers; report each worker.

    Worker 0 is this process (warm: its libraries and data are loaded), the others are
    spawned and join as soon as they are ready. ``prepare`` runs first in each spawned process
    (the CLI quiets library logging there); ``inputs`` spares worker 0 loading the data again.
    """
    import multiprocessing

    trials = plan.config.sweep.trials
    count = max(1, min(workers, trials))
    deadline = None if timeout is None else time.time() + timeout
    me = worker_id(0)
    if count == 1:
        code = work(plan, 0, Tickets(trials), deadline, inputs=inputs, on_trial=on_trial, here=True)
        return [WorkerReport(0, me, code)]
    context = multiprocessing.get_context("spawn")
    tickets = Tickets(trials, context.Value("i", 0))
    processes = [
        context.Process(
            target=_process_main,
            args=(plan, index, tickets, deadline, prepare),
            name=f"sweep-worker-{index}",
        )
        for index in range(1, count)
    ]
    for process in processes:
        process.start()
    watcher = _Watcher(plan, on_trial)
    watcher.start()
    try:
        code = work(plan, 0, tickets, deadline, inputs=inputs, here=True)
        for process in processes:
            process.join()
    except BaseException:
        _stop(processes)
        raise
    finally:
        watcher.stop()
        reports = [WorkerReport(0, me, 0), *_reports(plan, processes)]
    reports[0].exit_code = code
    return reports


class _Watcher:
    """A thread telling ``on_trial`` of each trial any worker of this sweep finishes."""

    def __init__(self, plan: WorkerPlan, on_trial: TrialListener) -> None:
        import threading

        self.plan, self.on_trial = plan, on_trial
        self.seen: set[int] = set()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, name="sweep-progress", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.done.set()
        self.thread.join()
        self._tell()  # the last trials, finished after the final poll

    def _run(self) -> None:
        while not self.done.wait(POLL_SECONDS):
            self._tell()

    def _tell(self) -> None:
        for number, state, value in finished_trials(self.plan.place, self.plan.parent_run_id):
            if number not in self.seen:
                self.seen.add(number)
                self.on_trial(number, state, value)


def finished_trials(place: StudyPlace, parent_run_id: str) -> list[tuple[int, str, float | None]]:
    """(number, state, value) of the finished trials this sweep's parent run holds."""
    from optuna.trial import TrialState

    from mlops_tracking.sweeps.figures import state_name
    from mlops_tracking.sweeps.study import open_storage

    storage = open_storage(place, create_database=False)
    study_id = storage.get_study_id_from_name(place.name)
    finished = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    return [
        (trial.number, state_name(trial), trial.value)
        for trial in storage.get_all_trials(study_id, deepcopy=False, states=finished)
        if trial.user_attrs.get("parent_run_id") == parent_run_id
    ]


def _stop(processes: list[Any]) -> None:
    """Ask every worker to stop (SIGTERM: each fails its trial and ends its run), then kill
    the ones still there after the grace period."""
    for process in processes:
        if process.is_alive():
            process.terminate()
    ends = time.monotonic() + STOP_GRACE_SECONDS
    for process in processes:
        process.join(max(0.0, ends - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()


def _reports(plan: WorkerPlan, processes: list[Any]) -> list[WorkerReport]:
    """Each worker's exit code; a worker that died leaves no trial RUNNING and no run open."""
    reports = []
    for index, process in enumerate(processes, start=1):
        process.join()
        code = process.exitcode
        me = worker_id(index, process.pid)
        report = WorkerReport(index, me, code if code is not None else -1)
        if report.exit_code != 0:
            report.orphans = end_orphans(plan.place, me, f"exit code {report.exit_code}")
        reports.append(report)
    return reports


def end_orphans(place: StudyPlace, worker: str, why: str) -> list[int]:
    """Fail ``worker``'s RUNNING trials and end their runs KILLED; return the trial numbers."""
    from mlflow import MlflowClient

    client = MlflowClient()
    orphans = fail_orphans(place, worker)
    for _, run_id in orphans:
        if run_id is None:
            continue
        run = client.get_run(run_id)
        if run.info.status == "RUNNING":
            client.set_tag(run_id, "sweep.trial_state", "failed")
            client.set_tag(run_id, "mlops.error", f"its worker process ended ({why})")
            client.set_terminated(run_id, "KILLED")
    return [number for number, _ in orphans]


def _process_main(
    plan: WorkerPlan,
    index: int,
    tickets: Tickets,
    deadline: float | None,
    prepare: Callable[[], None] | None,
) -> None:
    """A spawned worker: its exit code is what ``work`` returns."""
    if prepare is not None:
        prepare()
    from mlops_tracking.runs.store import open_store

    open_store(plan.tracking_uri, http=plan.config.tracking.http)
    try:
        code = work(plan, index, tickets, deadline)
    finally:
        close_storages()
    sys.exit(code)


def work(
    plan: WorkerPlan,
    index: int,
    tickets: Tickets,
    deadline: float | None,
    *,
    inputs: TrainingInputs | None = None,
    on_trial: TrialListener | None = None,
    here: bool = False,
) -> int:
    """Run trials while ``tickets`` last (none after ``deadline``); return an exit code.

    0 when every trial ran (failed trials included: they are recorded), 128 + the signal
    number when a signal stopped a spawned worker; the command's own worker (``here``)
    re-raises it, so the command ends its parent run KILLED.
    """
    from mlops_tracking.core.models import family_for
    from mlops_tracking.runs.context import run_tags
    from mlops_tracking.runs.workflow import base_tags, load_inputs
    from mlops_tracking.sweeps.trial import TrialContext, run_trial

    quiet_optuna()
    me = worker_id(index)
    context: TrialContext | None = None
    try:
        with stop_signals_raise():
            inputs = inputs or load_inputs(plan.config, plan.config_file)
            family = family_for(plan.config.model.name, inputs.dataset.task)
            context = TrialContext(
                inputs=inputs,
                family=family,
                experiment_id=plan.experiment_id,
                parent_run_id=plan.parent_run_id,
                study_name=plan.place.name,
                metric=plan.metric,
                goal=plan.goal,
                worker=me,
                tags={
                    **run_tags(inputs.code, base_tags(inputs, "sweep_trial")),
                    "mlflow.user": plan.user,
                },
            )
            study = load_study(plan.place, plan.config.sweep, index)
            callbacks = [] if on_trial is None else [_telling(on_trial)]
            while (deadline is None or time.time() < deadline) and tickets.take():
                study.optimize(
                    lambda trial: run_trial(trial, context),
                    n_trials=1,
                    catch=(Exception,),
                    callbacks=callbacks,
                )
    except (KeyboardInterrupt, RunInterrupted) as stop:
        end_orphans(plan.place, me, str(stop))
        interrupt = context.interrupted if context is not None else None
        if isinstance(stop, RunInterrupted):
            interrupt = stop
        if here:
            raise (interrupt or stop) from None
        return interrupt.exit_code if interrupt is not None else 130
    return 0


def _telling(on_trial: TrialListener) -> Callable[[Any, Any], None]:
    from mlops_tracking.sweeps.figures import state_name

    def callback(study: Any, trial: Any) -> None:
        on_trial(trial.number, state_name(trial), trial.value)

    return callback
