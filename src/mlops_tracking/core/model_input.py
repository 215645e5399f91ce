"""The deployable model's input contract: rows in the signature's types, then in training form.

Every path that scores a deployable model goes through these functions: ``predict`` (a CSV),
the promotion gate (a held-out split rebuilt in training form), ``reproduce`` (the logged model
on the rebuilt test rows) and the model itself, served or loaded (``runs/deployable_model.py``
runs this very file, shipped with each logged model). So an integer, boolean, categorical or
date column is read the same way wherever it is scored.

* ``coerce_rows``: any reasonable spelling of a value, in the type the model's signature
  declares for its column (MLflow refuses, for example, float64 ``1975.0`` for a ``long``
  column). A value that cannot take that type is an ``InputError`` naming the column, the row
  and why.
* ``training_form``: typed rows as the fitted pipeline saw them in training (numbers float64,
  categories text with missing values spelled ``missing``, dates as given).
* ``unseen_categories``: where a categorical value is not among those the encoder learned;
  scikit-learn's encoders would score it silently as "none of the known categories".
* ``check_values``: no rows, a number that is infinite or beyond float32, one far outside
  the training range (``training_ranges``, ``accepted_bounds``) or, by policy, a missing value
  is refused naming column and row; otherwise it says which values the pipeline will impute.
  ``extra_columns`` names the columns a request or CSV holds that the model does not take.

Self-contained on purpose (NumPy and pandas only, nothing else from ``mlops_tracking``): the
logged model loads this file from its own artifacts, so a model keeps the rules it was trained
with, whatever version of the project loads it later.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

MISSING_CATEGORY = "missing"  # the spelling mlops_tracking.core.dataset uses for missing categories
UNSEEN_COLUMN = "unseen_categories"  # the output column naming a row's unseen categories
NUMBER_TYPES = {"double": "float64", "float": "float32", "long": "int64", "integer": "int32"}
# How a deployable model reads each kind of source column (``core/dataset.py``'s kinds). The
# same names as MLflow's signature types, plus ``date``: a date column goes to the pipeline as
# sent (its calendar step reads the training format, ISO 8601 and ``datetime64``).
KIND_TYPES = {
    "float": "double",
    "integer": "long",
    "boolean": "boolean",
    "text": "string",
    "date": "date",
    "datetime": "date",
}
WHOLE_NUMBER_TYPES = {"long", "integer"}
TEXT_TYPES = {"string", "boolean"}  # encoded as categories by the pipeline
_TRUE, _FALSE = {"true", "1", "1.0", "yes"}, {"false", "0", "0.0", "no"}
_DATE_EXAMPLE = "ISO 8601, e.g. 2024-05-31 or 2024-05-31T14:30:00"


class InputError(ValueError):
    """A row cannot be scored: a column is missing, or a value cannot take its column's type."""


def coerce_rows(frame: pd.DataFrame, types: Mapping[str, str]) -> pd.DataFrame:
    """``frame``'s columns named in ``types``, in that order, each in its signature type.

    ``types`` maps a column to its MLflow signature type: ``double``/``float`` (float64/32;
    numbers, numeric text), ``long``/``integer`` (int64/32; whole numbers, also read as
    ``1975.0`` or ``"1975"``), ``boolean`` (True/False/None from booleans, 1/0, true/false,
    yes/no), ``string`` (text; numbers as written, ``3.0`` as ``3``; dates in ISO 8601) and
    ``datetime`` (``datetime64[ns]`` from datetimes or ISO 8601 text); ``date`` keeps text and
    ``datetime64`` as sent (see ``KIND_TYPES``). A column already of its
    type is kept as is, so typed rows cost almost nothing. Raises ``InputError`` for a missing
    column or the first value that cannot take its type; rows are numbered from 1.
    """
    missing = [column for column in types if column not in frame.columns]
    if missing:
        raise InputError(
            f"lacks column(s) {', '.join(map(repr, missing))} that the model expects "
            f"(expected: {', '.join(types)})"
        )
    selected = frame if list(frame.columns) == list(types) else frame[list(types)]
    # A served single row pays ~0.1 ms per pandas call: columns already of their type (a
    # JSON request parsed by MLflow, a typed CSV) are left alone, and an all-typed frame is
    # returned without building a new one.
    pending = [
        column
        for column, dtype in zip(types, selected.dtypes, strict=True)
        if not _typed(selected[column] if dtype.kind == "O" else None, dtype, types[column])
    ]
    if not pending:
        return selected
    coerced = selected.copy()
    for column in pending:
        coerced[column] = _coerce(selected[column], column, types[column])
    return coerced


