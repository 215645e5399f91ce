"""The same configuration over several seeds: which seeds, and what their scores say together.

One training run is one draw of its randomness (a forest's bootstrap, a network's initial
weights); a comparison of single runs can rank two models by luck. ``compare --seeds N`` trains
each model at N seeds and this module summarises them per model: the mean, the sample standard
deviation and a 95% confidence interval for the mean from Student's t distribution (few seeds:
the normal distribution's 1.96 would be too narrow). With one seed there is no spread, and no
interval is made up.

MLflow cannot aggregate runs itself (mlflow/mlflow#4277), so the summary is computed here and
logged on the comparison's parent run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from mlops_tracking.core.errors import ConfigError

# Each seed is a complete tracked run (models in every format); past a few dozen the
# comparison takes long and the runs table grows unreadable, while the interval barely narrows.
MAX_SEEDS = 50
CONFIDENCE = 0.95
# What is summarised: the scores on both evaluation splits, and how long fitting took.
SUMMARISED_PREFIXES = ("validation_", "test_")
SUMMARISED_MEASUREMENTS = ("fit_time_seconds",)
STATISTICS = ("mean", "std", "ci95_low", "ci95_high")


def check_seed_count(count: int) -> None:
    """Raise ``ConfigError`` unless ``count`` seeds is a sensible request (1 to MAX_SEEDS)."""
    if not 1 <= count <= MAX_SEEDS:
        raise ConfigError(
            f"--seeds must be between 1 and {MAX_SEEDS} (got {count}): each seed is a complete "
            "run of every model"
        )


@dataclass(frozen=True)
class SeedPlan:
    """The seeds of one child run: the model's, and the split's."""

    model_seed: int
    data_seed: int


def seed_plan(model_seed: int, data_seed: int, count: int, vary_split: bool) -> list[SeedPlan]:
    """``count`` seeds from the configured ``model.seed`` upward; the split's stays fixed (every
    child is scored on the same rows) unless ``vary_split``, when ``data.seed`` counts up too."""
    check_seed_count(count)
    return [
        SeedPlan(model_seed + offset, data_seed + offset if vary_split else data_seed)
        for offset in range(count)
    ]


@dataclass(frozen=True)
class Spread:
    """What ``n`` values of one metric say together; no spread or interval for one value."""

    n: int
    mean: float
    std: float | None = None  # sample standard deviation (n - 1 in the denominator)
    ci95_low: float | None = None
    ci95_high: float | None = None

    def statistics(self) -> dict[str, float]:
        """The statistics that exist, by name (``mean`` always; the rest from two values)."""
        values = {
            "mean": self.mean,
            "std": self.std,
            "ci95_low": self.ci95_low,
            "ci95_high": self.ci95_high,
        }
        return {name: value for name, value in values.items() if value is not None}


def spread(values: Sequence[float]) -> Spread:
    """The mean of ``values``, and from two values on their standard deviation and the 95%
    confidence interval for the mean: mean ± t(0.975, n - 1) · std / √n."""
    from scipy.stats import t

    if not values:
        raise ValueError("a spread needs at least one value")
    n = len(values)
    mean = math.fsum(values) / n
    if n == 1:
        return Spread(1, mean)
    if min(values) == max(values):  # exactly: a mean rounded off the value leaves a std of 1e-17
        return Spread(n, values[0], 0.0, values[0], values[0])
    std = math.sqrt(math.fsum((value - mean) ** 2 for value in values) / (n - 1))
    half_width = float(t.ppf((1 + CONFIDENCE) / 2, n - 1)) * std / math.sqrt(n)
    return Spread(n, mean, std, mean - half_width, mean + half_width)


@dataclass(frozen=True)
class SeedResult:
    """One child run that finished: its model, its seeds and its final metrics."""

    model: str
    seeds: SeedPlan
    run_id: str
    metrics: dict[str, float]


@dataclass(frozen=True)
class ModelSeeds:
    """The finished runs of one model and, per summarised metric, their spread."""

    model: str
    results: list[SeedResult]
    spreads: dict[str, Spread] = field(default_factory=dict)

    @property
    def representative(self) -> SeedResult:
        """The run at the lowest seed that finished (the configured seed, unless that run
        failed): what ``train`` with the same config makes, never the luckiest seed."""
        return min(self.results, key=lambda result: result.seeds.model_seed)


def is_summarised(metric: str) -> bool:
    return metric.startswith(SUMMARISED_PREFIXES) or metric in SUMMARISED_MEASUREMENTS


def summarise(results: Sequence[SeedResult]) -> list[ModelSeeds]:
    """Group ``results`` by model (in first-seen order) and summarise every metric that each
    of a model's runs has."""
    by_model: dict[str, list[SeedResult]] = {}
    for result in results:
        by_model.setdefault(result.model, []).append(result)
    summaries = []
    for model, runs in by_model.items():
        shared = [key for key in runs[0].metrics if is_summarised(key)]
        shared = [key for key in shared if all(key in run.metrics for run in runs)]
        spreads = {key: spread([run.metrics[key] for run in runs]) for key in shared}
        summaries.append(ModelSeeds(model, runs, spreads))
    return summaries


