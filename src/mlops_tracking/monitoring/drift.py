"""Drift, logged: a training run's reference profile read back, and a comparison written down.

``reference_profile`` reads ``monitoring/reference_profile.json`` from a training run (a
version's source run); runs trained before it existed, or made without this project, have
none, and the callers say so. ``log_drift`` writes a ``DriftReport`` (``core/drift.py``) on a
run: its metrics under ``drift/`` (at ``step`` for a serving window), the report as JSON and
the HTML page (``core/drift_report.py``) as artifacts (a serving run's are its latest window's).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mlops_tracking.core.drift import PROFILE_ARTIFACT

if TYPE_CHECKING:
    from mlops_tracking.core.drift import DriftReport

REPORT_PAGE = "monitoring/drift_report.html"
REPORT_JSON = "monitoring/drift_report.json"
NO_PROFILE = (
    "its training run has no reference profile (it was trained before drift checks, or "
    "without this project): train and register again to check drift"
)


def reference_profile(run_id: str) -> dict[str, Any] | None:
    """The training run's profile, or None when it has none."""
    from mlflow.artifacts import load_text
    from mlflow.exceptions import MlflowException

    try:
        text = load_text(f"runs:/{run_id}/{PROFILE_ARTIFACT}")
    except (MlflowException, OSError):
        return None
    profile: dict[str, Any] = json.loads(text)
    return profile


def log_drift(
    run_id: str,
    report: DriftReport,
    title: str,
    about: Mapping[str, str],
    *,
    step: int = 0,
) -> str:
    """Log ``report`` on ``run_id``; return the HTML page's artifact path."""
    import time

    from mlflow import MlflowClient
    from mlflow.entities import Metric

    from mlops_tracking.core.drift_report import drift_page

    client = MlflowClient()
    at = int(time.time() * 1000)
    metrics = [Metric(key, value, at, step) for key, value in report.metrics().items()]
    client.log_batch(run_id, metrics=metrics)
    suffix = f"_step_{step}" if step else ""
    page = REPORT_PAGE.replace(".html", f"{suffix}.html")
    client.log_text(run_id, drift_page(report, title, about), page)
    client.log_text(
        run_id,
        json.dumps(report.to_dict(), indent=2),
        REPORT_JSON.replace(".json", f"{suffix}.json"),
    )
    return page
