"""Evaluate a fitted pipeline: metrics as dicts, tables as DataFrames (plots live in plots.py)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mlops_tracking.core.dataset import Split

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from mlops_tracking.core.config import EvaluationConfig
    from mlops_tracking.core.dataset import Dataset, Splits


@dataclass(frozen=True)
class Predictions:
    """Model outputs on one split: labels (or values) and, for classifiers, probabilities."""

    split: Split
    predicted: np.ndarray
    proba: np.ndarray | None


def predict(pipeline: Pipeline, split: Split, classification: bool) -> Predictions:
    proba = np.asarray(pipeline.predict_proba(split.X)) if classification else None
    predicted = np.argmax(proba, axis=1) if proba is not None else pipeline.predict(split.X)
    return Predictions(split, np.asarray(predicted), proba)


# --- custom metrics: plain functions of (truth, outputs) -----------------------------------------


def expected_calibration_error(y_true: np.ndarray, proba: np.ndarray, n_bins: int = 10) -> float:
    """Weighted gap between confidence and accuracy over equal-width confidence bins.

    0 means the predicted probabilities can be read as frequencies; a model that is right 80% of
    the time when it says "90%" scores about 0.1.
    """
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == np.asarray(y_true)
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    error = 0.0
    for b in range(n_bins):
        in_bin = bins == b
        if in_bin.any():
            error += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(error)


def fraction_within_tolerance(
    y_true: np.ndarray, y_pred: np.ndarray, tolerance: float = 0.1
) -> float:
    """Share of predictions within ``tolerance`` (relative) of the true value."""
    truth = np.asarray(y_true, dtype=float)
    scale = np.maximum(np.abs(truth), 1e-12)
    return float(np.mean(np.abs(np.asarray(y_pred) - truth) / scale <= tolerance))


CUSTOM_METRICS = {
    "classification": ("expected_calibration_error", expected_calibration_error),
    "regression": ("within_10pct", fraction_within_tolerance),
}


_COMMON_CLASSIFICATION = ("accuracy", "balanced_accuracy", "log_loss", "expected_calibration_error")
METRIC_NAMES: dict[str, tuple[str, ...]] = {
    "binary": (
        *_COMMON_CLASSIFICATION,
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "average_precision",
    ),
    "multiclass": (
        *_COMMON_CLASSIFICATION,
        "precision_macro",
        "recall_macro",
        "f1_macro",
        "precision_weighted",
        "recall_weighted",
        "f1_weighted",
        "roc_auc_ovr",
    ),
    "regression": ("rmse", "mae", "r2", "mape", "within_10pct"),
}


# Metrics where lower is better; every other metric is maximised.
LOWER_IS_BETTER = ("log_loss", "expected_calibration_error", "rmse", "mae", "mape", "loss")


def selectable_metrics(task: str) -> list[str]:
    """Metrics a model may be chosen by: the final validation metrics, never a test metric."""
    return [f"validation_{name}" for name in METRIC_NAMES[task]]


def default_selection_metric(task: str) -> str:
    return "validation_rmse" if task == "regression" else "validation_log_loss"


def metric_goal(metric: str) -> str:
    """``minimize`` for losses and errors, ``maximize`` for scores."""
    return "minimize" if metric.endswith(LOWER_IS_BETTER) else "maximize"


def selection_rule(config: EvaluationConfig, task: str) -> tuple[str, str]:
    """The validation metric models are chosen by, and whether lower or higher is better.

    Raises ``ConfigError`` for a metric that is not a validation metric of ``task`` or a goal
    that contradicts the metric.
    """
    from mlops_tracking.core.errors import ConfigError

    metric = config.selection_metric
    if metric == "auto":
        metric = default_selection_metric(task)
    if metric not in selectable_metrics(task):
        raise ConfigError(
            f"evaluation.selection_metric={metric} cannot rank {task} models; choose a "
            f"validation metric (never a test metric): {', '.join(selectable_metrics(task))}."
        )
    goal = metric_goal(metric)
    if config.selection_goal not in {"auto", goal}:
        raise ConfigError(
            f"evaluation.selection_goal={config.selection_goal} contradicts {metric}, where "
            f"{'lower' if goal == 'minimize' else 'higher'} is better; use auto or {goal}."
        )
    return metric, goal


def custom_metric_name(task: str) -> str:
    return CUSTOM_METRICS["regression" if task == "regression" else "classification"][0]


# --- standard metrics ----------------------------------------------------------------------------


def compute_metrics(
    predictions: Predictions, task: str, n_labels: int, calibration_bins: int = 10
) -> dict[str, float]:
    """All evaluation metrics of one split, keyed without a split prefix."""
    y_true = predictions.split.y.to_numpy()
    if task == "regression":
        return _regression_metrics(y_true, predictions.predicted)
    assert predictions.proba is not None
    return _classification_metrics(
        y_true,
        predictions.predicted,
        predictions.proba,
        task=task,
        n_labels=n_labels,
        bins=calibration_bins,
    )


def _classification_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    proba: np.ndarray,
    *,
    task: str,
    n_labels: int,
    bins: int,
) -> dict[str, float]:
    from sklearn import metrics

    labels = list(range(n_labels))
    values: dict[str, float] = {
        "accuracy": metrics.accuracy_score(y_true, y_pred),
        "balanced_accuracy": metrics.balanced_accuracy_score(y_true, y_pred),
        "log_loss": metrics.log_loss(y_true, proba, labels=labels),
        "expected_calibration_error": expected_calibration_error(y_true, proba, bins),
    }
    if task == "binary":
        values.update(
            {
                "precision": metrics.precision_score(y_true, y_pred, zero_division=0),
                "recall": metrics.recall_score(y_true, y_pred, zero_division=0),
                "f1": metrics.f1_score(y_true, y_pred, zero_division=0),
                "roc_auc": metrics.roc_auc_score(y_true, proba[:, 1]),
                "average_precision": metrics.average_precision_score(y_true, proba[:, 1]),
            }
        )
    else:
        for average in ("macro", "weighted"):
            values[f"precision_{average}"] = metrics.precision_score(
                y_true, y_pred, average=average, zero_division=0
            )
            values[f"recall_{average}"] = metrics.recall_score(
                y_true, y_pred, average=average, zero_division=0
            )
            values[f"f1_{average}"] = metrics.f1_score(
                y_true, y_pred, average=average, zero_division=0
            )
        values["roc_auc_ovr"] = metrics.roc_auc_score(
            y_true, proba, multi_class="ovr", labels=labels
        )
    return {key: float(value) for key, value in values.items()}


def _regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    from sklearn import metrics

    return {
        "rmse": float(metrics.root_mean_squared_error(y_true, y_pred)),
        "mae": float(metrics.mean_absolute_error(y_true, y_pred)),
        "r2": float(metrics.r2_score(y_true, y_pred)),
        "mape": float(metrics.mean_absolute_percentage_error(y_true, y_pred)),
        "within_10pct": fraction_within_tolerance(y_true, y_pred),
    }


def headline_metrics(task: str) -> list[str]:
    """The test metrics a summary table shows for ``task``."""
    if task == "regression":
        return ["test_rmse", "test_mae", "test_r2"]
    if task == "binary":
        return ["test_accuracy", "test_f1", "test_roc_auc"]
    return ["test_accuracy", "test_f1_macro", "test_roc_auc_ovr"]


def measure_latency(pipeline: Pipeline, X: pd.DataFrame, repeats: int = 10) -> dict[str, float]:
    """Batch throughput and single-row latency (p50) of ``pipeline.predict``, in milliseconds."""
    started = time.perf_counter()
    pipeline.predict(X)
    batch_ms = (time.perf_counter() - started) * 1000
    singles = []
    for i in range(min(repeats, len(X))):
        row = X.iloc[[i]]
        started = time.perf_counter()
        pipeline.predict(row)
        singles.append((time.perf_counter() - started) * 1000)
    return {
        "predict_latency_ms_per_row": batch_ms / max(len(X), 1),
        "predict_latency_ms_single_row_p50": float(np.median(singles)),
    }


# --- tables --------------------------------------------------------------------------------------


def predictions_table(predictions: Predictions, labels: Sequence[str]) -> pd.DataFrame:
    """One row per example: id, truth, prediction and (for classifiers) class probabilities."""
    split = predictions.split
    table = pd.DataFrame({"id": split.X.index.astype(str)})
    if predictions.proba is None:
        table["truth"] = split.y.to_numpy()
        table["prediction"] = predictions.predicted
        table["error"] = table["prediction"] - table["truth"]
        return table
    table["truth"] = [labels[int(code)] for code in split.y.to_numpy()]
    table["prediction"] = [labels[int(code)] for code in predictions.predicted]
    table["correct"] = table["truth"] == table["prediction"]
    for column, label in enumerate(labels):
        table[f"proba_{label}"] = predictions.proba[:, column]
    return table


def confusion_table(predictions: Predictions, labels: Sequence[str]) -> pd.DataFrame:
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(
        predictions.split.y, predictions.predicted, labels=list(range(len(labels)))
    )
    return pd.DataFrame(
        matrix, index=pd.Index(labels, name="truth"), columns=pd.Index(labels, name="predicted")
    )


def permutation_importances(
    pipeline: Pipeline, split: Split, classification: bool, repeats: int, seed: int
) -> pd.DataFrame:
    """Drop in score when each input column is shuffled (model-agnostic, on raw columns)."""
    from sklearn.inspection import permutation_importance

    scoring = "neg_log_loss" if classification else "neg_root_mean_squared_error"
    result = permutation_importance(
        pipeline, split.X, split.y, scoring=scoring, n_repeats=repeats, random_state=seed
    )
    table = pd.DataFrame(
        {
            "feature": [str(c) for c in split.X.columns],
            "importance_mean": result.importances_mean,
            "importance_std": result.importances_std,
        }
    )
    return table.sort_values("importance_mean", ascending=False, ignore_index=True)


def native_importances(pipeline: Pipeline) -> pd.DataFrame | None:
    """The estimator's own importances (trees) or |coefficients| (linear), when it has them."""
    estimator = pipeline[-1]
    if hasattr(estimator, "feature_importances_"):
        values = np.asarray(estimator.feature_importances_)
    elif hasattr(estimator, "coef_"):
        values = np.abs(np.atleast_2d(estimator.coef_)).mean(axis=0)
    else:
        return None
    try:
        names = [str(n) for n in pipeline[:-1].get_feature_names_out()]
    except (AttributeError, ValueError):
        names = [f"x{i}" for i in range(len(values))]
    table = pd.DataFrame({"feature": names, "importance": values})
    return table.sort_values("importance", ascending=False, ignore_index=True)


