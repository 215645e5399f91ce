"""Compare model families on one dataset: a parent run with one child run per model.

Every child is a complete training run. A child that fails ends FAILED with its traceback and
the comparison goes on; the parent then ends FAILED too, naming the models that failed, so an
incomplete comparison never looks like a finished one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mlops_tracking.core.baseline import MARGIN_METRIC
from mlops_tracking.core.config import Config
from mlops_tracking.core.errors import ConfigError, IncompleteError
from mlops_tracking.core.evaluation import headline_metrics, selection_rule
from mlops_tracking.core.models import family_for
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


class ComparisonFailedError(IncompleteError):
    """At least one model of a comparison failed; the others were still trained and logged."""


@dataclass(frozen=True)
class ComparisonOutcome:
    parent_run_id: str
    experiment: ExperimentRef
    children: list[RunOutcome]
    best: RunOutcome | None = None
    selection_metric: str = ""


def rank(outcomes: Sequence[RunOutcome], metric: str, goal: str) -> list[RunOutcome]:
    """Order runs from best to worst on ``metric``."""
    return sorted(outcomes, key=lambda o: o.metrics[metric], reverse=goal == "maximize")


def comparison_table(outcomes: Sequence[RunOutcome], metric: str, goal: str) -> pd.DataFrame:
    """One row per model, best first: the selection metric, how far each beats its trivial
    baseline on it (``baseline_margin``, negative when it does not), and the task's headline
    metrics."""
    if not outcomes:
        return pd.DataFrame(columns=["rank", "model", "run_id", metric])
    columns = [metric, MARGIN_METRIC, *headline_metrics(outcomes[0].task), "fit_time_seconds"]
    rows = [
        {
            "rank": position,
            "model": outcome.model_name,
            "run_id": outcome.run_id,
            **{column: outcome.metrics.get(column) for column in dict.fromkeys(columns)},
        }
        for position, outcome in enumerate(rank(outcomes, metric, goal), start=1)
    ]
    return pd.DataFrame(rows)


def compare_and_log(
    config: Config,
    models: Sequence[str],
    config_file: Path | None = None,
    experiment: str | None = None,
    progress: Progress | None = None,
) -> ComparisonOutcome:
    """Train each of ``models`` as a child of one parent run; rank them on the selection metric."""
    from mlops_tracking.core.plots import comparison_figure
    from mlops_tracking.core.records import ComparisonRecord
    from mlops_tracking.runs.context import run_tags
    from mlops_tracking.runs.lifecycle import tracked_run
    from mlops_tracking.runs.recorder import record_comparison, record_inputs

    report = progress or SilentProgress()
    names = list(dict.fromkeys(models))
    if not names:
        raise ConfigError("--models needs at least one model name")
    inputs = load_inputs(config, config_file)
    families = [family_for(name, inputs.dataset.task) for name in names]
    metric, goal = _selection(config, inputs.dataset.task)
    target = open_experiment(config, inputs.dataset, experiment)
    tags = run_tags(
        inputs.code, {**base_tags(inputs, "comparison"), "compare.models": ",".join(names)}
    )
    description = describe_run(inputs, f"Comparison of {', '.join(names)}")
    run_name = config.tracking.run_name or f"compare-{inputs.dataset.name}"
    children: list[RunOutcome] = []
    failed: dict[str, str] = {}
    with tracked_run(
        target.id,
        run_name,
        tags,
        description,
        system_metrics_interval(config),
        heartbeat_seconds=config.tracking.heartbeat_seconds,
    ) as parent:
        record_inputs(parent.info.run_id, inputs, comparison_params(config, names, metric, goal))
        for family in families:
            report.step(f"{family.name} on {inputs.dataset.name}")
            try:
                children.append(
                    train_run(inputs.with_model(family.name), family, target, family.name)
                )
            except Exception as error:  # the child run already ended FAILED with its traceback
                failed[family.name] = f"{type(error).__name__}: {error}"
        table = comparison_table(children, metric, goal)
        figures = {f"plots/comparison_{metric}.png": comparison_figure(table, metric)}
        record_comparison(
            parent.info.run_id, ComparisonRecord(inputs, table, metric, goal, failed, figures)
        )
        if failed:
            raise ComparisonFailedError(
                f"{len(failed)} of {len(names)} models failed: "
                + "; ".join(f"{model} ({reason})" for model, reason in failed.items())
            )
    best = rank(children, metric, goal)[0] if children else None
    return ComparisonOutcome(parent.info.run_id, target, children, best, metric)


def comparison_params(config: Config, models: list[str], metric: str, goal: str) -> dict[str, str]:
    """The parent run's params: the shared config (no model section) and the ranking rule."""
    params = {k: v for k, v in config.run_params().items() if not k.startswith("model.")}
    return {
        **params,
        "compare.models": ",".join(models),
        "compare.selection_metric": metric,
        "compare.selection_goal": goal,
    }


def _selection(config: Config, task: str) -> tuple[str, str]:
    """The validation metric models are ranked by, and whether lower or higher is better."""
    return selection_rule(config.evaluation, task)
