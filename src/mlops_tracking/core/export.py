"""Portable forms of a fitted pipeline: skops trust lists, ONNX conversion and parity checks."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

# skops refuses to load any type not on a trust list. Trusting types found in our own freshly
# fitted pipeline is safe only if they come from the libraries we fit with, or are the
# project's own transformers, whose module ships with the model (``own_modules``).
TRUSTED_MODULE_PREFIXES = ("sklearn.", "numpy.", "scipy.")
OWN_TYPES = ("mlops_tracking.core.dates.CalendarFeatures",)


class ExportError(RuntimeError):
    """A fitted pipeline could not be exported faithfully."""


@dataclass(frozen=True)
class SkopsExport:
    """A pipeline serialised with skops, and the types a loader must trust to read it back."""

    data: bytes
    trusted_types: list[str]


def to_skops(pipeline: Pipeline) -> SkopsExport:
    """Serialise ``pipeline`` once with skops and list the types it needs trusted.

    Tree ensembles, boosting predictors and the MLP's optimiser are not on skops' default
    allow-list. Raises ``ExportError`` if a type comes from outside scikit-learn, NumPy or SciPy.
    """
    import skops.io

    data = skops.io.dumps(pipeline)
    untrusted = skops.io.get_untrusted_types(data=data)
    foreign = [
        name
        for name in untrusted
        if not name.startswith(TRUSTED_MODULE_PREFIXES) and name not in OWN_TYPES
    ]
    if foreign:
        raise ExportError(f"pipeline contains types skops should not trust blindly: {foreign}")
    return SkopsExport(data, sorted(untrusted))


def own_modules(trusted_types: list[str]) -> list[str]:
    """The project's modules a pipeline needs to load (its own transformers), e.g. the
    calendar step's ``mlops_tracking.core.dates``; a logged model must ship them."""
    return sorted({name.rpartition(".")[0] for name in trusted_types if name in OWN_TYPES})


@dataclass(frozen=True)
class OnnxExport:
    """An ONNX graph of the whole pipeline and how to feed it from a DataFrame."""

    model: Any
    columns: tuple[str, ...]
    categorical: tuple[str, ...]
    single_input: bool
    input_names: tuple[str, ...] = ()  # per-column ONNX input names, in column order

    def feed(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        """Build the onnxruntime input dict for rows of ``X``."""
        names = ["X"] if self.single_input else list(self.input_names)
        return onnx_inputs(X, list(self.columns), list(self.categorical), names)


def onnx_inputs(
    X: pd.DataFrame, columns: list[str], categorical: list[str], names: list[str]
) -> dict[str, np.ndarray]:
    """onnxruntime inputs for rows of ``X``: with one input name, one float32 matrix of
    ``columns``; otherwise one ``(n, 1)`` array per column, text for ``categorical`` ones."""
    if len(names) == 1:
        return {names[0]: X.loc[:, columns].to_numpy(dtype=np.float32)}
    feed = {}
    for column, name in zip(columns, names, strict=True):
        values = X[column].to_numpy().reshape(-1, 1)
        feed[name] = values.astype(str) if column in categorical else values.astype(np.float32)
    return feed


def to_onnx(pipeline: Pipeline, X_sample: pd.DataFrame, categorical: list[str]) -> OnnxExport:
    """Convert the whole fitted pipeline (preprocessing included) to ONNX.

    All-numeric tables become one float tensor ``X``; tables with categorical columns get one
    input per column, as ONNX has no mixed-type tensors. Classifiers output ``label`` and a
    ``probabilities`` matrix (no ZipMap, so the output is an array and not a list of dicts).
    """
    from skl2onnx import to_onnx as convert
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    columns = tuple(str(c) for c in X_sample.columns)
    options = {id(pipeline[-1]): {"zipmap": False}} if hasattr(pipeline[-1], "classes_") else None
    initial: list[tuple[str, Any]] = [("X", FloatTensorType([None, len(columns)]))]
    if categorical:
        initial = [
            (c, StringTensorType([None, 1]) if c in categorical else FloatTensorType([None, 1]))
            for c in columns
        ]
    with warnings.catch_warnings():
        # skl2onnx 1.20 writes Python bools into integer attributes of tree ensembles; protobuf
        # 6 accepts them with this warning (and protobuf 7 refuses them outright).
        warnings.filterwarnings("ignore", message="Field onnx.AttributeProto.ints")
        model = convert(
            pipeline,
            None,
            initial_types=initial,
            options=options,
            target_opset={"": 18, "ai.onnx.ml": 3},
        )
    # skl2onnx renames inputs whose column names are not valid identifiers ("amount ($)" ->
    # "amount____"); the graph keeps them in the order given, so map columns to them by position.
    names = tuple(graph_input.name for graph_input in model.graph.input)
    return OnnxExport(
        model, columns, tuple(categorical), single_input=not categorical, input_names=names
    )


@dataclass(frozen=True)
class OnnxParity:
    max_abs_diff: float
    label_agreement: float


def onnx_session(export: OnnxExport, threads: int = 0) -> Any:
    """An onnxruntime session; ``threads`` sizes its intra-op pool (0: onnxruntime's default)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(
        export.model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def onnx_parity(
    export: OnnxExport, pipeline: Pipeline, X: pd.DataFrame, threads: int = 0
) -> OnnxParity:
    """Compare onnxruntime against scikit-learn on ``X``: probabilities (or values) and labels."""
    outputs = onnx_session(export, threads).run(None, export.feed(X))
    if hasattr(pipeline[-1], "classes_"):
        labels, proba = outputs
        expected = pipeline.predict_proba(X)
        diff = float(np.max(np.abs(np.asarray(proba) - expected)))
        agreement = float(np.mean(np.asarray(labels).ravel() == pipeline.predict(X)))
        return OnnxParity(diff, agreement)
    predicted = np.asarray(outputs[0]).ravel()
    expected_values = pipeline.predict(X)
    diff = float(np.max(np.abs(predicted - expected_values)))
    scale = float(np.max(np.abs(expected_values))) or 1.0
    return OnnxParity(diff, float(np.mean(np.abs(predicted - expected_values) / scale < 1e-3)))
