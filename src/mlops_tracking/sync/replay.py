"""Replay one run from a source store into a destination store, whole.

The copy gets the original's experiment (by name), run name, start and end times, status,
params, metric histories (steps and timestamps), tags (``mlflow.parentRunId`` remapped),
dataset inputs (same digests and contexts), LoggedModels (name, params, tags, type, files,
status, and the metrics linked to them with their datasets), model inputs and outputs, and
every artifact. The run ends with the original's status last, which marks the copy complete
(``sync/id_map.py``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from mlops_tracking.sync.id_map import SOURCE_TAG, SYNC_TAG_PREFIX, IdMap

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import LoggedModel, Metric, Run

RUN_NAME_TAG = "mlflow.runName"  # mlflow.utils.mlflow_tags.MLFLOW_RUN_NAME
PARENT_TAG = "mlflow.parentRunId"  # MLFLOW_PARENT_RUN_ID
# MLflow's LogBatch limits (mlflow.utils.validation): 1000 metrics, 100 params, 100 tags.
METRICS_PER_BATCH = 1000
PARAMS_PER_BATCH = 100
TAGS_PER_BATCH = 100

Item = TypeVar("Item")


@dataclass(frozen=True)
class Stores:
    """The two clients of a sync and the id map between them."""

    source: MlflowClient
    destination: MlflowClient
    ids: IdMap


@dataclass(frozen=True)
class Copied:
    """What replaying one run wrote."""

    run_id: str
    metrics: int  # metric values (history entries) written
    artifacts: int  # run artifact files
    models: int


def chunks(items: Sequence[Item], size: int) -> Iterator[Sequence[Item]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def copy_tags(run: Run, ids: IdMap) -> dict[str, str]:
    """The original's tags for the copy: sync's own left out, the parent remapped."""
    tags = {
        key: value
        for key, value in run.data.tags.items()
        if key != RUN_NAME_TAG and not key.startswith(SYNC_TAG_PREFIX)
    }
    parent = tags.pop(PARENT_TAG, None)
    if parent is not None and parent in ids.runs:
        tags[PARENT_TAG] = ids.runs[parent]
    tags[SOURCE_TAG] = ids.source_of(run.info.run_id)
    return tags


def replay_run(stores: Stores, run: Run, experiment_id: str) -> Copied:
    """Copy ``run`` into ``experiment_id`` of the destination; return what was written."""
    from mlflow.entities import Param

    source, destination = stores.source, stores.destination
    original = run.info.run_id
    copy = destination.create_run(
        experiment_id,
        start_time=run.info.start_time,
        tags=copy_tags(run, stores.ids),
        run_name=run.info.run_name,
    ).info.run_id
    stores.ids.runs[original] = copy
    params = [Param(key, value) for key, value in run.data.params.items()]
    for batch in chunks(params, PARAMS_PER_BATCH):
        destination.log_batch(copy, params=batch)
    if run.inputs and run.inputs.dataset_inputs:
        destination.log_inputs(copy, datasets=run.inputs.dataset_inputs)
    models = source_models(source, run)
    linked = [copy_model(stores, model, experiment_id, copy) for model in models]
    metrics = _copy_metrics(stores, run, copy, [m for ms in linked for m in ms])
    _copy_model_links(stores, run, copy)
    artifacts = copy_artifacts(source, destination, original, copy)
    destination.set_terminated(copy, status=run.info.status, end_time=run.info.end_time)
    return Copied(copy, metrics, artifacts, len(models))


def source_models(client: MlflowClient, run: Run) -> list[LoggedModel]:
    """The run's LoggedModels: those naming it as source and those in its outputs."""
    sourced = client.search_logged_models(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"source_run_id = '{run.info.run_id}'",
    )
    found = {model.model_id: model for model in sourced}
    outputs = run.outputs.model_outputs if run.outputs else []
    for output in outputs:
        if output.model_id not in found:
            found[output.model_id] = client.get_logged_model(output.model_id)
    return sorted(found.values(), key=lambda model: (model.creation_timestamp, model.model_id))


