"""A hyperparameter sweep as one parent run: its trials as light children, the best one trained
again as a full run.

Order of events: validate everything (config, data, family, metric, the study's purpose if it
exists) before any run; start the parent run and record its inputs; run the trials over the
workers; write the trials table, the study's plots and the summary metrics on the parent; then
train the best trial of the study again as a full, audit-passing child run (every model
format), ready for ``register``. A sweep whose trials all failed, or whose worker died, still
records everything and ends the parent FAILED saying so.

Each ``sweep`` command is one parent run; a resumed study (the same ``--study``) gets a new
parent whose table lists every trial of the study, earlier ones included with the run ids of
their own parents.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_tracking.core.errors import ConfigError, IncompleteError
from mlops_tracking.runs.workflow import (
    ExperimentRef,
    Progress,
    RunOutcome,
    SilentProgress,
    base_tags,
    describe_run,
    load_inputs,
    open_experiment,
    system_metrics_interval,
    train_run,
)
from mlops_tracking.sweeps.figures import state_name
from mlops_tracking.sweeps.study import (
    StudyPlace,
    close_storages,
    create_or_resume,
    load_study,
    storage_url,
)
from mlops_tracking.sweeps.workers import WorkerPlan, WorkerReport, run_workers

if TYPE_CHECKING:
    import optuna

    from mlops_tracking.core.config import Config
    from mlops_tracking.core.environment import GitState
    from mlops_tracking.core.models import ModelFamily
    from mlops_tracking.core.records import TrainingInputs


class SweepFailedError(IncompleteError):
    """The sweep ran, but a worker died or no trial completed; everything is recorded."""


@dataclass(frozen=True)
class TrialSummary:
    number: int
    state: str
    value: float | None
    hyperparameters: dict[str, Any]
    run_id: str | None
    error: str | None = None  # why a failed trial failed


@dataclass(frozen=True)
class SweepOutcome:
    parent_run_id: str
    experiment: ExperimentRef
    place: StudyPlace
    metric: str
    goal: str
    trials: list[TrialSummary]  # this command's trials, by number
    earlier_trials: int  # trials the study held before this command
    best: TrialSummary | None  # the study's best trial (earlier ones included)
    best_run: RunOutcome | None  # the best trial trained again as a full run
    workers: list[WorkerReport]
    seconds: float  # the trials' wall time (the full run of the best one not included)

    def count(self, state: str) -> int:
        return sum(trial.state == state for trial in self.trials)


def sweep_and_log(
    config: Config,
    config_file: Path | None = None,
    experiment: str | None = None,
    progress: Progress | None = None,
    prepare: Callable[[], None] | None = None,
) -> SweepOutcome:
    """Run the configured sweep (``config.sweep``) over ``model.name``'s search space."""
    from mlops_tracking.core.evaluation import selection_rule
    from mlops_tracking.core.models import family_for
    from mlops_tracking.runs.store import tracking_uri

    report = progress or SilentProgress()
    settings = config.sweep
    inputs = load_inputs(config, config_file)
    family = family_for(config.model.name, inputs.dataset.task)
    if not settings.space.get(family.name):
        raise ConfigError(
            f"sweep.space.{family.name} is empty: give it at least one hyperparameter range, "
            f"e.g. --set sweep.space.{family.name}.<name>.low=... (params.yaml lists examples)"
        )
    metric, goal = selection_rule(config.evaluation, inputs.dataset.task)
    target = open_experiment(config, inputs.dataset, experiment)
    uri = tracking_uri()
    place = StudyPlace(settings.study or f"{target.name}-{family.name}", storage_url(config, uri))
    setup = _Setup(config, config_file, inputs, family, target, place, metric, goal)
    try:
        return _sweep(setup, report, prepare)
    finally:
        close_storages()


@dataclass(frozen=True)
class _Setup:
    """What a sweep checked before its parent run exists."""

    config: Config
    config_file: Path | None
    inputs: TrainingInputs
    family: ModelFamily
    target: ExperimentRef
    place: StudyPlace
    metric: str
    goal: str


