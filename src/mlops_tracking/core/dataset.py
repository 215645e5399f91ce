"""What a dataset is: a validated table with an encoded target, and its three splits.

Column conventions that every later stage relies on:

* numeric feature columns are ``float64`` (so a missing value at inference is representable);
* categorical feature columns (text and booleans) are strings, missing values spelled
  ``"missing"``;
* date columns are timezone-naive ``datetime64[ns]`` (missing dates are ``NaT``); the model's
  first preprocessing step turns them into calendar features (``dates.py``), and
  ``Dataset.date_formats`` keeps how the source spelled them;
* ``Dataset.column_kinds`` remembers what each column held in the source file (float, integer,
  boolean, text, date, datetime), so a served model can accept raw values of those types;
* classification targets are integer codes ``0..K-1``; ``Dataset.labels`` holds their names.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import pandas as pd

if TYPE_CHECKING:
    from mlops_tracking.core.dialect import CsvDialect

Task = Literal["binary", "multiclass", "regression"]
SplitName = Literal["train", "validation", "test"]
ColumnKind = Literal["float", "integer", "boolean", "text", "date", "datetime"]
DATE_KINDS = ("date", "datetime")  # datetime: a date column with a time of day

MISSING_CATEGORY = "missing"
MAX_LISTED = 5  # items an error message lists before '(+N more)'


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
    files: dict[str, str] | None = None  # split -> the file it was read from (pipeline data)
    date_formats: dict[str, str] | None = None  # date column -> the format its text was read with
    csv_dialect: CsvDialect | None = None  # how the source CSV was read (None: not a CSV)
    rare_classes: dict[str, int] | None = None  # classes dropped or merged (data.rare_classes)

    @property
    def is_classification(self) -> bool:
        return self.task != "regression"

    def kind(self, column: str) -> ColumnKind:
        kinds = self.column_kinds or {}
        default: ColumnKind = "float"
        if self.features[column].dtype == object:
            default = "text"
        elif pd.api.types.is_datetime64_any_dtype(self.features[column]):
            default = "date"
        return kinds.get(column, default)

    @property
    def categorical_columns(self) -> list[str]:
        return [c for c in self.features.columns if self.features[c].dtype == object]

    @property
    def date_columns(self) -> list[str]:
        return [
            c
            for c in self.features.columns
            if pd.api.types.is_datetime64_any_dtype(self.features[c])
        ]

    @property
    def numeric_columns(self) -> list[str]:
        other = {*self.categorical_columns, *self.date_columns}
        return [c for c in self.features.columns if c not in other]


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


def listing(items: Iterable[str], limit: int = MAX_LISTED) -> str:
    """Join at most ``limit`` items, saying how many more there are."""
    values = list(items)
    more = f" (+{len(values) - limit} more)" if len(values) > limit else ""
    return ", ".join(values[:limit]) + more
