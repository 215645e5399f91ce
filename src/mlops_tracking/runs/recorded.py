"""Read back what runs recorded: tags, final metrics, dataset inputs, config and source code.

``reproduce`` and ``data versions`` work only from this: what the store holds, not what the
current checkout believes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_tracking.core.errors import RunNotFoundError
from mlops_tracking.runs.metrics import set_tags

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

SOURCE_DIR = "source/mlops_tracking"
CONFIG_FILE = "config/resolved.yaml"


@dataclass(frozen=True)
class RecordedInput:
    """One dataset input of a run: what MLflow stores about it."""

    name: str
    digest: str
    context: str
    rows: int | None
    source_type: str
    source: dict[str, Any]


@dataclass(frozen=True)
class RecordedRun:
    run_id: str
    run_name: str
    experiment_id: str
    experiment: str
    status: str
    start_time: int  # ms since the epoch
    tags: dict[str, str]
    metrics: dict[str, float]
    inputs: tuple[RecordedInput, ...]

    def input(self, context: str) -> RecordedInput | None:
        return next((item for item in self.inputs if item.context == context), None)


def _client() -> MlflowClient:
    from mlflow import MlflowClient

    return MlflowClient()


def read_run(run_id: str) -> RecordedRun:
    """The run as recorded; ``RunNotFoundError`` (exit 2) if the store has no such run."""
    from mlflow.exceptions import MlflowException

    client = _client()
    try:
        run = client.get_run(run_id)
    except MlflowException as error:
        raise RunNotFoundError(
            f"no run {run_id!r} in this tracking store; list runs with `mlops-tracking runs`."
        ) from error
    experiment = client.get_experiment(run.info.experiment_id)
    return _recorded(run, experiment.name)


def _recorded(run: Run, experiment: str) -> RecordedRun:
    inputs = []
    for item in run.inputs.dataset_inputs if run.inputs else []:
        tags = {tag.key: tag.value for tag in item.tags}
        try:
            source = json.loads(item.dataset.source)
        except ValueError:
            source = {"uri": item.dataset.source}
        rows = tags.get("rows")
        inputs.append(
            RecordedInput(
                name=item.dataset.name,
                digest=item.dataset.digest,
                context=tags.get("mlflow.data.context", ""),
                rows=int(rows) if rows and rows.isdigit() else None,
                source_type=item.dataset.source_type,
                source=source if isinstance(source, dict) else {"uri": str(source)},
            )
        )
    return RecordedRun(
        run_id=run.info.run_id,
        run_name=run.info.run_name or "",
        experiment_id=run.info.experiment_id,
        experiment=experiment,
        status=run.info.status,
        start_time=int(run.info.start_time or 0),
        tags=dict(run.data.tags),
        metrics=dict(run.data.metrics),
        inputs=tuple(inputs),
    )


def runs_with_inputs(max_results: int = 5000) -> list[RecordedRun]:
    """Every run in every experiment that logged at least one dataset, oldest first."""
    client = _client()
    experiments = {e.experiment_id: e.name for e in client.search_experiments()}
    if not experiments:
        return []
    runs = client.search_runs(
        list(experiments), max_results=max_results, order_by=["attributes.start_time ASC"]
    )
    recorded = [_recorded(run, experiments[run.info.experiment_id]) for run in runs]
    return [run for run in recorded if run.inputs]


def download(run_id: str, path: str, folder: Path) -> Path | None:
    """Download a run's artifact file or folder into ``folder``; None if it was not logged."""
    from mlflow.artifacts import download_artifacts
    from mlflow.exceptions import MlflowException

    try:
        return Path(download_artifacts(run_id=run_id, artifact_path=path, dst_path=str(folder)))
    except (MlflowException, OSError):
        return None


def record_reproduction(run_id: str, tags: dict[str, str], comparison: dict[str, Any]) -> None:
    """Write the verdict of a reproduction on the run that re-trained."""
    import mlflow

    set_tags(run_id, tags)
    mlflow.MlflowClient().log_text(
        run_id, json.dumps(comparison, indent=2) + "\n", "reproduction/comparison.json"
    )