def _sweep(setup: _Setup, report: Progress, prepare: Callable[[], None] | None) -> SweepOutcome:
    from mlops_tracking.runs.context import run_tags
    from mlops_tracking.runs.lifecycle import tracked_run
    from mlops_tracking.runs.recorder import record_inputs
    from mlops_tracking.runs.store import tracking_uri

    config, config_file, inputs, family = (
        setup.config,
        setup.config_file,
        setup.inputs,
        setup.family,
    )
    target, place, metric, goal = setup.target, setup.place, setup.metric, setup.goal
    settings = config.sweep
    purpose = {
        "model": family.name,
        "metric": metric,
        "direction": goal,
        "dataset": inputs.dataset.name,
    }
    earlier = create_or_resume(place, settings, purpose)
    tags = run_tags(
        inputs.code,
        {
            **base_tags(inputs, "sweep"),
            "model.family": family.name,
            "sweep.study": place.name,
            "sweep.storage": place.shown,
            "sweep.resumed": str(earlier > 0).lower(),
        },
    )
    run_name = config.tracking.run_name or f"sweep-{family.name}-{inputs.dataset.name}"
    description = describe_run(
        inputs, f"Sweep of {family.name} ({settings.trials} trials, study `{place.name}`)"
    )
    report.begin(settings.trials + (1 if settings.retrain_best else 0))
    with tracked_run(
        target.id,
        run_name,
        tags,
        description,
        system_metrics_interval(config),
        heartbeat_seconds=config.tracking.heartbeat_seconds,
    ) as parent:
        parent_id = parent.info.run_id
        record_inputs(parent_id, inputs, sweep_params(config, place, earlier))
        uri = tracking_uri()
        plan = WorkerPlan(
            config,
            config_file,
            place,
            target.id,
            parent_id,
            uri,
            metric,
            goal,
            parent.info.user_id,
        )

        def on_trial(number: int, state: str, value: float | None) -> None:
            shown = "" if value is None else f" {metric}={value:.4g}"
            report.step(f"trial {number} {state}{shown}")

        started = time.perf_counter()
        reports = run_workers(
            plan,
            workers=settings.workers,
            timeout=settings.timeout_seconds,
            on_trial=on_trial,
            prepare=prepare,
            inputs=inputs,
        )
        seconds = time.perf_counter() - started
        study = load_study(place, settings)
        ours = [t for t in study.trials if t.user_attrs.get("parent_run_id") == parent_id]
        best = _best(study)
        record_sweep(
            parent_id,
            code=inputs.code,
            study=study,
            ours=ours,
            metric=metric,
            best=best,
            seconds=seconds,
        )
        _raise_if_incomplete(reports, ours)
        best_run = None
        if settings.retrain_best and best is not None:
            report.step(f"best trial {best.number}: full run")
            retrain_started = time.perf_counter()
            best_run = _train_best(inputs, family.name, target, place, best)
            _mark_best(parent_id, best, best_run, time.perf_counter() - retrain_started)
    return SweepOutcome(
        parent_run_id=parent_id,
        experiment=target,
        place=place,
        metric=metric,
        goal=goal,
        trials=[_summary(trial) for trial in ours],
        earlier_trials=earlier,
        best=_summary(best) if best is not None else None,
        best_run=best_run,
        workers=reports,
        seconds=seconds,
    )


def sweep_params(config: Config, place: StudyPlace, earlier: int) -> dict[str, str]:
    """The parent's params: the shared config (the family's section is what is searched, so
    only its name and seed), the sweep's settings, and each searched range."""
    from mlops_tracking.core.config import flatten

    shared = {k: v for k, v in config.run_params().items() if not k.startswith("model.")}
    settings = config.sweep.model_dump(mode="json")
    space = settings.pop("space").get(config.model.name, {})
    return {
        **shared,
        "model.name": config.model.name,
        "model.seed": str(config.model.seed),
        **flatten({"sweep": settings}),
        "sweep.study": place.name,
        "sweep.earlier_trials": str(earlier),
        **{f"sweep.space.{name}": _range_text(dim) for name, dim in space.items()},
    }


def _range_text(dimension: dict[str, Any]) -> str:
    if "choices" in dimension:
        return "choices " + ", ".join(str(choice) for choice in dimension["choices"])
    scale = " log" if dimension.get("log") else ""
    step = f" step {dimension['step']}" if dimension.get("step") else ""
    return f"[{dimension['low']}, {dimension['high']}]{scale}{step}"


