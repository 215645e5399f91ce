"""Code and model tests of training: every family's learning history ends at the returned model."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics

from conftest import PARAMS, fit_model
from mlops_tracking.core.config import Config, load_config
from mlops_tracking.core.dataset import Dataset, Split, Splits
from mlops_tracking.core.features import build_preprocessor
from mlops_tracking.core.models import FAMILIES, build_model, build_pipeline
from mlops_tracking.core.training import (
    HISTORY_UNITS,
    MAX_HISTORY_POINTS,
    FitResult,
    History,
    early_stopping_slice,
    fit_with_history,
)

DATASETS = {"binary": "breast_cancer", "multiclass": "wine", "regression": "diabetes"}
CASES = [(name, task) for name in FAMILIES for task in DATASETS if FAMILIES[name].supports(task)]


@dataclass(frozen=True)
class Trained:
    config: Config
    dataset: Dataset
    splits: Splits
    result: FitResult


def _train(*overrides: str) -> Trained:
    trained = fit_model(*overrides)
    return Trained(trained.config, trained.dataset, trained.splits, trained.fit)


@pytest.fixture(scope="module")
def trained() -> Callable[[str, str], Trained]:
    """Train each (family, task) once per module; the fits are pure and deterministic."""
    cache: dict[tuple[str, str], Trained] = {}

    def get(name: str, task: str) -> Trained:
        if (name, task) not in cache:
            cache[name, task] = _train(f"data.dataset={DATASETS[task]}", f"model.name={name}")
        return cache[name, task]

    return get


def _params(cases: list[tuple[str, str]]) -> list[object]:
    return [pytest.param(name, task) for name, task in cases]


@pytest.mark.parametrize(("name", "task"), CASES)
def test_history_steps_strictly_increase_in_the_family_unit(
    trained: Callable[[str, str], Trained], name: str, task: str
) -> None:
    run = trained(name, task)
    history = run.result.history
    family = FAMILIES[name]

    assert history.unit == HISTORY_UNITS[family.history]
    assert len(history) >= 2
    assert history.steps[0] >= 1
    assert all(b > a for a, b in pairwise(history.steps))
    last = {
        "epochs": lambda: history.steps[-1] <= run.config.model.mlp.max_epochs,
        "boosting": lambda: history.steps[-1] == run.result.pipeline[-1].n_iter_ == 25,
        "trees": lambda: history.steps[-1] == len(run.result.pipeline[-1].estimators_) == 25,
        "training_size": lambda: history.steps[-1] == len(run.splits.train),
    }[family.history]
    assert last(), history.steps


@pytest.mark.parametrize(("name", "task"), CASES)
def test_history_has_train_and_val_series_of_equal_length(
    trained: Callable[[str, str], Trained], name: str, task: str
) -> None:
    history = trained(name, task).result.history

    expected = {"train_loss", "val_loss"}
    if task != "regression":
        expected |= {"train_accuracy", "val_accuracy"}
    if name == "mlp":
        expected |= {"stop_loss"}  # the early-stopping slice of the training split
    assert set(history.series) == expected
    for key, values in history.series.items():
        assert len(values) == len(history.steps), key
        assert all(math.isfinite(value) and value >= 0 for value in values), key
    if task != "regression":
        for key in ("train_accuracy", "val_accuracy"):
            assert all(0 <= value <= 1 for value in history.series[key])


@pytest.mark.parametrize(("name", "task"), _params(CASES))
def test_last_val_loss_is_the_returned_models_validation_loss(
    trained: Callable[[str, str], Trained], name: str, task: str
) -> None:
    run = trained(name, task)
    pipeline, validation = run.result.pipeline, run.splits.validation
    history = run.result.history

    if task == "regression":
        expected = metrics.mean_squared_error(validation.y, pipeline.predict(validation.X))
    else:
        proba = pipeline.predict_proba(validation.X)
        expected = metrics.log_loss(
            validation.y, proba, labels=list(range(len(run.dataset.labels)))
        )
        accuracy = metrics.accuracy_score(validation.y, pipeline.predict(validation.X))
        assert history.last("val_accuracy") == pytest.approx(accuracy, rel=1e-6)
    assert history.last("val_loss") == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(("name", "task"), CASES)
def test_last_train_loss_is_the_returned_models_training_loss(
    trained: Callable[[str, str], Trained], name: str, task: str
) -> None:
    run = trained(name, task)
    pipeline, train = run.result.pipeline, run.splits.train

    if task == "regression":
        expected = metrics.mean_squared_error(train.y, pipeline.predict(train.X))
    else:
        proba = pipeline.predict_proba(train.X)
        expected = metrics.log_loss(train.y, proba, labels=list(range(len(run.dataset.labels))))
    assert run.result.history.last("train_loss") == pytest.approx(expected, rel=1e-6)


def test_val_loss_of_a_confidently_wrong_forest_matches_sklearn() -> None:
    """A validation row that every tree gets wrong has probability exactly 0 for its class."""
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-10, -1, 40), rng.uniform(1, 10, 40)])
    y = np.repeat([0, 1], 40)
    train = Split("train", pd.DataFrame({"x": x}), pd.Series(y))
    validation = Split(
        "validation", pd.DataFrame({"x": [-5.0, 5.0, -3.0, 4.0]}), pd.Series([1, 1, 0, 1])
    )
    splits = Splits(train, validation, validation)
    config = load_config(PARAMS, ["model.random_forest.n_estimators=10"])
    preprocessor = build_preprocessor(config.features, ["x"], [], classification=True)
    pipeline = build_pipeline(preprocessor, build_model(config.model, "binary"))

    result = fit_with_history(pipeline, splits, FAMILIES["random_forest"], n_classes=2)

    proba = pipeline.predict_proba(validation.X)
    assert proba[0, 1] == 0.0  # the premise: all trees say class 0 for x=-5
    expected = metrics.log_loss(validation.y, proba, labels=[0, 1])
    assert result.history.last("val_loss") == pytest.approx(expected, rel=1e-6)


def test_mlp_with_small_patience_stops_after_patience_epochs_without_progress() -> None:
    patience, budget = 3, 200
    run = _train(
        "data.dataset=breast_cancer",
        "model.name=mlp",
        f"model.mlp.max_epochs={budget}",
        f"model.mlp.patience={patience}",
        "model.mlp.learning_rate_init=0.01",
    )
    history = run.result.history
    stop_loss = history.series["stop_loss"]
    best = int(np.argmin(stop_loss))

    assert len(history) < budget
    assert history.steps == list(range(1, len(history) + 1))
    assert len(history) - 1 - best == patience  # stopped exactly `patience` epochs after it
    assert all(value >= stop_loss[best] - 1e-6 for value in stop_loss[best + 1 :])


def test_mlp_without_patience_trains_exactly_max_epochs() -> None:
    run = _train(
        "data.dataset=iris",
        "model.name=mlp",
        "model.mlp.max_epochs=12",
        "model.mlp.patience=null",
        "model.mlp.hidden_layer_sizes=[4]",
    )

    assert run.result.history.steps == list(range(1, 13))
    assert run.result.pipeline[-1].max_iter == 12


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param(
            [
                "data.dataset=iris",
                "model.name=random_forest",
                f"model.random_forest.n_estimators={MAX_HISTORY_POINTS + 50}",
                "model.random_forest.max_depth=2",
            ],
            id="trees",
        ),
        pytest.param(
            [
                "data.dataset=diabetes",
                "model.name=hist_gradient_boosting",
                f"model.hist_gradient_boosting.max_iter={MAX_HISTORY_POINTS + 50}",
                "model.hist_gradient_boosting.max_leaf_nodes=2",
            ],
            id="boosting",
        ),
        pytest.param(
            [
                "data.dataset=iris",
                "model.name=mlp",
                f"model.mlp.max_epochs={MAX_HISTORY_POINTS + 5}",
                "model.mlp.patience=null",
                "model.mlp.hidden_layer_sizes=[2]",
            ],
            id="epochs",
        ),
    ],
)
def test_history_has_at_most_max_history_points(overrides: list[str]) -> None:
    history = _train(*overrides).result.history

    assert len(history) <= MAX_HISTORY_POINTS
    assert history.steps[-1] > MAX_HISTORY_POINTS  # the whole budget was traced, thinned


def test_training_size_history_refits_on_growing_subsets(
    trained: Callable[[str, str], Trained],
) -> None:
    run = trained("logistic_regression", "multiclass")
    steps = run.result.history.steps

    assert len(steps) <= 10
    assert steps[-1] == len(run.splits.train)
    assert steps[0] >= 10


def test_history_add_and_last() -> None:
    history = History(unit="epoch")

    history.add(1, {"train_loss": 0.9, "val_loss": 1.0})
    history.add(2, {"train_loss": 0.5, "val_loss": np.float32(0.75)})

    assert len(history) == 2
    assert history.steps == [1, 2]
    assert history.last("val_loss") == 0.75
    assert history.series["train_loss"] == [0.9, 0.5]
    assert all(type(value) is float for value in history.series["val_loss"])


def test_mlp_early_stopping_restores_the_best_epoch() -> None:
    trained = fit_model(
        "data.dataset=breast_cancer",
        "model.name=mlp",
        "model.mlp.max_epochs=300",
        "model.mlp.patience=5",
        "model.mlp.hidden_layer_sizes=[128,64]",
    )
    history, best = trained.fit.history, trained.fit.best_step
    assert best is not None and best < history.steps[-1]
    assert history.steps[-1] - best == 5  # stopped `patience` epochs after the best
    validation, train = trained.splits.validation, trained.splits.train
    proba = trained.pipeline.predict_proba(validation.X)
    restored = metrics.log_loss(validation.y, proba, labels=[0, 1])
    at_best = history.series["val_loss"][history.steps.index(best)]
    assert restored == pytest.approx(at_best, rel=1e-6)
    # the restored epoch is the best one on the early-stopping slice, not on validation
    _, watched = early_stopping_slice(train.y, 0.1, trained.config.model.seed, True)
    rows = train.X.iloc[watched]
    stop = metrics.log_loss(train.y.iloc[watched], trained.pipeline.predict_proba(rows))
    assert stop == pytest.approx(min(history.series["stop_loss"]), rel=1e-6)


MLP_STOPPING = (
    "data.dataset=breast_cancer",
    "model.name=mlp",
    "model.mlp.max_epochs=60",
    "model.mlp.patience=3",
    "model.mlp.hidden_layer_sizes=[8]",
    "model.mlp.learning_rate_init=0.01",
)


def test_mlp_early_stopping_never_looks_at_the_validation_labels() -> None:
    """Model selection ranks on validation: the MLP's stopping and restore must not use it."""
    from mlops_tracking.core.modelling import fit_pipeline

    trained = fit_model(*MLP_STOPPING)
    assert trained.fit.best_step is not None  # the premise: it did stop early
    validation = trained.splits.validation
    shuffled = Split(
        "validation",
        validation.X,
        pd.Series(
            np.random.default_rng(0).permutation(validation.y.to_numpy()), validation.y.index
        ),
    )
    relabelled = replace(trained.inputs, splits=replace(trained.splits, validation=shuffled))

    pipeline, fit = fit_pipeline(relabelled, trained.family)

    assert fit.best_step == trained.fit.best_step
    assert fit.history.steps == trained.fit.history.steps
    assert fit.history.series["stop_loss"] == trained.fit.history.series["stop_loss"]
    assert fit.history.series["val_loss"] != trained.fit.history.series["val_loss"]
    for ours, theirs in zip(pipeline[-1].coefs_, trained.pipeline[-1].coefs_, strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_the_early_stopping_slice_is_a_stratified_seeded_share_of_the_training_split() -> None:
    y = fit_model("data.dataset=breast_cancer", "model.name=logistic_regression").splits.train.y
    fit_rows, watched = early_stopping_slice(y, 0.1, 42, True)

    assert len(watched) == round(0.1 * len(y))
    assert set(fit_rows).isdisjoint(watched) and len(fit_rows) + len(watched) == len(y)
    assert y.iloc[watched].mean() == pytest.approx(y.mean(), abs=0.02)  # stratified
    assert early_stopping_slice(y, 0.1, 7, True)[1].tolist() != watched.tolist()  # seeded


def test_the_mlp_does_not_fit_the_rows_its_early_stopping_watches() -> None:
    """Changing the watched rows leaves one epoch's model unchanged; changing fitted rows, not.

    The slice is drawn from the labels, so the features are what changes here, with
    unsupervised, stateless preprocessing so that only the estimator could see the change.
    """
    from mlops_tracking.core.modelling import fit_pipeline

    one_epoch = (
        *MLP_STOPPING[:2],
        "model.mlp.max_epochs=1",
        "model.mlp.patience=5",
        "features.scaling=none",
        "features.selection.method=none",
    )
    trained = fit_model(*one_epoch)
    train = trained.splits.train
    fit_rows, watched = early_stopping_slice(train.y, 0.1, trained.config.model.seed, True)

    def refit_with_doubled(rows: np.ndarray) -> list[np.ndarray]:
        X = train.X.copy()
        X.iloc[rows] = X.iloc[rows] * 2
        splits = replace(trained.splits, train=Split("train", X, train.y))
        pipeline, _ = fit_pipeline(replace(trained.inputs, splits=splits), trained.family)
        return list(pipeline[-1].coefs_)

    original = trained.pipeline[-1].coefs_
    for ours, theirs in zip(refit_with_doubled(watched), original, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    changed = refit_with_doubled(fit_rows[:10])
    assert any(not np.array_equal(a, b) for a, b in zip(changed, original, strict=True))


def test_an_mlp_without_patience_fits_every_training_row_and_watches_none() -> None:
    run = _train(
        "data.dataset=iris",
        "model.name=mlp",
        "model.mlp.max_epochs=5",
        "model.mlp.patience=null",
        "model.mlp.hidden_layer_sizes=[4]",
    )

    assert "stop_loss" not in run.result.history.series
    assert run.result.best_step is None
