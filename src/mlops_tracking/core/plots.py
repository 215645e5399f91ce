"""Plots as matplotlib Figures; the caller decides where they go (MLflow, DVC, docs).

Figures are built with the object-oriented API (``matplotlib.figure.Figure``), never pyplot, so
no global state or GUI backend is involved and figures can be made from any thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlops_tracking.core.evaluation import Evaluation, Predictions

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from mlops_tracking.core.training import History

FIGURE_SIZE = (6.0, 4.5)
FIGURE_DPI = 96


def _figure(left: float = 0.13) -> tuple[Figure, Any]:
    """A figure with fixed margins: a layout engine ("constrained") doubles the rendering time."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=FIGURE_SIZE, dpi=FIGURE_DPI)
    figure.subplots_adjust(left=left, right=0.96, bottom=0.13, top=0.92)
    return figure, figure.add_subplot()


def confusion_matrix_figure(confusion: pd.DataFrame) -> Figure:
    longest = max((len(str(label)) for label in confusion.index), default=0)
    figure, ax = _figure(left=min(0.4, 0.1 + 0.012 * longest))
    figure.subplots_adjust(bottom=min(0.4, 0.13 + 0.012 * longest))
    image = ax.imshow(confusion.to_numpy(), cmap="Blues")
    figure.colorbar(image, ax=ax)
    ticks = range(len(confusion))
    ax.set_xticks(ticks, [str(c) for c in confusion.columns], rotation=45, ha="right")
    ax.set_yticks(ticks, [str(i) for i in confusion.index])
    threshold = confusion.to_numpy().max() / 2
    for (row, column), value in np.ndenumerate(confusion.to_numpy()):
        ax.text(
            column,
            row,
            str(value),
            ha="center",
            va="center",
            color="white" if value > threshold else "black",
        )
    ax.set(xlabel="predicted", ylabel="truth", title="Confusion matrix (test)")
    return figure


def _one_vs_rest(predictions: Predictions, labels: Sequence[str]) -> list[tuple[str, Any, Any]]:
    assert predictions.proba is not None
    y = predictions.split.y.to_numpy()
    if len(labels) == 2:
        return [(labels[1], y == 1, predictions.proba[:, 1])]
    return [(label, y == code, predictions.proba[:, code]) for code, label in enumerate(labels)]


def roc_curve_figure(predictions: Predictions, labels: Sequence[str]) -> Figure:
    from sklearn.metrics import auc, roc_curve

    figure, ax = _figure()
    for label, truth, score in _one_vs_rest(predictions, labels):
        fpr, tpr, _ = roc_curve(truth, score)
        ax.plot(fpr, tpr, label=f"{label} (AUC {auc(fpr, tpr):.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve (test)")
    ax.legend(loc="lower right", fontsize="small")
    return figure


def precision_recall_figure(predictions: Predictions, labels: Sequence[str]) -> Figure:
    from sklearn.metrics import average_precision_score, precision_recall_curve

    figure, ax = _figure()
    for label, truth, score in _one_vs_rest(predictions, labels):
        precision, recall, _ = precision_recall_curve(truth, score)
        ap = average_precision_score(truth, score)
        ax.plot(recall, precision, label=f"{label} (AP {ap:.3f})")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall curve (test)")
    ax.legend(loc="lower left", fontsize="small")
    return figure


# The curves of a history, by prefix: the MLP's early stopping watches the `stop` slice.
CURVE_LABELS = {"train": "train", "val": "val", "stop": "early-stopping slice"}


def learning_curve_figure(history: History) -> Figure:
    from matplotlib.figure import Figure

    metrics = sorted({key.split("_", 1)[1] for key in history.series})
    figure = Figure(figsize=(6.0 * len(metrics), 4.5), dpi=FIGURE_DPI)
    figure.subplots_adjust(left=0.08, right=0.98, bottom=0.13, top=0.92, wspace=0.25)
    for ax, metric in zip(figure.subplots(1, len(metrics), squeeze=False)[0], metrics, strict=True):
        for split, label in CURVE_LABELS.items():
            key = f"{split}_{metric}"
            if key in history.series:
                ax.plot(history.steps, history.series[key], label=label)
        ax.set(
            xlabel=history.unit.replace("_", " "),
            ylabel=metric,
            title=f"{metric} by {history.unit.replace('_', ' ')}",
        )
        ax.legend()
    return figure


