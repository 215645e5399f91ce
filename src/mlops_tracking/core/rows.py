"""Batch inference input and output, without MLflow: check rows against a signature, shape results.

The deployable model normalises input the same way (``runs/deployable_model.py`` must stay
self-contained, so it keeps its own copy of ``normalise``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from mlops_tracking.core.errors import DataError

MISSING_CATEGORY = "missing"
NUMERIC = {"double", "float", "long", "integer"}


def read_rows(path: Path) -> pd.DataFrame:
    from mlops_tracking.core.dialect import read_csv

    return read_csv(path, "Check --input")


def check_rows(frame: pd.DataFrame, columns: dict[str, str], origin: str) -> pd.DataFrame:
    """Return ``frame`` reduced to the signature's columns, typed as the signature says.

    ``columns`` maps each input column to its signature type (double, long, boolean, string).
    Raises ``DataError`` naming a missing column or the first value of the wrong type.
    """
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise DataError(
            f"{origin} lacks column(s) {', '.join(map(repr, missing))} that the model expects "
            f"(expected: {', '.join(columns)})"
        )
    if frame.empty:
        raise DataError(f"{origin} has no rows to predict")
    checked = {}
    for column, kind in columns.items():
        values = frame[column]
        if kind in NUMERIC:
            numbers = pd.to_numeric(values, errors="coerce")
            bad = values.notna() & numbers.isna()
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                raise DataError(
                    f"{origin}: column {column!r} must be numeric ({kind}) but row {row + 1} "
                    f"holds {values.iloc[row]!r}"
                )
            checked[column] = (
                _integers(numbers, column, origin)
                if kind in {"long", "integer"}
                else numbers.astype("float64")
            )
        elif kind == "boolean":
            checked[column] = _booleans(values, column, origin)
        else:
            checked[column] = values.astype(object).where(values.notna(), None)
    return pd.DataFrame(checked, index=frame.index)


def _integers(numbers: pd.Series, column: str, origin: str) -> pd.Series:
    if numbers.isna().any() or not np.all(np.mod(numbers.to_numpy(dtype=float), 1) == 0):
        raise DataError(
            f"{origin}: column {column!r} must hold whole numbers (the model was trained on "
            "integers) and no missing values"
        )
    return numbers.astype("int64")


_TRUE, _FALSE = {"true", "1", "1.0", "yes"}, {"false", "0", "0.0", "no"}


def _booleans(values: pd.Series, column: str, origin: str) -> pd.Series:
    """True/False from booleans, 1/0 (also read as 1.0/0.0) and true/false/yes/no text."""
    text = pd.Series(
        [None if pd.isna(value) else str(value).strip().lower() for value in values],
        index=values.index,
        dtype=object,
    )
    bad = text.notna() & ~text.isin(_TRUE | _FALSE)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"{origin}: column {column!r} must be boolean (true/false, 1/0, yes/no) but row "
            f"{row + 1} holds {values.iloc[row]!r}"
        )
    flags = [None if value is None else value in _TRUE for value in text]
    return pd.Series(flags, index=values.index, dtype=object)


def normalise(frame: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    """Rows as the pipeline saw them in training: numbers float64, categories text."""
    prepared = {}
    for column, kind in kinds.items():
        values = frame[column]
        if kind in NUMERIC:
            prepared[column] = values.astype("float64")
        else:
            text = values.astype(object).where(values.notna(), MISSING_CATEGORY)
            prepared[column] = text.astype(str).astype(object)
    return pd.DataFrame(prepared, index=frame.index)


def onnx_feed(
    features: pd.DataFrame, kinds: dict[str, str], names: list[str]
) -> dict[str, np.ndarray]:
    """onnxruntime inputs for rows typed by signature ``kinds`` (see ``export.onnx_inputs``)."""
    from mlops_tracking.core.export import onnx_inputs

    categorical = [column for column, kind in kinds.items() if kind not in NUMERIC]
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
