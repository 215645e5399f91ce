"""The child runs a comparison plans, and the parent's record of a seeded comparison.

A plain comparison trains each model once, named after it. A seeded one trains each model at
every seed of ``core.seeds.seed_plan`` (run names like ``random_forest-seed43``, tagged with
both seeds) and records, per model, the spread of every metric over the runs that finished.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from mlops_tracking.core.models import ModelFamily
from mlops_tracking.core.records import ComparisonRecord, TrainingInputs
from mlops_tracking.core.seeds import ModelSeeds, SeedPlan, SeedResult, seed_plan
from mlops_tracking.runs.workflow import RunOutcome


@dataclass(frozen=True)
class Trial:
    """One child run a comparison plans: a model, the inputs it trains on, its run name."""

    family: ModelFamily
    inputs: TrainingInputs
    run_name: str
    seeds: SeedPlan | None = None

    def tags(self) -> dict[str, str]:
        if self.seeds is None:
            return {}
        return {
            "compare.model_seed": str(self.seeds.model_seed),
            "compare.data_seed": str(self.seeds.data_seed),
        }


def plan_trials(
    inputs: TrainingInputs, families: Sequence[ModelFamily], seeds: int | None, vary_split: bool
) -> list[Trial]:
    """The child runs, in order: one per model, or with ``seeds`` each model at every seed.

    Every split is made here, before any run exists, so a seed whose split cannot be made (a
    class missing from it) is refused with nothing logged.
    """
    from mlops_tracking.core.data import split_dataset

    if seeds is None:
        return [Trial(family, inputs.with_model(family.name), family.name) for family in families]
    config = inputs.config
    plans = seed_plan(config.model.seed, config.data.seed, seeds, vary_split)
    splits = {config.data.seed: inputs.splits}
    for plan in plans:
        if plan.data_seed not in splits:
            data = config.data.model_copy(update={"seed": plan.data_seed})
            splits[plan.data_seed] = split_dataset(inputs.dataset, data)
    return [
        Trial(
            family,
            replace(
                inputs,
                config=config.with_overrides(
                    [
                        f"model.name={family.name}",
                        f"model.seed={plan.model_seed}",
                        f"data.seed={plan.data_seed}",
                    ]
                ),
                splits=splits[plan.data_seed],
            ),
            f"{family.name}-seed{plan.model_seed}",
            plan,
        )
        for family in families
        for plan in plans
    ]


def seed_summaries(
    trials: Sequence[Trial], children: dict[str, RunOutcome], metric: str, goal: str
) -> list[ModelSeeds]:
    """Each model's spread over the children that finished, best model first."""
    from mlops_tracking.core.seeds import rank_models, summarise

    results = [
        SeedResult(trial.family.name, trial.seeds, outcome.run_id, outcome.metrics)
        for trial in trials
        if trial.seeds is not None and (outcome := children.get(trial.run_name)) is not None
    ]
    return rank_models(summarise(results), metric, goal)


def seeds_record(
    inputs: TrainingInputs,
    summaries: list[ModelSeeds],
    metric: str,
    goal: str,
    *,
    failed: dict[str, str],
    seeds: int,
) -> ComparisonRecord:
    """The parent's record of a seeded comparison: ``comparison/models`` holds one row per
    model (its statistics), ``comparison/seeds`` one row per finished child."""
    from mlops_tracking.core.plots import seed_spread_figure
    from mlops_tracking.core.seeds import parent_metrics, seed_table, summary_table

    table = summary_table(summaries)
    figures = (
        {f"plots/comparison_{metric}_seeds.png": seed_spread_figure(table, metric, seeds)}
        if summaries
        else {}
    )
    return ComparisonRecord(
        inputs,
        table,
        f"{metric}_mean",
        goal,
        failed,
        figures,
        tables={"comparison/seeds": seed_table(summaries)},
        metrics=parent_metrics(summaries),
    )
