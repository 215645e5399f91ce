"""Classes too rare to split: refused with one message naming them, dropped, or merged.

Every class must have rows in the training, validation and test splits, or per-class metrics
(ROC AUC, log loss) are undefined. A class needs at least ``ceil(2 / s)`` rows, ``s`` being
the smaller of the test and validation shares (10 rows with the default 0.2 splits), or
``data.min_class_rows`` when that is higher. ``data.rare_classes`` says what happens to the
classes below it: ``error`` (the default) refuses the table, ``drop`` leaves their rows out,
``merge`` pools them into one class ``other``.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd

from mlops_tracking.core.config import DataConfig
from mlops_tracking.core.dataset import Dataset, Task, listing
from mlops_tracking.core.errors import DataError

MERGED_CLASS = "other"


def minimum_rows(config: DataConfig) -> int:
    """The fewest rows a class may have: what the splits need, or data.min_class_rows."""
    needed = math.ceil(2 / min(config.test_size, config.validation_size))
    return max(needed, config.min_class_rows or 0)


def rare_counts(dataset: Dataset, config: DataConfig) -> dict[str, int]:
    """Rows of each class below ``minimum_rows``, by label, in label order."""
    if not dataset.is_classification:
        return {}
    counts = dataset.target.value_counts()
    minimum = minimum_rows(config)
    return {
        dataset.labels[code]: int(counts.get(code, 0))
        for code in range(len(dataset.labels))
        if counts.get(code, 0) < minimum
    }


def check_rare_classes(dataset: Dataset, config: DataConfig) -> None:
    """Raise one ``DataError`` naming every class too rare to split, with its row count."""
    rare = rare_counts(dataset, config)
    if not rare:
        return
    minimum = minimum_rows(config)
    shown = listing(f"{label} ({_rows(rows)})" for label, rows in rare.items())
    if config.rare_classes == "merge" and list(rare) == [MERGED_CLASS]:
        raise DataError(
            f"the merged class '{MERGED_CLASS}' has {_rows(rare[MERGED_CLASS])}, still fewer than "
            f"the {minimum} each class needs; set data.rare_classes=drop, or add rows."
        )
    raise DataError(
        f"class(es) too rare to appear in every split: {shown}. Each class needs at least "
        f"{minimum} rows ({_why(config)}). Add rows of those classes, or set "
        "data.rare_classes=drop (leave their rows out) or data.rare_classes=merge (pool them "
        f"into one class '{MERGED_CLASS}')."
    )


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


def _why(config: DataConfig) -> str:
    smallest = min(config.test_size, config.validation_size)
    if config.min_class_rows and config.min_class_rows > math.ceil(2 / smallest):
        return "data.min_class_rows"
    return f"so that a {smallest:g} split holds two of them"


def settle_rare_classes(dataset: Dataset, config: DataConfig) -> Dataset:
    """Drop or merge the rare classes as ``data.rare_classes`` says (``error``: unchanged).

    The result records the affected classes and their row counts in ``rare_classes``.
    """
    rare = rare_counts(dataset, config)
    if config.rare_classes == "error" or not rare:
        return dataset
    names = pd.Series(dataset.labels, dtype=object)[dataset.target.to_numpy()]
    names.index = dataset.target.index
    if config.rare_classes == "drop":
        keep = ~names.isin(list(rare))
        features, names = dataset.features[keep], names[keep]
        labels = tuple(label for label in dataset.labels if label not in rare)
    else:
        features = dataset.features
        names = names.where(~names.isin(list(rare)), MERGED_CLASS)
        kept = tuple(label for label in dataset.labels if label not in rare)
        labels = kept if MERGED_CLASS in kept else (*kept, MERGED_CLASS)
    codes = {label: code for code, label in enumerate(labels)}
    target = names.map(codes).astype("int64").rename(dataset.target_name)
    task = _task_after(labels, config, rare)
    return replace(
        dataset, features=features, target=target, labels=labels, task=task, rare_classes=rare
    )


def _task_after(labels: tuple[str, ...], config: DataConfig, rare: dict[str, int]) -> Task:
    action = "dropping" if config.rare_classes == "drop" else "merging"
    if len(labels) < 2:
        raise DataError(
            f"{action} the rare classes {listing(rare)} leaves only {listing(labels) or 'none'}; "
            "a classifier needs two classes. Add rows, or lower data.min_class_rows."
        )
    task: Task = "binary" if len(labels) == 2 else "multiclass"
    if config.task not in {"auto", task}:
        raise DataError(
            f"{action} the rare classes {listing(rare)} leaves {len(labels)} classes, but "
            f"data.task={config.task}; set data.task={task} or auto."
        )
    return task
