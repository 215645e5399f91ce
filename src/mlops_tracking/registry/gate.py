"""The promotion gate's evidence: candidate and holder scored on the same held-out data.

The held-out split is rebuilt from the candidate run's recorded config and must have the digest
the run logged for it (``runs/rebuild.py``, which ``reproduce`` shares). The holder must have
been tested on that same split (same digest): otherwise it may have trained on rows the
candidate is tested on, and the comparison would be unfair. Anything that makes a fair
comparison impossible is a ``RegistryError`` that says why.

Before any holder, the candidate must beat the trivial baseline its run recorded on that same
split (``baseline_test_<metric>``: class frequencies or the training mean), so a first holder
is judged too. A run that recorded no baseline cannot be judged and is refused the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_tracking.core.promotion import Gate, check_baseline, decide, gate_metric, with_baseline
from mlops_tracking.registry import catalog
from mlops_tracking.registry.catalog import RegistryError, VersionRef

if TYPE_CHECKING:
    from mlops_tracking.core.config import Config
    from mlops_tracking.core.records import TrainingInputs


def evaluate_gate(config: Config, candidate: VersionRef, holder: str | None) -> tuple[Gate, str]:
    """Score the candidate (and the holder, if any) on the candidate's held-out test split."""
    check_twin(candidate)
    inputs, digest = held_out_data(candidate)
    metric = gate_metric(config.registry.metric, inputs.dataset.task)
    baseline = recorded_baseline(candidate, metric)
    candidate_value = score_version(candidate, inputs)[metric]
    refusal = check_baseline(metric, candidate_value, baseline, config.registry.margin)
    if refusal is not None:
        return refusal, digest
    holder_value = None
    if holder is not None:
        holder_ref = VersionRef(candidate.name, holder)
        tested_on = catalog.model_version(holder_ref).tags.get("dataset.testing.digest")
        if tested_on is None:
            raise RegistryError(
                f"version {holder} (the holder) records no test dataset (its run was not made by "
                "mlops-tracking), so the gate cannot compare the candidate with it; promote with "
                "--force --reason TEXT"
            )
        if tested_on != digest:
            raise RegistryError(
                f"version {holder} (the holder) was tested on data with digest {tested_on}, "
                f"the candidate on {digest}: their scores are not comparable. Retrain one on "
                "the other's data, or promote with --force --reason."
            )
        holder_value = score_version(holder_ref, inputs)[metric]
    gate = decide(metric, candidate_value, holder_value, config.registry.margin, holder or "")
    return with_baseline(gate, baseline), digest


def check_twin(ref: VersionRef) -> None:
    """The version's registered ONNX twin (which ``serve --engine onnx`` loads for the alias)
    must match its manifest too; the deployable model is checked when it is loaded to score."""
    from mlops_tracking.registry.catalog import ONNX_SUFFIX
    from mlops_tracking.runs.integrity import IntegrityError, checked_copy

    twin = catalog.model_version(ref).tags.get("onnx.version")
    if twin is None:
        return
    try:
        with checked_copy(ref.name + ONNX_SUFFIX, twin):
            pass  # checked, not loaded: the copy goes at once
    except IntegrityError as error:
        raise RegistryError(f"the gate refuses {ref}: {error}") from None


def recorded_baseline(ref: VersionRef, metric: str) -> float:
    """The trivial baseline's ``metric`` on the held-out test split, as the version's run logged it.

    The run scored its baseline on the test split whose digest the gate proves, so this is the
    baseline's score on the very rows the candidate is scored on; recomputing it would need the
    training split rebuilt and proven as well.
    """
    from mlops_tracking.core.baseline import baseline_name
    from mlops_tracking.runs.recorded import read_run

    name = baseline_name(f"test_{metric}")
    run_id = catalog.model_version(ref).run_id or ""
    value = read_run(run_id).metrics.get(name) if run_id else None
    if value is None:
        raise RegistryError(
            f"no baseline recorded: the source run {run_id} of {ref} has no {name} (it was "
            "trained before runs logged a baseline, or outside this project), so the gate cannot "
            "tell whether it beats the trivial baseline. Retrain it, or promote with --force "
            "--reason."
        )
    return value


