"""The promotion gate's evidence: candidate and holder scored on the same held-out data.

The held-out split is rebuilt from the candidate run's recorded config and must have the digest
the run logged for it. The holder must have been tested on that same split (same digest):
otherwise it may have trained on rows the candidate is tested on, and the comparison would be
unfair. Anything that makes a fair comparison impossible is a ``RegistryError`` that says why.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mlops_tracking.core.promotion import Gate, decide, gate_metric
from mlops_tracking.registry import catalog
from mlops_tracking.registry.catalog import RegistryError, VersionRef

if TYPE_CHECKING:
    from mlops_tracking.core.config import Config
    from mlops_tracking.core.records import TrainingInputs


def evaluate_gate(config: Config, candidate: VersionRef, holder: str | None) -> tuple[Gate, str]:
    """Score the candidate (and the holder, if any) on the candidate's held-out test split."""
    inputs, digest = held_out_data(candidate)
    metric = gate_metric(config.registry.metric, inputs.dataset.task)
    candidate_value = score_version(candidate, inputs)[metric]
    holder_value = None
    if holder is not None:
        holder_ref = VersionRef(candidate.name, holder)
        tested_on = catalog.model_version(holder_ref).tags.get("dataset.testing.digest")
        if tested_on != digest:
            raise RegistryError(
                f"version {holder} (the holder) was tested on data with digest {tested_on}, "
                f"the candidate on {digest}: their scores are not comparable. Retrain one on "
                "the other's data, or promote with --force --reason."
            )
        holder_value = score_version(holder_ref, inputs)[metric]
    gate = decide(metric, candidate_value, holder_value, config.registry.margin, holder or "")
    return gate, digest


def held_out_data(ref: VersionRef) -> tuple[TrainingInputs, str]:
    """The version's training inputs rebuilt from its run, and its test split's digest."""
    import tempfile

    from mlops_tracking.core.config import load_config
    from mlops_tracking.runs.datasets import to_mlflow_dataset
    from mlops_tracking.runs.workflow import prepare

    run_id = catalog.model_version(ref).run_id
    if not run_id:
        raise RegistryError(f"{ref} records no source run, so its held-out data is unknown")
    recorded = catalog.recorded_dataset(run_id, "testing")
    if recorded is None:
        raise RegistryError(
            f"the run of {ref} logged no testing dataset, so the gate cannot check that it "
            "rebuilds the same held-out data"
        )
    with tempfile.TemporaryDirectory() as scratch:
        config = load_config(catalog.download_run_file(run_id, "config/resolved.yaml", scratch))
    if config.data.path is not None and not config.data.path.exists():
        # a relative CSV path means the directory the run started in; the source is absolute
        recorded_path = Path(recorded.source)
        if recorded_path.is_file():
            config = config.with_overrides([f"data.path={recorded_path}"])
    inputs = prepare(config)
    test = to_mlflow_dataset(inputs.dataset, inputs.splits.test)
    if test.digest != recorded.digest:
        raise RegistryError(
            f"the held-out data of {ref} cannot be rebuilt: its run logged {recorded.name} with "
            f"digest {recorded.digest}, the data now gives {test.digest}. Restore the data "
            "version it was trained on."
        )
    return inputs, str(test.digest)


def score_version(ref: VersionRef, inputs: TrainingInputs) -> dict[str, float]:
    """Every test metric of the registered deployable model on ``inputs``' test split."""
    import numpy as np

    from mlops_tracking.core.evaluation import Predictions, compute_metrics
    from mlops_tracking.core.promotion import proba_matrix

    dataset, split = inputs.dataset, inputs.splits.test
    outputs = catalog.predict_with(ref, split.X)
    if dataset.task == "regression":
        predictions = Predictions(split, outputs["prediction"].to_numpy(dtype=float), None)
    else:
        proba = proba_matrix(outputs, dataset.labels)
        predictions = Predictions(split, np.argmax(proba, axis=1), proba)
    bins = inputs.config.evaluation.calibration_bins
    return compute_metrics(predictions, dataset.task, len(dataset.labels), bins)
