"""Read what a report shows about each run: the run, its experiment, and a few artifacts.

Each run's artifacts go through one artifact repository (``get_artifact_repository``): against
a server that is one listing request per folder and one download per file, instead of the
client's run lookup before every call.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_tracking.core.errors import ReportError
from mlops_tracking.core.run_report import DatasetInput, RunFacts, parse_pip_freeze
from mlops_tracking.runs.recorded import fetch_run, list_artifact_files, recorded
from mlops_tracking.runs.ui import run_url

if TYPE_CHECKING:
    from mlflow.entities import Run
    from mlflow.store.artifact.artifact_repo import ArtifactRepository

DIRTY_DIFF = "source/git.diff"  # runs/context.py stage_source
PIP_FREEZE = "environment/pip-freeze.txt"  # runs/context.py stage_environment
PYTHON_DETAILS = "environment/python.json"
PLOT_SUFFIX = ".png"


def check_run_ids(run_ids: Sequence[str]) -> list[str]:
    """The ids stripped; ``ReportError`` for fewer than two or one given twice."""
    ids = [run_id.strip() for run_id in run_ids if run_id.strip()]
    if len(ids) < 2:
        raise ReportError(
            f"a report compares two or more runs; {len(ids)} given. List runs with "
            "`mlops-tracking runs`, then `mlops-tracking report RUN_ID RUN_ID`."
        )
    repeated = sorted({run_id for run_id in ids if ids.count(run_id) > 1})
    if repeated:
        raise ReportError(f"run {', '.join(repeated)} is given more than once; name each once.")
    return ids


def read_runs(run_ids: Sequence[str]) -> list[RunFacts]:
    """Every run's facts; every id is looked up before any artifact is read, so an unknown one
    fails (``RunNotFoundError``) at once."""
    from mlflow import MlflowClient

    runs = [fetch_run(run_id) for run_id in check_run_ids(run_ids)]
    client = MlflowClient()
    experiments: dict[str, str] = {}
    for run in runs:
        experiment_id = run.info.experiment_id
        if experiment_id not in experiments:
            experiments[experiment_id] = client.get_experiment(experiment_id).name
    return [facts(run, experiments[run.info.experiment_id]) for run in runs]


def facts(run: Run, experiment: str) -> RunFacts:
    """One run's facts, its artifacts read through one artifact repository."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    row = recorded(run, experiment)
    repository = get_artifact_repository(run.info.artifact_uri)
    files = set(list_artifact_files(repository))
    with tempfile.TemporaryDirectory(prefix="mlops-report-") as folder:
        artifacts = RunArtifacts(repository, files, Path(folder))
        freeze = artifacts.text(PIP_FREEZE)
        return RunFacts(
            run_id=row.run_id,
            name=row.run_name,
            experiment_id=row.experiment_id,
            experiment=row.experiment,
            status=row.status,
            start_time=row.start_time,
            end_time=row.end_time,
            url=run_url(row.experiment_id, row.run_id),
            params=row.params,
            metrics=row.metrics,
            tags=row.tags,
            datasets=tuple(
                DatasetInput(item.name, item.digest, item.source_text, item.context)
                for item in row.inputs
            ),
            dirty_diff=artifacts.text(DIRTY_DIFF),
            packages=None if freeze is None else parse_pip_freeze(freeze),
            python=artifacts.python_version() or row.tags.get("env.python"),
            plots={
                path: artifacts.read(path)
                for path in sorted(files)
                if path.lower().endswith(PLOT_SUFFIX)
            },
        )


class RunArtifacts:
    """Files of one run, downloaded on demand into a scratch folder."""

    def __init__(self, repository: ArtifactRepository, files: set[str], folder: Path) -> None:
        self.repository = repository
        self.files = files
        self.folder = folder

    def read(self, path: str) -> bytes:
        # ArtifactRepository.download_artifacts carries no annotations in MLflow 3.17
        local = self.repository.download_artifacts(path, dst_path=str(self.folder))  # type: ignore[no-untyped-call]
        return Path(local).read_bytes()

    def text(self, path: str) -> str | None:
        """The file as text; None when the run did not log it."""
        if path not in self.files:
            return None
        return self.read(path).decode("utf-8", errors="replace")

    def python_version(self) -> str | None:
        """The first word of ``sys.version`` the run logged (``3.11.2``)."""
        text = self.text(PYTHON_DETAILS)
        if text is None:
            return None
        try:
            version = json.loads(text).get("version", "")
        except (ValueError, AttributeError):
            return None
        return str(version).split(" ")[0] or None