def held_out_data(ref: VersionRef) -> tuple[TrainingInputs, str]:
    """The version's training inputs rebuilt from its run, and its test split's proven digest."""
    import tempfile

    from mlops_tracking.core.errors import RunNotFoundError
    from mlops_tracking.runs.rebuild import RebuildError, rebuild_inputs, recorded_config
    from mlops_tracking.runs.recorded import read_run

    run_id = catalog.model_version(ref).run_id
    if not run_id:
        raise RegistryError(f"{ref} records no source run, so its held-out data is unknown")
    try:
        run = read_run(run_id)
    except RunNotFoundError:
        raise RegistryError(
            f"the source run {run_id} of {ref} is no longer in this store"
        ) from None
    if not run.made_here:
        raise RegistryError(
            f"{ref} comes from run {run_id}, which was not made by mlops-tracking: its held-out "
            "test data cannot be rebuilt (no recorded config or splits), so the gate cannot score "
            "it. Promote it with --force --reason TEXT, or give the alias `gate: none` (record "
            "only) under registry.aliases in params.yaml"
        )
    if run.input("testing") is None:
        raise RegistryError(
            f"the run of {ref} logged no testing dataset, so the gate cannot check that it "
            "rebuilds the same held-out data"
        )
    with tempfile.TemporaryDirectory(prefix="gate-") as scratch:
        try:
            config = recorded_config(run, Path(scratch))
            rebuilt = rebuild_inputs(
                run, config, Path(scratch), contexts=("testing",), config_fallback=True
            )
        except RebuildError as error:
            raise RegistryError(f"the held-out data of {ref} cannot be rebuilt: {error}") from None
    return rebuilt.inputs, rebuilt.digests["testing"]


def score_version(ref: VersionRef, inputs: TrainingInputs) -> dict[str, float]:
    """Every test metric of the registered deployable model on ``inputs``' test split."""
    import numpy as np

    from mlops_tracking.core.evaluation import Predictions, compute_metrics
    from mlops_tracking.core.promotion import proba_matrix

    dataset, split = inputs.dataset, inputs.splits.test
    outputs = _outputs(ref, split.X)
    if dataset.task == "regression":
        predictions = Predictions(split, outputs["prediction"].to_numpy(dtype=float), None)
    else:
        proba = proba_matrix(outputs, dataset.labels)
        predictions = Predictions(split, np.argmax(proba, axis=1), proba)
    bins = inputs.config.evaluation.calibration_bins
    return compute_metrics(predictions, dataset.task, len(dataset.labels), bins)


def _outputs(ref: VersionRef, rows: Any) -> Any:
    """The version's outputs for held-out rows, or a short refusal that says why not.

    The rows are in training form; ``predict_with`` types them by the signature first, so an
    integer column (float64 in training form) scores as the ``long`` its signature declares.
    """
    from mlflow.exceptions import MlflowException

    from mlops_tracking.core.errors import DataError
    from mlops_tracking.registry.predict import predict_with
    from mlops_tracking.runs.integrity import IntegrityError

    try:
        return predict_with(ref, rows, origin=f"the held-out test split of {ref}")
    except IntegrityError as error:  # a RegistryError: promote records the refusal
        raise RegistryError(f"the gate refuses {ref}: {error}") from None
    except DataError as error:
        raise RegistryError(f"{error}; the gate cannot score it") from None
    except MlflowException as error:
        raise RegistryError(f"{ref} cannot score its held-out test split: {cause(error)}") from None


def cause(error: Exception) -> str:
    """The reason at the end of an MLflow message, without the data it quotes.

    Schema errors read "Failed to enforce schema of data '<the whole frame>' with schema
    '<every column>'. Error: <the reason>"; only the reason helps.
    """
    message = str(getattr(error, "message", error))
    reason = message.rsplit("Error: ", 1)[-1].strip()
    return " ".join(reason.split())[:500]
