"""Fit a pipeline and trace its learning history on the training and validation splits.

Each family exposes its learning in its own way, and the history follows it:

* ``epochs`` (MLP): one ``partial_fit`` pass per epoch, stopped after ``patience`` epochs
  without a better loss on the *early-stopping slice*: a share of the training split
  (``model.mlp.early_stopping_fraction``, stratified for classifiers, drawn with
  ``model.seed``) that the MLP does not fit on. Its loss is the ``stop_loss`` curve;
* ``boosting`` (histogram gradient boosting): the loss after every boosting iteration, from
  ``staged_predict``;
* ``trees`` (random forest): the loss of the first *n* trees' average, as trees are added;
* ``training_size`` (linear models): a learning curve, refitting on growing training subsets.

The last point of the history is the returned model, except for an MLP stopped early: its
best epoch is restored (``FitResult.best_step``) while the curve shows the epochs after it.
Final validation metrics (``val_log_loss``, ``val_rmse``, ...) are always computed on the
returned model.

No family stops, restores or tunes anything on the validation split: it is only *scored* here
(the ``val_*`` curves), so that ``compare`` can choose between models on data none of them was
fitted or stopped on (histogram gradient boosting runs with ``early_stopping=False``; the
forest and the linear models do not stop early). ``train_*`` curves are scored on the whole
training split, the early-stopping slice included, so every family's curves mean the same.
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
# Called with each point of a learning curve as it is traced: (step, {"val_loss": ..., ...}).
StepListener = Callable[[int, dict[str, float]], None]
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
    # told of every point as it is added: a sweep's pruner watches the curve (and may raise)
    on_step: StepListener | None = field(default=None, repr=False, compare=False)

    def add(self, step: int, values: dict[str, float]) -> None:
        self.steps.append(step)
        for key, value in values.items():
            self.series.setdefault(key, []).append(float(value))
        if self.on_step is not None:
            self.on_step(step, values)

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


@dataclass(frozen=True)
class EarlyStopping:
    """Stop after ``patience`` epochs without a better loss on a slice of the training split."""

    patience: int
    fraction: float = 0.1  # share of the training split held out to watch
    seed: int = 0


def fit_with_history(
    pipeline: Pipeline,
    splits: Splits,
    family: ModelFamily,
    *,
    n_classes: int,
    patience: int | None = None,
    seed: int = 0,
    stopping_fraction: float = 0.1,
    on_step: StepListener | None = None,
) -> FitResult:
    """Fit ``pipeline`` on the training split and return it with its learning history.

    ``n_classes`` is 0 for regression; ``patience`` and ``stopping_fraction`` apply to
    epoch-trained families only (``patience=None`` trains every epoch on the whole training
    split); ``seed`` orders the training rows of a learning curve and draws the early-stopping
    slice. ``on_step`` hears each point of the curve of an iterative family (epochs, boosting
    iterations, trees) as it is traced; an exception it raises stops the fit (an MLP stops
    training there; the others have fitted already and stop tracing).
    """
    scorer = _Scorer(classification=n_classes > 0, n_classes=n_classes)
    if family.history == "epochs":
        stopping = None if patience is None else EarlyStopping(patience, stopping_fraction, seed)
        return _fit_epochs(pipeline, splits, scorer, stopping, on_step)
    if family.history == "training_size":
        return _fit_training_size(pipeline, splits, scorer, seed)
    fitters: dict[str, Callable[[Pipeline, Splits, _Scorer, StepListener | None], FitResult]] = {
        "boosting": _fit_boosting,
        "trees": _fit_trees,
    }
    return fitters[family.history](pipeline, splits, scorer, on_step)


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


def early_stopping_slice(
    y: Any, fraction: float, seed: int, classification: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of the training split to fit on, and of the slice early stopping watches.

    The slice holds ``fraction`` of the rows (at least one per class), stratified when every
    class has two rows to share; both position arrays are sorted.
    """
    from sklearn.model_selection import train_test_split

    labels = np.asarray(y)
    n_classes = len(np.unique(labels)) if classification else 1
    size = max(round(fraction * len(labels)), n_classes)
    counts = np.unique(labels, return_counts=True)[1] if classification else np.array([0])
    stratify = labels if classification and counts.min() >= 2 else None
    fit, stop = train_test_split(
        np.arange(len(labels)), test_size=size, random_state=seed, stratify=stratify
    )
    return np.sort(fit), np.sort(stop)