def _best(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return None
    return study.best_trial


def _summary(trial: optuna.trial.FrozenTrial) -> TrialSummary:
    return TrialSummary(
        number=trial.number,
        state=state_name(trial),
        value=trial.value,
        hyperparameters=dict(trial.user_attrs.get("hyperparameters", {})),
        run_id=trial.user_attrs.get("mlflow_run_id"),
        error=trial.user_attrs.get("error"),
    )


def record_sweep(
    run_id: str,
    *,
    code: GitState | None,
    study: optuna.Study,
    ours: list[optuna.trial.FrozenTrial],
    metric: str,
    best: optuna.trial.FrozenTrial | None,
    seconds: float,
) -> None:
    """The trials table, the study's plots and the sweep's summary metrics on the parent."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    from mlops_tracking.runs.artifacts import ArtifactStage
    from mlops_tracking.runs.context import stage_environment, stage_source
    from mlops_tracking.runs.metrics import set_tags
    from mlops_tracking.sweeps.figures import study_figures, trials_table

    table = trials_table(study.trials, metric)
    figures, skipped = study_figures(study)
    with ArtifactStage() as stage:
        stage.csv("sweep/trials.csv", table)
        stage.table("sweep/trials.json", table)
        for path, figure in figures.items():
            stage.figure(path, figure)
        if skipped:
            stage.json("sweep/plots_skipped.json", skipped)
        if best is not None:
            stage.json(
                "sweep/best.json",
                {
                    "trial": best.number,
                    metric: best.value,
                    "hyperparameters": best.user_attrs.get("hyperparameters", {}),
                    "run_id": best.user_attrs.get("mlflow_run_id"),
                },
            )
        stage_source(stage, code)
        stage_environment(stage)
        stage.upload(run_id)
        tables = stage.table_tags()
    states = [state_name(trial) for trial in ours]
    now = int(time.time() * 1000)
    summary = {
        "trials_complete": float(states.count("complete")),
        "trials_pruned": float(states.count("pruned")),
        "trials_failed": float(states.count("failed")),
        "trials_seconds": seconds,
        "trials_per_minute": 60.0 * len(ours) / seconds if seconds > 0 else 0.0,
    }
    if best is not None and best.value is not None:
        summary[f"best_{metric}"] = best.value
    points = [Metric(key, value, now, 0) for key, value in summary.items()]
    # The UI charts these against the trial number: each trial's value and the best so far.
    running: float | None = None
    sign = 1.0 if study.direction.name == "MINIMIZE" else -1.0
    for trial in sorted(ours, key=lambda t: t.number):
        if trial.value is None:
            continue
        points.append(Metric(f"trial_{metric}", trial.value, now, trial.number))
        if running is None or sign * trial.value < sign * running:
            running = trial.value
        points.append(Metric(f"best_so_far_{metric}", running, now, trial.number))
    client = MlflowClient()
    for start in range(0, len(points), 1000):
        client.log_batch(run_id, metrics=points[start : start + 1000])
    set_tags(run_id, {**tables, "sweep.trials": str(len(ours))})


def _raise_if_incomplete(reports: list[WorkerReport], ours: list[optuna.trial.FrozenTrial]) -> None:
    died = [report for report in reports if report.exit_code != 0]
    if died:
        raise SweepFailedError(
            "; ".join(
                f"worker {r.worker} ended with exit code {r.exit_code}"
                + (f", trial(s) {', '.join(map(str, r.orphans))} failed" if r.orphans else "")
                for r in died
            )
        )
    if ours and all(trial.state.name == "FAIL" for trial in ours):
        errors = {str(trial.user_attrs["error"]) for trial in ours if "error" in trial.user_attrs}
        raise SweepFailedError(
            f"every trial failed ({len(ours)} ran)"
            + (f"; first error: {sorted(errors)[0]}" if errors else "")
        )


def _train_best(
    inputs: TrainingInputs,
    family: str,
    target: ExperimentRef,
    place: StudyPlace,
    best: optuna.trial.FrozenTrial,
) -> RunOutcome:
    """The best trial's hyperparameters trained as a full run, nested under the parent."""
    from dataclasses import replace

    from mlops_tracking.core.models import family_for

    values = best.user_attrs.get("hyperparameters", {})
    config = inputs.config.with_hyperparameters(family, values)
    best_inputs = replace(inputs, config=config)
    return train_run(
        best_inputs,
        family_for(family, inputs.dataset.task),
        target,
        f"{family}-best-trial-{best.number:03d}",
        extra_tags={
            "sweep.study": place.name,
            "sweep.trial": str(best.number),
            "sweep.role": "best",
            "sweep.trial_run_id": str(best.user_attrs.get("mlflow_run_id")),
        },
    )


def _mark_best(
    parent_id: str, best: optuna.trial.FrozenTrial, run: RunOutcome, seconds: float
) -> None:
    from mlops_tracking.runs.metrics import log_metrics, set_tags

    log_metrics(parent_id, {"full_run_seconds": seconds})
    set_tags(
        parent_id,
        {
            "sweep.best_trial": str(best.number),
            "sweep.best_trial_run_id": str(best.user_attrs.get("mlflow_run_id")),
            "sweep.best_run_id": run.run_id,
        },
    )
