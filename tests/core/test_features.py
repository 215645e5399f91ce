"""Code tests of preprocessing: the transformer's shape follows the config and the columns."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.feature_selection import SelectKBest
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    PolynomialFeatures,
    RobustScaler,
    StandardScaler,
)

from conftest import PARAMS, write_csv
from mlops_tracking.core.config import FeaturesConfig, load_config
from mlops_tracking.core.data import load_dataset, split_dataset
from mlops_tracking.core.dataset import Dataset, Splits
from mlops_tracking.core.features import (
    build_preprocessor,
    fit_selection_size,
    preprocessing_state,
    walk_steps,
)


def _features(*overrides: str) -> FeaturesConfig:
    return load_config(PARAMS, list(overrides)).features


def _load(*overrides: str) -> tuple[Dataset, Splits]:
    config = load_config(PARAMS, list(overrides))
    dataset = load_dataset(config.data)
    return dataset, split_dataset(dataset, config.data)


def _build(config: FeaturesConfig, dataset: Dataset) -> Pipeline:
    return build_preprocessor(
        config, dataset.numeric_columns, dataset.categorical_columns, dataset.is_classification
    )


@pytest.fixture
def churn(tmp_path: Path) -> tuple[Dataset, Splits]:
    path = write_csv(tmp_path / "churn.csv")
    return _load(f"data.path={path}", "data.target=churned")


def test_numeric_only_preprocessor_is_a_plain_pipeline() -> None:
    columns = [f"x{i}" for i in range(5)]

    preprocessor = build_preprocessor(_features(), columns, [], classification=True)

    assert isinstance(preprocessor, Pipeline)
    assert [name for name, _ in preprocessor.steps] == ["impute", "scale", "select"]
    assert not [step for _, step in walk_steps(preprocessor) if isinstance(step, ColumnTransformer)]
    assert not any(isinstance(step, ColumnTransformer) for _, step in preprocessor.steps)
    assert isinstance(preprocessor.named_steps["impute"], SimpleImputer)
    assert preprocessor.named_steps["impute"].strategy == "median"
    assert isinstance(preprocessor.named_steps["scale"], StandardScaler)


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        (["features.scaling=none", "features.selection.method=none"], ["impute"]),
        (["features.scaling=minmax", "features.selection.method=none"], ["impute", "scale"]),
        (["features.polynomial.degree=2"], ["impute", "scale", "polynomial", "select"]),
    ],
)
def test_numeric_steps_follow_the_config(overrides: list[str], names: list[str]) -> None:
    preprocessor = build_preprocessor(_features(*overrides), ["a", "b"], [], classification=False)

    assert [name for name, _ in preprocessor.steps] == names


@pytest.mark.parametrize(
    ("scaling", "scaler"),
    [("standard", StandardScaler), ("minmax", MinMaxScaler), ("robust", RobustScaler)],
)
def test_scaling_picks_the_scaler(scaling: str, scaler: type) -> None:
    config = _features(f"features.scaling={scaling}")

    preprocessor = build_preprocessor(config, ["a", "b"], [], classification=False)

    assert type(preprocessor.named_steps["scale"]) is scaler


def test_categorical_columns_get_a_column_transformer_with_one_hot(
    churn: tuple[Dataset, Splits],
) -> None:
    dataset, _ = churn

    preprocessor = _build(_features("features.selection.method=none"), dataset)

    assert [name for name, _ in preprocessor.steps] == ["columns"]
    columns = preprocessor.named_steps["columns"]
    assert isinstance(columns, ColumnTransformer)
    by_name = {name: (step, cols) for name, step, cols in columns.transformers}
    assert set(by_name) == {"numeric", "categorical"}
    assert by_name["numeric"][1] == ["size", "visits"]
    assert by_name["categorical"][1] == ["colour", "plan"]
    assert isinstance(by_name["categorical"][0], OneHotEncoder)
    assert by_name["categorical"][0].handle_unknown == "ignore"


def test_ordinal_encoding_when_configured(churn: tuple[Dataset, Splits]) -> None:
    dataset, splits = churn
    config = _features("features.categorical_encoding=ordinal", "features.selection.method=none")

    preprocessor = _build(config, dataset)

    encoder = preprocessor.named_steps["columns"].transformers[-1][1]
    assert isinstance(encoder, OrdinalEncoder)
    output = preprocessor.fit_transform(splits.train.X, splits.train.y)
    assert output.shape == (len(splits.train), 4)


def test_only_categorical_columns() -> None:
    preprocessor = build_preprocessor(_features(), [], ["colour"], classification=True)

    columns = preprocessor.named_steps["columns"]
    assert [name for name, _, _ in columns.transformers] == ["categorical"]


def test_one_hot_output_has_a_column_per_category(churn: tuple[Dataset, Splits]) -> None:
    dataset, splits = churn
    preprocessor = _build(_features("features.selection.method=none"), dataset)

    output = preprocessor.fit_transform(splits.train.X, splits.train.y)

    # 2 numeric + colour (blue, green, red) + plan (basic, missing, pro)
    assert output.shape == (len(splits.train), 8)
    assert not np.isnan(output).any()
    assert list(preprocessor.get_feature_names_out()) == [
        "size",
        "visits",
        "colour_blue",
        "colour_green",
        "colour_red",
        "plan_basic",
        "plan_missing",
        "plan_pro",
    ]


@pytest.mark.parametrize(("k", "expected"), [(20, 13), (5, 5), (13, 13)])
def test_kbest_k_is_capped_at_the_width_it_selects_from(k: int, expected: int) -> None:
    config = _features("features.selection.method=kbest", f"features.selection.k={k}")
    dataset, splits = _load("data.dataset=wine")  # 13 numeric columns
    preprocessor = _build(config, dataset)

    assert fit_selection_size(preprocessor, config, splits.train.X, splits.train.y) == expected
    assert preprocessor.named_steps["select"].k == expected


def test_kbest_keeps_k_columns_after_fitting() -> None:
    dataset, splits = _load("data.dataset=breast_cancer")
    preprocessor = _build(_features("features.selection.k=7"), dataset)

    output = preprocessor.fit_transform(splits.train.X, splits.train.y)

    assert output.shape == (len(splits.train), 7)
    assert isinstance(preprocessor.named_steps["select"], SelectKBest)


def test_no_selection_means_no_select_step() -> None:
    config = _features("features.selection.method=none")
    preprocessor = build_preprocessor(config, ["a"], [], classification=True)

    assert "select" not in preprocessor.named_steps
    assert fit_selection_size(preprocessor, config, pd.DataFrame({"a": [1.0, 2.0]}), [0, 1]) is None


@pytest.mark.parametrize(
    ("source", "overrides", "width"),
    [
        pytest.param("csv", [], 8, id="one-hot"),
        pytest.param("wine", ["features.polynomial.degree=2"], 20, id="polynomial"),
    ],
)
def test_kbest_keeps_k_columns_of_the_encoded_table(
    tmp_path: Path, source: str, overrides: list[str], width: int
) -> None:
    if source == "csv":
        data = [f"data.path={write_csv(tmp_path / 'churn.csv')}", "data.target=churned"]
    else:
        data = [f"data.dataset={source}"]
    dataset, splits = _load(*data, *overrides)
    config = _features("features.selection.k=20", *overrides)
    preprocessor = _build(config, dataset)
    fit_selection_size(preprocessor, config, splits.train.X, splits.train.y)

    output = preprocessor.fit_transform(splits.train.X, splits.train.y)

    assert output.shape[1] == width  # min(k=20, columns after encoding/expansion)


@pytest.mark.parametrize(
    ("interaction_only", "width"),
    [(False, 13 + 13 * 14 // 2), (True, 13 + 13 * 12 // 2)],
)
def test_polynomial_degree_2_widens_the_output(interaction_only: bool, width: int) -> None:
    overrides = [
        "features.selection.method=none",
        "features.polynomial.degree=2",
        f"features.polynomial.interaction_only={str(interaction_only).lower()}",
    ]
    dataset, splits = _load("data.dataset=wine")
    plain = _build(_features("features.selection.method=none"), dataset)
    expanded = _build(_features(*overrides), dataset)

    plain_width = plain.fit_transform(splits.train.X, splits.train.y).shape[1]
    output = expanded.fit_transform(splits.train.X, splits.train.y)

    assert plain_width == 13
    assert output.shape == (len(splits.train), width)
    polynomial = expanded.named_steps["polynomial"]
    assert isinstance(polynomial, PolynomialFeatures)
    assert polynomial.include_bias is False


def test_preprocessing_state_of_a_numeric_pipeline_is_json() -> None:
    dataset, splits = _load("data.dataset=wine")
    preprocessor = _build(_features("features.selection.k=5"), dataset)
    preprocessor.fit(splits.train.X, splits.train.y)

    state = json.loads(json.dumps(preprocessing_state(preprocessor), allow_nan=False))

    assert len(state["output_features"]) == 5
    assert set(state["output_features"]) <= set(dataset.features.columns)
    scale = state["scale"]
    assert scale["class"] == "StandardScaler"
    assert scale["mean"] == pytest.approx(splits.train.X.mean().tolist())
    assert scale["scale"] == pytest.approx(splits.train.X.std(ddof=0).tolist())
    assert state["impute"]["statistics"] == pytest.approx(splits.train.X.median().tolist())
    assert len(state["select"]["selected"]) == 5


def test_preprocessing_state_lists_categories(churn: tuple[Dataset, Splits]) -> None:
    dataset, splits = churn
    preprocessor = _build(_features(), dataset)
    preprocessor.fit(splits.train.X, splits.train.y)

    state = json.loads(json.dumps(preprocessing_state(preprocessor), allow_nan=False))

    assert state["columns.categorical"] == {
        "class": "OneHotEncoder",
        "categories": [["blue", "green", "red"], ["basic", "missing", "pro"]],
    }
    assert len(state["columns.numeric.scale"]["mean"]) == 2
    assert len(state["columns.numeric.scale"]["scale"]) == 2
    assert len(state["columns.numeric.impute"]["statistics"]) == 2


def test_preprocessing_state_names_the_selected_features(churn: tuple[Dataset, Splits]) -> None:
    dataset, splits = churn
    preprocessor = _build(_features(), dataset)
    preprocessor.fit(splits.train.X, splits.train.y)

    state = preprocessing_state(preprocessor)

    assert state["select"]["selected"] == state["output_features"]


def test_walk_steps_flattens_nested_transformers(churn: tuple[Dataset, Splits]) -> None:
    dataset, splits = churn
    preprocessor = _build(_features(), dataset)
    preprocessor.fit(splits.train.X, splits.train.y)

    names = [name for name, _ in walk_steps(preprocessor)]

    assert names == [
        "columns.numeric.impute",
        "columns.numeric.scale",
        "columns.categorical",
        "select",
    ]
