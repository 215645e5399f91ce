"""Read a user's CSV into a ``Dataset``: clean it openly, infer the task, encode the target.

A CSV is cleaned, not guessed at silently. Its separator and decimal mark are sniffed unless
configured (``dialect.py``), identifier columns are dropped, a numeric column with a few stray
strings is parsed as numbers (the strings become missing values), text that reads as dates
becomes a date column (``dates.py``), booleans become categories, and every such decision is
reported on the ``Dataset``.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from mlops_tracking.core.config import DataConfig
from mlops_tracking.core.dataset import MISSING_CATEGORY, ColumnKind, Dataset, Task, listing
from mlops_tracking.core.dialect import (
    CsvDialect,
    check_file,
    read_csv,
    resolve_dialect,
    separator_hint,
)
from mlops_tracking.core.errors import DataError

MIN_ROWS = 30
MAX_CLASSES_FOR_AUTO = 10
NUMERIC_SHARE = 0.95  # a text column that parses as numbers this often is numeric with typos
IDENTIFIER_NAME = re.compile(r"(^|[_\s-])(id|uuid|key|index)$|^id[_\s-]|[a-z]Id$", re.IGNORECASE)


def load_csv(path: Path, config: DataConfig, target: str | None = None) -> Dataset:
    """Read, check and clean the CSV at ``path`` as ``config`` says (``target`` overrides it)."""
    target = target or config.target
    assert target is not None  # guaranteed by DataConfig validation
    dialect = _dialect(path, config)
    frame = read_csv(path, dialect=dialect)
    _check_columns(frame, path, target, config, dialect)
    labelled = frame[frame[target].notna()]
    if len(labelled) < MIN_ROWS:
        raise DataError(
            f"{path} has {len(labelled)} rows with a target value; at least {MIN_ROWS} are needed."
        )
    features = labelled.drop(columns=[target, *config.drop_columns])
    cleaned = _clean_features(features, _date_setting(config), dialect.decimal)
    if cleaned.features.shape[1] == 0:
        raise DataError(f"{path} has no usable feature columns besides the target '{target}'.")
    task = _infer_task(labelled[target], config.task, target)
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
        dropped_columns=(*config.drop_columns, *cleaned.dropped),
        dropped_rows=len(frame) - len(labelled),
        column_kinds=cleaned.kinds,
        coerced_values=cleaned.coerced,
        source_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        date_formats=cleaned.date_formats,
        csv_dialect=dialect,
    )


def _dialect(path: Path, config: DataConfig) -> CsvDialect:
    check_file(path, "Check data.path")
    return resolve_dialect(path, config.sep, config.decimal)


def _check_columns(
    frame: pd.DataFrame, path: Path, target: str, config: DataConfig, dialect: CsvDialect
) -> None:
    """The target, the dropped and the declared date columns must be columns of the file."""
    columns = [str(c) for c in frame.columns]
    shown = listing(columns, limit=40)
    if target not in frame.columns:
        close = difflib.get_close_matches(target, columns, n=1)
        hint = separator_hint(columns, dialect) or (f" Did you mean '{close[0]}'?" if close else "")
        raise DataError(f"target column '{target}' is not in {path}.{hint} Columns: {shown}.")
    for key, names in (
        ("data.drop_columns", config.drop_columns),
        ("data.date_columns", _declared_dates(config)),
    ):
        unknown = [name for name in names if name not in frame.columns or name == target]
        if unknown:
            raise DataError(
                f"{key} names {unknown}, which are not feature columns of {path}. Columns: {shown}."
            )
    dropped_dates = sorted(set(_declared_dates(config)) & set(config.drop_columns))
    if dropped_dates:
        raise DataError(
            f"data.date_columns and data.drop_columns both name {dropped_dates}; "
            "keep each column in one of them."
        )


def _declared_dates(config: DataConfig) -> tuple[str, ...]:
    return () if config.date_columns == "auto" else config.date_columns


def _date_setting(config: DataConfig) -> tuple[str, ...] | None:
    """None: detect date columns; else exactly the declared ones are dates."""
    return None if config.date_columns == "auto" else config.date_columns


@dataclass(frozen=True)
class _Cleaned:
    features: pd.DataFrame
    dropped: tuple[str, ...]
    kinds: dict[str, ColumnKind]
    coerced: dict[str, int]
    date_formats: dict[str, str]


class _Column(NamedTuple):
    kind: ColumnKind
    values: pd.Series | None  # None: drop the column
    made_missing: int = 0  # values that could not be read as the column's kind
    date_format: str = ""


def _clean_features(frame: pd.DataFrame, dates: tuple[str, ...] | None, decimal: str) -> _Cleaned:
    """Normalise column types; drop identifier-like, empty and constant columns; report each.

    ``dates`` None detects date columns among the text ones; a tuple names them all.
    """
    columns: dict[str, pd.Series] = {}
    dropped: list[str] = []
    kinds: dict[str, ColumnKind] = {}
    coerced: dict[str, int] = {}
    formats: dict[str, str] = {}
    for name, values in frame.items():
        key = str(name)
        if dates is not None and key in dates:
            column = _declared_date(key, values)
        else:
            column = _normalise(key, values, detect_dates=dates is None, decimal=decimal)
        if column.values is None:
            dropped.append(key)
            continue
        columns[key], kinds[key] = column.values, column.kind
        if column.made_missing:
            coerced[key] = column.made_missing
        if column.date_format:
            formats[key] = column.date_format
    features = pd.DataFrame(columns, index=frame.index)
    _check_derived_names(features, formats)
    return _Cleaned(features, tuple(dropped), kinds, coerced, formats)


def _normalise(name: str, column: pd.Series, detect_dates: bool, decimal: str) -> _Column:
    """The column's kind and values as training uses them (None: drop it)."""
    if column.isna().all() or column.nunique(dropna=False) == 1:  # empty or constant: no signal
        return _Column("text", None)
    if pd.api.types.is_bool_dtype(column):
        return _Column("boolean", _as_text(column))
    if pd.api.types.is_numeric_dtype(column):
        integer = pd.api.types.is_integer_dtype(column)
        keep = not (integer and _is_identifier(name, column))
        return _Column(
            "integer" if integer else "float", column.astype("float64") if keep else None
        )
    return _normalise_text(column, detect_dates, decimal)


