"""Load, validate and split tabular datasets: scikit-learn's shipped ones or a user's CSV.

Everything here is pure pandas and scikit-learn; the tracking shell decides how a ``Dataset``
becomes an MLflow dataset input. Column conventions that every later stage relies on:

* numeric feature columns are ``float64`` (so a missing value at inference is representable);
* categorical feature columns (text and booleans) are strings, missing values spelled
  ``"missing"``;
* ``Dataset.column_kinds`` remembers what each column held in the source file (float, integer,
  boolean, text), so a served model can accept raw values of those types;
* classification targets are integer codes ``0..K-1``; ``Dataset.labels`` holds their names.

A CSV is cleaned, not guessed at silently: identifier columns are dropped, a numeric column
with a few stray strings is parsed as numbers, and every such decision is reported on the
``Dataset`` (and from there logged with the run).
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from mlops_tracking.config import DataConfig
from mlops_tracking.errors import DataError

Task = Literal["binary", "multiclass", "regression"]
SplitName = Literal["train", "validation", "test"]
ColumnKind = Literal["float", "integer", "boolean", "text"]

MISSING_CATEGORY = "missing"
MIN_ROWS = 30
MAX_CLASSES_FOR_AUTO = 10
NUMERIC_SHARE = 0.95  # a text column that parses as numbers this often is numeric with typos
MAX_LISTED = 5
IDENTIFIER_NAME = re.compile(r"(^|[_\s-])(id|uuid|key|index)$|^id[_\s-]|[a-z]Id$", re.IGNORECASE)

_SHIPPED_TASKS: dict[str, Task] = {
    "breast_cancer": "binary",
    "wine": "multiclass",
    "iris": "multiclass",
    "digits": "multiclass",
    "diabetes": "regression",
}


@dataclass(frozen=True)
class Dataset:
    """A validated table: features, an encoded target, and where it came from."""

    name: str
    features: pd.DataFrame
    target: pd.Series
    target_name: str
    task: Task
    labels: tuple[str, ...]
    source: str
    source_kind: Literal["sklearn", "file"]
    dropped_columns: tuple[str, ...] = ()
    dropped_rows: int = 0
    column_kinds: dict[str, ColumnKind] | None = None
    coerced_values: dict[str, int] | None = None
    source_sha256: str = ""

    @property
    def is_classification(self) -> bool:
        return self.task != "regression"

    def kind(self, column: str) -> ColumnKind:
        kinds = self.column_kinds or {}
        default: ColumnKind = "text" if self.features[column].dtype == object else "float"
        return kinds.get(column, default)

    @property
    def categorical_columns(self) -> list[str]:
        return [c for c in self.features.columns if self.features[c].dtype == object]

    @property
    def numeric_columns(self) -> list[str]:
        categorical = set(self.categorical_columns)
        return [c for c in self.features.columns if c not in categorical]


@dataclass(frozen=True)
class Split:
    """One partition of a dataset; the index keeps the original row ids."""

    name: SplitName
    X: pd.DataFrame
    y: pd.Series

    def __len__(self) -> int:
        return len(self.y)

    def frame(self, target_name: str) -> pd.DataFrame:
        """Features and target in one table, as logged for lineage and snapshots."""
        return self.X.assign(**{target_name: self.y})


@dataclass(frozen=True)
class Splits:
    train: Split
    validation: Split
    test: Split

    @property
    def sizes(self) -> dict[str, int]:
        return {split.name: len(split) for split in self}

    def __iter__(self) -> Iterator[Split]:
        return iter((self.train, self.validation, self.test))


def load_dataset(config: DataConfig) -> Dataset:
    """Load the configured dataset and validate it; raise ``DataError`` with a fix on failure."""
    if config.path is not None:
        assert config.target is not None  # guaranteed by DataConfig validation
        return _load_csv(config.path, config.target, config.task, config.drop_columns)
    assert config.dataset is not None
    return _load_shipped(config.dataset, config.task)


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


def _listing(items: Iterable[str], limit: int = MAX_LISTED) -> str:
    """Join at most ``limit`` items, saying how many more there are."""
    values = list(items)
    more = f" (+{len(values) - limit} more)" if len(values) > limit else ""
    return ", ".join(values[:limit]) + more


def _check_every_class(dataset: Dataset, split: str, labels: pd.Series) -> None:
    """Metrics such as ROC AUC are undefined when a split lacks a class: refuse early."""
    missing = sorted(set(range(len(dataset.labels))) - set(labels.unique()))
    if missing:
        names = _listing(dataset.labels[code] for code in missing)
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
        names = _listing(f"{dataset.labels[int(str(code))]} ({n} rows)" for code, n in rare.items())
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


def _load_csv(path: Path, target: str, task_setting: str, drop: Iterable[str] = ()) -> Dataset:
    frame = _read_csv(path)
    if target not in frame.columns:
        close = difflib.get_close_matches(target, [str(c) for c in frame.columns], n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise DataError(
            f"target column '{target}' is not in {path}.{hint} "
            f"Columns: {_listing(map(str, frame.columns), limit=40)}."
        )
    unknown = [name for name in drop if name not in frame.columns or name == target]
    if unknown:
        raise DataError(
            f"data.drop_columns names {unknown}, which are not feature columns of "
            f"{path}. Columns: {_listing(map(str, frame.columns), limit=40)}."
        )
    labelled = frame[frame[target].notna()]
    if len(labelled) < MIN_ROWS:
        raise DataError(
            f"{path} has {len(labelled)} rows with a target value; at least {MIN_ROWS} are needed."
        )
    cleaned = _clean_features(labelled.drop(columns=[target, *drop]))
    if cleaned.features.shape[1] == 0:
        raise DataError(f"{path} has no usable feature columns besides the target '{target}'.")
    task = _infer_task(labelled[target], task_setting, target)
    encoded, labels = _encode_target(labelled[target], task)
    return Dataset(
        name=path.stem,
        features=cleaned.features,
        target=encoded.rename(target),
        target_name=target,
        task=task,
        labels=labels,
        source=str(path.resolve()),
        source_kind="file",
        dropped_columns=(*drop, *cleaned.dropped),
        dropped_rows=len(frame) - len(labelled),
        column_kinds=cleaned.kinds,
        coerced_values=cleaned.coerced,
        source_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
    )


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"CSV file not found: {path}. Check data.path (relative to {Path.cwd()}).")
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DataError(f"cannot read {path} as CSV: {error}") from None


@dataclass(frozen=True)
class _Cleaned:
    features: pd.DataFrame
    dropped: tuple[str, ...]
    kinds: dict[str, ColumnKind]
    coerced: dict[str, int]


def _clean_features(frame: pd.DataFrame) -> _Cleaned:
    """Normalise column types; drop identifier-like and empty columns; report every decision."""
    columns: dict[str, pd.Series] = {}
    dropped: list[str] = []
    kinds: dict[str, ColumnKind] = {}
    coerced: dict[str, int] = {}
    for name, column in frame.items():
        key = str(name)
        kind, values, bad = _normalise(key, column)
        if values is None:
            dropped.append(key)
            continue
        columns[key], kinds[key] = values, kind
        if bad:
            coerced[key] = bad
    return _Cleaned(pd.DataFrame(columns, index=frame.index), tuple(dropped), kinds, coerced)


def _normalise(name: str, column: pd.Series) -> tuple[ColumnKind, pd.Series | None, int]:
    """(kind, normalised values or None to drop the column, count of values turned missing)."""
    if column.isna().all():
        return "text", None, 0
    if pd.api.types.is_bool_dtype(column):
        return "boolean", _as_text(column), 0
    if pd.api.types.is_numeric_dtype(column):
        integer = pd.api.types.is_integer_dtype(column)
        kind: ColumnKind = "integer" if integer else "float"
        keep = not (integer and _is_identifier(name, column))
        return kind, column.astype("float64") if keep else None, 0
    return _normalise_text(column)


def _normalise_text(column: pd.Series) -> tuple[ColumnKind, pd.Series | None, int]:
    """Numbers with a few typos become numeric (typos -> missing); other text is categorical."""
    parsed = pd.to_numeric(column, errors="coerce")
    present = int(column.notna().sum())
    bad = int((parsed.isna() & column.notna()).sum())
    if present and (present - bad) / present >= NUMERIC_SHARE:
        return "float", parsed.astype("float64"), bad
    text = _as_text(column)
    unique = text.nunique() == len(text)  # a distinct value per row: an identifier
    return "text", None if unique else text, 0


def _as_text(column: pd.Series) -> pd.Series:
    return (
        column.astype("object").where(column.notna(), MISSING_CATEGORY).astype(str).astype(object)
    )


def _is_identifier(name: str, column: pd.Series) -> bool:
    """An integer column with a distinct value per row that counts rows or is named like an id."""
    if column.nunique() != len(column):
        return False
    return bool(column.is_monotonic_increasing or IDENTIFIER_NAME.search(name))


def _infer_task(target: pd.Series, setting: str, name: str) -> Task:
    numeric = pd.api.types.is_numeric_dtype(target) and not pd.api.types.is_bool_dtype(target)
    n_classes = target.nunique()
    _check_numeric_typos(target, name, numeric)
    if n_classes < 2:
        raise DataError(f"target '{name}' has a single value; there is nothing to learn.")
    if setting == "regression":
        if not numeric:
            raise DataError(f"data.task=regression needs a numeric target; '{name}' is not.")
        return "regression"
    if setting in {"binary", "multiclass"}:
        expected: Task = "binary" if n_classes == 2 else "multiclass"
        if setting != expected:
            raise DataError(
                f"data.task={setting} but target '{name}' has {n_classes} classes; "
                f"use data.task={expected} or auto."
            )
        return expected
    integral = numeric and bool(np.all(np.mod(target.to_numpy(dtype=float), 1) == 0))
    if numeric and not (integral and n_classes <= MAX_CLASSES_FOR_AUTO):
        return "regression"
    return "binary" if n_classes == 2 else "multiclass"


def _check_numeric_typos(target: pd.Series, name: str, numeric: bool) -> None:
    """A mostly numeric target with a few strings is a data error, not hundreds of classes."""
    if numeric:
        return
    parsed = pd.to_numeric(target, errors="coerce")
    bad = target[parsed.isna()]
    if len(bad) and (len(target) - len(bad)) / len(target) >= NUMERIC_SHARE:
        samples = _listing(repr(value) for value in bad.astype(str).unique())
        raise DataError(
            f"target '{name}' is numeric except for {len(bad)} value(s): {samples}. Fix or "
            "remove those rows (a target cannot be imputed)."
        )


def _encode_target(target: pd.Series, task: Task) -> tuple[pd.Series, tuple[str, ...]]:
    if task == "regression":
        return target.astype("float64"), ()
    classes = sorted(target.unique(), key=lambda value: (str(type(value)), value))
    codes = {value: code for code, value in enumerate(classes)}
    return target.map(codes).astype("int64"), tuple(_label_text(value) for value in classes)


def _label_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
