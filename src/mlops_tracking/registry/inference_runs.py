"""Batch inference with a registered version, logged as its own run.

The run records the input's digest, the model version and alias that answered, the engine, and
the outputs as a table, so any predictions file can be traced back to the model that made it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_tracking.core.rows import file_digest, labelled, normalise, onnx_feed
from mlops_tracking.registry.catalog import ONNX_SUFFIX, RegistryError, VersionRef, model_version

if TYPE_CHECKING:
    import pandas as pd

OUTPUTS_TABLE = "predictions/outputs.json"


@dataclass(frozen=True)
class Signature:
    """The deployable model's columns (name -> type) and labels, read from its signature."""

    columns: dict[str, str]
    labels: list[str]


def signature_of(ref: VersionRef) -> Signature:
    from mlflow.models import get_model_info

    signature = get_model_info(ref.uri).signature
    if signature is None:
        raise RegistryError(f"{ref} has no signature to check input against")
    columns = {spec.name: spec.type.name for spec in signature.inputs.inputs}
    outputs = [spec.name for spec in signature.outputs.inputs] if signature.outputs else []
    labels = [name.removeprefix("proba_") for name in outputs if name.startswith("proba_")]
    return Signature(columns, labels)


def predict_rows(ref: VersionRef, rows: pd.DataFrame, signature: Signature, engine: str) -> Any:
    """Predictions of ``ref`` for checked ``rows``: the deployable pyfunc, or its ONNX form."""
    import pandas as pd

    from mlops_tracking.registry.catalog import predict_with

    if engine == "pyfunc":
        return predict_with(ref, rows)
    onnx_version = model_version(ref).tags.get("onnx.version")
    if onnx_version is None:
        raise RegistryError(f"{ref} has no registered ONNX form; use --engine pyfunc")
    import mlflow
    import numpy as np
    import onnxruntime

    graph = mlflow.onnx.load_model(f"models:/{ref.name}{ONNX_SUFFIX}/{onnx_version}")
    session = onnxruntime.InferenceSession(
        graph.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    names = [item.name for item in session.get_inputs()]
    kinds = {
        c: ("double" if t in {"double", "long"} else "string") for c, t in signature.columns.items()
    }
    outputs = session.run(None, onnx_feed(normalise(rows, kinds), kinds, names))
    if not signature.labels:
        return pd.DataFrame({"prediction": np.asarray(outputs[0], dtype="float64").ravel()})
    return labelled(np.asarray(outputs[1], dtype="float64"), signature.labels)


def log_inference(
    ref: VersionRef,
    rows: pd.DataFrame,
    outputs: pd.DataFrame,
    *,
    input_path: Path,
    output_path: Path,
    engine: str,
    seconds: float,
    tags: dict[str, str],
) -> str:
    """Record one batch prediction as a run in ``<model>-inference``; return its id."""
    import mlflow
    from mlflow.data.pandas_dataset import from_pandas

    from mlops_tracking.runs.datasets import local_source
    from mlops_tracking.runs.lifecycle import tracked_run
    from mlops_tracking.runs.metrics import log_metrics, log_params
    from mlops_tracking.runs.store import ensure_experiment

    experiment = ensure_experiment(f"{ref.name}-inference", tags={"mlops.run_type": "inference"})
    version = model_version(ref)
    run_tags = {
        **tags,
        "mlops.run_type": "inference",
        "model.name": ref.name,
        "model.version": ref.version,
        "model.alias": ref.alias or "",
        "model.uri": ref.uri,
        "model.source_run_id": version.run_id or "",
        "engine": engine,
        "input.path": str(input_path.resolve()),
        "input.sha256": file_digest(input_path),
        "output.path": str(output_path.resolve()),
        "output.sha256": file_digest(output_path),
    }
    name = f"predict-{ref.name}-v{ref.version}"
    description = f"Batch prediction of `{input_path.name}` ({len(rows)} rows) by {ref}."
    with tracked_run(experiment, name, run_tags, description, None) as run:
        run_id = run.info.run_id
        log_params(run_id, {"rows": str(len(rows)), "engine": engine, "model.version": ref.version})
        dataset = from_pandas(rows, source=local_source(input_path), name=input_path.stem)
        mlflow.log_input(dataset, context="inference")
        mlflow.log_table(outputs, OUTPUTS_TABLE, run_id=run_id)
        mlflow.log_artifact(str(output_path), "predictions")
        log_metrics(run_id, {"rows": float(len(rows)), "predict_seconds": seconds})
    return str(run_id)
