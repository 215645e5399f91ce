"""Rebuild a run's inputs from what it recorded, and prove them by the digests it logged.

The promotion gate (a candidate's held-out split) and ``reproduce`` (every split) both start
here. The recorded config selects the data; a run on DVC-versioned pipeline data gets its files
back from the DVC cache when the workspace has moved on; a relative CSV path falls back to the
absolute path the dataset source recorded. Whatever the route, a split is used only when its
MLflow digest equals the one the run logged: otherwise the data is not what the run saw, and
``RebuildError`` says which split, which file, and how to get the right version back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_tracking.core.errors import UserError
from mlops_tracking.runs.recorded import CONFIG_FILE, RecordedRun, download

if TYPE_CHECKING:
    from mlops_tracking.core.config import Config
    from mlops_tracking.core.records import TrainingInputs

# MLflow dataset contexts, in the order of the splits (train, validation, test).
CONTEXTS = ("training", "validation", "testing")


class RebuildError(UserError):
    """A run's inputs cannot be rebuilt as it logged them: its config or data is gone or changed."""


@dataclass(frozen=True)
class Rebuilt:
    """The run's inputs, proven: the splits asked for have the digests the run logged."""

    inputs: TrainingInputs
    digests: dict[str, str]  # context -> the digest proven equal to the logged one
    notes: tuple[str, ...]


def recorded_config(run: RecordedRun, scratch: Path) -> Config:
    """The resolved config the run logged (``config/resolved.yaml``)."""
    from mlops_tracking.core.config import load_config

    path = download(run.run_id, CONFIG_FILE, scratch / "config")
    if path is None:
        raise RebuildError(
            f"run {run.run_id} recorded no {CONFIG_FILE}, so the config it ran with is unknown; "
            "only runs made by `mlops-tracking train`, `compare` or the pipeline record it."
        )
    return load_config(path)


def rebuild_inputs(
    run: RecordedRun,
    config: Config,
    scratch: Path,
    contexts: Sequence[str] = CONTEXTS,
    *,
    config_fallback: bool = False,
) -> Rebuilt:
    """The run's training inputs, with every split of ``contexts`` proven by its digest.

    A run on DVC pipeline data gets exactly the file versions it recorded, from the workspace or
    the DVC cache (``reproduce`` needs that). With ``config_fallback``, when that is impossible
    (no DVC repository here, or a version is not in the cache), the data is rebuilt from the
    recorded config instead: the digests still decide (the gate needs only a proven test split,
    from any directory). Restored files are copied into ``scratch``; ``inputs.dataset.source``
    may name them, so keep it while a run records these inputs.
    """
    from mlops_tracking.runs.workflow import load_inputs, load_pipeline_inputs

    unknown = set(contexts) - set(CONTEXTS)
    if unknown:
        raise ValueError(f"unknown dataset contexts {sorted(unknown)}; use {CONTEXTS}")
    training = run.input("training")
    notes: list[str] = []
    if training is not None and training.source_type == "dvc":
        try:
            features, notes = _restore_pipeline_data(run, training.source, scratch)
            inputs = load_pipeline_inputs(config, None, features)
        except RebuildError as refusal:
            if not config_fallback:
                raise
            notes = [f"data: rebuilt from the recorded config ({refusal})"]
            inputs = load_inputs(config)
    elif training is not None or config_fallback:
        inputs = load_inputs(_with_reachable_csv(config, training.source if training else {}))
    else:
        raise RebuildError(
            f"run {run.run_id} logged no training dataset, so the data it used is unknown."
        )
    digests = _prove_digests(run, inputs, contexts)
    if tuple(contexts) == CONTEXTS and training is not None:
        notes.append(
            f"data: every split matches the digest the run logged ({training.digest} for training)"
        )
    else:
        proven = ", ".join(f"{context} {digest}" for context, digest in digests.items())
        notes.append(f"data: matches the digests the run logged ({proven or 'none logged'})")
    return Rebuilt(inputs, digests, tuple(notes))


def _with_reachable_csv(config: Config, source: dict[str, Any]) -> Config:
    # a relative data.path means the directory the run started in; the source URI is absolute
    if config.data.path is not None and not config.data.path.exists():
        recorded = Path(str(source.get("uri", "")))
        if recorded.is_file():
            return config.with_overrides([f"data.path={recorded}"])
        raise RebuildError(
            f"the run's data file {config.data.path} no longer exists (nor at {recorded}); "
            "restore it and try again."
        )
    return config


def _restore_pipeline_data(
    run: RecordedRun, source: dict[str, Any], scratch: Path
) -> tuple[Path, list[str]]:
    """The featurized splits the run read, restored from the DVC cache where they changed."""
    from mlops_tracking.core.dvc_restore import restore_versions
    from mlops_tracking.core.dvc_workspace import data_hashes, find_root

    root = find_root()
    if root is None:
        raise RebuildError(
            f"run {run.run_id} trained on DVC-versioned data; run this inside that DVC "
            "repository (no .dvc folder here or above)."
        )
    read_folder = Path(str(source.get("path", ""))).parent
    restored = restore_versions(root, data_hashes(run.tags), read_folder, scratch / "features")
    if restored.lost:
        hint = (
            "`dvc pull` (from a checkout whose dvc.lock records those hashes; "
            "`mlops-tracking data versions` lists the commits)"
        )
        raise RebuildError(
            f"the data differs from what run {run.run_id} used and that version is not in the "
            f"DVC cache: {'; '.join(restored.lost)}. Fetch it with {hint}, then try again."
        )
    return restored.folder, list(restored.notes)


def _prove_digests(
    run: RecordedRun, inputs: TrainingInputs, contexts: Sequence[str]
) -> dict[str, str]:
    from mlops_tracking.runs.datasets import to_mlflow_dataset

    proven = {}
    for split, context in zip(inputs.splits, CONTEXTS, strict=True):
        logged = run.input(context)
        if context not in contexts or logged is None:
            continue
        digest = str(to_mlflow_dataset(inputs.dataset, split).digest)
        if digest != logged.digest:
            where = logged.source.get("path") or logged.source.get("uri") or inputs.dataset.source
            raise RebuildError(
                f"the {split.name} split differs from what run {run.run_id} used: it logged "
                f"{logged.name} with digest {logged.digest}, the data now gives {digest} "
                f"(source: {where}). Restore that data version and try again."
            )
        proven[context] = digest
    return proven
