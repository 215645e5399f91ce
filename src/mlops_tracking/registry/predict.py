"""Predict with a registered version: load it once, check rows, score a batch, log the run.

``mlops-tracking predict`` checks a CSV against the version's signature, scores it with the
deployable pyfunc (or its ONNX form), writes the predictions and logs the batch as its own
inference run: the input's digest, the version and alias that answered, the engine, and the
outputs as a table, so any predictions file can be traced back to the model that made it. The
gate scores held-out data through the same loader.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_tracking.core.config import ServingConfig
from mlops_tracking.core.errors import DataError
from mlops_tracking.core.model_input import (
    IMPUTED_COLUMN,
    UNSEEN_COLUMN,
    InputError,
    accepted_bounds,
    check_values,
    describe_imputed,
    extra_columns,
    imputed_by_row,
    training_form,
)
from mlops_tracking.core.rows import UnseenReport, file_digest, labelled, onnx_feed
from mlops_tracking.registry import catalog
from mlops_tracking.registry.catalog import ONNX_SUFFIX, RegistryError, VersionRef, model_version

if TYPE_CHECKING:
    import pandas as pd

OUTPUTS_TABLE = "predictions/outputs.json"
UNSEEN_FILE = "predictions/unseen_categories.json"


@dataclass(frozen=True)
class Signature:
    """The deployable model's columns (name -> type) and labels, read from its signature."""

    columns: dict[str, str]
    labels: list[str]


def signature_of(ref: VersionRef) -> Signature:
    """Read from the model loaded from the checked copy (``runs/integrity.py``)."""
    signature = _loaded(ref).metadata.signature
    if signature is None:
        raise RegistryError(
            f"{ref} has no signature to check input against; log the model with signature= "
            "(mlflow.models.infer_signature) or input_example= and register it again"
        )
    if not signature.inputs.has_input_names():
        raise RegistryError(
            f"{ref}'s signature takes an unnamed tensor, not named columns, so rows from a CSV "
            "cannot be checked against it; log the model with a DataFrame input example"
        )
    columns = {spec.name: getattr(spec.type, "name", "any") for spec in signature.inputs.inputs}
    # a model logged with plain MLflow calls often has one unnamed output (a tensor)
    specs = signature.outputs.inputs if signature.outputs else []
    outputs = [spec.name for spec in specs if spec.name]
    labels = [name.removeprefix("proba_") for name in outputs if name.startswith("proba_")]
    return Signature(columns, labels)


def predict_rows(ref: VersionRef, rows: pd.DataFrame, signature: Signature, engine: str) -> Any:
    """Predictions of ``ref`` for checked ``rows``: the deployable pyfunc, or its ONNX form."""
    import pandas as pd

    if engine == "pyfunc":
        return predict_with(ref, rows)
    onnx_version = model_version(ref).tags.get("onnx.version")
    if onnx_version is None:
        raise RegistryError(f"{ref} has no registered ONNX form; use --engine pyfunc")
    import mlflow
    import numpy as np
    import onnxruntime

    from mlops_tracking.runs.integrity import checked_copy

    with checked_copy(ref.name + ONNX_SUFFIX, onnx_version) as copy:
        graph = mlflow.onnx.load_model(str(copy))
    session = onnxruntime.InferenceSession(
        graph.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    names = [item.name for item in session.get_inputs()]
    features = training_form(rows, signature.columns)
    outputs = session.run(None, onnx_feed(features, signature.columns, names))
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
    unseen: UnseenReport | None = None,
) -> str:
    """Record one batch prediction as a run in ``<model>-inference``; return its id."""
    import mlflow
    from mlflow.data.pandas_dataset import from_pandas

    from mlops_tracking.runs.datasets import integer_codes_expected, local_source
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
        # The signature declares integer columns as such and check_rows refuses a missing value
        # in them with its own message, so MLflow's hint about integers is noise here.
        with integer_codes_expected():
            dataset = from_pandas(rows, source=local_source(input_path), name=input_path.stem)
            mlflow.log_input(dataset, context="inference")
        mlflow.log_table(outputs, OUTPUTS_TABLE, run_id=run_id)
        mlflow.log_artifact(str(output_path), "predictions")
        log_metrics(run_id, {"rows": float(len(rows)), "predict_seconds": seconds})
        if unseen is not None:
            _log_unseen(run_id, unseen)
    return str(run_id)