def importance_figure(importances: pd.DataFrame, value: str, title: str, top: int = 20) -> Figure:
    shown = importances.head(top).iloc[::-1]
    longest = max((len(str(name)) for name in shown["feature"]), default=0)
    figure, ax = _figure(left=min(0.55, 0.05 + 0.0125 * longest))
    error = shown.get("importance_std")
    ax.barh(shown["feature"], shown[value], xerr=error, color="tab:blue")
    ax.set(xlabel=value.replace("_", " "), title=title)
    ax.tick_params(axis="y", labelsize="small")
    return figure


def residuals_figure(predictions: Predictions) -> Figure:
    figure, ax = _figure()
    residuals = predictions.split.y.to_numpy() - predictions.predicted
    ax.scatter(predictions.predicted, residuals, alpha=0.6, s=14)
    ax.axhline(0, color="grey", linestyle="--", linewidth=1)
    ax.set(xlabel="predicted", ylabel="residual (truth - predicted)", title="Residuals (test)")
    return figure


def predicted_vs_actual_figure(predictions: Predictions) -> Figure:
    figure, ax = _figure()
    truth = predictions.split.y.to_numpy()
    ax.scatter(truth, predictions.predicted, alpha=0.6, s=14)
    low, high = (
        float(min(truth.min(), predictions.predicted.min())),
        float(max(truth.max(), predictions.predicted.max())),
    )
    ax.plot([low, high], [low, high], color="grey", linestyle="--", linewidth=1)
    ax.set(xlabel="actual", ylabel="predicted", title="Predicted vs actual (test)")
    return figure


def comparison_figure(table: pd.DataFrame, metric: str) -> Figure:
    """Bar chart of one metric across the runs of a comparison."""
    figure, ax = _figure()
    ax.bar(table["model"], table[metric], color="tab:blue")
    ax.set(ylabel=metric, title=f"{metric} by model")
    ax.tick_params(axis="x", rotation=20)
    return figure


def seed_spread_figure(table: pd.DataFrame, metric: str, seeds: int) -> Figure:
    """The mean of one metric per model with its 95% confidence interval as error bars (a
    ``core.seeds.summary_table``); a model with one finished seed shows its mean alone."""
    figure, ax = _figure()
    figure.subplots_adjust(bottom=0.2)  # room for model names set at a slant
    means = table[f"{metric}_mean"].astype(float)
    low = (means - table[f"{metric}_ci95_low"].astype(float)).fillna(0.0)
    high = (table[f"{metric}_ci95_high"].astype(float) - means).fillna(0.0)
    positions = range(len(table))
    ax.errorbar(positions, means, yerr=[low, high], fmt="o", capsize=6, color="tab:blue")
    ax.set_xticks(positions, [str(model) for model in table["model"]], rotation=20, ha="right")
    ax.set_xlim(-0.5, len(table) - 0.5)
    ax.set(ylabel=metric, title=f"{metric} by model: mean and 95% CI over {seeds} seeds")
    return figure


def evaluation_figures(
    evaluation: Evaluation, history: History, labels: Sequence[str]
) -> dict[str, Figure]:
    """Every diagnostic figure of a training run, keyed by its artifact path.

    The paths are at the top of the run's artifacts: MLflow's compare-runs page lists only the
    files at the root that every compared run has (not folders), and shows the chosen one of
    each run side by side.
    """
    value = "importance" if evaluation.importance_kind == "native" else "importance_mean"
    figures = {
        "learning_curves.png": learning_curve_figure(history),
        "feature_importance.png": importance_figure(
            evaluation.importances, value, f"Feature importance ({evaluation.importance_kind})"
        ),
    }
    if evaluation.confusion is not None:
        figures["confusion_matrix.png"] = confusion_matrix_figure(evaluation.confusion)
        figures["roc_curve.png"] = roc_curve_figure(evaluation.test, labels)
        figures["precision_recall_curve.png"] = precision_recall_figure(evaluation.test, labels)
    else:
        figures["residuals.png"] = residuals_figure(evaluation.test)
        figures["predicted_vs_actual.png"] = predicted_vs_actual_figure(evaluation.test)
    return figures
