"""Batch inference input and output, without MLflow: check rows against a signature, shape results.

Rows take the signature's types through ``model_input.coerce_rows``, the rules the deployable
model itself runs, so a CSV is read here exactly as the served model reads a request.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mlops_tracking.core.errors import DataError
from mlops_tracking.core.model_input import (
    NUMBER_TYPES,
    InputError,
    coerce_rows,
    training_form,
    unseen_by_row,
    unseen_categories,
)


def read_rows(path: Path) -> pd.DataFrame:
    from mlops_tracking.core.dialect import read_csv

    return read_csv(path, "Check --input")


def check_rows(frame: pd.DataFrame, columns: dict[str, str], origin: str) -> pd.DataFrame:
    """Return ``frame`` reduced to the signature's columns, typed as the signature says.

    ``columns`` maps each input column to its signature type (double, long, boolean, string,
    datetime); ``model_input.coerce_rows`` says what each accepts. Raises ``DataError`` naming
    ``origin`` and a missing column or the first value that cannot take its column's type.
    """
    if frame.empty and all(column in frame.columns for column in columns):
        raise DataError(f"{origin} has no rows to predict")
    try:
        return coerce_rows(frame, columns)
    except InputError as error:
        raise DataError(f"{origin}: {error}") from None


def onnx_feed(
    features: pd.DataFrame, kinds: dict[str, str], names: list[str]
) -> dict[str, np.ndarray]:
    """onnxruntime inputs for rows typed by signature ``kinds`` (see ``export.onnx_inputs``)."""
    from mlops_tracking.core.export import onnx_inputs

    categorical = [column for column, kind in kinds.items() if kind not in NUMBER_TYPES]
    return onnx_inputs(features, list(kinds), categorical, names)


def labelled(proba: np.ndarray, labels: list[str]) -> pd.DataFrame:
    """The deployable model's output shape: ``label`` then ``proba_<label>`` columns."""
    # float32 probabilities can leave [0, 1] by ~1e-7 and rows sum to 1 ± 1e-7
    proba = np.clip(proba, 0.0, 1.0)
    proba = proba / proba.sum(axis=1, keepdims=True)
    output = pd.DataFrame(proba, columns=[f"proba_{label}" for label in labels])
    output.insert(0, "label", [labels[i] for i in np.argmax(proba, axis=1)])
    return output


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class UnseenReport:
    """Categories a batch holds that the model never saw in training, by column."""

    rows: int  # rows with at least one unseen category
    by_column: dict[str, int]  # column -> rows whose value in it is unseen (columns with any)
    values: dict[str, list[str]]  # column -> the distinct unseen values, first SHOWN_VALUES
    per_row: list[str]  # for each row, the columns whose value is unseen ('' when none)

    @property
    def total(self) -> int:
        """Unseen values in the batch (a row counts once per column)."""
        return sum(self.by_column.values())

    @property
    def summary(self) -> str:
        """``island=3, sex=1``: rows per column, or ``none``."""
        return ", ".join(f"{column}={rows}" for column, rows in self.by_column.items()) or "none"

    def describe(self) -> str:
        """One sentence for people: which columns, how many rows, which values."""
        parts = [
            f"{column} ({rows} row{'s' if rows != 1 else ''}: "
            f"{', '.join(map(repr, self.values[column]))})"
            for column, rows in self.by_column.items()
        ]
        return (
            f"{self.rows} row(s) hold categories the model never saw in training, scored as "
            f"none of the known ones: {'; '.join(parts)}"
        )


SHOWN_VALUES = 20


def unseen_report(
    rows: pd.DataFrame, types: dict[str, str], categories: dict[str, list[str]]
) -> UnseenReport:
    """Count ``rows``' (typed by ``check_rows``) categories that are not in ``categories``."""
    features = training_form(rows, types)
    flags = unseen_categories(features, categories)
    by_column = {str(c): int(flags[c].sum()) for c in flags.columns if flags[c].any()}
    values = {
        column: [str(v) for v in features.loc[flags[column], column].unique()[:SHOWN_VALUES]]
        for column in by_column
    }
    return UnseenReport(int(flags.any(axis=1).sum()), by_column, values, unseen_by_row(flags))