def _hold_out_slice(
    X_train: Any, y_train: Any, stopping: EarlyStopping | None, scorer: _Scorer
) -> tuple[tuple[Any, Any], tuple[Any, Any] | None]:
    """The rows an MLP fits on, and the (X, y) of its early-stopping slice (None: no stopping)."""
    if stopping is None:
        return (X_train, y_train), None
    fit_rows, stop_rows = early_stopping_slice(
        y_train, stopping.fraction, stopping.seed, scorer.classification
    )
    return (
        (_take(X_train, fit_rows), y_train.iloc[fit_rows]),
        (_take(X_train, stop_rows), y_train.iloc[stop_rows]),
    )


def _fit_epochs(
    pipeline: Pipeline,
    splits: Splits,
    scorer: _Scorer,
    stopping: EarlyStopping | None,
    on_step: StepListener | None = None,
) -> FitResult:
    """One ``partial_fit`` pass per epoch, with early stopping on a slice of the training split.

    Preprocessing is fitted on the whole training split (as scikit-learn's own early stopping
    sees the data a pipeline hands it). With ``stopping``, the MLP fits the rest of the split
    and training stops after ``patience`` epochs without a better loss on the slice (the
    ``stop_loss`` curve); the model of the best epoch is restored, as scikit-learn's own early
    stopping does, and the curve still shows the epochs after it. The validation split is only
    scored. Every epoch is scored, but at most MAX_HISTORY_POINTS of them (always including
    the last) are kept in the history.
    """
    import copy

    estimator = pipeline[-1]
    X_train, X_val = _fit_preprocessing(pipeline, splits)
    (X_fit, y_fit), watched = _hold_out_slice(X_train, splits.train.y, stopping, scorer)
    history = History(unit=HISTORY_UNITS["epochs"], on_step=on_step)
    extra = {"classes": np.array(scorer.labels)} if scorer.classification else {}
    # the restored best epoch is added at the end if the stride skipped it (one point over)
    stride = max(1, int(np.ceil(estimator.max_iter / MAX_HISTORY_POINTS)))
    fit_seconds, best, best_epoch, best_model, best_values = 0.0, np.inf, 0, None, {}
    for epoch in range(1, estimator.max_iter + 1):
        started = time.perf_counter()
        estimator.partial_fit(X_fit, y_fit, **extra)
        fit_seconds += time.perf_counter() - started
        values = scorer.both(
            scorer.output(estimator, X_train),
            splits.train,
            scorer.output(estimator, X_val),
            splits.validation,
        )
        if watched is not None:
            stop_loss = scorer("stop", watched[1], scorer.output(estimator, watched[0]))
            values["stop_loss"] = stop_loss["stop_loss"]
            if values["stop_loss"] < best - 1e-6:
                best, best_epoch, best_values = values["stop_loss"], epoch, values
                best_model = copy.deepcopy(estimator)
        stopping_now = stopping is not None and epoch - best_epoch >= stopping.patience
        if epoch % stride == 0 or stopping_now or epoch == estimator.max_iter:
            history.add(epoch, values)
        if stopping_now:
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


def _fit_boosting(
    pipeline: Pipeline, splits: Splits, scorer: _Scorer, on_step: StepListener | None = None
) -> FitResult:
    fit_seconds = _timed_fit(pipeline, splits)
    estimator, preprocess = pipeline[-1], pipeline[:-1]
    X_train = preprocess.transform(splits.train.X)
    X_val = preprocess.transform(splits.validation.X)
    staged = "staged_predict_proba" if scorer.classification else "staged_predict"
    history = History(unit=HISTORY_UNITS["boosting"], on_step=on_step)
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


def _fit_trees(
    pipeline: Pipeline, splits: Splits, scorer: _Scorer, on_step: StepListener | None = None
) -> FitResult:
    fit_seconds = _timed_fit(pipeline, splits)
    estimator, preprocess = pipeline[-1], pipeline[:-1]
    history = History(unit=HISTORY_UNITS["trees"], on_step=on_step)
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
