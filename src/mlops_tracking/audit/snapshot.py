"""Read one run and everything hanging off it back from the tracking store, once.

The snapshot is all the audit's items look at: the run, its artifacts, LoggedModels with their
MLmodel files (and what is wrong with those that were not completely written), step counts of
its curves, its child runs and its registered versions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlops_tracking.core.tasks import recorded_task
from mlops_tracking.runs.logged_models import RunModel, run_models
from mlops_tracking.runs.recorded import fetch_run, list_artifact_files

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import LoggedModel, Run

HISTORY_HINTS = ("loss", "accuracy")


@dataclass(frozen=True)
class RegisteredVersion:
    """A registry version whose source is the run, with the aliases it holds."""

    name: str
    version: str
    tags: dict[str, str]
    aliases: list[str]


@dataclass
class RunSnapshot:
    """Everything the audit reads about one run, fetched once from the store."""

    run: Run
    experiment: str
    artifacts: list[str]
    models: list[LoggedModel]
    flavors: dict[str, dict[str, Any]]
    model_files: dict[str, set[str]]
    history_steps: dict[str, int]
    children: list[Run]
    model_hyperparameters: list[str] | None = None
    versions: list[RegisteredVersion] = field(default_factory=list)
    incomplete: dict[str, str] = field(default_factory=dict)  # model id -> what is wrong

    @property
    def complete_models(self) -> list[LoggedModel]:
        return [model for model in self.models if model.model_id not in self.incomplete]

    @property
    def deleted(self) -> bool:
        return self.run.info.lifecycle_stage == "deleted"

    @property
    def tags(self) -> dict[str, str]:
        return dict(self.run.data.tags)

    @property
    def metrics(self) -> dict[str, float]:
        return dict(self.run.data.metrics)

    @property
    def params(self) -> dict[str, str]:
        return dict(self.run.data.params)

    @property
    def profile(self) -> str:
        kind = self.tags.get("mlops.run_type")
        if kind in {"sweep", "sweep_trial"}:
            return kind
        if kind == "comparison" or (self.children and not self.models):
            return "comparison"
        return "training"

    @property
    def task(self) -> str:
        return recorded_task(self.tags.get("task"), self.metrics)

    @property
    def classification(self) -> bool:
        return self.task != "regression"


def _model_metadata(model: RunModel) -> dict[str, Any]:
    """Flavors of a LoggedModel read from its MLmodel, with its signature and input example
    (empty for a model that was not completely written)."""
    if model.problem is not None or model.mlmodel is None:
        return {}
    flavors = model.flavors
    flavors["_signature"] = model.mlmodel.get("signature")
    flavors["_input_example"] = model.mlmodel.get("saved_input_example_info")
    return flavors


def _summary_hyperparameters(run_id: str, artifacts: list[str]) -> list[str] | None:
    """The estimator's hyperparameter names from the run's model/summary.json, if it has one."""
    if "model/summary.json" not in artifacts:
        return None
    from mlflow.artifacts import load_dict

    summary = load_dict(f"runs:/{run_id}/model/summary.json")
    return list(summary.get("hyperparameters", {}))


def snapshot(run_id: str) -> RunSnapshot:
    """Read one run and everything hanging off it from the store."""
    from mlflow import MlflowClient
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    run = fetch_run(run_id)
    client = MlflowClient()
    experiment = client.get_experiment(run.info.experiment_id).name
    models = run_models(run)
    flavors = {model.model_id: _model_metadata(model) for model in models}
    files = {model.model_id: set(model.files) for model in models}
    incomplete = {model.model_id: model.problem for model in models if model.problem}
    history = {
        key: len({m.step for m in client.get_metric_history(run_id, key)})
        for key in run.data.metrics
        if any(hint in key for hint in HISTORY_HINTS)
    }
    children = client.search_runs(
        [run.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{run_id}'"
    )
    artifacts = list_artifact_files(get_artifact_repository(run.info.artifact_uri))
    return RunSnapshot(
        run,
        experiment,
        artifacts,
        [model.entity for model in models],
        flavors,
        files,
        history,
        list(children),
        _summary_hyperparameters(run_id, artifacts),
        _registered_versions(client, run_id),
        incomplete,
    )


def _registered_versions(client: MlflowClient, run_id: str) -> list[RegisteredVersion]:
    """Registry versions made from the run, with the aliases each holds."""
    from mlops_tracking.registry.catalog import aliases_by_version

    held = {}
    found = []
    for version in client.search_model_versions(f"run_id='{run_id}'"):
        if version.name not in held:
            held[version.name] = aliases_by_version(version.name)
        number = str(version.version)
        aliases = held[version.name].get(number, [])
        found.append(RegisteredVersion(version.name, number, dict(version.tags), aliases))
    return sorted(found, key=lambda v: (v.name, int(v.version)))