def _typed(values: pd.Series | None, dtype: Any, kind: str) -> bool:
    """Whether a column of ``dtype`` already holds ``kind`` (``values``: object columns only)."""
    if kind in NUMBER_TYPES:
        return bool(dtype == NUMBER_TYPES[kind])
    if kind == "boolean":
        return pd.api.types.is_bool_dtype(dtype)
    text = values is not None and all(isinstance(v, str) or v is None for v in values)
    if kind == "string":
        return text
    if kind == "datetime":
        return bool(dtype == "datetime64[ns]")
    if kind == "date":
        return text or pd.api.types.is_datetime64_any_dtype(dtype)
    return True  # binary and structured types: MLflow's own enforcement decides


def _coerce(values: pd.Series, column: str, kind: str) -> pd.Series:
    if kind in NUMBER_TYPES:
        return _numbers(values, column, kind)
    if kind == "boolean":
        return _booleans(values, column)
    if kind == "string":
        return _text(values)
    if kind == "datetime":
        return _datetimes(values, column)
    if kind == "date":  # as sent, but text for what is neither text nor a date (20240531)
        return _text(values)
    return values  # binary and structured types: MLflow's own enforcement decides


def _numbers(values: pd.Series, column: str, kind: str) -> pd.Series:
    dtype = np.dtype(NUMBER_TYPES[kind])
    if values.dtype == dtype:
        return values
    whole = kind in WHOLE_NUMBER_TYPES
    if pd.api.types.is_integer_dtype(values) or pd.api.types.is_bool_dtype(values):
        return values.astype(dtype)
    numbers = pd.to_numeric(values, errors="coerce")
    _refuse_first(
        values.notna() & numbers.isna(),
        values,
        f"column {column!r} must be {'a whole number' if whole else 'numeric'} ({kind})",
    )
    if not whole:
        return numbers.astype(dtype)
    _refuse_first(
        numbers.isna(),
        values,
        f"column {column!r} holds whole numbers ({kind}), so it cannot be empty (the model was "
        "trained on a column without missing values; fill the value in, or retrain on data "
        f"where {column!r} has missing values, which declares it double)",
        show=False,
    )
    fraction = np.mod(numbers.to_numpy(dtype="float64"), 1) != 0
    _refuse_first(
        pd.Series(fraction, index=values.index),
        values,
        f"column {column!r} must hold whole numbers ({kind}: the model was trained on integers)",
    )
    return numbers.astype(dtype)


def _booleans(values: pd.Series, column: str) -> pd.Series:
    """True/False (object, None where missing) from booleans, 1/0 and true/false/yes/no text."""
    if pd.api.types.is_bool_dtype(values):
        return values
    text = pd.Series(
        [None if _missing(value) else str(value).strip().lower() for value in values],
        index=values.index,
        dtype=object,
    )
    text = text.where(text != MISSING_CATEGORY, None)  # a boolean in training form
    _refuse_first(
        text.notna() & ~text.isin(_TRUE | _FALSE),
        values,
        f"column {column!r} must be boolean (true/false, 1/0, yes/no)",
    )
    flags = [None if value is None else value in _TRUE for value in text]
    return pd.Series(flags, index=values.index, dtype=object)


def _text(values: pd.Series) -> pd.Series:
    """Text as written (object, None where missing): the categories the pipeline encodes."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return _iso_dates(values)
    if values.dtype == object and all(isinstance(v, str) or v is None for v in values):
        return values
    return pd.Series([_spelled(value) for value in values], index=values.index, dtype=object)


def _spelled(value: Any) -> str | None:
    if _missing(value):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))  # 3.0 is how pandas reads 3 in a column with gaps
    if isinstance(value, datetime.date | np.datetime64):
        return str(_iso_dates(pd.Series([value])).iloc[0])
    return str(value)


def _iso_dates(values: pd.Series) -> pd.Series:
    """ISO 8601 text of dates: the day alone when every value is at midnight."""
    dates = _naive(pd.to_datetime(values))
    with_time = bool((dates.dropna() != dates.dropna().dt.normalize()).any())
    text: pd.Series = dates.dt.strftime("%Y-%m-%dT%H:%M:%S" if with_time else "%Y-%m-%d")
    return text.astype(object).where(dates.notna(), None)


def _datetimes(values: pd.Series, column: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        return _naive(values)
    text = pd.Series([_spelled(value) for value in values], index=values.index, dtype=object)
    parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
    _refuse_first(
        text.notna() & parsed.isna(),
        values,
        f"column {column!r} must hold dates ({_DATE_EXAMPLE})",
    )
    return _naive(parsed)


def _naive(dates: pd.Series) -> pd.Series:
    """``datetime64[ns]`` without a timezone (aware values in UTC), as MLflow's datetime."""
    if isinstance(dates.dtype, pd.DatetimeTZDtype):
        dates = dates.dt.tz_convert(None)
    return dates.astype("datetime64[ns]")


