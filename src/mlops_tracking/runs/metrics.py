"""Batched logging of params, step-indexed histories and model-linked metrics.

Every write here is a ``log_batch`` of up to MLflow's limits (1000 metrics, 100 params per
call): a 200-step history of four curves is one call, not 800 round trips.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, TypeVar

from mlops_tracking.core.metric_links import links_to_model, metric_split

if TYPE_CHECKING:
    from mlflow.data.dataset import Dataset as MlflowDataset

    from mlops_tracking.core.training import History

METRICS_PER_BATCH = 1000
PARAMS_PER_BATCH = 100
T = TypeVar("T")


def _chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def log_params(run_id: str, params: Mapping[str, str]) -> None:
    from mlflow import MlflowClient
    from mlflow.entities import Param

    client = MlflowClient()
    entries = [Param(key, value) for key, value in params.items()]
    for chunk in _chunks(entries, PARAMS_PER_BATCH):
        client.log_batch(run_id, params=list(chunk))


def log_history(run_id: str, history: History) -> int:
    """Log every curve of ``history`` at its steps; return the number of points written."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    points = [
        Metric(key, value, now, step)
        for key, values in history.series.items()
        for step, value in zip(history.steps, values, strict=True)
    ]
    _log_metric_entities(run_id, points)
    return len(points)


def log_metrics(
    run_id: str,
    metrics: Mapping[str, float],
    model_ids: Sequence[str | None] = (),
    datasets: Mapping[str, MlflowDataset] | None = None,
    timestamp: int | None = None,
) -> None:
    """Log final metrics on the run, each linked to the LoggedModels and the data it is about.

    ``datasets`` maps split names (``validation``, ``test``) to the MLflow datasets of the run;
    ``core.metric_links`` decides per key: ``validation_*`` links to the validation dataset,
    ``test_*`` to the test dataset, other measurements to the models alone, ``system/*`` to
    nothing but the run. A metric logged with a ``model_id`` shows on the model's page (and in
    the Models tab) as well as on the run; identical (key, value, step, timestamp) rows collapse
    to one point in the run's history, so linking one metric to four models still leaves one
    point per key.
    """
    from mlflow.entities import Metric

    now = timestamp if timestamp is not None else int(time.time() * 1000)
    entities = []
    for key, value in metrics.items():
        dataset = _dataset_of(key, datasets or {})
        name = dataset.name if dataset is not None else None
        digest = dataset.digest if dataset is not None else None
        linked = list(model_ids) if links_to_model(key) else []
        entities += [
            Metric(
                key,
                float(value),
                now,
                0,
                model_id=model_id,
                dataset_name=name,
                dataset_digest=digest,
            )
            for model_id in linked or [None]
        ]
    _log_metric_entities(run_id, entities)


def _dataset_of(key: str, datasets: Mapping[str, MlflowDataset]) -> MlflowDataset | None:
    split = metric_split(key)
    return datasets.get(split) if split is not None else None


def set_tags(run_id: str, tags: Mapping[str, str]) -> None:
    """Set run tags in one batch (tag values are limited to 8000 characters)."""
    from mlflow import MlflowClient
    from mlflow.entities import RunTag

    if tags:
        MlflowClient().log_batch(run_id, tags=[RunTag(k, str(v)[:8000]) for k, v in tags.items()])


def _log_metric_entities(run_id: str, entities: Sequence[object]) -> None:
    from mlflow import MlflowClient

    client = MlflowClient()
    for chunk in _chunks(entities, METRICS_PER_BATCH):
        client.log_batch(run_id, metrics=list(chunk))  # type: ignore[arg-type]