def copy_model(
    stores: Stores, model: LoggedModel, experiment_id: str, copy_run: str
) -> list[Metric]:
    """Create the model's copy with its files and status; return its metrics to link.

    The metrics come back remapped (the copy's model id and run) for ``_copy_metrics`` to write
    with the run's own, since MLflow links a metric to a model as the run logs it.
    """
    from mlflow.entities import Metric

    created = stores.destination.create_logged_model(
        experiment_id,
        name=model.name,
        source_run_id=copy_run if model.source_run_id else None,
        tags={**model.tags, SOURCE_TAG: stores.ids.source_of(model.model_id)},
        params=dict(model.params),
        model_type=model.model_type,
    )
    stores.ids.models[model.model_id] = created.model_id
    _copy_model_files(stores, model, created.model_id)
    status = str(model.status)
    if status in ("READY", "FAILED"):
        stores.destination.finalize_logged_model(created.model_id, status)  # type: ignore[arg-type]
    original_run = model.source_run_id
    return [
        Metric(
            metric.key,
            metric.value,
            metric.timestamp,
            metric.step,
            model_id=created.model_id,
            dataset_name=metric.dataset_name,
            dataset_digest=metric.dataset_digest,
            run_id=copy_run,
        )
        for metric in model.metrics or []
        if metric.run_id in (None, original_run)
    ]


def _copy_model_files(stores: Stores, model: LoggedModel, model_id: str) -> None:
    from mlflow.artifacts import download_artifacts

    with tempfile.TemporaryDirectory(prefix="mlops-sync-") as scratch:
        if not stores.source.list_logged_model_artifacts(model.model_id):
            return
        local = download_artifacts(
            artifact_uri=model.artifact_location,
            dst_path=scratch,
            tracking_uri=stores.source.tracking_uri,
        )
        stores.destination.log_model_artifacts(model_id, local)


def _copy_metrics(stores: Stores, run: Run, copy: str, model_metrics: list[Metric]) -> int:
    """Write every metric history of the run, the model-linked values with their model."""
    linked = {(m.key, m.timestamp, m.step, m.value) for m in model_metrics}
    history = [
        metric
        for key in run.data.metrics
        for metric in stores.source.get_metric_history(run.info.run_id, key)
        if (metric.key, metric.timestamp, metric.step, metric.value) not in linked
    ]
    everything = [*model_metrics, *history]
    for batch in chunks(everything, METRICS_PER_BATCH):
        stores.destination.log_batch(copy, metrics=batch)
    return len(everything)


def _copy_model_links(stores: Stores, run: Run, copy: str) -> None:
    """The run's model outputs and inputs, with the copies' ids (inputs from other stores'
    models that were not copied are left out; the check reports them)."""
    from mlflow.entities import LoggedModelInput, LoggedModelOutput

    ids = stores.ids.models
    outputs = [
        LoggedModelOutput(ids[output.model_id], output.step)
        for output in (run.outputs.model_outputs if run.outputs else [])
        if output.model_id in ids
    ]
    if outputs:
        stores.destination.log_outputs(copy, outputs)
    inputs = [
        LoggedModelInput(ids[model.model_id])
        for model in (run.inputs.model_inputs if run.inputs and run.inputs.model_inputs else [])
        if model.model_id in ids
    ]
    if inputs:
        stores.destination.log_inputs(copy, models=inputs)


def copy_artifacts(
    source: MlflowClient, destination: MlflowClient, original: str, copy: str
) -> int:
    """Copy the run's whole artifact tree; return how many files it holds."""
    if not source.list_artifacts(original):
        return 0
    with tempfile.TemporaryDirectory(prefix="mlops-sync-") as scratch:
        local = Path(source.download_artifacts(original, "", scratch))
        destination.log_artifacts(copy, str(local))
        return sum(1 for path in _files(local))


def _files(folder: Path) -> Iterable[Path]:
    return (path for path in folder.rglob("*") if path.is_file())
