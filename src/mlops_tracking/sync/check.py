"""Compare a copy with its original, reading both stores: what differs, in words.

Compared: status, start and end times, run name, params, tags (sync's own left out, the parent
through the id map), every metric history (step, timestamp, value), dataset inputs (name,
digest, context), the artifact tree with file sizes, and each LoggedModel by name (type,
status, params, tags, linked metrics, files with sizes).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from mlops_tracking.sync.id_map import SOURCE_TAG, SYNC_TAG_PREFIX
from mlops_tracking.sync.replay import PARENT_TAG, RUN_NAME_TAG, Stores, source_models

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import FileInfo, LoggedModel, Run


def differences(stores: Stores, original: Run, copy: Run) -> list[str]:
    """Every way ``copy`` differs from ``original`` (empty: a faithful copy)."""
    found: list[str] = []
    info, copied = original.info, copy.info
    for field in ("status", "start_time", "end_time", "run_name"):
        if getattr(info, field) != getattr(copied, field):
            found.append(f"{field}: {getattr(info, field)} != {getattr(copied, field)}")
    found += _mapping("param", original.data.params, copy.data.params)
    found += _mapping("tag", _tags(original, stores), _tags(copy, None))
    found += _histories(stores, original, copy)
    found += _mapping("dataset input", _datasets(original), _datasets(copy))
    found += _mapping(
        "artifact",
        _tree(stores.source.list_artifacts, info.run_id),
        _tree(stores.destination.list_artifacts, copied.run_id),
    )
    found += _models(stores, original, copy)
    return found


def _tags(run: Run, stores: Stores | None) -> dict[str, str]:
    """The run's tags as the copy must have them (``stores``: map the original's parent)."""
    tags = {
        key: value
        for key, value in run.data.tags.items()
        if not key.startswith(SYNC_TAG_PREFIX) and key != RUN_NAME_TAG
    }
    if stores is not None and PARENT_TAG in tags:
        parent = tags[PARENT_TAG]
        tags[PARENT_TAG] = stores.ids.runs.get(parent, f"(not copied: {parent})")
    return tags


def _histories(stores: Stores, original: Run, copy: Run) -> list[str]:
    found: list[str] = []
    keys = set(original.data.metrics) | set(copy.data.metrics)
    for key in sorted(keys):
        before = _history(stores.source, original.info.run_id, key)
        after = _history(stores.destination, copy.info.run_id, key)
        if before != after:
            found.append(f"metric {key}: {len(before)} values != {len(after)} in the copy")
    return found


def _history(client: MlflowClient, run_id: str, key: str) -> list[tuple[int, int, float | str]]:
    return sorted(
        (m.step, m.timestamp, "nan" if math.isnan(m.value) else m.value)
        for m in client.get_metric_history(run_id, key)
    )


def _datasets(run: Run) -> dict[str, str]:
    inputs = run.inputs.dataset_inputs if run.inputs else []
    return {
        f"{item.dataset.name}@{item.dataset.digest}": ",".join(
            sorted(f"{tag.key}={tag.value}" for tag in item.tags)
        )
        for item in inputs
    }


def _tree(lister: Any, resource: str, path: str | None = None) -> dict[str, str]:
    """Every file under ``path`` and its size, from ``lister(resource, path)``."""
    files: dict[str, str] = {}
    entries: list[FileInfo] = lister(resource, path)
    for entry in entries:
        if entry.is_dir:
            files.update(_tree(lister, resource, entry.path))
        else:
            files[entry.path] = f"{entry.file_size} bytes"
    return files


def _models(stores: Stores, original: Run, copy: Run) -> list[str]:
    before = {m.name: m for m in source_models(stores.source, original)}
    after = {m.name: m for m in source_models(stores.destination, copy)}
    found = [f"model {name}: missing in the copy" for name in sorted(set(before) - set(after))]
    found += [f"model {name}: not in the original" for name in sorted(set(after) - set(before))]
    for name in sorted(set(before) & set(after)):
        described = _model(stores.source, before[name], original.info.run_id)
        copied = _model(stores.destination, after[name], copy.info.run_id)
        found += [f"model {name}: {text}" for text in _mapping("field", described, copied)]
    return found


def _model(client: MlflowClient, model: LoggedModel, run_id: str) -> dict[str, str]:
    """A LoggedModel as comparable text: everything but ids, times and locations."""
    fields = {
        "model_type": str(model.model_type),
        "status": str(model.status),
        **{f"param {k}": v for k, v in model.params.items()},
        **{f"tag {k}": v for k, v in model.tags.items() if k != SOURCE_TAG},
    }
    for metric in model.metrics or []:
        if metric.run_id in (None, run_id):
            key = f"metric {metric.key} step {metric.step} on {metric.dataset_name}"
            fields[key] = f"{metric.value} at {metric.timestamp} ({metric.dataset_digest})"
    files = _tree(client.list_logged_model_artifacts, model.model_id)
    fields.update({f"file {path}": size for path, size in files.items()})
    return fields


def _mapping(what: str, before: dict[str, str], after: dict[str, str]) -> list[str]:
    found = [f"{what} {key}: missing in the copy" for key in sorted(set(before) - set(after))]
    found += [f"{what} {key}: not in the original" for key in sorted(set(after) - set(before))]
    found += [
        f"{what} {key}: {before[key]!r} != {after[key]!r}"
        for key in sorted(set(before) & set(after))
        if before[key] != after[key]
    ]
    return found
