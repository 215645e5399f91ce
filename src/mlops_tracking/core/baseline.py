"""The trivial baseline of a task, fitted and scored on the same splits as the model it judges.

A model is only worth its metrics if it beats knowing nothing about a row:

* classification: ``DummyClassifier(strategy="prior")`` predicts the training split's class
  frequencies for every row, so its log loss is the entropy of those frequencies and its
  accuracy the share of the majority class;
* regression: ``DummyRegressor(strategy="mean")`` predicts the training split's mean, so its
  R² is about 0 and its RMSE about the target's standard deviation.

Its metrics mirror the model's with a ``baseline_`` prefix (``baseline_validation_log_loss``,
``baseline_test_rmse``, every name of ``evaluation.METRIC_NAMES``). The model is judged on the
selection metric (``evaluation.selection_metric``, a validation metric): ``margin`` is how much
better the model is, positive when it is better whatever the metric's direction, and the model
beats the baseline only with a margin above 0 (a tie does not).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops_tracking.core.evaluation import compute_metrics, metric_goal, predict

if TYPE_CHECKING:
    from mlops_tracking.core.dataset import Dataset, Splits

PREFIX = "baseline_"
MARGIN_METRIC = "baseline_margin"
# Run tags: whether the model beats the baseline, on which metric, with which dummy strategy.
BEATEN_TAG, METRIC_TAG, STRATEGY_TAG = "baseline.beaten", "baseline.metric", "baseline.strategy"
STRATEGIES = {"classification": "prior", "regression": "mean"}


@dataclass(frozen=True)
class Baseline:
    """The baseline's scores and how the model compares with it on the selection metric."""

    strategy: str  # prior (classification) or mean (regression)
    metrics: dict[str, float]  # baseline_validation_*, baseline_test_*
    selection_metric: str  # e.g. validation_log_loss
    model_value: float
    margin: float  # the model's improvement over the baseline; > 0: the model is better

    @property
    def beaten(self) -> bool:
        return math.isfinite(self.margin) and self.margin > 0

    def all_metrics(self) -> dict[str, float]:
        """Every metric the run logs about the baseline, the margin included."""
        return {**self.metrics, MARGIN_METRIC: self.margin}

    def tags(self) -> dict[str, str]:
        return {
            BEATEN_TAG: str(self.beaten).lower(),
            METRIC_TAG: self.selection_metric,
            STRATEGY_TAG: self.strategy,
        }


def baseline_name(metric: str) -> str:
    """The baseline's counterpart of a model metric: ``test_rmse`` -> ``baseline_test_rmse``."""
    return f"{PREFIX}{metric}"


def improvement(metric: str, model_value: float, baseline_value: float) -> float:
    """How much better ``model_value`` is than ``baseline_value`` (positive: better)."""
    if metric_goal(metric) == "maximize":
        return model_value - baseline_value
    return baseline_value - model_value


def fit_baseline(splits: Splits, classification: bool) -> Any:
    """The task's dummy estimator, fitted on the training split's target."""
    from sklearn.dummy import DummyClassifier, DummyRegressor

    strategy = STRATEGIES["classification" if classification else "regression"]
    dummy = DummyClassifier(strategy=strategy) if classification else DummyRegressor()
    return dummy.fit(splits.train.X, splits.train.y)


def judge_baseline(
    model_metrics: dict[str, float],
    splits: Splits,
    dataset: Dataset,
    selection_metric: str,
    calibration_bins: int = 10,
) -> Baseline:
    """Score the baseline on the validation and test splits and compare the model with it."""
    classification = dataset.is_classification
    dummy = fit_baseline(splits, classification)
    metrics: dict[str, float] = {}
    for split in (splits.validation, splits.test):
        scores = compute_metrics(
            predict(dummy, split, classification),
            dataset.task,
            len(dataset.labels),
            calibration_bins,
        )
        metrics.update({baseline_name(f"{split.name}_{k}"): v for k, v in scores.items()})
    model_value = model_metrics[selection_metric]
    margin = improvement(selection_metric, model_value, metrics[baseline_name(selection_metric)])
    strategy = STRATEGIES["classification" if classification else "regression"]
    return Baseline(strategy, metrics, selection_metric, model_value, margin)