def _log_unseen(run_id: str, unseen: UnseenReport) -> None:
    """The unseen categories of a batch: two counts, a param by column, the values as JSON."""
    import mlflow

    from mlops_tracking.runs.metrics import log_metrics, log_params

    log_metrics(
        run_id,
        {"unseen_categories": float(unseen.total), "unseen_category_rows": float(unseen.rows)},
    )
    log_params(run_id, {"unseen_categories": unseen.summary[:6000]})
    columns = {
        column: {"rows": rows, "values": unseen.values[column]}
        for column, rows in unseen.by_column.items()
    }
    mlflow.log_dict({"rows": unseen.rows, "columns": columns}, UNSEEN_FILE, run_id=run_id)


def predict_with(
    ref: VersionRef, rows: pd.DataFrame, engine: str | None = None, origin: str = ""
) -> pd.DataFrame:
    """Outputs of the registered deployable model for ``rows`` (raw or training form).

    The rows take the types of the model's own input rules first (``runs/scoring.py``), so a
    held-out split in training form (integers as float64, booleans as text) scores like a CSV
    or a request. A value that cannot is a ``DataError`` naming ``origin``.
    """
    from mlops_tracking.runs.scoring import score_rows

    return score_rows(_loaded(ref), rows, origin or f"rows for {ref}", engine)


def _loaded(ref: VersionRef) -> Any:
    """A registered version, loaded once per store and process: a version never changes.

    Its files are checked against the manifest recorded at registration and the model is
    loaded from the checked copy (``runs/integrity.py``): a changed file is refused, naming it,
    before any code of the model runs. The copy is removed once the model is in memory.
    """
    from mlflow import get_tracking_uri

    return _load_checked(get_tracking_uri(), ref.name, ref.version)


@functools.lru_cache(maxsize=8)
def _load_checked(store: str, name: str, version: str) -> Any:
    """Keyed by store too: the same name and version in another store is another model."""
    from mlops_tracking.runs.integrity import checked_copy
    from mlops_tracking.runs.scoring import load_deployable

    with checked_copy(name, version) as copy:
        return load_deployable(str(copy))


@dataclass(frozen=True)
class BatchPrediction:
    ref: VersionRef
    rows: int
    output: Path
    run_id: str
    seconds: float
    unseen: UnseenReport | None  # None: the model recorded no categories to compare with
    notes: tuple[str, ...] = ()  # what the input policy ignored or imputed, for people
    scored: ScoredFile | None = None  # the checked rows and their predictions


@dataclass(frozen=True)
class ScoredFile:
    """A CSV checked against a version's signature and scored (nothing written yet)."""

    ref: VersionRef
    rows: pd.DataFrame
    outputs: pd.DataFrame
    seconds: float
    unseen: UnseenReport | None
    notes: list[str]


def score_file(
    reference: str, input_path: Path, engine: str, settings: ServingConfig | None = None
) -> ScoredFile:
    """Check ``input_path`` against the signature and the input policy, and predict."""
    import time

    from mlops_tracking.core.rows import check_rows, read_rows, unseen_report
    from mlops_tracking.runs.scoring import input_types, recorded_categories

    if engine not in {"pyfunc", "onnx"}:
        raise RegistryError(f"--engine must be pyfunc or onnx, not '{engine}'")
    settings = settings or ServingConfig()
    ref = catalog.resolve(reference)
    model = _loaded(ref)
    # the types the model's own input rules apply (booleans are "any" in the signature)
    signature = Signature(input_types(model), signature_of(ref).labels)
    table = read_rows(input_path)
    notes = _extra_columns(model, table, signature, settings, str(input_path))
    rows = check_rows(table, signature.columns, str(input_path))
    imputed = _checked_values(model, rows, signature, settings, str(input_path))
    categories = recorded_categories(model)
    unseen = None if categories is None else unseen_report(rows, signature.columns, categories)
    start = time.perf_counter()
    outputs = predict_rows(ref, rows, signature, engine)
    seconds = time.perf_counter() - start
    _refuse_non_finite(outputs, str(input_path))
    if unseen is not None and categories and UNSEEN_COLUMN not in outputs.columns:
        outputs[UNSEEN_COLUMN] = unseen.per_row  # the ONNX graph cannot say it; the rules can
    if imputed:
        if IMPUTED_COLUMN not in outputs.columns:
            outputs[IMPUTED_COLUMN] = imputed_by_row(imputed, len(rows))
        notes.append(
            f"missing values imputed: {describe_imputed(imputed)} (column {IMPUTED_COLUMN} of "
            "the predictions names them per row; serving.missing_values: refuse refuses them)"
        )
    outputs.index = rows.index
    return ScoredFile(ref, rows, outputs, seconds, unseen, notes)


