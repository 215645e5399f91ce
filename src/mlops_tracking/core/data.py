"""Load, validate and split tabular datasets: scikit-learn's shipped ones or a user's CSV.

Everything here is pure pandas and scikit-learn; a capability's shell decides how a ``Dataset``
becomes an MLflow dataset input (``dataset.py`` says what a ``Dataset`` holds). A user's CSV
goes through ``cleaning.py``, which reports each decision it makes on the ``Dataset`` (and from
there in the run's params). Classes too rare to appear in every split are refused with one
message, or dropped or merged as ``data.rare_classes`` says (``rare_classes.py``).
"""

from __future__ import annotations

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
    """Load the configured dataset and validate it; raise ``DataError`` with a fix on failure.

    Rare classes are dropped or merged here, as ``data.rare_classes`` says.
    """
    return settle_classes(load_source(config), config)


def load_source(config: DataConfig) -> Dataset:
    """The configured table as its source holds it (first ``data.rows`` rows), classes as-is."""
    if config.path is not None:
        from mlops_tracking.core.cleaning import load_csv

        loaded = load_csv(config.path, config)
    else:
        assert config.dataset is not None  # guaranteed by DataConfig validation
        loaded = _load_shipped(config.dataset, config.task)
    return first_rows(loaded, config.rows)


def settle_classes(dataset: Dataset, config: DataConfig) -> Dataset:
    """Drop or merge the classes too rare to split, as ``data.rare_classes`` says."""
    from mlops_tracking.core.rare_classes import settle_rare_classes

    return settle_rare_classes(dataset, config)


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
    if dataset.is_classification:
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
    """Metrics such as ROC AUC are undefined when a split lacks a class: refuse early.

    Only an unstratified split can get here (classes too rare to stratify are refused before
    any split), so stratifying is always a fix.
    """
    missing = sorted(set(range(len(dataset.labels))) - set(labels.unique()))
    if missing:
        names = listing(dataset.labels[code] for code in missing)
        raise DataError(
            f"the {split} split has no rows of class(es) {names}; set data.stratify=true "
            "(every class is then in every split) or change data.seed."
        )


def _check_stratifiable(dataset: Dataset, config: DataConfig) -> None:
    from mlops_tracking.core.rare_classes import check_rare_classes

    check_rare_classes(dataset, config)


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