def rank_models(summaries: Sequence[ModelSeeds], metric: str, goal: str) -> list[ModelSeeds]:
    """Order models from best to worst on the mean of ``metric`` over their seeds."""
    return sorted(summaries, key=lambda s: s.spreads[metric].mean, reverse=goal == "maximize")


def unmoved_by_seed(summaries: Sequence[ModelSeeds], metric: str) -> list[str]:
    """The models whose ``metric`` was the same at every one of two or more seeds: their fit
    does not use ``model.seed`` (lbfgs, or gradient boosting without subsampling), so only
    ``--vary-split`` shows how much their score depends on chance."""
    return [
        summary.model
        for summary in summaries
        if summary.spreads[metric].n > 1 and summary.spreads[metric].std == 0
    ]


def parent_metrics(summaries: Sequence[ModelSeeds]) -> dict[str, float]:
    """The summary as metrics of the comparison's parent: ``<model>/<metric>_<statistic>``.

    The model comes first, before a slash, because the MLflow UI groups a run's metric charts
    into one section per prefix before ``/`` (as it does for ``system/``): one section a model.
    """
    return {
        f"{summary.model}/{metric}_{name}": value
        for summary in summaries
        for metric, values in summary.spreads.items()
        for name, value in values.statistics().items()
    }


def summary_table(ranked: Sequence[ModelSeeds]) -> pd.DataFrame:
    """One row per model, best first: rank, seeds, its representative run and every statistic
    of every summarised metric (``validation_log_loss_mean``, ..., empty where undefined)."""
    rows = []
    for position, summary in enumerate(ranked, start=1):
        row: dict[str, object] = {
            "rank": position,
            "model": summary.model,
            "n_seeds": len(summary.results),
            "seeds": ",".join(str(result.seeds.model_seed) for result in summary.results),
            "run_id": summary.representative.run_id,
        }
        for metric, values in summary.spreads.items():
            for name in STATISTICS:
                row[f"{metric}_{name}"] = getattr(values, name)
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else ["rank", "model", "n_seeds", "run_id"])


def seed_table(ranked: Sequence[ModelSeeds]) -> pd.DataFrame:
    """One row per finished child run (models best first, then by seed): its seeds, its run
    and the values that were summarised."""
    rows = [
        {
            "model": summary.model,
            "model_seed": result.seeds.model_seed,
            "data_seed": result.seeds.data_seed,
            "run_id": result.run_id,
            **{key: result.metrics[key] for key in summary.spreads},
        }
        for summary in ranked
        for result in sorted(summary.results, key=lambda r: r.seeds.model_seed)
    ]
    return pd.DataFrame(rows, columns=None if rows else ["model", "model_seed", "run_id"])
