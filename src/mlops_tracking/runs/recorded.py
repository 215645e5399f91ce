"""Read back what the store holds about runs: the one reader every capability uses.

``fetch_run`` gives MLflow's own entity (one store call), for the audit, which inspects
anything a run may hold, and for callers that need one field of it.
``read_run`` and ``search_runs`` give a ``RecordedRun``: tags, params, final metrics, times and
dataset inputs. ``reproduce``, the gate, lineage, the runs table and ``data versions`` all read
from here: what the store holds, not what the current checkout believes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mlops_tracking.core.errors import RunNotFoundError
from mlops_tracking.core.tasks import recorded_task

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run
    from mlflow.store.artifact.artifact_repo import ArtifactRepository

SOURCE_DIR = "source/mlops_tracking"  # the package source as runs before the archive kept it
SOURCE_ARCHIVE = "source/mlops_tracking.zip"
CONFIG_FILE = "config/resolved.yaml"
PARENT_TAG = "mlflow.parentRunId"


@dataclass(frozen=True)
class RecordedInput:
    """One dataset input of a run: what MLflow stores about it."""

    name: str
    digest: str
    context: str
    rows: int | None
    source_type: str
    source: dict[str, Any]  # the source's JSON, or {"uri": ...} when it is not JSON
    source_text: str = ""  # the source exactly as MLflow stores it


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
    params: dict[str, str] = field(default_factory=dict)
    end_time: int | None = None  # ms since the epoch; None while it runs
    deleted: bool = False  # lifecycle_stage "deleted": hidden from searches, until `mlflow gc`

    def input(self, context: str) -> RecordedInput | None:
        return next((item for item in self.inputs if item.context == context), None)

    @property
    def task(self) -> str:
        """The declared task (tag ``task``), else the one the metric names imply."""
        return recorded_task(self.tags.get("task"), self.metrics)

    @property
    def made_here(self) -> bool:
        """Made by this project (train, compare, the pipeline, predict), not plain MLflow calls:
        only such a run records the config and splits that the gate and reproduce rebuild."""
        return "mlops.run_type" in self.tags

    @property
    def parent_run_id(self) -> str:
        return self.tags.get(PARENT_TAG, "")

    @property
    def duration_seconds(self) -> float | None:
        return (self.end_time - self.start_time) / 1000 if self.end_time else None


def _client() -> MlflowClient:
    from mlflow import MlflowClient

    return MlflowClient()


def fetch_run(run_id: str) -> Run:
    """The run's MLflow entity; ``RunNotFoundError`` (exit 2) if the store has no such run."""
    from mlflow.exceptions import MlflowException

    from mlops_tracking.runs.store import redact

    client = _client()
    try:
        run = client.get_run(run_id)
    except MlflowException:
        raise RunNotFoundError(
            f"no run '{run_id}' in the tracking store {redact(client.tracking_uri)}; list runs "
            "with `mlops-tracking runs`."
        ) from None
    return run


def read_run(run_id: str) -> RecordedRun:
    """The run as recorded; ``RunNotFoundError`` (exit 2) if the store has no such run."""
    run = fetch_run(run_id)
    return recorded(run, _client().get_experiment(run.info.experiment_id).name)


def recorded(run: Run, experiment: str) -> RecordedRun:
    """A ``RecordedRun`` from MLflow's entity."""
    return RecordedRun(
        run_id=run.info.run_id,
        run_name=run.info.run_name or "",
        experiment_id=run.info.experiment_id,
        experiment=experiment,
        status=run.info.status,
        start_time=int(run.info.start_time or 0),
        tags=dict(run.data.tags),
        metrics=dict(run.data.metrics),
        inputs=tuple(_input(item) for item in (run.inputs.dataset_inputs if run.inputs else [])),
        params=dict(run.data.params),
        end_time=int(run.info.end_time) if run.info.end_time else None,
        deleted=run.info.lifecycle_stage == "deleted",
    )


def _input(item: Any) -> RecordedInput:
    tags = {tag.key: tag.value for tag in item.tags}
    try:
        source = json.loads(item.dataset.source)
    except ValueError:
        source = {"uri": item.dataset.source}
    rows = tags.get("rows")
    return RecordedInput(
        name=item.dataset.name,
        digest=item.dataset.digest,
        context=tags.get("mlflow.data.context", ""),
        rows=int(rows) if rows and rows.isdigit() else None,
        source_type=item.dataset.source_type,
        source=source if isinstance(source, dict) else {"uri": str(source)},
        source_text=str(item.dataset.source),
    )


def search_runs(
    experiment: str | None = None,
    max_results: int = 100,
    order: Literal["newest", "oldest"] = "newest",
) -> list[RecordedRun]:
    """The runs of one experiment (by name), or of every experiment, newest or oldest first."""
    experiments = _experiments(experiment)
    if not experiments:
        return []
    direction = "DESC" if order == "newest" else "ASC"
    runs = _client().search_runs(
        list(experiments),
        order_by=[f"attributes.start_time {direction}"],
        max_results=max_results,
    )
    return [recorded(run, experiments[run.info.experiment_id]) for run in runs]


def _experiments(name: str | None) -> dict[str, str]:
    client = _client()
    if name is not None:
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            known = ", ".join(e.name for e in client.search_experiments()) or "none yet"
            raise RunNotFoundError(f"no experiment named '{name}'. Experiments: {known}.")
        return {experiment.experiment_id: experiment.name}
    return {e.experiment_id: e.name for e in client.search_experiments()}


def runs_with_inputs(max_results: int = 5000) -> list[RecordedRun]:
    """Every run in every experiment that logged at least one dataset, oldest first."""
    return [run for run in search_runs(None, max_results, order="oldest") if run.inputs]


def download_source(run_id: str, folder: Path) -> Path | None:
    """The package source a run logged, unpacked in ``folder``; None if it logged none.

    Runs keep it as ``source/mlops_tracking.zip``; earlier runs kept the tree itself.
    """
    import zipfile

    archive = download(run_id, SOURCE_ARCHIVE, folder / "archive")
    if archive is None:
        return download(run_id, SOURCE_DIR, folder)
    with zipfile.ZipFile(archive) as packed:
        packed.extractall(folder / "unpacked")
    return folder / "unpacked" / Path(SOURCE_DIR).name


def list_artifact_files(repository: ArtifactRepository, path: str | None = None) -> list[str]:
    """Every file of a run, listed through its artifact repository: one request a folder
    (``client.list_artifacts`` reads the run again for each one, three requests a folder)."""
    found: list[str] = []
    for entry in repository.list_artifacts(path):
        if entry.is_dir:
            found.extend(list_artifact_files(repository, entry.path))
        else:
            found.append(entry.path)
    return found


def download(run_id: str, path: str, folder: Path) -> Path | None:
    """Download a run's artifact file or folder into ``folder``; None if it was not logged."""
    from mlflow.artifacts import download_artifacts
    from mlflow.exceptions import MlflowException

    try:
        return Path(download_artifacts(run_id=run_id, artifact_path=path, dst_path=str(folder)))
    except (MlflowException, OSError):
        return None