def _missing(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def _refuse_first(bad: pd.Series, values: pd.Series, rule: str, *, show: bool = True) -> None:
    """Raise ``InputError`` for the first row flagged in ``bad`` (numbered from 1)."""
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy(dtype=bool))[0])
        value = values.iloc[row]
        value = value.item() if isinstance(value, np.generic) else value  # 3.5, not np.float64
        held = f" but row {row + 1} holds {value!r}" if show else f" (row {row + 1})"
        raise InputError(rule + held)


def training_form(rows: pd.DataFrame, types: Mapping[str, str]) -> pd.DataFrame:
    """Coerced rows as the pipeline saw them in training: numbers float64, categories text.

    Missing categories become ``missing``, as in training; dates (``date``, ``datetime``) pass
    as they are (the pipeline's calendar step reads text and ``datetime64`` alike).
    """
    numeric = [column for column, kind in types.items() if kind in NUMBER_TYPES]
    # One conversion for all numeric columns: per-column pandas calls cost ~0.1 ms each,
    # which dominates a single-row request.
    numbers = rows[numeric].to_numpy(dtype="float64") if numeric else None
    if numbers is not None and len(numeric) == len(types):  # one block, no per-column frame
        return pd.DataFrame(numbers, columns=numeric, index=rows.index)
    prepared: dict[str, Any] = {}
    for column, kind in types.items():
        if kind in TEXT_TYPES:
            values = rows[column]
            text = values.astype(object).where(values.notna(), MISSING_CATEGORY)
            prepared[column] = text.astype(str).astype(object).to_numpy()
        elif numbers is not None and kind in NUMBER_TYPES:
            prepared[column] = numbers[:, numeric.index(column)]
        else:
            prepared[column] = rows[column].to_numpy()
    return pd.DataFrame(prepared, index=rows.index)


def unseen_categories(
    features: pd.DataFrame, categories: Mapping[str, Sequence[Any]]
) -> pd.DataFrame:
    """Flags (rows x categorical columns): the value is not among the training categories.

    ``features`` are in training form; ``categories`` are the encoder's ``categories_`` by
    column, as recorded when the model was logged. Columns absent from ``features`` are left out.
    """
    flags = {
        column: ~features[column].isin(list(known))
        for column, known in categories.items()
        if column in features.columns
    }
    return pd.DataFrame(flags, index=features.index, dtype=bool)


def unseen_by_row(flags: pd.DataFrame) -> list[str]:
    """For each row, the columns whose value is unseen, comma-separated ('' when none)."""
    columns = list(flags.columns)
    return [
        ", ".join(c for c, unseen in zip(columns, row, strict=True) if unseen)
        for row in flags.to_numpy()
    ]


# What a served or predicted row must satisfy beyond its types (issue: a row with 1e39, 1e300
# or Infinity scored NaN probabilities with HTTP 200). float32's largest value bounds every
# number: the ONNX graph computes in float32, where 1e39 is already infinite.
FLOAT32_MAX = float(np.finfo(np.float32).max)
MISSING_POLICIES = ("impute_and_report", "refuse")
EXTRA_COLUMN_POLICIES = ("refuse", "ignore_and_report")
IMPUTED_COLUMN = "imputed"  # the output column naming a row's imputed (missing) columns
BEYOND_FLOAT32 = "is not a finite number the model can take (at most 3.4e38 in size)"


def training_ranges(features: pd.DataFrame, types: Mapping[str, str]) -> dict[str, list[float]]:
    """``[min, max]`` of each numeric column over the training rows, recorded with the model.

    Columns without a finite value are left out (no range to compare with).
    """
    ranges: dict[str, list[float]] = {}
    for column, kind in types.items():
        if kind in NUMBER_TYPES and column in features.columns:
            values = pd.to_numeric(features[column], errors="coerce").to_numpy(dtype="float64")
            finite = values[np.isfinite(values)]
            if finite.size:
                ranges[column] = [float(finite.min()), float(finite.max())]
    return ranges


def accepted_bounds(
    ranges: Mapping[str, Sequence[float]], tolerance: float
) -> dict[str, tuple[float, float]]:
    """The values each column accepts: the training range widened by ``tolerance`` spans.

    ``[min - k * span, max + k * span]`` with ``k = tolerance`` and ``span = max - min`` (a
    constant column's span is ``max(|max|, 1)``). A negative tolerance turns the rule off.
    """
    if tolerance < 0:
        return {}
    bounds = {}
    for column, (low, high) in ranges.items():
        span = (high - low) or max(abs(high), 1.0)
        bounds[column] = (low - tolerance * span, high + tolerance * span)
    return bounds


