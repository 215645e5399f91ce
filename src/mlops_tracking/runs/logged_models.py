"""The LoggedModels a run produced, whoever logged them, and whether each was completely written.

In MLflow 3 a model is a LoggedModel, not a run artifact. ``log_model`` records it in the run's
outputs before it saves the files; ``initialize_logged_model`` creates one that names the run as
its source without adding it to the outputs. A run's models are therefore the union of its
outputs and the LoggedModels whose ``source_run_id`` is the run, so models logged by plain
MLflow calls (``mlflow.sklearn.log_model``, autolog) are found as surely as ours.

A model whose logging was interrupted stays ``PENDING``; one whose save raised is ``FAILED``;
either may have no ``MLmodel`` file. Such a model is reported with what is wrong (``problem``),
never read as if it were complete.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import LoggedModel, Run

MLMODEL = "MLmodel"
EXTERNAL_TAG = "mlflow.model.isExternal"  # mlflow.utils.mlflow_tags.MLFLOW_MODEL_IS_EXTERNAL


@dataclass(frozen=True)
class RunModel:
    """One LoggedModel of a run, its MLmodel (when written) and why it is unusable (if so)."""

    entity: LoggedModel
    mlmodel: dict[str, Any] | None
    files: frozenset[str] = field(default_factory=frozenset)
    problem: str | None = None

    @property
    def model_id(self) -> str:
        return str(self.entity.model_id)

    @property
    def name(self) -> str:
        return str(self.entity.name)

    @property
    def uri(self) -> str:
        return f"models:/{self.model_id}"

    @property
    def flavors(self) -> dict[str, Any]:
        return dict((self.mlmodel or {}).get("flavors", {}))

    def describe(self) -> str:
        """``name (models:/m-…)``, and what is wrong with it when something is."""
        text = f"{self.name} ({self.uri})"
        return f"{text}: {self.problem}" if self.problem else text


def run_models(run: Run) -> list[RunModel]:
    """Every LoggedModel of ``run`` (its outputs and those naming it as source), oldest first."""
    from mlflow import MlflowClient

    client = MlflowClient()
    outputs = [output.model_id for output in (run.outputs.model_outputs if run.outputs else [])]
    sourced = client.search_logged_models(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"source_run_id = '{run.info.run_id}'",
    )
    found = {model.model_id: model for model in sourced}
    for model_id in outputs:
        if model_id not in found:
            found[model_id] = client.get_logged_model(model_id)
    models = sorted(found.values(), key=lambda model: (model.creation_timestamp, model.model_id))
    return [read_model(client, model) for model in models]


def read_model(client: MlflowClient, model: LoggedModel) -> RunModel:
    """The model with its MLmodel file parsed, or the reason it cannot be used."""
    status = str(model.status)
    if model.tags.get(EXTERNAL_TAG, "false").lower() == "true":
        return RunModel(model, None, problem="an external model: its files live outside MLflow")
    files = _files(model.artifact_location)
    mlmodel = _mlmodel(model.artifact_location) if MLMODEL in files else None
    if status != "READY":
        detail = f" ({model.status_message})" if model.status_message else ""
        why = (
            "logging was interrupted or is still running"
            if status == "PENDING"
            else ("logging raised an error before it finished")
        )
        return RunModel(model, mlmodel, files, f"status {status}{detail}: {why}")
    if mlmodel is None:
        return RunModel(model, None, files, "no MLmodel file in its artifacts (not written)")
    return RunModel(model, mlmodel, files)


def _files(location: str) -> frozenset[str]:
    """The file names at the top of the model's artifact folder (none when it was never made)."""
    from mlflow.artifacts import list_artifacts
    from mlflow.exceptions import MlflowException

    try:
        entries = list_artifacts(location)
    except (MlflowException, OSError):
        return frozenset()
    return frozenset(entry.path.rsplit("/", 1)[-1] for entry in entries)


def _mlmodel(location: str) -> dict[str, Any] | None:
    import yaml
    from mlflow.artifacts import download_artifacts
    from mlflow.exceptions import MlflowException

    try:
        path = download_artifacts(f"{location}/{MLMODEL}")
        with open(path, encoding="utf-8") as handle:  # noqa: PTH123
            parsed = yaml.safe_load(handle)
    except (MlflowException, OSError, yaml.YAMLError):
        return None
    return parsed if isinstance(parsed, dict) else None
