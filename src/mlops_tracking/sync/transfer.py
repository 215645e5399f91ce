"""Copy every ended run of one store into another, once: the spool to its server, or a whole
local store to a new home.

Each run goes to ``--to`` when given, else to the server it was spooled for
(``mlops.spool.target``), else to ``MLFLOW_TRACKING_URI``. Parents are copied before their
children (``mlflow.parentRunId`` is remapped), runs in the order they started. A run already
copied is skipped (``sync/id_map.py``); after each copy the copy is compared with its original
(``sync/check.py``). Server runs a mid-run outage left behind (``mlops.spool.abandoned``) are
ended KILLED with a tag naming their synced copy. The registry is not copied.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from mlops_tracking.core.errors import StoreError
from mlops_tracking.runs.spool import ABANDONED_TAG, TARGET_TAG
from mlops_tracking.sync.check import differences
from mlops_tracking.sync.id_map import (
    NOTE_TAG,
    REPLACED_BY_TAG,
    SOURCE_TAG,
    IdMap,
    abandoned_note,
    copied_to_tag,
    existing_copies,
    source_value,
    store_id,
)
from mlops_tracking.sync.replay import PARENT_TAG, Stores, replay_run

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

    from mlops_tracking.core.config import HttpConfig

Action = Literal["copied", "skipped"]


@dataclass(frozen=True)
class RunSync:
    """What happened to one run of the source store."""

    run_id: str
    run_name: str
    experiment: str
    action: Action
    detail: str
    copy_id: str | None = None
    destination: str = ""
    metrics: int = 0
    artifacts: int = 0
    models: int = 0
    differences: tuple[str, ...] = ()
    ended: tuple[str, ...] = ()  # abandoned server runs this copy ended KILLED


@dataclass
class SyncSummary:
    runs: list[RunSync] = field(default_factory=list)

    def count(self, action: Action) -> int:
        return sum(run.action == action for run in self.runs)

    def total(self, what: Literal["metrics", "artifacts", "models"]) -> int:
        return sum(getattr(run, what) for run in self.runs)

    @property
    def faithful(self) -> bool:
        return not any(run.differences for run in self.runs)


def sync_store(
    source_uri: str,
    to: str | None,
    http: HttpConfig,
    report: Callable[[RunSync], None],
) -> SyncSummary:
    """Copy every ended run of ``source_uri`` to its destination; ``report`` each as it goes."""
    from mlflow import MlflowClient

    from mlops_tracking.runs.store import open_store

    open_store(source_uri, http)
    source = MlflowClient(source_uri)
    summary = SyncSummary()
    for destination_uri, runs in _by_destination(source, to).items():
        if store_id(destination_uri) == store_id(source_uri):
            raise StoreError(
                f"cannot sync {store_id(source_uri)} into itself: pass --to with another store "
                "(or set MLFLOW_TRACKING_URI to it)"
            )
        open_store(destination_uri, http)  # also makes it MLflow's current store
        stores = Stores(
            source,
            MlflowClient(destination_uri),
            IdMap(store_id(source_uri), store_id(destination_uri)),
        )
        experiments = _Experiments(stores)
        for run in runs:
            result = _sync_run(stores, experiments, run)
            summary.runs.append(result)
            report(result)
    return summary


def ended_runs(client: MlflowClient) -> list[Run]:
    """Every active run of the store, parents before children, each level by start time."""
    from mlflow.entities import ViewType

    experiments = [e.experiment_id for e in client.search_experiments(ViewType.ACTIVE_ONLY)]
    runs: list[Run] = []
    token: str | None = None
    while experiments:
        page = client.search_runs(experiments, max_results=1000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            break
    known = {run.info.run_id: run for run in runs}

    def depth(run: Run) -> int:
        parent, seen = run.data.tags.get(PARENT_TAG), 0
        while parent in known and seen < 50:
            parent, seen = known[parent].data.tags.get(PARENT_TAG), seen + 1
        return seen

    return sorted(runs, key=lambda run: (depth(run), run.info.start_time or 0, run.info.run_id))


def _by_destination(source: MlflowClient, to: str | None) -> dict[str, list[Run]]:
    fallback = to or os.environ.get("MLFLOW_TRACKING_URI")
    grouped: dict[str, list[Run]] = {}
    for run in ended_runs(source):
        destination = to or run.data.tags.get(TARGET_TAG) or fallback
        if not destination:
            raise StoreError(
                f"run {run.info.run_id} names no server to sync to (no {TARGET_TAG} tag): pass "
                "--to URI or set MLFLOW_TRACKING_URI"
            )
        grouped.setdefault(destination, []).append(run)
    return grouped


class _Experiments:
    """Destination experiments by source experiment id, and the copies each already holds."""

    def __init__(self, stores: Stores) -> None:
        self.stores = stores
        self.ids: dict[str, str] = {}
        self.names: dict[str, str] = {}
        self.copies: dict[str, dict[str, Run]] = {}

    def destination_of(self, experiment_id: str) -> str:
        from mlops_tracking.runs.store import ensure_experiment

        if experiment_id not in self.ids:
            experiment = self.stores.source.get_experiment(experiment_id)
            # ensure_experiment works on MLflow's current store: the destination (sync_store)
            created = ensure_experiment(experiment.name, dict(experiment.tags))
            self.ids[experiment_id] = created
            self.names[experiment_id] = experiment.name
            self.copies[created] = existing_copies(
                self.stores.destination, created, self.stores.ids.source
            )
        return self.ids[experiment_id]


def _sync_run(stores: Stores, experiments: _Experiments, run: Run) -> RunSync:
    info = run.info
    skipped = _reason_to_skip(stores, run)
    experiment_id = experiments.destination_of(info.experiment_id) if skipped is None else ""
    outcome = RunSync(
        info.run_id,
        info.run_name,
        experiments.names.get(info.experiment_id, info.experiment_id),
        "skipped",
        skipped or "",
        destination=stores.ids.destination,
    )
    if skipped is not None:
        return outcome
    existing = experiments.copies[experiment_id].get(info.run_id)
    replaced = ""
    if existing is not None and existing.info.status != "RUNNING":
        stores.ids.runs[info.run_id] = existing.info.run_id
        _map_models(stores, existing)
        _mark_original(stores, run, existing.info.run_id)
        ended = _end_abandoned(stores, run, existing.info.run_id)
        detail = f"already copied as {existing.info.run_id}"
        return _replace(outcome, detail=detail, copy_id=existing.info.run_id, ended=ended)
    if existing is not None:  # a copy interrupted halfway: start again
        _discard(stores.destination, existing)
        replaced = f" (replacing the interrupted copy {existing.info.run_id})"
    copied = replay_run(stores, run, experiment_id)
    found = differences(stores, run, stores.destination.get_run(copied.run_id))
    _mark_original(stores, run, copied.run_id)
    ended = _end_abandoned(stores, run, copied.run_id)
    return RunSync(
        info.run_id,
        info.run_name,
        outcome.experiment,
        "copied",
        f"copied as {copied.run_id}{replaced}",
        copied.run_id,
        stores.ids.destination,
        copied.metrics,
        copied.artifacts,
        copied.models,
        tuple(found),
        ended,
    )


def _replace(outcome: RunSync, **changes: object) -> RunSync:
    from dataclasses import replace

    return replace(outcome, **changes)  # type: ignore[arg-type]


def _reason_to_skip(stores: Stores, run: Run) -> str | None:
    if run.info.status == "RUNNING":
        return (
            "still RUNNING: only ended runs are copied (`mlops-tracking runs --reap` ends a "
            "stale one)"
        )
    origin = run.data.tags.get(SOURCE_TAG, "")
    if origin.startswith(f"{stores.ids.destination}/"):
        return f"is itself a copy of {origin}"
    return None


def _map_models(stores: Stores, copy: Run) -> None:
    """Learn the model ids of an earlier copy, for later runs that take its models as input."""
    from mlops_tracking.sync.replay import source_models

    for model in source_models(stores.destination, copy):
        origin = model.tags.get(SOURCE_TAG, "")
        if origin.startswith(f"{stores.ids.source}/"):
            stores.ids.models[origin.rsplit("/", 1)[-1]] = model.model_id


def _mark_original(stores: Stores, run: Run, copy_id: str) -> None:
    tag = copied_to_tag(stores.ids.destination)
    value = source_value(stores.ids.destination, copy_id)
    if run.data.tags.get(tag) != value:
        stores.source.set_tag(run.info.run_id, tag, value)


def _end_abandoned(stores: Stores, run: Run, copy_id: str) -> tuple[str, ...]:
    """End KILLED the server runs an outage left RUNNING, naming the copy that replaces them."""
    from mlflow.exceptions import MlflowException

    ended: list[str] = []
    for run_id in filter(None, run.data.tags.get(ABANDONED_TAG, "").split(",")):
        try:
            abandoned = stores.destination.get_run(run_id)
        except MlflowException:  # not on this server (synced elsewhere with --to)
            continue
        if REPLACED_BY_TAG not in abandoned.data.tags:
            stores.destination.set_tag(run_id, REPLACED_BY_TAG, copy_id)
            stores.destination.set_tag(run_id, NOTE_TAG, abandoned_note(copy_id))
        if abandoned.info.status == "RUNNING":
            stores.destination.set_terminated(run_id, status="KILLED")
            ended.append(run_id)
    return tuple(ended)


def _discard(client: MlflowClient, partial: Run) -> None:
    """Delete an interrupted copy and the models it had started."""
    from mlops_tracking.sync.replay import source_models

    for model in source_models(client, partial):
        client.delete_logged_model(model.model_id)
    client.delete_run(partial.info.run_id)