def batch_predict(
    reference: str,
    input_path: Path,
    output_path: Path | None,
    engine: str,
    by: str,
    *,
    settings: ServingConfig | None = None,
) -> BatchPrediction:
    """Check ``input_path`` against the signature, predict, write a CSV, log an inference run.

    ``settings`` (``serving`` in params.yaml) is the input policy ``serve`` applies too. The
    result keeps the scored rows, for the drift check (``drift_check.record_drift``).
    """
    scored = score_file(reference, input_path, engine, settings)
    output = output_path or input_path.with_name(f"{input_path.stem}.predictions.csv")
    scored.outputs.to_csv(output, index=False)
    run_id = log_inference(
        scored.ref,
        scored.rows,
        scored.outputs,
        input_path=input_path,
        output_path=output,
        engine=engine,
        seconds=scored.seconds,
        tags={"author": by},
        unseen=scored.unseen,
    )
    return BatchPrediction(
        scored.ref,
        len(scored.rows),
        output,
        run_id,
        scored.seconds,
        scored.unseen,
        tuple(scored.notes),
        scored,
    )


def _recorded(model: Any, name: str) -> Any:
    """An attribute the deployable model recorded (None: not a Python model, or older)."""
    from mlflow.exceptions import MlflowException

    try:
        return getattr(model.unwrap_python_model(), name, None)
    except MlflowException:
        return None


def _extra_columns(
    model: Any, table: pd.DataFrame, signature: Signature, settings: ServingConfig, origin: str
) -> list[str]:
    """Refuse columns the model does not take (``serving.extra_columns``); note the ignored.

    The training target and dropped columns are always ignored; a model logged before they
    were recorded ignores every extra column, as it did.
    """
    ignored = _recorded(model, "ignored_columns")
    extra = [str(c) for c in table.columns if c not in signature.columns]
    unknown = extra_columns(extra, list(signature.columns), ignored or [])
    if unknown and ignored is not None and settings.extra_columns == "refuse":
        listed = ", ".join(map(repr, unknown[:5]))
        raise DataError(
            f"{origin}: column(s) {listed} are not among the model's inputs "
            "(serving.extra_columns: refuse); leave them out, or set serving.extra_columns "
            "to ignore_and_report"
        )
    if not extra:
        return []
    return [f"columns the model does not take were ignored: {', '.join(map(repr, extra[:10]))}"]


def _checked_values(
    model: Any, rows: pd.DataFrame, signature: Signature, settings: ServingConfig, origin: str
) -> dict[str, list[int]]:
    """The model's value rules (``model_input.check_values``); what will be imputed."""
    ranges = _recorded(model, "ranges") or {}
    configure = _recorded(model, "configure")
    if configure is not None:  # the pyfunc engine applies the same policy itself
        configure(range_tolerance=settings.range_tolerance, missing_values=settings.missing_values)
    bounds = accepted_bounds(ranges, settings.range_tolerance)
    try:
        return check_values(rows, signature.columns, bounds, settings.missing_values, ranges)
    except InputError as error:
        raise DataError(f"{origin}: {error}") from None


def _refuse_non_finite(outputs: pd.DataFrame, origin: str) -> None:
    import numpy as np

    numbers = outputs.select_dtypes("number").to_numpy(dtype="float64")
    bad = ~np.isfinite(numbers)
    if bad.any():
        row = int(np.argwhere(bad)[0][0]) + 1
        raise DataError(f"{origin}: row {row} made the model answer a non-finite value")