def check_values(
    rows: pd.DataFrame,
    types: Mapping[str, str],
    bounds: Mapping[str, tuple[float, float]] | None = None,
    missing_values: str = "impute_and_report",
    ranges: Mapping[str, Sequence[float]] | None = None,
) -> dict[str, list[int]]:
    """Refuse rows the model cannot score faithfully; return what will be imputed.

    ``rows`` are typed by ``coerce_rows``. Raises ``InputError`` naming column and row (from 1)
    for: no rows; a number that is infinite or beyond float32 (``|x| > 3.4e38``); a number
    outside ``bounds`` (``accepted_bounds``; columns without bounds are not checked); a missing
    value when ``missing_values`` is ``refuse``. Otherwise returns, by column, the rows whose
    value is missing (the pipeline imputes them), empty when none.
    """
    if len(rows) == 0:
        raise InputError("holds no rows to score")
    numeric = [column for column, kind in types.items() if kind in NUMBER_TYPES]
    # one block for all numeric columns: per-column pandas calls cost ~0.1 ms each on one row
    whole = numeric == list(rows.columns)
    block = rows if whole else rows[numeric]
    numbers = block.to_numpy(dtype="float64") if numeric else np.empty((len(rows), 0))
    empty = np.isnan(numbers)
    size = np.abs(np.where(empty, 0.0, numbers))
    if not (size <= FLOAT32_MAX).all():
        _refuse_cell(~(size <= FLOAT32_MAX), numbers, numeric, BEYOND_FLOAT32)
    if bounds:
        low = np.array([bounds.get(c, (-np.inf, np.inf))[0] for c in numeric])
        high = np.array([bounds.get(c, (-np.inf, np.inf))[1] for c in numeric])
        outside = (numbers < low) | (numbers > high)  # NaN compares False: not outside
        if outside.any():
            _refuse_range(outside, numbers, numeric, bounds, ranges or {})
    missing = {}
    if empty.any():
        missing = {column: np.flatnonzero(empty[:, i]) for i, column in enumerate(numeric)}
    for column in types:
        if column not in numeric:
            missing[column] = np.flatnonzero(rows[column].isna().to_numpy())
    imputed = {column: [int(r) + 1 for r in at] for column, at in missing.items() if at.size}
    if imputed and missing_values == "refuse":
        column, at = next(iter(imputed.items()))
        raise InputError(
            f"column {column!r} row {at[0]} is empty, and missing values are refused "
            "(serving.missing_values: refuse); fill it in"
        )
    return imputed


def _refuse_cell(bad: np.ndarray, numbers: np.ndarray, columns: list[str], rule: str) -> None:
    if bad.any():
        row, index = (int(i) for i in np.argwhere(bad)[0])
        value = float(numbers[row, index])
        raise InputError(f"column {columns[index]!r} row {row + 1} holds {value!r}, which {rule}")


def _refuse_range(
    outside: np.ndarray,
    numbers: np.ndarray,
    columns: list[str],
    bounds: Mapping[str, tuple[float, float]],
    ranges: Mapping[str, Sequence[float]],
) -> None:
    row, index = (int(i) for i in np.argwhere(outside)[0])
    column = columns[index]
    low, high = bounds[column]
    seen = ranges.get(column)
    trained = f"training saw {seen[0]:g} to {seen[1]:g}; " if seen else ""
    raise InputError(
        f"column {column!r} row {row + 1} holds {float(numbers[row, index])!r}, far outside "
        f"the range seen in training ({trained}accepted: {low:g} to {high:g})"
    )


def extra_columns(
    columns: Sequence[str], expected: Sequence[str], ignored: Sequence[str] = ()
) -> list[str]:
    """The columns of a request or a CSV that the model does not take, except ``ignored``.

    ``ignored`` are the columns training dropped on purpose (the target, the configured
    ``data.drop_columns``): a CSV of the training table may hold them.
    """
    known = set(expected) | set(ignored)
    return [column for column in columns if column not in known]


def imputed_by_row(imputed: Mapping[str, Sequence[int]], rows: int) -> list[str]:
    """For each of ``rows`` rows, the columns whose missing value was imputed ('' when none)."""
    named: list[list[str]] = [[] for _ in range(rows)]
    for column, at in imputed.items():
        for row in at:
            named[row - 1].append(column)
    return [", ".join(columns) for columns in named]


def describe_imputed(imputed: Mapping[str, Sequence[int]], shown: int = 10) -> str:
    """``'age' rows 2, 5; 'income' row 3``: where missing values were imputed."""
    parts = []
    for column, at in imputed.items():
        listed = ", ".join(map(str, at[:shown])) + (
            f" (+{len(at) - shown} more)" if len(at) > shown else ""
        )
        parts.append(f"{column!r} row{'s' if len(at) > 1 else ''} {listed}")
    return "; ".join(parts)