def _normalise_text(column: pd.Series, detect_dates: bool, decimal: str) -> _Column:
    """Numbers with a few typos become numeric (typos -> missing), text that reads as dates a
    date column (unreadable dates -> missing); other text is categorical."""
    spelled = column.astype(object).str.replace(",", ".", regex=False) if decimal == "," else column
    parsed = pd.to_numeric(spelled, errors="coerce")
    present = int(column.notna().sum())
    bad = int((parsed.isna() & column.notna()).sum())
    if present and (present - bad) / present >= NUMERIC_SHARE:
        return _Column("float", parsed.astype("float64"), bad)
    dates = _as_dates(column) if detect_dates else None
    if dates is not None:
        return dates
    text = _as_text(column)
    unique = text.nunique() == len(text)  # a distinct value per row: an identifier
    return _Column("text", None if unique else text)


def _as_dates(column: pd.Series) -> _Column | None:
    """The column as dates (date, or datetime when a time of day is set), if it reads so."""
    from mlops_tracking.core.dates import DATE_SHARE, detect_format, has_time, parse_dates

    date_format = detect_format(column)
    if date_format is None:
        return None
    dates = parse_dates(column, date_format)
    present = int(column.notna().sum())
    bad = int((dates.isna() & column.notna()).sum())
    if (present - bad) / present < DATE_SHARE:
        return None
    return _Column("datetime" if has_time(dates) else "date", dates, bad, date_format)


def _declared_date(name: str, column: pd.Series) -> _Column:
    """A column ``data.date_columns`` names: it must read as dates."""
    found = _as_dates(column)
    if found is None:
        samples = listing(repr(value) for value in column.dropna().astype(str).unique())
        raise DataError(
            f"data.date_columns names '{name}', but its values do not read as dates ({samples}). "
            "Write them as ISO 8601 (2024-01-31 or 2024-01-31 08:30), or remove the column "
            "from data.date_columns."
        )
    return found


def _check_derived_names(features: pd.DataFrame, formats: dict[str, str]) -> None:
    """A date column's parts are named ``<column>_year``...: they must not clash with a column."""
    from mlops_tracking.core.dates import CALENDAR_PARTS

    clashes = [
        f"{column}_{part}"
        for column in formats
        for part in CALENDAR_PARTS
        if f"{column}_{part}" in features.columns
    ]
    if clashes:
        raise DataError(
            f"the calendar features of date column(s) {listing(formats)} would replace the "
            f"existing column(s) {listing(clashes)}; rename or drop those (data.drop_columns)."
        )


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
