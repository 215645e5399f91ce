"""Date columns: recognise them in a table and turn them into calendar features.

A date is not an identifier: its year, month and weekday often carry signal (seasons, weekly
cycles). ``CalendarFeatures`` is the first step of the preprocessing of a table with dates, so
a logged model takes the raw date column, as text (the CSV's own spelling) or ``datetime64``.

Self-contained on purpose (NumPy, pandas and scikit-learn only, nothing else from
``mlops_tracking``): a pipeline with this step needs the module wherever it is loaded, so the
module ships with every logged model that contains it (MLflow's ``code_paths``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

DATE_SHARE = 0.95  # a text column is a date column when this share of its values parses
SAMPLE_VALUES = 200  # distinct values tried against each format before parsing the column
ISO_8601 = "ISO8601"  # pandas' name for any ISO 8601 spelling, with or without a time
_DAY_FORMATS = (
    "%Y/%m/%d",
    "%m/%d/%Y",  # before %d/%m/%Y: a table whose days are all <= 12 reads month first
    "%d/%m/%Y",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%b %d %Y",
    "%b %d, %Y",
    "%d %b %Y",
    "%B %d %Y",
    "%B %d, %Y",
    "%d %B %Y",
)
_TIME_FORMATS = ("", " %H:%M", " %H:%M:%S")
# ISO 8601 last: pandas reads it leniently (2012/01/31 too), and a table is better described,
# and its raw rows better spelled, by the exact format it uses.
DATE_FORMATS = (*(day + time for day in _DAY_FORMATS for time in _TIME_FORMATS), ISO_8601)
DATE_PARTS = ("year", "month", "day", "day_of_week", "day_of_year")
HOUR_PART = "hour"


def detect_format(values: pd.Series) -> str | None:
    """The format that parses the most of a sample of ``values``, if it parses enough of them.

    Returns None when no format reaches ``DATE_SHARE``; ties go to the earlier format of
    ``DATE_FORMATS``.
    """
    present = values[values.notna()]
    if present.empty:
        return None
    sample = pd.Series(present.astype(str).unique()[:SAMPLE_VALUES], dtype=object)
    best, best_share = None, 0.0
    for candidate in DATE_FORMATS:
        share = float(_parse(sample, candidate).notna().mean())
        if share > best_share:
            best, best_share = candidate, share
    return best if best_share >= DATE_SHARE else None


def parse_dates(values: Any, date_format: str) -> pd.Series:
    """Timezone-naive ``datetime64[ns]`` values (UTC for aware ones); unparseable -> NaT.

    Text is read with ``date_format`` and, failing that, as ISO 8601 (how a ``datetime64``
    value is spelled once it went through JSON or ``str``).
    """
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    if pd.api.types.is_datetime64_any_dtype(series):
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            series = series.dt.tz_convert(None)
        return series.astype("datetime64[ns]")
    text = pd.Series(
        [None if _is_missing(value) else str(value).strip() for value in series],
        index=series.index,
        dtype=object,
    )
    parsed = _parse(text, date_format)
    if date_format != ISO_8601:
        retry = parsed.isna() & text.notna()
        if retry.any():
            parsed[retry] = _parse(text[retry], ISO_8601)
    return parsed


def _parse(text: pd.Series, date_format: str) -> pd.Series:
    parsed = pd.to_datetime(text, format=date_format, errors="coerce", utc=True)
    return parsed.dt.tz_convert(None).astype("datetime64[ns]")


def _is_missing(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def has_time(dates: pd.Series) -> bool:
    """Whether any date carries a time of day other than midnight."""
    present = dates.dropna()
    return bool((present != present.dt.normalize()).any())


CALENDAR_PARTS = (*DATE_PARTS, HOUR_PART)


class CalendarFeatures(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Replace each date column by its calendar parts, as float64 (NaN where a date is missing).

    ``columns[i]`` is read with ``formats[i]`` (text) or taken as is (``datetime64``) and becomes
    ``<column>_year``, ``_month``, ``_day``, ``_day_of_week`` (Monday = 0), ``_day_of_year`` and
    ``_hour``: those of them that vary in the training rows (``parts_``), so a table of one
    year has no year, and a column without times of day no hour. Other columns pass through
    unchanged, in place.
    """

    def __init__(self, columns: tuple[str, ...] = (), formats: tuple[str, ...] = ()) -> None:
        self.columns = columns
        self.formats = formats

    def fit(self, X: pd.DataFrame, y: Any = None) -> CalendarFeatures:
        if len(self.columns) != len(self.formats):
            raise ValueError("columns and formats must have one entry per date column")
        self._check_columns(X)
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        self.parts_: dict[str, tuple[str, ...]] = {}
        for column, date_format in zip(self.columns, self.formats, strict=True):
            dates = parse_dates(X[column], date_format)
            self.parts_[column] = tuple(
                part for part in CALENDAR_PARTS if _part(dates, part).nunique() > 1
            )
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        self._check_columns(X)
        formats = dict(zip(self.columns, self.formats, strict=True))
        output: dict[str, Any] = {}
        for column in X.columns:
            if column not in formats:
                output[column] = X[column]
                continue
            dates = parse_dates(X[column], formats[column])
            for part in self.parts_[column]:
                output[f"{column}_{part}"] = _part(dates, part)
        return pd.DataFrame(output, index=X.index)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The output columns: a date column's parts take its place, in the input order."""
        names = self.feature_names_in_ if input_features is None else input_features
        out: list[str] = []
        for name in map(str, names):
            parts = self.parts_.get(name)
            out.extend([name] if parts is None else [f"{name}_{part}" for part in parts])
        return np.asarray(out, dtype=object)

    def _check_columns(self, X: Any) -> None:
        if not isinstance(X, pd.DataFrame):
            raise TypeError("CalendarFeatures needs a DataFrame (it selects date columns by name)")
        missing = [column for column in self.columns if column not in X.columns]
        if missing:
            raise ValueError(f"input lacks date column(s): {', '.join(missing)}")


def _part(dates: pd.Series, part: str) -> pd.Series:
    values: pd.Series = getattr(dates.dt, part)
    return values.astype("float64")
