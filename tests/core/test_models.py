"""Code tests of the model zoo, parametrized over every family and task."""

from __future__ import annotations

import json
from itertools import pairwise
from typing import Any

import pytest
from sklearn.base import is_classifier, is_regressor
from sklearn.pipeline import Pipeline

from conftest import FAST, PARAMS, fit_model
from mlops_tracking.core.config import MODEL_NAMES, Config, load_config
from mlops_tracking.core.errors import ConfigError
from mlops_tracking.core.models import (
    FAMILIES,
    build_model,
    estimator_params,
    family_for,
    summarize_model,
)

TASKS = ("binary", "multiclass", "regression")
SUPPORTED = [(name, task) for name in FAMILIES for task in TASKS if FAMILIES[name].supports(task)]
UNSUPPORTED = [
    (name, task) for name in FAMILIES for task in TASKS if not FAMILIES[name].supports(task)
]
# Config keys a factory translates instead of passing through (the MLP's epoch loop settings,
# and the forest's n_jobs, which follows model.threads when null).
TRANSLATED = {"max_epochs", "patience", "early_stopping_fraction", "hidden_layer_sizes", "n_jobs"}


def _config(*overrides: str) -> Config:
    return load_config(PARAMS, [*FAST, *overrides])


def test_the_zoo_covers_every_configurable_model_name() -> None:
    assert set(FAMILIES) == set(MODEL_NAMES)
    assert len(SUPPORTED) == 12
    assert UNSUPPORTED == [
        ("logistic_regression", "regression"),
        ("ridge", "binary"),
        ("ridge", "multiclass"),
    ]


@pytest.mark.parametrize(("name", "task"), SUPPORTED)
def test_build_model_fits_the_task(name: str, task: str) -> None:
    config = _config("model.seed=7")

    estimator = build_model(config.model, task, name)

    if task == "regression":
        assert is_regressor(estimator)
    else:
        assert is_classifier(estimator)
    assert estimator.get_params()["random_state"] == 7


@pytest.mark.parametrize(("name", "task"), SUPPORTED)
def test_build_model_passes_the_configured_hyperparameters(name: str, task: str) -> None:
    config = _config()

    estimator = build_model(config.model, task, name)

    params = estimator.get_params()
    configured = config.model.hyperparameters(name)
    assert configured
    for key, value in configured.items():
        if key not in TRANSLATED:
            assert params[key] == value, key


@pytest.mark.parametrize(("name", "task"), SUPPORTED)
def test_build_model_uses_the_selected_family_by_default(name: str, task: str) -> None:
    config = _config(f"model.name={name}")

    assert type(build_model(config.model, task)) is type(build_model(config.model, task, name))


@pytest.mark.parametrize(("name", "task"), UNSUPPORTED)
def test_unsupported_family_and_task_lists_suitable_families(name: str, task: str) -> None:
    suitable = ", ".join(f for f in FAMILIES if FAMILIES[f].supports(task))

    with pytest.raises(
        ConfigError, match=rf"model\.name={name} cannot do {task}; choose one of: {suitable}\."
    ):
        build_model(_config().model, task, name)


def test_family_for_an_unknown_name_lists_the_families() -> None:
    with pytest.raises(
        ConfigError,
        match=r"unknown model 'xgboost'; choose one of: logistic_regression, ridge, random_forest, "
        r"hist_gradient_boosting, mlp\.",
    ):
        family_for("xgboost", "binary")


def test_family_for_returns_the_named_family() -> None:
    family = family_for("mlp", "regression")

    assert family is FAMILIES["mlp"]
    assert family.history == "epochs"


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_mlp_max_iter_is_the_epoch_budget(task: str) -> None:
    config = _config("model.mlp.max_epochs=37", "model.mlp.hidden_layer_sizes=[8, 4]")

    estimator = build_model(config.model, task, "mlp")

    assert estimator.max_iter == 37
    assert estimator.hidden_layer_sizes == (8, 4)
    assert "patience" not in estimator.get_params()


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_the_forest_runs_with_the_run_threads_unless_n_jobs_is_set(task: str) -> None:
    following = build_model(_config().model, task, "random_forest", threads=3)
    pinned = build_model(
        _config("model.random_forest.n_jobs=2").model, task, "random_forest", threads=3
    )

    assert following.n_jobs == 3
    assert pinned.n_jobs == 2  # configs written before model.threads keep their meaning


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_boosting_leaves_validation_to_our_own_split(task: str) -> None:
    estimator = build_model(_config().model, task, "hist_gradient_boosting")

    assert estimator.early_stopping is False


def _fitted(name: str, dataset_name: str) -> Pipeline:
    pipeline: Pipeline = fit_model(f"data.dataset={dataset_name}", f"model.name={name}").pipeline
    return pipeline


def _mlp_parameters(layers: list[int]) -> int:
    return sum(a * b + b for a, b in pairwise(layers))


CAPACITY: dict[str, Any] = {
    "logistic_regression": lambda summary, model: summary["n_parameters"] == 20 + 1,
    "ridge": lambda summary, model: summary["n_parameters"] == 10 + 1,
    "random_forest": lambda summary, model: (
        summary["n_trees"] == 25
        and summary["n_tree_nodes"] == sum(t.tree_.node_count for t in model.estimators_)
    ),
    "hist_gradient_boosting": lambda summary, model: (
        summary["n_iterations"] == 25 and summary["n_tree_nodes"] > 25
    ),
    "mlp": lambda summary, model: (
        summary["layers"][1:-1] == [64, 32]
        and summary["n_parameters"] == _mlp_parameters(summary["layers"])
    ),
}


@pytest.mark.parametrize(
    ("name", "dataset_name"),
    [
        ("logistic_regression", "breast_cancer"),
        ("ridge", "diabetes"),
        ("random_forest", "breast_cancer"),
        ("hist_gradient_boosting", "diabetes"),
        ("mlp", "breast_cancer"),
    ],
)
def test_summarize_model_describes_structure_counts_and_size(name: str, dataset_name: str) -> None:
    pipeline = _fitted(name, dataset_name)
    n_columns = {"breast_cancer": 30, "diabetes": 10}[dataset_name]

    summary = json.loads(json.dumps(summarize_model(pipeline, serialized_bytes=4321)))

    model = pipeline[-1]
    assert summary["estimator"] == f"{type(model).__module__}.{type(model).__name__}"
    assert summary["serialized_size_bytes"] == 4321
    assert summary["n_features_in"] == n_columns
    assert summary["n_features_after_preprocessing"] == min(20, n_columns)
    assert len(summary["feature_names_in"]) == n_columns
    scaling = (
        []
        if FAMILIES[name].scale_invariant
        else [{"name": "preprocess.scale", "class": "StandardScaler"}]
    )
    assert summary["steps"] == [
        {"name": "preprocess.impute", "class": "SimpleImputer"},
        *scaling,
        {"name": "preprocess.select", "class": "SelectKBest"},
        {"name": "model", "class": type(model).__name__},
    ]
    assert summary["hyperparameters"]["random_state"] == 42
    assert CAPACITY[name](summary, model), summary


def test_estimator_params_are_every_hyperparameter_of_the_final_step() -> None:
    pipeline = _fitted("random_forest", "breast_cancer")

    params = estimator_params(pipeline)

    assert params == pipeline[-1].get_params(deep=False)
    assert params["n_estimators"] == 25
    assert params["criterion"] == "gini"  # sklearn's defaults are included
