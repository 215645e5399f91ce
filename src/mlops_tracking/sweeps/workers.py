"""Run a sweep's trials in worker processes that share one Optuna study.

Each worker loads the data once, opens the study with its own sampler seed and runs its share
of the trials (12 trials on 2 workers: 6 each, so the count is exact), stopping early at the
deadline. One worker runs in the command's own process; more are spawned (``spawn``: a fork of
a process holding MLflow's and the store's connections is not safe).

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


def shares(trials: int, workers: int) -> list[int]:
    """Split ``trials`` over ``workers`` as evenly as possible (no worker gets zero)."""
    count = max(1, min(workers, trials))
    return [trials // count + (1 if index < trials % count else 0) for index in range(count)]


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

    ``prepare`` runs first in each spawned process (the CLI quiets library logging there);
    ``inputs`` spares the in-process worker loading the data again.
    """
    quotas = shares(plan.config.sweep.trials, workers)
    deadline = None if timeout is None else time.time() + timeout
    if len(quotas) == 1:
        me = worker_id(0)
        code = work(plan, 0, quotas[0], deadline, inputs=inputs, on_trial=on_trial, in_process=True)
        return [WorkerReport(0, me, code)]
    return _spawned(plan, quotas, deadline, on_trial, prepare)


def _spawned(
    plan: WorkerPlan,
    quotas: list[int],
    deadline: float | None,
    on_trial: TrialListener,
    prepare: Callable[[], None] | None,
) -> list[WorkerReport]:
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(
            target=_process_main,
            args=(plan, index, quota, deadline, prepare),
            name=f"sweep-worker-{index}",
        )
        for index, quota in enumerate(quotas)
    ]
    for process in processes:
        process.start()
    try:
        _watch(plan, processes, on_trial)
    except BaseException:
        _stop(processes)
        raise
    finally:
        reports = _reports(plan, processes)
    return reports


def _watch(plan: WorkerPlan, processes: list[Any], on_trial: TrialListener) -> None:
    """Tell ``on_trial`` of each trial the workers finish until every worker has exited."""
    seen: set[int] = set()
    while True:
        alive = any(process.is_alive() for process in processes)
        for number, state, value in finished_trials(plan.place, plan.parent_run_id):
            if number not in seen:
                seen.add(number)
                on_trial(number, state, value)
        if not alive:
            return
        time.sleep(POLL_SECONDS)


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
    for index, process in enumerate(processes):
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
    quota: int,
    deadline: float | None,
    prepare: Callable[[], None] | None,
) -> None:
    """A spawned worker: its exit code is what ``work`` returns."""
    if prepare is not None:
        prepare()
    from mlops_tracking.runs.store import open_store

    open_store(plan.tracking_uri, http=plan.config.tracking.http)
    try:
        code = work(plan, index, quota, deadline)
    finally:
        close_storages()
    sys.exit(code)


def work(
    plan: WorkerPlan,
    index: int,
    quota: int,
    deadline: float | None,
    *,
    inputs: TrainingInputs | None = None,
    on_trial: TrialListener | None = None,
    in_process: bool = False,
) -> int:
    """Run up to ``quota`` trials (none after ``deadline``); return an exit code.

    0 when every trial ran (failed trials included: they are recorded), 128 + the signal
    number when a signal stopped a spawned worker; the in-process worker re-raises it, so the
    command ends its parent run KILLED.
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
            timeout = None if deadline is None else max(0.001, deadline - time.time())
            study.optimize(
                lambda trial: run_trial(trial, context),
                n_trials=quota,
                timeout=timeout,
                catch=(Exception,),
                callbacks=callbacks,
            )
    except (KeyboardInterrupt, RunInterrupted) as stop:
        end_orphans(plan.place, me, str(stop))
        interrupt = context.interrupted if context is not None else None
        if isinstance(stop, RunInterrupted):
            interrupt = stop
        if in_process:
            raise (interrupt or stop) from None
        return interrupt.exit_code if interrupt is not None else 130
    return 0


def _telling(on_trial: TrialListener) -> Callable[[Any, Any], None]:
    from mlops_tracking.sweeps.figures import state_name

    def callback(study: Any, trial: Any) -> None:
        on_trial(trial.number, state_name(trial), trial.value)

    return callback
