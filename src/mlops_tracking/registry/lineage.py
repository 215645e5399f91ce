"""Lineage: from a registered version (or a LoggedModel) back to its run, data and commit.

Everything is read from the tracking store, so the answer holds for any run in it, whoever
made it; what a run did not record is ``None`` (JSON ``null``, "not recorded" when printed)
rather than guessed. The one thing read rather than recorded is the task of a run that did not
declare one: its metric names tell it (``task_from`` says where it came from).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mlops_tracking.core.errors import RunNotFoundError
from mlops_tracking.registry.catalog import (
    ONNX_SUFFIX,
    RegistryError,
    VersionRef,
    aliases_by_version,
    client,
    resolve,
)
from mlops_tracking.runs.context import GIT_BRANCH, GIT_COMMIT
from mlops_tracking.runs.recorded import RecordedInput, RecordedRun, fetch_run, read_run


def iso(epoch_ms: int | None) -> str | None:
    if not epoch_ms:
        return None
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="seconds")


def lineage(reference: str) -> dict[str, Any]:
    """The lineage of ``NAME@ALIAS``, ``NAME/VERSION``, ``models:/…`` or ``models:/m-…``."""
    if reference.startswith("models:/m-"):
        model_id = reference.removeprefix("models:/")
        run_id, model = _logged_model(model_id)
    else:
        ref = resolve(reference)
        run_id, model = _registered(ref)
    try:
        run = read_run(run_id)
    except RunNotFoundError:
        raise RegistryError(f"the source run {run_id} is no longer in this store") from None
    return {"model": model, **run_lineage(run), "model_metrics": model_metrics(model)}


def model_metrics(model: dict[str, Any]) -> list[dict[str, Any]]:
    """The metrics linked to the version's LoggedModel, each with the dataset it was computed on.

    Empty when the version's source is not a LoggedModel (``models:/m-...``) of this store.
    """
    from mlflow.exceptions import MlflowException

    uri = str(model.get("logged_model") or "")
    if not uri.startswith("models:/m-"):
        return []
    try:
        logged = client().get_logged_model(uri.removeprefix("models:/"))
    except MlflowException:
        return []
    return [
        {"key": m.key, "value": m.value, "dataset": m.dataset_name, "digest": m.dataset_digest}
        for m in logged.metrics or []
    ]


def _logged_model(model_id: str) -> tuple[str, dict[str, Any]]:
    from mlflow.exceptions import MlflowException

    try:
        logged = client().get_logged_model(model_id)
    except MlflowException:
        raise RegistryError(f"no logged model '{model_id}' in this store") from None
    versions = [
        {"name": v.name, "version": str(v.version)}
        for v in client().search_model_versions(f"run_id='{logged.source_run_id}'")
        # MLflow 3.17's SQL store reads model_id back as None; the source keeps the model URI
        if model_id in {getattr(v, "model_id", None), str(v.source).removeprefix("models:/")}
    ]
    model = {
        "name": None,
        "version": None,
        "logged_model": f"models:/{model_id}",
        "status": str(logged.status),
        "registered_as": versions,
        "aliases": [],
        "tags": dict(logged.tags),
    }
    return str(logged.source_run_id), model


def _registered(ref: VersionRef) -> tuple[str, dict[str, Any]]:
    version = client().get_model_version(ref.name, ref.version)
    aliases = aliases_by_version(ref.name).get(ref.version, [])
    tags = dict(version.tags)
    onnx = None
    if "onnx.version" in tags:
        onnx = {"name": ref.name + ONNX_SUFFIX, "version": tags["onnx.version"]}
    model = {
        "name": ref.name,
        "version": ref.version,
        "uri": ref.uri,
        "reached_by": ref.alias,
        "aliases": aliases,
        "lifecycle": tags.get("lifecycle"),
        "deployment_status": tags.get("deployment.status"),
        "logged_model": f"models:/{version.model_id}" if version.model_id else version.source,
        "registered_at": iso(version.creation_timestamp),
        "onnx": onnx,
        "tags": tags,
    }
    if not version.run_id:
        raise RegistryError(f"{ref} records no source run, so it has no lineage to follow")
    return str(version.run_id), model


def run_lineage(run: RecordedRun) -> dict[str, Any]:
    """A run's side of the lineage: run, params, metrics, datasets, code and environment."""
    tags = run.tags
    return {
        "run": {
            "id": run.run_id,
            "name": run.run_name,
            "experiment": {"id": run.experiment_id, "name": run.experiment},
            "status": run.status,
            "start": iso(run.start_time),
            "end": iso(run.end_time),
            "deleted": run.deleted,
            "parent": _parent(run.parent_run_id),
            "author": tags.get("author") or tags.get("mlflow.user"),
            "task": run.task,
            "task_from": _task_source(run),
            # autolog names the estimator in estimator_name
            "family": tags.get("model.family") or tags.get("estimator_name"),
        },
        "params": dict(sorted(run.params.items())),
        "metrics": dict(sorted(run.metrics.items())),
        "datasets": [_dataset(item) for item in run.inputs],
        "code": {
            "commit": tags.get(GIT_COMMIT),
            "branch": tags.get(GIT_BRANCH),
            "dirty": tags.get("git.dirty"),
            "command": tags.get("mlops.command"),
        },
        "environment": {k.removeprefix("env."): v for k, v in tags.items() if k.startswith("env.")},
    }


def _task_source(run: RecordedRun) -> str:
    """Where ``task`` comes from: the run's tag, its metric names, or the default (neither)."""
    if run.tags.get("task"):
        return "tag"
    own = [name for name in run.metrics if not name.startswith("system/")]
    return "metric names" if own else "default"


def _parent(parent_id: str) -> dict[str, str] | None:
    if not parent_id:
        return None
    try:
        parent = fetch_run(parent_id)
    except RunNotFoundError:
        return {"id": parent_id, "name": "(deleted)"}
    return {"id": parent_id, "name": parent.info.run_name}


def _dataset(item: RecordedInput) -> dict[str, Any]:
    return {
        "name": item.name,
        "digest": item.digest,
        "context": item.context or None,
        "rows": None if item.rows is None else str(item.rows),  # as MLflow stores the tag
        "source_type": item.source_type,
        "source": item.source_text,
    }
