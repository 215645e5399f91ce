"""Code tests of metrics and tables, and model tests: minimum scores on the shipped datasets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics

from conftest import fit_model
from mlops_tracking.core.dataset import Split
from mlops_tracking.core.evaluation import (
    METRIC_NAMES,
    Predictions,
    compute_metrics,
    confusion_table,
    custom_metric_name,
    default_selection_metric,
    expected_calibration_error,
    fraction_within_tolerance,
    metric_goal,
    predictions_table,
    selectable_metrics,
)

# --- custom metrics, on hand-computed examples -----------------------------------------------


def test_ece_of_perfectly_calibrated_predictions_is_zero() -> None:
    # Says 80% five times and is right four times.
    proba = np.array([[0.8, 0.2]] * 5)
    y = np.array([0, 0, 0, 0, 1])

    assert expected_calibration_error(y, proba) == pytest.approx(0.0, abs=1e-12)


def test_ece_weights_each_bins_gap_by_its_share() -> None:
    # Bin [0.9, 1.0): confidence 0.9, accuracy 2/4 -> gap 0.4, weight 1/2.
    # Bin [0.6, 0.7): confidence 0.6, accuracy 3/4 -> gap 0.15, weight 1/2.
    proba = np.array([[0.9, 0.1]] * 4 + [[0.4, 0.6]] * 4)
    y = np.array([0, 0, 1, 1, 1, 1, 1, 0])  # four, then four

    assert expected_calibration_error(y, proba) == pytest.approx(0.5 * 0.4 + 0.5 * 0.15)


def test_ece_with_one_bin_compares_overall_confidence_and_accuracy() -> None:
    proba = np.array([[0.9, 0.1]] * 4 + [[0.4, 0.6]] * 4)
    y = np.array([0, 0, 1, 1, 1, 1, 1, 0])  # four, then four

    # mean confidence 0.75, accuracy 5/8
    assert expected_calibration_error(y, proba, n_bins=1) == pytest.approx(0.125)


def test_ece_multiclass_and_certain_predictions() -> None:
    proba = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    y = np.array([0, 1, 2, 0])

    # all in the top bin: confidence 1, accuracy 3/4
    assert expected_calibration_error(y, proba) == pytest.approx(0.25)


def test_fraction_within_tolerance() -> None:
    truth = np.array([100.0, 200.0, -50.0, 10.0])
    predicted = np.array([105.0, 230.0, -54.0, 10.0])  # off by 5%, 15%, 8%, 0%

    assert fraction_within_tolerance(truth, predicted) == pytest.approx(0.75)
    assert fraction_within_tolerance(truth, predicted, tolerance=0.2) == pytest.approx(1.0)
    assert fraction_within_tolerance(truth, predicted, tolerance=0.01) == pytest.approx(0.25)


def test_fraction_within_tolerance_of_a_zero_truth_needs_an_exact_hit() -> None:
    assert fraction_within_tolerance(np.array([0.0, 0.0]), np.array([0.0, 0.01])) == 0.5


# --- standard metrics ------------------------------------------------------------------------


def _split(y: list[int] | list[float]) -> Split:
    index = pd.Index([f"r{i}" for i in range(len(y))])
    features = pd.DataFrame({"x": np.arange(len(y), dtype=float)}, index=index)
    return Split("test", features, pd.Series(y, index=index))


def _classified(y: list[int], proba: list[list[float]]) -> Predictions:
    array = np.array(proba)
    return Predictions(_split(y), np.argmax(array, axis=1), array)


BINARY = _classified(
    [0, 1, 0, 1, 1, 0],
    [[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.3, 0.7], [0.6, 0.4], [0.7, 0.3]],
)
MULTICLASS = _classified(
    [0, 1, 2, 2, 1, 0],
    [
        [0.7, 0.2, 0.1],
        [0.1, 0.8, 0.1],
        [0.2, 0.2, 0.6],
        [0.1, 0.5, 0.4],
        [0.3, 0.4, 0.3],
        [0.5, 0.25, 0.25],
    ],
)
REGRESSION = Predictions(
    _split([100.0, 200.0, 300.0, 400.0]), np.array([108.0, 190.0, 350.0, 400.0]), None
)


@pytest.mark.parametrize(
    ("predictions", "task", "n_labels"),
    [(BINARY, "binary", 2), (MULTICLASS, "multiclass", 3), (REGRESSION, "regression", 0)],
)
def test_compute_metrics_keys_are_exactly_the_documented_names(
    predictions: Predictions, task: str, n_labels: int
) -> None:
    values = compute_metrics(predictions, task, n_labels)

    assert sorted(values) == sorted(METRIC_NAMES[task])
    assert all(type(value) is float for value in values.values())


def test_binary_metric_values() -> None:
    values = compute_metrics(BINARY, "binary", 2, calibration_bins=5)

    y, proba = BINARY.split.y.to_numpy(), BINARY.proba
    assert values["accuracy"] == pytest.approx(4 / 6)
    assert values["log_loss"] == pytest.approx(metrics.log_loss(y, proba))
    assert values["roc_auc"] == pytest.approx(metrics.roc_auc_score(y, proba[:, 1]))
    assert values["precision"] == pytest.approx(2 / 3)
    assert values["recall"] == pytest.approx(2 / 3)
    assert values["expected_calibration_error"] == pytest.approx(
        expected_calibration_error(y, proba, 5)
    )


def test_multiclass_metric_values() -> None:
    values = compute_metrics(MULTICLASS, "multiclass", 3)

    assert values["accuracy"] == pytest.approx(5 / 6)
    assert values["recall_macro"] == pytest.approx((1 + 1 + 1 / 2) / 3)


def test_regression_metric_values() -> None:
    values = compute_metrics(REGRESSION, "regression", 0)

    errors = np.array([8.0, -10.0, 50.0, 0.0])
    assert values["rmse"] == pytest.approx(np.sqrt(np.mean(errors**2)))
    assert values["mae"] == pytest.approx(17.0)
    assert values["within_10pct"] == pytest.approx(0.75)
    assert values["mape"] == pytest.approx(np.mean([0.08, 0.05, 50 / 300, 0.0]))
    assert values["r2"] == pytest.approx(1 - np.sum(errors**2) / 50_000)


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_selectable_metrics(task: str) -> None:
    names = selectable_metrics(task)

    # only validation metrics: a model is never chosen by its test score
    assert names == [f"validation_{m}" for m in METRIC_NAMES[task]]
    assert default_selection_metric(task) in names
    assert f"validation_{custom_metric_name(task)}" in names


@pytest.mark.parametrize(
    ("metric", "goal"),
    [
        ("validation_log_loss", "minimize"),
        ("validation_rmse", "minimize"),
        ("validation_mae", "minimize"),
        ("validation_expected_calibration_error", "minimize"),
        ("validation_accuracy", "maximize"),
        ("validation_roc_auc", "maximize"),
        ("validation_r2", "maximize"),
        ("validation_within_10pct", "maximize"),
    ],
)
def test_metric_goal_follows_the_metric(metric: str, goal: str) -> None:
    assert metric_goal(metric) == goal


# --- tables ----------------------------------------------------------------------------------


def test_classification_predictions_table() -> None:
    table = predictions_table(BINARY, ["no", "yes"])

    assert list(table.columns) == ["id", "truth", "prediction", "correct", "proba_no", "proba_yes"]
    assert table["id"].tolist() == [f"r{i}" for i in range(6)]
    assert table["truth"].tolist() == ["no", "yes", "no", "yes", "yes", "no"]
    assert table["prediction"].tolist() == ["no", "yes", "yes", "yes", "no", "no"]
    assert table["correct"].tolist() == [True, True, False, True, False, True]
    assert np.allclose(table["proba_no"] + table["proba_yes"], 1.0)


def test_regression_predictions_table() -> None:
    table = predictions_table(REGRESSION, [])

    assert list(table.columns) == ["id", "truth", "prediction", "error"]
    assert table["error"].tolist() == [8.0, -10.0, 50.0, 0.0]
    assert table["truth"].tolist() == [100.0, 200.0, 300.0, 400.0]


def test_confusion_table_shape_and_labels() -> None:
    labels = ["a", "b", "c"]

    table = confusion_table(MULTICLASS, labels)

    assert table.shape == (3, 3)
    assert list(table.index) == labels
    assert list(table.columns) == labels
    assert table.index.name == "truth"
    assert table.columns.name == "predicted"
    assert table.to_numpy().sum() == 6
    assert np.trace(table.to_numpy()) == 5
    assert table.loc["c", "b"] == 1


def test_confusion_table_keeps_classes_absent_from_the_split() -> None:
    table = confusion_table(BINARY, ["no", "yes", "maybe"])

    assert table.shape == (3, 3)
    assert table.loc["maybe"].sum() == 0


# --- model tests: the default params.yaml models reach a minimum score -----------------------


@pytest.mark.parametrize(
    ("dataset_name", "minimums"),
    [
        ("breast_cancer", {"accuracy": 0.9, "roc_auc": 0.95}),
        ("wine", {"accuracy": 0.85, "f1_macro": 0.85}),
        ("iris", {"accuracy": 0.85}),
        ("diabetes", {"r2": 0.3}),
    ],
)
def test_default_model_reaches_a_minimum_test_score(
    dataset_name: str, minimums: dict[str, float]
) -> None:
    trained = fit_model(f"data.dataset={dataset_name}", fast=False)
    dataset, splits, pipeline = trained.dataset, trained.splits, trained.pipeline

    predictions = Predictions(
        splits.test,
        pipeline.predict(splits.test.X),
        pipeline.predict_proba(splits.test.X) if dataset.is_classification else None,
    )
    values = compute_metrics(predictions, dataset.task, len(dataset.labels))

    below = {name: values[name] for name, minimum in minimums.items() if values[name] < minimum}
    assert below == {}