@dataclass(frozen=True)
class Evaluation:
    """Everything measured about one fitted pipeline on its held-out splits."""

    metrics: dict[str, float]
    validation: Predictions
    test: Predictions
    predictions: pd.DataFrame
    confusion: pd.DataFrame | None
    importances: pd.DataFrame
    importance_kind: str


def evaluate_model(
    pipeline: Pipeline, splits: Splits, dataset: Dataset, config: EvaluationConfig, seed: int
) -> Evaluation:
    """Score ``pipeline`` on validation and test data and measure its prediction latency.

    Final metrics are prefixed ``validation_`` (what models are compared and chosen by) and
    ``test_`` (the held-out estimate, never used for a choice). The learning curves use the
    shorter ``train_``/``val_`` prefixes, so the two never collide.
    """
    classification = dataset.is_classification
    validation = predict(pipeline, splits.validation, classification)
    test = predict(pipeline, splits.test, classification)
    n_labels = len(dataset.labels)
    metrics: dict[str, float] = {}
    for prefix, predictions in (("validation", validation), ("test", test)):
        scores = compute_metrics(predictions, dataset.task, n_labels, config.calibration_bins)
        metrics.update({f"{prefix}_{name}": value for name, value in scores.items()})
    metrics.update(measure_latency(pipeline, splits.test.X))
    importances, kind = _importances(pipeline, splits, classification, config, seed)
    return Evaluation(
        metrics=metrics,
        validation=validation,
        test=test,
        predictions=predictions_table(test, dataset.labels),
        confusion=confusion_table(test, dataset.labels) if classification else None,
        importances=importances,
        importance_kind=kind,
    )


def _importances(
    pipeline: Pipeline, splits: Splits, classification: bool, config: EvaluationConfig, seed: int
) -> tuple[pd.DataFrame, str]:
    if config.importance != "permutation":
        native = native_importances(pipeline)
        if native is not None:
            return native, "native"
    return permutation_importances(
        pipeline, splits.validation, classification, config.permutation_repeats, seed
    ), "permutation"
