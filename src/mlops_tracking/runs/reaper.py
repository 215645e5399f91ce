"""End runs whose process died (SIGKILL, a crash of the machine, a lost server) as KILLED.

MLflow has no notion of a dead run: a run whose process was killed stays RUNNING forever, with
no end time, and its LoggedModels stay PENDING. ``reap`` finds the RUNNING runs of every active
experiment that ``core/liveness.py`` calls stale, records why and when (``mlops.reaped``,
``mlops.error``), ends them KILLED at their last heartbeat, and marks their PENDING models
FAILED. Runs without a heartbeat (plain MLflow calls) are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from mlops_tracking.core.liveness import REAPED_TAG, last_heartbeat, now, staleness, stamp

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

PAGE = 1000


@dataclass(frozen=True)
class ReapedRun:
    run_id: str
    run_name: str
    experiment_id: str
    reason: str
    failed_models: tuple[str, ...]  # LoggedModel ids marked FAILED


def running_runs(client: MlflowClient) -> list[Run]:
    """Every RUNNING run of the active experiments (one search per page of runs)."""
    experiment_ids = [e.experiment_id for e in client.search_experiments(max_results=50000)]
    if not experiment_ids:
        return []
    found: list[Run] = []
    token = None
    while True:
        page = client.search_runs(
            experiment_ids,
            filter_string="attributes.status = 'RUNNING'",
            max_results=PAGE,
            page_token=token,
        )
        found.extend(page)
        token = page.token
        if not token:
            return found


def stale_runs(
    client: MlflowClient, stale_after_seconds: float, moment: datetime | None = None
) -> list[tuple[Run, str]]:
    """The RUNNING runs that are stale, each with the reason."""
    moment = moment or now()
    stale = []
    for run in running_runs(client):
        reason = staleness(run.data.tags, stale_after_seconds, moment)
        if reason is not None:
            stale.append((run, reason))
    return stale


def reap(stale_after_seconds: float, client: MlflowClient | None = None) -> list[ReapedRun]:
    """End the stale runs KILLED (children before parents) and fail their PENDING models."""
    from mlflow import MlflowClient

    client = client or MlflowClient()
    moment = now()
    reaped = []
    # children first: a parent is never terminal while a child of it is still RUNNING
    found = sorted(
        stale_runs(client, stale_after_seconds, moment),
        key=lambda pair: "mlflow.parentRunId" not in pair[0].data.tags,
    )
    for run, reason in found:
        reaped.append(_end_stale(client, run, reason, moment))
    return reaped


def _end_stale(client: MlflowClient, run: Run, reason: str, moment: datetime) -> ReapedRun:
    from mlflow.entities import LoggedModelStatus

    run_id = run.info.run_id
    note = f"ended KILLED by `mlops-tracking runs --reap` at {stamp(moment)}: {reason}"
    client.set_tag(run_id, REAPED_TAG, note[:500])
    client.set_tag(run_id, "mlops.error", f"Stale run: {reason}"[:500])
    models = client.search_logged_models(
        [run.info.experiment_id], filter_string=f"source_run_id = '{run_id}'"
    )
    failed = []
    for model in models:  # by status here: a `status = 'PENDING'` filter matched none in 3.17.2
        if model.status == LoggedModelStatus.PENDING:
            client.finalize_logged_model(model.model_id, LoggedModelStatus.FAILED)
            failed.append(model.model_id)
    beat = last_heartbeat(run.data.tags)
    # the last moment it was known alive, never before it started
    end_time = max(int(beat.timestamp() * 1000), run.info.start_time) if beat else None
    client.set_terminated(run_id, status="KILLED", end_time=end_time)
    return ReapedRun(run_id, run.info.run_name, run.info.experiment_id, reason, tuple(failed))
