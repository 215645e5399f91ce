"""Load, validate and split tabular datasets: scikit-learn's shipped ones or a user's CSV.

Everything here is pure pandas and scikit-learn; a capability's shell decides how a ``Dataset``
becomes an MLflow dataset input (``dataset.py`` says what a ``Dataset`` holds). A user's CSV
goes through ``cleaning.py``, which reports each decision it makes on the ``Dataset`` (and from
there in the run's params).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlops_tracking.core.config import DataConfig
from mlops_tracking.core.dataset import Dataset, Split, Splits, Task, listing
from mlops_tracking.core.errors import DataError

_SHIPPED_TASKS: dict[str, Task] = {
    "breast_cancer": "binary",
    "wine": "multiclass",
    "iris": "multiclass",
    "digits": "multiclass",
    "diabetes": "regression",
}


def load_dataset(config: DataConfig) -> Dataset:
    """Load the configured dataset and validate it; raise ``DataError`` with a fix on failure."""
    if config.path is not None:
        from mlops_tracking.core.cleaning import load_csv

        assert config.target is not None  # guaranteed by DataConfig validation
        loaded = load_csv(config.path, config.target, config.task, config.drop_columns)
        return first_rows(loaded, config.rows)
    assert config.dataset is not None
    return first_rows(_load_shipped(config.dataset, config.task), config.rows)


def first_rows(dataset: Dataset, rows: int | None) -> Dataset:
    """Keep the first ``rows`` rows: an earlier extract of the source (``data.rows``)."""
    if rows is None or rows >= len(dataset.target):
        return dataset
    from dataclasses import replace

    return replace(
        dataset, features=dataset.features.iloc[:rows], target=dataset.target.iloc[:rows]
    )


def split_dataset(dataset: Dataset, config: DataConfig) -> Splits:
    """Split into train, validation and test sets (stratified for classification if asked)."""
    from sklearn.model_selection import train_test_split

    stratify = dataset.is_classification and config.stratify
    if stratify:
        _check_stratifiable(dataset, config)
    X, y = dataset.features, dataset.target
    X_rest, X_test, y_rest, y_test = train_test_split(
        X,
        y,
        test_size=config.test_size,
        random_state=config.seed,
        stratify=y if stratify else None,
    )
    relative_validation = config.validation_size / (1 - config.test_size)
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest,
        y_rest,
        test_size=relative_validation,
        random_state=config.seed,
        stratify=y_rest if stratify else None,
    )
    if dataset.is_classification:
        for name, labels in (("training", y_train), ("validation", y_val), ("test", y_test)):
            _check_every_class(dataset, name, labels)
    return Splits(
        train=Split("train", X_train, y_train),
        validation=Split("validation", X_val, y_val),
        test=Split("test", X_test, y_test),
    )


def _check_every_class(dataset: Dataset, split: str, labels: pd.Series) -> None:
    """Metrics such as ROC AUC are undefined when a split lacks a class: refuse early."""
    missing = sorted(set(range(len(dataset.labels))) - set(labels.unique()))
    if missing:
        names = listing(dataset.labels[code] for code in missing)
        raise DataError(
            f"the {split} split has no rows of class(es) {names}; set data.stratify=true, "
            "change data.seed, or add rows of those classes."
        )


def _check_stratifiable(dataset: Dataset, config: DataConfig) -> None:
    counts = dataset.target.value_counts()
    smallest = min(config.test_size, config.validation_size)
    needed = int(np.ceil(2 / smallest))
    rare = counts[counts < needed]
    if not rare.empty:
        names = listing(f"{dataset.labels[int(str(code))]} ({n} rows)" for code, n in rare.items())
        raise DataError(
            f"classes too small to stratify a {smallest:g} split: {names}. Each class needs at "
            f"least {needed} rows; add data, merge rare classes, or set data.stratify=false."
        )


def _load_shipped(name: str, task_setting: str) -> Dataset:
    from sklearn import datasets

    loader = getattr(datasets, f"load_{name}")
    bunch = loader(as_frame=True)
    task = _SHIPPED_TASKS[name]
    if task_setting not in {"auto", task}:
        raise DataError(
            f"data.dataset={name} is a {task} dataset; data.task={task_setting} does not fit it. "
            "Set data.task=auto."
        )
    features = bunch.data.astype("float64")
    target = bunch.target
    labels: tuple[str, ...] = ()
    if task != "regression":
        labels = tuple(str(label) for label in bunch.target_names)
        target = target.astype("int64")
    else:
        target = target.astype("float64")
    return Dataset(
        name=name,
        features=features,
        target=target.rename(target.name or "target"),
        target_name=str(target.name or "target"),
        task=task,
        labels=labels,
        source=f"sklearn.datasets.load_{name}",
        source_kind="sklearn",
    )
