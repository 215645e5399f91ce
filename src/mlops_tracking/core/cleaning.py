"""Read a user's CSV into a ``Dataset``: clean it openly, infer the task, encode the target.

A CSV is cleaned, not guessed at silently. Identifier columns are dropped, a numeric column
with a few stray strings is parsed as numbers (the strings become missing values), booleans
become categories, and every such decision is reported on the ``Dataset``.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mlops_tracking.core.dataset import MISSING_CATEGORY, ColumnKind, Dataset, Task, listing
from mlops_tracking.core.errors import DataError

MIN_ROWS = 30
MAX_CLASSES_FOR_AUTO = 10
NUMERIC_SHARE = 0.95  # a text column that parses as numbers this often is numeric with typos
IDENTIFIER_NAME = re.compile(r"(^|[_\s-])(id|uuid|key|index)$|^id[_\s-]|[a-z]Id$", re.IGNORECASE)


def load_csv(path: Path, target: str, task_setting: str, drop: Iterable[str] = ()) -> Dataset:
    frame = read_csv(path)
    if target not in frame.columns:
        close = difflib.get_close_matches(target, [str(c) for c in frame.columns], n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise DataError(
            f"target column '{target}' is not in {path}.{hint} "
            f"Columns: {listing(map(str, frame.columns), limit=40)}."
        )
    unknown = [name for name in drop if name not in frame.columns or name == target]
    if unknown:
        raise DataError(
            f"data.drop_columns names {unknown}, which are not feature columns of "
            f"{path}. Columns: {listing(map(str, frame.columns), limit=40)}."
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


def read_csv(path: Path, hint: str = "Check data.path") -> pd.DataFrame:
    """Read a CSV file; a missing or unreadable file is a ``DataError`` ending with ``hint``."""
    if not path.is_file():
        raise DataError(f"CSV file not found: {path}. {hint} (relative to {Path.cwd()}).")
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
    """Normalise column types; drop identifier-like, empty and constant columns; report each."""
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
    if column.isna().all() or column.nunique(dropna=False) == 1:  # empty or constant: no signal
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
        samples = listing(repr(value) for value in bad.astype(str).unique())
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
