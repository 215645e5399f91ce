"""Compare model families on one dataset: a parent run with one child run per model.

Every child is a complete training run. A child that fails ends FAILED with its traceback and
the comparison goes on; the parent then ends FAILED too, naming the models that failed, so an
incomplete comparison never looks like a finished one.

With ``seeds`` each model is trained at that many values of ``model.seed`` (and of
``data.seed`` too with ``vary_split``), one child run each; the parent holds each model's mean,
standard deviation and 95% confidence interval over the children that finished
(``core.seeds``), and ranks the models by the mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mlops_tracking.core.baseline import MARGIN_METRIC
from mlops_tracking.core.config import Config
from mlops_tracking.core.errors import ConfigError, IncompleteError
from mlops_tracking.core.evaluation import headline_metrics, selection_rule
from mlops_tracking.core.models import family_for
from mlops_tracking.core.records import ComparisonRecord, TrainingInputs
from mlops_tracking.core.seeds import ModelSeeds, check_seed_count
from mlops_tracking.runs.comparison_children import plan_trials, seed_summaries, seeds_record
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
    seeds: int | None = None  # seeds per model; None: one run per model, no summary
    vary_split: bool = False  # data.seed varied with model.seed
    summaries: list[ModelSeeds] = field(default_factory=list)  # per model, best first


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
    *,
    seeds: int | None = None,
    vary_split: bool = False,
) -> ComparisonOutcome:
    """Train each of ``models`` as a child of one parent run; rank them on the selection metric.

    ``seeds``: train each model at that many seeds (``core.seeds.seed_plan``) and rank by the
    mean over them; ``vary_split`` varies the split's seed with the model's.
    """
    from mlops_tracking.runs.context import run_tags
    from mlops_tracking.runs.lifecycle import tracked_run
    from mlops_tracking.runs.recorder import record_comparison, record_inputs

    report = progress or SilentProgress()
    names = list(dict.fromkeys(models))
    _check_request(names, seeds, vary_split)
    inputs = load_inputs(config, config_file)
    families = [family_for(name, inputs.dataset.task) for name in names]
    metric, goal = _selection(config, inputs.dataset.task)
    trials = plan_trials(inputs, families, seeds, vary_split)
    target = open_experiment(config, inputs.dataset, experiment)
    seed_tags = {} if seeds is None else {"compare.seeds": str(seeds)}
    tags = run_tags(
        inputs.code,
        {**base_tags(inputs, "comparison"), "compare.models": ",".join(names), **seed_tags},
    )
    description = describe_run(inputs, _what(names, seeds, vary_split))
    run_name = config.tracking.run_name or f"compare-{inputs.dataset.name}"
    children: dict[str, RunOutcome] = {}  # by run name
    failed: dict[str, str] = {}
    with tracked_run(
        target.id,
        run_name,
        tags,
        description,
        system_metrics_interval(config),
        heartbeat_seconds=config.tracking.heartbeat_seconds,
    ) as parent:
        params = comparison_params(config, names, metric, goal, seeds=seeds, vary_split=vary_split)
        record_inputs(parent.info.run_id, inputs, params)
        for trial in trials:
            report.step(f"{trial.run_name} on {inputs.dataset.name}")
            try:
                children[trial.run_name] = train_run(
                    trial.inputs, trial.family, target, trial.run_name, trial.tags()
                )
            except Exception as error:  # the child run already ended FAILED with its traceback
                failed[trial.run_name] = f"{type(error).__name__}: {error}"
        summaries = seed_summaries(trials, children, metric, goal) if seeds is not None else []
        record = (
            seeds_record(inputs, summaries, metric, goal, failed=failed, seeds=seeds)
            if seeds is not None
            else _models_record(inputs, list(children.values()), metric, goal, failed)
        )
        record_comparison(parent.info.run_id, record)
        if failed:
            unit = "models" if seeds is None else "runs"
            raise ComparisonFailedError(
                f"{len(failed)} of {len(trials)} {unit} failed: "
                + "; ".join(f"{model} ({reason})" for model, reason in failed.items())
            )
    outcomes = list(children.values())
    best = _best(outcomes, summaries, metric, goal)
    return ComparisonOutcome(
        parent.info.run_id, target, outcomes, best, metric, seeds, vary_split, summaries
    )


def _check_request(names: list[str], seeds: int | None, vary_split: bool) -> None:
    """Refuse what cannot be compared before anything is loaded or logged."""
    if not names:
        raise ConfigError("--models needs at least one model name")
    if seeds is not None:
        check_seed_count(seeds)
    elif vary_split:
        raise ConfigError("--vary-split varies the split per seed: give --seeds N with it")


def _what(names: list[str], seeds: int | None, vary_split: bool) -> str:
    """What the comparison does, for its description."""
    what = f"Comparison of {', '.join(names)}"
    if seeds is None:
        return what
    varied = "model.seed and data.seed" if vary_split else "model.seed, the splits fixed"
    if seeds == 1:
        return f"{what} at one seed each ({varied}): means only, one seed has no spread"
    return f"{what} over {seeds} seeds each ({varied})"


def _models_record(
    inputs: TrainingInputs,
    outcomes: list[RunOutcome],
    metric: str,
    goal: str,
    failed: dict[str, str],
) -> ComparisonRecord:
    from mlops_tracking.core.plots import comparison_figure

    table = comparison_table(outcomes, metric, goal)
    figures = {f"plots/comparison_{metric}.png": comparison_figure(table, metric)}
    return ComparisonRecord(inputs, table, metric, goal, failed, figures)


def _best(
    outcomes: list[RunOutcome], summaries: list[ModelSeeds], metric: str, goal: str
) -> RunOutcome | None:
    """The best run: of the best model by its mean, the run at its lowest finished seed."""
    if not outcomes:
        return None
    if not summaries:
        return rank(outcomes, metric, goal)[0]
    chosen = summaries[0].representative.run_id
    return next(outcome for outcome in outcomes if outcome.run_id == chosen)


def comparison_params(
    config: Config,
    models: list[str],
    metric: str,
    goal: str,
    *,
    seeds: int | None = None,
    vary_split: bool = False,
) -> dict[str, str]:
    """The parent run's params: the shared config (no model section), the ranking rule and,
    for a seeded comparison, the seeds (``model.seed`` upward; ``data.seed`` too if varied)."""
    params = {k: v for k, v in config.run_params().items() if not k.startswith("model.")}
    seeded = (
        {}
        if seeds is None
        else {
            "compare.seeds": str(seeds),
            "compare.first_seed": str(config.model.seed),
            "compare.vary_split": str(vary_split).lower(),
        }
    )
    return {
        **params,
        "compare.models": ",".join(models),
        "compare.selection_metric": metric,
        "compare.selection_goal": goal,
        **seeded,
    }


def _selection(config: Config, task: str) -> tuple[str, str]:
    """The validation metric models are ranked by, and whether lower or higher is better."""
    return selection_rule(config.evaluation, task)
