"""One trial of a sweep: draw hyperparameters, fit with the pruner watching, log a light run.

A trial is tracked *lightly*: one child run of the sweep's parent with its params, its
validation metrics, its learning curves (step-indexed, as a full run logs them) and its state,
in three store calls (create, one batch, end). No model files, datasets or plots: the best
trial is trained again as a full run (``sweep.py``).

The pruner watches the validation loss curve (``val_loss``, negated when the sweep maximises its
metric, so that "worse" means the same to the pruner as to the study). A pruned trial's run
ends FINISHED with ``sweep.trial_state=pruned`` and the curve up to where it stopped; a failed
trial's run ends FAILED with the error as a tag; an interrupted one ends KILLED.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlops_tracking.core.search_space import PRUNABLE_HISTORIES, suggest
from mlops_tracking.runs.interrupts import RunInterrupted
from mlops_tracking.runs.metrics import METRICS_PER_BATCH, PARAMS_PER_BATCH

if TYPE_CHECKING:
    import optuna

    from mlops_tracking.core.models import ModelFamily
    from mlops_tracking.core.records import TrainingInputs

PARENT_TAG = "mlflow.parentRunId"
# A trial's logged curve keeps at most this many points per series (always the last): enough to
# see its shape in the UI, at a fifth of the store writes of the full run's 200 (each metric
# point is a row; the batch's cost grows with them).
TRIAL_CURVE_POINTS = 40
# The steps the pruner hears, the same for every trial whatever its length, so that the median
# at a step is taken over every trial that got there: 1, 2, 3, 4, 6, 8, 11, 16, 23, 32, ...
PRUNING_STEPS = sorted({round(1.41**k) for k in range(40)})
RUN_TYPE = "sweep_trial"
MAX_TAG_LENGTH = 500


@dataclass
class TrialContext:
    """What every trial of one worker shares (built once per worker process)."""

    inputs: TrainingInputs
    family: ModelFamily
    experiment_id: str
    parent_run_id: str
    study_name: str
    metric: str  # the objective: a validation metric, e.g. validation_log_loss
    goal: str  # minimize or maximize
    worker: str
    tags: dict[str, str] = field(default_factory=dict)  # shared by every trial's run
    interrupted: RunInterrupted | None = None  # the signal that stopped this worker


def trial_tags(context: TrialContext, number: int) -> dict[str, str]:
    return {
        **context.tags,
        PARENT_TAG: context.parent_run_id,
        "mlops.run_type": RUN_TYPE,
        "model.family": context.family.name,
        "sweep.study": context.study_name,
        "sweep.trial": str(number),
        "sweep.worker": context.worker,
        "sweep.trial_state": "running",
    }


def run_trial(trial: optuna.Trial, context: TrialContext) -> float:
    """The objective: fit one draw of the space, score it on validation, log it; return the
    validation metric. Raises ``TrialPruned`` when the pruner stops it."""
    from mlflow import MlflowClient

    started = time.perf_counter()
    family = context.family
    schema = type(getattr(context.inputs.config.model, family.name))
    values = suggest(trial, context.inputs.config.sweep.space.get(family.name, {}), schema)
    config = context.inputs.config.with_hyperparameters(family.name, values)
    for key, value in (
        ("hyperparameters", values),
        ("worker", context.worker),
        ("parent_run_id", context.parent_run_id),
    ):
        trial.set_user_attr(key, value)
    client = MlflowClient()
    run = client.create_run(
        context.experiment_id,
        run_name=f"trial-{trial.number:03d}",
        tags=trial_tags(context, trial.number),
    )
    trial.set_user_attr("mlflow_run_id", run.info.run_id)
    curve: list[tuple[int, dict[str, float]]] = []
    outcome = Outcome("failed", "FAILED")
    try:
        outcome = _fit_and_score(trial, context, config, curve)
        return outcome.metrics[context.metric]
    except BaseException as error:
        outcome = _ended_by(error, curve)
        if outcome.state == "failed":
            trial.set_user_attr("error", outcome.reason[:MAX_TAG_LENGTH])
        if isinstance(error, RunInterrupted):
            context.interrupted = error
            # Optuna fails a trial on KeyboardInterrupt (and re-raises it); RunInterrupted, a
            # BaseException of our own, would leave the trial RUNNING in the study.
            raise KeyboardInterrupt(str(error)) from error
        raise
    finally:
        outcome.metrics["trial_seconds"] = time.perf_counter() - started
        _finish(client, run.info.run_id, config=config, values=values, curve=curve, outcome=outcome)


def _fit_and_score(
    trial: optuna.Trial,
    context: TrialContext,
    config: Any,
    curve: list[tuple[int, dict[str, float]]],
) -> Outcome:
    """Fit with the pruner watching each point of the curve (kept in ``curve``), then score the
    validation split."""
    from mlops_tracking.core.evaluation import compute_metrics, predict
    from mlops_tracking.core.modelling import fit_pipeline

    inputs, family = context.inputs, context.family
    prunable = family.history in PRUNABLE_HISTORIES and config.sweep.pruner != "none"
    watch = CurveWatch(trial, family.history, context.goal, prune=prunable, curve=curve)
    pipeline, fit = fit_pipeline(_with_config(inputs, config), family, watch)
    predictions = predict(pipeline, inputs.splits.validation, inputs.dataset.is_classification)
    scores = compute_metrics(predictions, inputs.dataset.task, len(inputs.dataset.labels))
    outcome = Outcome("complete", "FINISHED")
    outcome.metrics = {f"validation_{k}": v for k, v in scores.items()}
    outcome.metrics["fit_time_seconds"] = fit.fit_seconds
    if fit.best_step is not None:
        outcome.tags["history.best_step"] = str(fit.best_step)
    return outcome


class CurveWatch:
    """Hears each point of a trial's learning curve: keeps it, and tells the pruner at the
    shared ``PRUNING_STEPS`` (raising ``TrialPruned`` when it says stop)."""

    def __init__(
        self,
        trial: optuna.Trial,
        unit: str,
        goal: str,
        *,
        prune: bool,
        curve: list[tuple[int, dict[str, float]]] | None = None,
    ) -> None:
        self.trial, self.unit, self.prune = trial, unit, prune
        self.sign = -1.0 if goal == "maximize" else 1.0
        self.curve = curve if curve is not None else []
        self.due = iter(PRUNING_STEPS)
        self.next_report = next(self.due)

    def __call__(self, step: int, point: dict[str, float]) -> None:
        import optuna

        self.curve.append((step, dict(point)))
        if not self.prune or step < self.next_report:
            return
        # reported at the grid step it reached (a curve traced every other step reports its
        # value at 2, 4, 6, ... under the grid's 2, 3, 4, ...: the nearest point it has)
        while self.next_report <= step:
            reported, self.next_report = self.next_report, next(self.due, sys.maxsize)
        self.trial.report(self.sign * point["val_loss"], reported)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at {self.unit} step {step}")


def _ended_by(error: BaseException, curve: list[tuple[int, dict[str, float]]]) -> Outcome:
    """How a trial that raised ``error`` is recorded: pruned, killed or failed."""
    import optuna

    if isinstance(error, optuna.TrialPruned):
        at = {"sweep.pruned_at": str(curve[-1][0])} if curve else {}
        return Outcome("pruned", "FINISHED", reason=str(error), tags=at)
    if isinstance(error, RunInterrupted | KeyboardInterrupt):
        return Outcome("failed", "KILLED", reason=str(error) or "interrupted")
    return Outcome("failed", "FAILED", reason=f"{type(error).__name__}: {error}")


@dataclass
class Outcome:
    """How a trial ended, as its run records it."""

    state: str  # complete, pruned, failed
    status: str  # the run's status: FINISHED, FAILED, KILLED
    reason: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


def _with_config(inputs: TrainingInputs, config: Any) -> TrainingInputs:
    from dataclasses import replace

    return replace(inputs, config=config)


def trial_params(config: Any, values: dict[str, Any]) -> dict[str, str]:
    """The run params of a trial: what a full run of the same config logs (``model.<param>``
    for the family's hyperparameters), so trials and full runs line up in the UI's columns."""
    params: dict[str, str] = config.run_params()
    params["sweep.sampled"] = ",".join(sorted(values))
    return params


def _finish(
    client: Any,
    run_id: str,
    *,
    config: Any,
    values: dict[str, Any],
    curve: list[tuple[int, dict[str, float]]],
    outcome: Outcome,
) -> None:
    """Write the trial's params, metrics, curve and state in one batch, then end its run."""
    from mlflow.entities import Metric, Param, RunTag

    now = int(time.time() * 1000)
    points = [
        Metric(key, float(value), now, step)
        for step, point in thinned(curve, TRIAL_CURVE_POINTS)
        for key, value in point.items()
    ]
    points += [Metric(key, float(value), now, 0) for key, value in outcome.metrics.items()]
    tags = {**outcome.tags, "sweep.trial_state": outcome.state}
    if outcome.reason:
        tags["mlops.error" if outcome.state == "failed" else "sweep.reason"] = outcome.reason[
            :MAX_TAG_LENGTH
        ]
    params = [Param(k, v) for k, v in trial_params(config, values).items()]
    tag_entities = [RunTag(key, value) for key, value in tags.items()]
    # one batch in the usual case; MLflow takes at most 1000 metrics and 100 params per call
    batches = max(-(-len(points) // METRICS_PER_BATCH), -(-len(params) // PARAMS_PER_BATCH), 1)
    for index in range(batches):
        client.log_batch(
            run_id,
            metrics=points[index * METRICS_PER_BATCH : (index + 1) * METRICS_PER_BATCH],
            params=params[index * PARAMS_PER_BATCH : (index + 1) * PARAMS_PER_BATCH],
            tags=tag_entities if index == 0 else [],
        )
    client.set_terminated(run_id, outcome.status)


def thinned(curve: list[tuple[int, dict[str, float]]], points: int) -> list[tuple[int, Any]]:
    """At most ``points`` evenly spaced points of ``curve``, its last one always kept."""
    if len(curve) <= points:
        return curve
    stride = -(-len(curve) // points)
    kept = curve[::stride]
    return kept if kept[-1] is curve[-1] else [*kept, curve[-1]]


def sampled_text(values: dict[str, Any]) -> str:
    """A trial's draw as one line, e.g. ``max_depth=7 n_estimators=120``."""
    return " ".join(f"{key}={json.dumps(value)}" for key, value in sorted(values.items()))
