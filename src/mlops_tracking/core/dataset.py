"""What a dataset is: a validated table with an encoded target, and its three splits.

Column conventions that every later stage relies on:

* numeric feature columns are ``float64`` (so a missing value at inference is representable);
* categorical feature columns (text and booleans) are strings, missing values spelled
  ``"missing"``;
* ``Dataset.column_kinds`` remembers what each column held in the source file (float, integer,
  boolean, text), so a served model can accept raw values of those types;
* classification targets are integer codes ``0..K-1``; ``Dataset.labels`` holds their names.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

import pandas as pd

Task = Literal["binary", "multiclass", "regression"]
SplitName = Literal["train", "validation", "test"]
ColumnKind = Literal["float", "integer", "boolean", "text"]

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


def listing(items: Iterable[str], limit: int = MAX_LISTED) -> str:
    """Join at most ``limit`` items, saying how many more there are."""
    values = list(items)
    more = f" (+{len(values) - limit} more)" if len(values) > limit else ""
    return ", ".join(values[:limit]) + more
