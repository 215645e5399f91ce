"""Fit a pipeline and trace its learning history on the training and validation splits.

Each family exposes its learning in its own way, and the history follows it:

* ``epochs`` (MLP): one ``partial_fit`` pass per epoch, stopped after ``patience`` epochs
  without a better validation loss;
* ``boosting`` (histogram gradient boosting): the loss after every boosting iteration, from
  ``staged_predict``;
* ``trees`` (random forest): the loss of the first *n* trees' average, as trees are added;
* ``training_size`` (linear models): a learning curve, refitting on growing training subsets.

The last point of the history is the returned model, except for an MLP stopped early: its
best epoch is restored (``FitResult.best_step``) while the curve shows the epochs after it.
Final validation metrics (``val_log_loss``, ``val_rmse``, ...) are always computed on the
returned model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops_tracking.core.dataset import Split, Splits
from mlops_tracking.core.models import ModelFamily

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

MAX_HISTORY_POINTS = 200
# What the step axis counts, for each family's history strategy (models.HistoryStrategy).
HISTORY_UNITS = {
    "epochs": "epoch",
    "boosting": "iteration",
    "trees": "trees",
    "training_size": "training_samples",
}


@dataclass
class History:
    """Step-indexed learning curves: ``series["val_loss"][i]`` belongs to ``steps[i]``."""

    unit: str
    steps: list[int] = field(default_factory=list)
    series: dict[str, list[float]] = field(default_factory=dict)

    def add(self, step: int, values: dict[str, float]) -> None:
        self.steps.append(step)
        for key, value in values.items():
            self.series.setdefault(key, []).append(float(value))

    def insert(self, step: int, values: dict[str, float]) -> None:
        """Add a point at its place on the step axis (no-op if the step is already there)."""
        if step in self.steps:
            return
        position = sum(existing < step for existing in self.steps)
        self.steps.insert(position, step)
        for key, value in values.items():
            self.series[key].insert(position, float(value))

    def last(self, key: str) -> float:
        return self.series[key][-1]

    def __len__(self) -> int:
        return len(self.steps)


@dataclass(frozen=True)
class FitResult:
    pipeline: Pipeline
    history: History
    fit_seconds: float
    best_step: int | None = None  # early stopping: the step whose model was kept


def fit_with_history(
    pipeline: Pipeline,
    splits: Splits,
    family: ModelFamily,
    *,
    n_classes: int,
    patience: int | None = None,
    seed: int = 0,
) -> FitResult:
    """Fit ``pipeline`` on the training split and return it with its learning history.

    ``n_classes`` is 0 for regression; ``patience`` applies to epoch-trained families only;
    ``seed`` orders the training rows of a learning curve.
    """
    scorer = _Scorer(classification=n_classes > 0, n_classes=n_classes)
    if family.history == "epochs":
        return _fit_epochs(pipeline, splits, scorer, patience)
    if family.history == "training_size":
        return _fit_training_size(pipeline, splits, scorer, seed)
    fitters: dict[str, Callable[[Pipeline, Splits, _Scorer], FitResult]] = {
        "boosting": _fit_boosting,
        "trees": _fit_trees,
    }
    return fitters[family.history](pipeline, splits, scorer)


class _Scorer:
    """Per-step loss (log loss or MSE) and accuracy of raw model outputs.

    Written in NumPy on purpose: scikit-learn's metric functions validate their inputs on every
    call, which made a 200-step history cost seconds instead of milliseconds.
    """

    def __init__(self, classification: bool, n_classes: int) -> None:
        self.classification = classification
        self.labels = list(range(n_classes))

    def __call__(self, prefix: str, y: Any, output: np.ndarray) -> dict[str, float]:
        truth = np.asarray(y)
        if not self.classification:
            return {f"{prefix}_loss": float(np.mean((output.ravel() - truth) ** 2))}
        # Clip exactly as sklearn.metrics.log_loss does, so a forest that gives the true class
        # probability 0 scores the same here as in the final test_log_loss.
        eps = np.finfo(output.dtype).eps
        picked = np.clip(output, eps, 1 - eps)[np.arange(len(truth)), truth]
        return {
            f"{prefix}_loss": float(-np.mean(np.log(picked))),
            f"{prefix}_accuracy": float(np.mean(np.argmax(output, axis=1) == truth)),
        }

    def output(self, estimator: Any, X: Any) -> np.ndarray:
        method = estimator.predict_proba if self.classification else estimator.predict
        return np.asarray(method(X))

    def both(
        self, train_output: np.ndarray, train: Split, val_output: np.ndarray, validation: Split
    ) -> dict[str, float]:
        return {**self("train", train.y, train_output), **self("val", validation.y, val_output)}


def _checkpoints(total: int) -> list[int]:
    """At most MAX_HISTORY_POINTS evenly spaced steps from 1 to ``total``, always ending there."""
    stride = max(1, int(np.ceil(total / MAX_HISTORY_POINTS)))
    points = list(range(stride, total + 1, stride))
    if not points or points[-1] != total:
        points.append(total)
    return points


def _fit_preprocessing(pipeline: Pipeline, splits: Splits) -> tuple[Any, Any]:
    preprocess = pipeline[:-1]
    X_train = preprocess.fit_transform(splits.train.X, splits.train.y)
    return X_train, preprocess.transform(splits.validation.X)


def _fit_epochs(
    pipeline: Pipeline, splits: Splits, scorer: _Scorer, patience: int | None
) -> FitResult:
    """One ``partial_fit`` pass per epoch, with early stopping on the validation loss.

    With ``patience`` set, training stops after that many epochs without improvement and the
    model of the best epoch is restored (as scikit-learn's own early stopping does); the curve
    still shows the epochs after it. Every epoch is scored, but at most MAX_HISTORY_POINTS of
    them (always including the last) are kept in the history.
    """
    import copy

    estimator = pipeline[-1]
    X_train, X_val = _fit_preprocessing(pipeline, splits)
    history = History(unit=HISTORY_UNITS["epochs"])
    extra = {"classes": np.array(scorer.labels)} if scorer.classification else {}
    # the restored best epoch is added at the end if the stride skipped it (one point over)
    stride = max(1, int(np.ceil(estimator.max_iter / MAX_HISTORY_POINTS)))
    fit_seconds, best, best_epoch, best_model, best_values = 0.0, np.inf, 0, None, {}
    for epoch in range(1, estimator.max_iter + 1):
        started = time.perf_counter()
        estimator.partial_fit(X_train, splits.train.y, **extra)
        fit_seconds += time.perf_counter() - started
        values = scorer.both(
            scorer.output(estimator, X_train),
            splits.train,
            scorer.output(estimator, X_val),
            splits.validation,
        )
        if values["val_loss"] < best - 1e-6:
            best, best_epoch, best_values = values["val_loss"], epoch, values
            best_model = copy.deepcopy(estimator) if patience is not None else None
        stopping = patience is not None and epoch - best_epoch >= patience
        if epoch % stride == 0 or stopping or epoch == estimator.max_iter:
            history.add(epoch, values)
        if stopping:
            break
    if best_model is None:
        return FitResult(pipeline, history, fit_seconds)
    history.insert(best_epoch, best_values)
    pipeline.steps[-1] = (pipeline.steps[-1][0], best_model)
    return FitResult(pipeline, history, fit_seconds, best_step=best_epoch)


def _timed_fit(pipeline: Pipeline, splits: Splits) -> float:
    started = time.perf_counter()
    pipeline.fit(splits.train.X, splits.train.y)
    return time.perf_counter() - started


def _fit_boosting(pipeline: Pipeline, splits: Splits, scorer: _Scorer) -> FitResult:
    fit_seconds = _timed_fit(pipeline, splits)
    estimator, preprocess = pipeline[-1], pipeline[:-1]
    X_train = preprocess.transform(splits.train.X)
    X_val = preprocess.transform(splits.validation.X)
    staged = "staged_predict_proba" if scorer.classification else "staged_predict"
    history = History(unit=HISTORY_UNITS["boosting"])
    wanted = set(_checkpoints(int(estimator.n_iter_)))
    stages = zip(
        getattr(estimator, staged)(X_train), getattr(estimator, staged)(X_val), strict=True
    )
    for iteration, (train_output, val_output) in enumerate(stages, start=1):
        if iteration in wanted:
            history.add(
                iteration,
                scorer.both(
                    np.asarray(train_output),
                    splits.train,
                    np.asarray(val_output),
                    splits.validation,
                ),
            )
    return FitResult(pipeline, history, fit_seconds)


def _fit_trees(pipeline: Pipeline, splits: Splits, scorer: _Scorer) -> FitResult:
    fit_seconds = _timed_fit(pipeline, splits)
    estimator, preprocess = pipeline[-1], pipeline[:-1]
    history = History(unit=HISTORY_UNITS["trees"])
    curves = [
        _running_means(scorer, estimator, preprocess.transform(split.X))
        for split in (splits.train, splits.validation)
    ]
    for n_trees, train_output, val_output in zip(
        _checkpoints(len(estimator.estimators_)), *curves, strict=True
    ):
        history.add(n_trees, scorer.both(train_output, splits.train, val_output, splits.validation))
    return FitResult(pipeline, history, fit_seconds)


def _running_means(scorer: _Scorer, forest: Any, X: Any) -> Iterator[np.ndarray]:
    """Yield the forest's output averaged over its first n trees, at each checkpoint n.

    One ``forest.apply`` call finds every tree's leaf for every row; the leaf values are then
    looked up per tree, instead of calling each tree's ``predict`` (slow per call).
    """
    leaves = forest.apply(X)
    wanted = set(_checkpoints(len(forest.estimators_)))
    total: np.ndarray | None = None
    for n, tree in enumerate(forest.estimators_, start=1):
        values = tree.tree_.value[leaves[:, n - 1], 0, :]
        if scorer.classification:
            values = values / values.sum(axis=1, keepdims=True)
        else:
            values = values[:, 0]
        total = values if total is None else total + values
        if n in wanted:
            yield total / n


def _fit_training_size(pipeline: Pipeline, splits: Splits, scorer: _Scorer, seed: int) -> FitResult:
    """A learning curve: the estimator refitted on growing, class-complete training subsets.

    Preprocessing is fitted once on the whole training split, so every point of the curve sees
    the same features (a subset would otherwise see fewer categories); the last fit is the
    returned model.
    """
    from sklearn.base import clone

    estimator = pipeline[-1]
    X_train, X_val = _fit_preprocessing(pipeline, splits)
    history = History(unit=HISTORY_UNITS["training_size"])
    order = np.random.default_rng(seed).permutation(len(splits.train))
    total = len(order)
    fractions = np.linspace(0.1, 1.0, 10)
    sizes = sorted({min(total, max(10, int(total * fraction))) for fraction in fractions})
    fit_seconds = 0.0
    for size in sizes:
        rows = order[:size]
        subset = Split("train", _take(splits.train.X, rows), splits.train.y.iloc[rows])
        if scorer.classification and subset.y.nunique() < len(scorer.labels):
            continue  # a subset without every class cannot be scored against them
        model = estimator if size == total else clone(estimator)
        features = _take(X_train, rows)
        started = time.perf_counter()
        model.fit(features, subset.y)
        fit_seconds = time.perf_counter() - started  # the full fit is the last one
        history.add(
            size,
            scorer.both(
                scorer.output(model, features),
                subset,
                scorer.output(model, X_val),
                splits.validation,
            ),
        )
    return FitResult(pipeline, history, fit_seconds)


def _take(X: Any, rows: np.ndarray) -> Any:
    return X.iloc[rows] if hasattr(X, "iloc") else X[rows]
