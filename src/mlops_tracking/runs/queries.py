"""Read runs back from the store for tables and summaries (never from local state)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from mlops_tracking.core.errors import RunNotFoundError
from mlops_tracking.runs.store import redact, sqlite_path, tracking_uri


@dataclass(frozen=True)
class RunRow:
    run_id: str
    run_name: str
    experiment: str
    experiment_id: str
    status: str
    started: str
    duration_seconds: float | None
    task: str
    parent_run_id: str
    metrics: dict[str, float]


def _experiments(name: str | None) -> dict[str, str]:
    from mlflow import MlflowClient

    client = MlflowClient()
    if name is not None:
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            known = ", ".join(e.name for e in client.search_experiments()) or "none yet"
            raise RunNotFoundError(f"no experiment named '{name}'. Experiments: {known}.")
        return {experiment.experiment_id: experiment.name}
    return {e.experiment_id: e.name for e in client.search_experiments()}


def list_runs(experiment: str | None = None, max_results: int = 100) -> list[RunRow]:
    """The most recent runs (of one experiment, or of all), newest first."""
    from mlflow import MlflowClient

    experiments = _experiments(experiment)
    if not experiments:
        return []
    runs = MlflowClient().search_runs(
        list(experiments), order_by=["attributes.start_time DESC"], max_results=max_results
    )
    rows = []
    for run in runs:
        info, tags = run.info, run.data.tags
        duration = (info.end_time - info.start_time) / 1000 if info.end_time else None
        rows.append(
            RunRow(
                run_id=info.run_id,
                run_name=info.run_name or "",
                experiment=experiments[info.experiment_id],
                experiment_id=info.experiment_id,
                status=info.status,
                started=datetime.fromtimestamp(info.start_time / 1000, tz=UTC).strftime(
                    "%Y-%m-%d %H:%M:%S"
                ),
                duration_seconds=duration,
                task=tags.get("task", ""),
                parent_run_id=tags.get("mlflow.parentRunId", ""),
                metrics=dict(run.data.metrics),
            )
        )
    return rows


def ui_command(experiment_id: str | None = None) -> tuple[str, str]:
    """The command that opens the MLflow UI on this store, and the URL to visit."""
    uri = tracking_uri()
    suffix = f"#/experiments/{experiment_id}" if experiment_id else ""
    if uri.startswith(("http://", "https://")):
        return f"open {redact(uri)}", f"{redact(uri).rstrip('/')}/{suffix}"
    database = sqlite_path(uri)
    store = f"sqlite:///{database}" if database is not None else redact(uri)
    command = f"mlflow ui --backend-store-uri {store} --host 127.0.0.1 --port 5000"
    return command, f"http://127.0.0.1:5000/{suffix}"
