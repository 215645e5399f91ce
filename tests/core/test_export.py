"""Model tests of the portable forms: ONNX parity with scikit-learn and skops round trips."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import skops.io
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from skops.io.exceptions import UntrustedTypesFoundException

from conftest import fit_model, write_csv
from mlops_tracking.core.dataset import Dataset, Splits
from mlops_tracking.core.export import (
    TRUSTED_MODULE_PREFIXES,
    ExportError,
    onnx_parity,
    onnx_session,
    to_onnx,
    to_skops,
)
from mlops_tracking.core.models import FAMILIES

DATASETS = {"binary": "breast_cancer", "multiclass": "wine", "regression": "diabetes"}
EXACT_PROBABILITIES = {"logistic_regression", "mlp"}  # no float32 tree thresholds involved


@dataclass(frozen=True)
class Fitted:
    dataset: Dataset
    splits: Splits
    pipeline: Pipeline


def _fit(*overrides: str) -> Fitted:
    trained = fit_model(*overrides)
    return Fitted(trained.dataset, trained.splits, trained.pipeline)


@pytest.fixture(scope="module")
def fitted() -> Callable[[str, str], Fitted]:
    cache: dict[tuple[str, str], Fitted] = {}

    def get(name: str, task: str) -> Fitted:
        if (name, task) not in cache:
            cache[name, task] = _fit(f"data.dataset={DATASETS[task]}", f"model.name={name}")
        return cache[name, task]

    return get


def _cases(task: str) -> list[str]:
    return [name for name in FAMILIES if FAMILIES[name].supports(task)]


@pytest.mark.parametrize("task", ["binary", "multiclass"])
@pytest.mark.parametrize("name", _cases("binary"))
def test_onnx_classifier_matches_sklearn(
    fitted: Callable[[str, str], Fitted], name: str, task: str
) -> None:
    model = fitted(name, task)
    export = to_onnx(model.pipeline, model.splits.train.X.head(1), [])

    parity = onnx_parity(export, model.pipeline, model.splits.test.X)

    assert export.single_input
    assert [i.name for i in export.model.graph.input] == ["X"]
    assert [o.name for o in export.model.graph.output] == ["label", "probabilities"]
    assert parity.label_agreement == 1.0
    if name in EXACT_PROBABILITIES:
        assert parity.max_abs_diff < 1e-4
    else:
        assert parity.max_abs_diff < 0.1  # float32 thresholds may flip a tree or two


@pytest.mark.parametrize("name", _cases("regression"))
def test_onnx_regressor_matches_sklearn(fitted: Callable[[str, str], Fitted], name: str) -> None:
    model = fitted(name, "regression")
    export = to_onnx(model.pipeline, model.splits.train.X.head(1), [])
    expected = model.pipeline.predict(model.splits.test.X)

    parity = onnx_parity(export, model.pipeline, model.splits.test.X)

    assert parity.max_abs_diff <= 1e-4 * np.abs(expected).max()
    assert parity.label_agreement == 1.0


def test_tree_pipelines_skip_scaling_so_onnx_agrees_with_sklearn() -> None:
    """Trees need no scaling; scaling in float32 would push rows across split thresholds."""
    model = _fit("data.dataset=diabetes", "model.name=random_forest", "features.scaling=standard")
    assert "scale" not in model.pipeline[0].named_steps
    export = to_onnx(model.pipeline, model.splits.train.X.head(1), [])
    expected = model.pipeline.predict(model.splits.test.X)

    parity = onnx_parity(export, model.pipeline, model.splits.test.X)

    assert parity.max_abs_diff <= 1e-4 * np.abs(expected).max()


@pytest.mark.parametrize("encoding", ["onehot", "ordinal"])
def test_onnx_mixed_table_has_one_input_per_column(tmp_path: Path, encoding: str) -> None:
    path = write_csv(tmp_path / "churn.csv", rows=200)
    model = _fit(
        f"data.path={path}",
        "data.target=churned",
        "model.name=logistic_regression",
        f"features.categorical_encoding={encoding}",
    )
    columns = [str(c) for c in model.dataset.features.columns]
    export = to_onnx(
        model.pipeline, model.splits.train.X.head(1), model.dataset.categorical_columns
    )
    X = model.splits.test.X.copy()
    X.iloc[0, X.columns.get_loc("colour")] = "purple"  # a category never seen in training
    X.iloc[1, X.columns.get_loc("size")] = np.nan  # a missing number for the imputer

    labels, proba = onnx_session(export).run(None, export.feed(X))

    assert not export.single_input
    assert [i.name for i in export.model.graph.input] == columns
    assert export.categorical == ("colour", "plan")
    assert np.asarray(labels).ravel().tolist() == model.pipeline.predict(X).tolist()
    assert np.abs(np.asarray(proba) - model.pipeline.predict_proba(X)).max() < 1e-4
    assert onnx_parity(export, model.pipeline, X).label_agreement == 1.0


def test_onnx_feed_types() -> None:
    model = _fit("data.dataset=iris", "model.name=logistic_regression")
    export = to_onnx(model.pipeline, model.splits.train.X.head(1), [])

    feed = export.feed(model.splits.test.X)

    assert list(feed) == ["X"]
    assert feed["X"].dtype == np.float32
    assert feed["X"].shape == model.splits.test.X.shape


# --- skops ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "task"),
    [(name, task) for task in ("binary", "regression") for name in _cases(task)],
)
def test_skops_round_trip_with_the_listed_trusted_types(
    fitted: Callable[[str, str], Fitted], name: str, task: str
) -> None:
    model = fitted(name, task)
    X = model.splits.test.X

    export = to_skops(model.pipeline)
    loaded = skops.io.loads(export.data, trusted=export.trusted_types)

    assert export.trusted_types == sorted(export.trusted_types)
    assert all(t.startswith(TRUSTED_MODULE_PREFIXES) for t in export.trusted_types)
    assert np.array_equal(loaded.predict(X), model.pipeline.predict(X))
    if task != "regression":
        assert np.array_equal(loaded.predict_proba(X), model.pipeline.predict_proba(X))


def test_tree_models_need_the_tree_type_trusted(fitted: Callable[[str, str], Fitted]) -> None:
    export = to_skops(fitted("random_forest", "binary").pipeline)
    without_tree = [t for t in export.trusted_types if t != "sklearn.tree._tree.Tree"]

    assert "sklearn.tree._tree.Tree" in export.trusted_types
    with pytest.raises(UntrustedTypesFoundException, match=r"sklearn\.tree\._tree\.Tree"):
        skops.io.loads(export.data, trusted=without_tree)


def double(X: np.ndarray) -> np.ndarray:
    return np.asarray(X) * 2


def test_skops_refuses_types_from_outside_the_fitting_libraries() -> None:
    X = np.arange(40, dtype=float).reshape(20, 2)
    y = np.arange(20) % 2
    pipeline = Pipeline([("double", FunctionTransformer(double)), ("model", LogisticRegression())])
    pipeline.fit(X, y)

    with pytest.raises(
        ExportError, match=r"pipeline contains types skops should not trust blindly: .*double"
    ):
        to_skops(pipeline)
