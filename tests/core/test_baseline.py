"""Code tests of the trivial baseline: what it predicts, what it is called, how a model beats it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mlops_tracking.core.baseline import (
    BEATEN_TAG,
    MARGIN_METRIC,
    Baseline,
    baseline_name,
    improvement,
    judge_baseline,
)
from mlops_tracking.core.dataset import Dataset, Split, Splits, Task
from mlops_tracking.core.evaluation import METRIC_NAMES
from mlops_tracking.core.promotion import check_baseline, decide, with_baseline


def _splits(train: list[float], validation: list[float], test: list[float]) -> Splits:
    def split(name: str, y: list[float]) -> Split:
        X = pd.DataFrame({"x": np.arange(len(y), dtype=float), "colour": ["red"] * len(y)})
        return Split(name, X, pd.Series(y))  # type: ignore[arg-type]

    return Splits(split("train", train), split("validation", validation), split("test", test))


def _dataset(task: Task, splits: Splits, labels: tuple[str, ...]) -> Dataset:
    features = pd.concat([split.X for split in splits])
    target = pd.concat([split.y for split in splits])
    return Dataset("toy", features, target, "y", task, labels, "toy.csv", "file")


def test_the_class_prior_scores_the_training_frequencies_on_validation_and_test() -> None:
    splits = _splits([0] * 30 + [1] * 10, [0, 0, 0, 1], [0, 1, 1, 1])
    dataset = _dataset("binary", splits, ("no", "yes"))

    baseline = judge_baseline({"validation_log_loss": 0.3}, splits, dataset, "validation_log_loss")

    prior = {0: 0.75, 1: 0.25}  # the training split's class frequencies, whatever the features
    for split in (splits.validation, splits.test):
        expected = -np.mean([math.log(prior[int(label)]) for label in split.y])
        assert baseline.metrics[f"baseline_{split.name}_log_loss"] == pytest.approx(expected)
    assert baseline.metrics["baseline_validation_accuracy"] == pytest.approx(0.75)  # majority
    assert baseline.metrics["baseline_test_accuracy"] == pytest.approx(0.25)
    assert baseline.metrics["baseline_test_roc_auc"] == pytest.approx(0.5)
    assert baseline.strategy == "prior"


def test_the_regression_baseline_predicts_the_training_mean() -> None:
    splits = _splits([1.0, 2.0, 3.0, 6.0], [4.0, 0.0], [3.0, 5.0])
    dataset = _dataset("regression", splits, ())

    baseline = judge_baseline({"validation_rmse": 1.0}, splits, dataset, "validation_rmse")

    assert baseline.metrics["baseline_validation_rmse"] == pytest.approx(math.sqrt((1 + 9) / 2))
    assert baseline.metrics["baseline_test_mae"] == pytest.approx((0 + 2) / 2)
    assert baseline.strategy == "mean"
    assert baseline.margin == pytest.approx(math.sqrt(5) - 1.0)  # lower rmse: positive margin
    assert baseline.beaten


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_baseline_metrics_mirror_the_model_metrics_of_both_held_out_splits(task: Task) -> None:
    y = {"binary": [0, 1] * 6, "multiclass": [0, 1, 2] * 4, "regression": [1.0, 2.0, 4.0] * 4}[task]
    splits = _splits(y, y[:6], y[:6])
    labels = {"binary": ("a", "b"), "multiclass": ("a", "b", "c"), "regression": ()}[task]
    metric = "validation_rmse" if task == "regression" else "validation_log_loss"

    baseline = judge_baseline({metric: 0.1}, splits, _dataset(task, splits, labels), metric)

    assert set(baseline.metrics) == {
        baseline_name(f"{split}_{name}")
        for split in ("validation", "test")
        for name in METRIC_NAMES[task]
    }
    assert set(baseline.all_metrics()) == {*baseline.metrics, MARGIN_METRIC}


def test_the_margin_is_positive_when_the_model_is_better_whatever_the_direction() -> None:
    assert improvement("validation_log_loss", 0.2, 0.6) == pytest.approx(0.4)
    assert improvement("validation_accuracy", 0.9, 0.6) == pytest.approx(0.3)
    assert improvement("test_r2", -0.03, 0.0) == pytest.approx(-0.03)


@pytest.mark.parametrize(
    ("margin", "beaten"), [(0.1, "true"), (0.0, "false"), (-0.2, "false"), (math.nan, "false")]
)
def test_a_tie_or_an_unscored_model_does_not_beat_the_baseline(margin: float, beaten: str) -> None:
    baseline = Baseline("prior", {}, "validation_log_loss", 0.5, margin)

    assert baseline.tags()[BEATEN_TAG] == beaten


def test_the_gate_refuses_a_candidate_that_does_not_beat_the_baseline() -> None:
    refused = check_baseline("log_loss", 0.70, 0.66, margin=0.0)
    tie = check_baseline("r2", 0.0, 0.0, margin=0.0)

    assert refused is not None and not refused.passed
    assert refused.baseline_value == 0.66 and refused.candidate_value == 0.70
    assert "does not beat the trivial baseline's 0.66" in refused.explanation
    assert tie is not None and not tie.passed
    assert check_baseline("log_loss", 0.10, 0.66, margin=0.0) is None
    assert check_baseline("log_loss", math.nan, 0.66, margin=0.0) is None  # decide() says why


def test_a_passing_gate_names_the_baseline_it_beat() -> None:
    gate = with_baseline(decide("log_loss", 0.1, None, 0.0), 0.66)

    assert gate.passed and gate.baseline_value == 0.66
    assert gate.explanation.endswith("; the trivial baseline scores 0.66")
