"""Scored rows against the version's training split: ``predict``'s drift, and ``monitor``.

``record_drift`` compares a scored batch with the reference profile of the version's source
run (``monitoring/drift.py``), logs the drift on a run and marks the version
(``monitoring.drift`` true/false/"not judged", the drifted features, the run, when).
``predict`` has it log on its inference run; ``monitor`` (``check_batch``) scores a CSV the same
way and logs a ``drift_check`` run in ``NAME-monitoring`` for the batch alone, writing the HTML
page locally too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_tracking.registry.catalog import VersionRef, model_version, set_version_tags

if TYPE_CHECKING:
    import pandas as pd

    from mlops_tracking.core.config import MonitoringConfig, ServingConfig
    from mlops_tracking.core.drift import DriftReport

DRIFT_CHECK = "drift_check"


@dataclass(frozen=True)
class DriftCheck:
    """A batch's drift as logged: the report (None without a profile) and where it went."""

    ref: VersionRef
    run_id: str
    experiment_id: str
    report: DriftReport | None
    page: str  # the HTML page's artifact path on the run ("" without a profile)
    html: str  # the page itself
    problem: str = ""  # why there is no report


def predicted(outputs: pd.DataFrame) -> list[Any]:
    """The predictions a profile compares: the label (classification) or the value."""
    column = "label" if "label" in outputs.columns else "prediction"
    if column not in outputs.columns:
        column = str(outputs.columns[0])
    return list(outputs[column])


def record_drift(
    ref: VersionRef,
    rows: pd.DataFrame,
    outputs: pd.DataFrame,
    run_id: str,
    monitoring: MonitoringConfig,
    *,
    title: str,
) -> DriftCheck:
    """Compare scored ``rows`` (their ``outputs``) with the version's profile; log it on
    ``run_id``; tag the version."""
    from mlflow import MlflowClient

    from mlops_tracking.core.drift import compare, drift_tags
    from mlops_tracking.core.drift_report import drift_page
    from mlops_tracking.monitoring.drift import NO_PROFILE, log_drift, reference_profile

    ref = VersionRef(ref.name, ref.version)
    experiment_id = MlflowClient().get_run(run_id).info.experiment_id
    source = model_version(ref).run_id or ""
    profile = reference_profile(source) if source else None
    if profile is None:
        return DriftCheck(ref, run_id, experiment_id, None, "", "", f"{ref}: {NO_PROFILE}")
    report = compare(profile, rows, predicted(outputs), monitoring)
    about = {
        "model": f"{ref.name} version {ref.version}",
        "training run": source,
        "checked in run": run_id,
        "at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    page = log_drift(run_id, report, title, about)
    checked_at = datetime.now(UTC).isoformat(timespec="seconds")
    set_version_tags(ref, drift_tags(report, run_id, checked_at))
    return DriftCheck(ref, run_id, experiment_id, report, page, drift_page(report, title, about))


def check_batch(
    reference: str,
    input_path: Path,
    by: str,
    monitoring: MonitoringConfig,
    *,
    settings: ServingConfig | None = None,
    engine: str = "pyfunc",
) -> DriftCheck:
    """``monitor``: score ``input_path`` and log its drift as a run of ``NAME-monitoring``.

    Bad input (an unknown version, a CSV the signature refuses) fails before any run exists.
    """
    from mlops_tracking.core.rows import file_digest
    from mlops_tracking.monitoring.serving_run import monitoring_experiment
    from mlops_tracking.registry.predict import score_file
    from mlops_tracking.runs.lifecycle import tracked_run
    from mlops_tracking.runs.metrics import log_params
    from mlops_tracking.runs.store import ensure_experiment

    scored = score_file(reference, input_path, engine, settings)
    ref = scored.ref
    experiment = ensure_experiment(
        monitoring_experiment(ref.name), tags={"mlops.run_type": "monitoring"}
    )
    tags = {
        "mlops.run_type": DRIFT_CHECK,
        "author": by,
        "monitoring.model_name": ref.name,
        "monitoring.model_version": ref.version,
        "monitoring.model_alias": ref.alias or "",
        "monitoring.source_run_id": model_version(ref).run_id or "",
        "input.path": str(input_path.resolve()),
        "input.sha256": file_digest(input_path),
    }
    description = (
        f"Drift of {input_path.name} ({len(scored.rows)} rows) against {ref}'s training split."
    )
    name = f"drift-{input_path.stem}-v{ref.version}"
    with tracked_run(experiment, name, tags, description, None) as run:
        run_id = run.info.run_id
        log_params(run_id, {"rows": str(len(scored.rows)), "model.version": ref.version})
        title = f"Drift of {input_path.name}"
        check = record_drift(ref, scored.rows, scored.outputs, run_id, monitoring, title=title)
    return check
