"""Code tests of the plots: Figures with axes and titles, keyed by their artifact paths."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.figure import Figure

from conftest import fit_model
from mlops_tracking.core import plots
from mlops_tracking.core.dataset import Dataset
from mlops_tracking.core.evaluation import Evaluation, evaluate_model
from mlops_tracking.core.training import History

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CLASSIFICATION_FIGURES = {
    "learning_curves.png",
    "feature_importance.png",
    "confusion_matrix.png",
    "roc_curve.png",
    "precision_recall_curve.png",
}
REGRESSION_FIGURES = {
    "learning_curves.png",
    "feature_importance.png",
    "residuals.png",
    "predicted_vs_actual.png",
}


@dataclass(frozen=True)
class Evaluated:
    dataset: Dataset
    history: History
    evaluation: Evaluation


def _evaluate(dataset_name: str, model: str) -> Evaluated:
    trained = fit_model(f"data.dataset={dataset_name}", f"model.name={model}")
    config = trained.config
    scores = evaluate_model(
        trained.pipeline, trained.splits, trained.dataset, config.evaluation, config.model.seed
    )
    return Evaluated(trained.dataset, trained.fit.history, scores)


@pytest.fixture(scope="module")
def binary() -> Evaluated:
    return _evaluate("breast_cancer", "logistic_regression")


@pytest.fixture(scope="module")
def multiclass() -> Evaluated:
    return _evaluate("wine", "mlp")  # no native importances: the permutation path


@pytest.fixture(scope="module")
def regression() -> Evaluated:
    return _evaluate("diabetes", "ridge")


@pytest.fixture
def runs(binary: Evaluated, multiclass: Evaluated, regression: Evaluated) -> dict[str, Evaluated]:
    return {"binary": binary, "multiclass": multiclass, "regression": regression}


FIGURE_FUNCTIONS: dict[str, Callable[[dict[str, Evaluated]], Figure]] = {
    "confusion_binary": lambda r: plots.confusion_matrix_figure(r["binary"].evaluation.confusion),
    "confusion_multiclass": lambda r: plots.confusion_matrix_figure(
        r["multiclass"].evaluation.confusion
    ),
    "roc_binary": lambda r: plots.roc_curve_figure(
        r["binary"].evaluation.test, r["binary"].dataset.labels
    ),
    "roc_multiclass": lambda r: plots.roc_curve_figure(
        r["multiclass"].evaluation.test, r["multiclass"].dataset.labels
    ),
    "precision_recall": lambda r: plots.precision_recall_figure(
        r["multiclass"].evaluation.test, r["multiclass"].dataset.labels
    ),
    "learning_curve": lambda r: plots.learning_curve_figure(r["binary"].history),
    "importance_native": lambda r: plots.importance_figure(
        r["binary"].evaluation.importances, "importance", "Feature importance (native)"
    ),
    "importance_permutation": lambda r: plots.importance_figure(
        r["multiclass"].evaluation.importances, "importance_mean", "Permutation importance"
    ),
    "residuals": lambda r: plots.residuals_figure(r["regression"].evaluation.test),
    "predicted_vs_actual": lambda r: plots.predicted_vs_actual_figure(
        r["regression"].evaluation.test
    ),
    "comparison": lambda r: plots.comparison_figure(
        pd.DataFrame({"model": ["ridge", "mlp"], "test_rmse": [54.0, 60.0]}), "test_rmse"
    ),
}


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


@pytest.mark.parametrize("name", sorted(FIGURE_FUNCTIONS))
def test_figure_functions_return_a_titled_figure(runs: dict[str, Evaluated], name: str) -> None:
    figure = FIGURE_FUNCTIONS[name](runs)

    assert isinstance(figure, Figure)
    assert figure.axes
    assert figure.axes[0].get_title()
    assert _png(figure).startswith(PNG_SIGNATURE)


def test_classification_figures_are_keyed_by_artifact_path(binary: Evaluated) -> None:
    figures = plots.evaluation_figures(binary.evaluation, binary.history, binary.dataset.labels)

    assert set(figures) == CLASSIFICATION_FIGURES
    assert all(isinstance(figure, Figure) for figure in figures.values())


def test_multiclass_figures_are_keyed_by_artifact_path(multiclass: Evaluated) -> None:
    figures = plots.evaluation_figures(
        multiclass.evaluation, multiclass.history, multiclass.dataset.labels
    )

    assert set(figures) == CLASSIFICATION_FIGURES
    assert multiclass.evaluation.importance_kind == "permutation"
    title = figures["feature_importance.png"].axes[0].get_title()
    assert title == "Feature importance (permutation)"


def test_regression_figures_are_keyed_by_artifact_path(regression: Evaluated) -> None:
    figures = plots.evaluation_figures(
        regression.evaluation, regression.history, regression.dataset.labels
    )

    assert set(figures) == REGRESSION_FIGURES


def test_figures_save_to_png_files(binary: Evaluated, tmp_path: Path) -> None:
    figures = plots.evaluation_figures(binary.evaluation, binary.history, binary.dataset.labels)

    for artifact, figure in figures.items():
        path = tmp_path / artifact
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path)
        assert path.read_bytes()[:8] == PNG_SIGNATURE, artifact


@pytest.mark.parametrize(("run", "metrics"), [("binary", 2), ("regression", 1)])
def test_learning_curves_have_a_panel_per_metric_with_both_splits(
    runs: dict[str, Evaluated], run: str, metrics: int
) -> None:
    history = runs[run].history

    figure = plots.learning_curve_figure(history)

    assert len(figure.axes) == metrics
    loss = next(ax for ax in figure.axes if ax.get_ylabel() == "loss")
    assert loss.get_xlabel() == history.unit.replace("_", " ")
    lines = {line.get_label(): line for line in loss.get_lines()}
    assert set(lines) == {"train", "val"}
    assert list(lines["val"].get_xdata()) == history.steps
    assert list(lines["val"].get_ydata()) == history.series["val_loss"]


@pytest.mark.parametrize(("run", "curves"), [("binary", 1), ("multiclass", 3)])
def test_roc_curve_has_one_curve_per_class_vs_rest(
    runs: dict[str, Evaluated], run: str, curves: int
) -> None:
    evaluated = runs[run]

    figure = plots.roc_curve_figure(evaluated.evaluation.test, evaluated.dataset.labels)

    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert len(legend) == curves
    assert all("AUC" in entry for entry in legend)


def test_confusion_matrix_figure_labels_every_cell(multiclass: Evaluated) -> None:
    confusion = multiclass.evaluation.confusion
    assert confusion is not None

    figure = plots.confusion_matrix_figure(confusion)

    ax = figure.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(multiclass.dataset.labels)
    assert sorted(int(t.get_text()) for t in ax.texts) == sorted(confusion.to_numpy().ravel())


def test_importance_figure_shows_the_top_features(binary: Evaluated) -> None:
    figure = plots.importance_figure(binary.evaluation.importances, "importance", "t", top=5)

    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    top = binary.evaluation.importances["feature"].head(5).tolist()
    assert labels == top[::-1]  # largest at the top of a horizontal bar chart


def test_the_seed_figure_draws_each_models_interval_and_a_lone_mean_without_one() -> None:
    from mlops_tracking.core.seeds import SeedPlan, SeedResult, summarise, summary_table

    results = [
        SeedResult("forest", SeedPlan(seed, 1), f"f{seed}", {"validation_rmse": value})
        for seed, value in ((42, 50.0), (43, 54.0), (44, 52.0))
    ] + [SeedResult("ridge", SeedPlan(42, 1), "r42", {"validation_rmse": 60.0})]
    table = summary_table(summarise(results))
    figure = plots.seed_spread_figure(table, "validation_rmse", 3)

    (ax,) = figure.axes
    assert ax.get_title() == "validation_rmse by model: mean and 95% CI over 3 seeds"
    assert [label.get_text() for label in ax.get_xticklabels()] == ["forest", "ridge"]
    points = ax.lines[0].get_ydata()
    assert list(points) == pytest.approx([52.0, 60.0])
    # the error bar spans the interval: 52 ± t(0.975, 2) * 2 / sqrt(3) = 52 ± 4.968; none for one
    (bars,) = ax.collections
    spans = [segment[:, 1] for segment in bars.get_segments()]
    assert spans[0] == pytest.approx([52.0 - 4.9682747, 52.0 + 4.9682747])
    assert spans[1] == pytest.approx([60.0, 60.0])
    assert _png(figure).startswith(PNG_SIGNATURE)
