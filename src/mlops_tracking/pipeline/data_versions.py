"""``data versions``: the dataset versions DVC knows and the MLflow runs that used each.

Two records meet here. MLflow holds, per run, the digest of each dataset input and (for runs
bound to DVC) the DVC hash of every data file in the run's lineage. DVC holds, in ``dvc.lock``
across git history, each hash the versioned file has had. A version is one training-data digest;
its DVC hash joins it to the commits that recorded that data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from mlops_tracking.core.dvc_workspace import DATA_TAG, find_root, lock_history
from mlops_tracking.runs.recorded import runs_with_inputs


@dataclass
class DataVersion:
    dataset: str
    digest: str  # MLflow's digest of the training split ("-" if no run used it)
    dvc_md5: str | None  # the DVC hash of the versioned file, when the runs recorded it
    rows: int | None
    first_seen: str
    runs: list[str] = field(default_factory=list)  # "run name (run id)"
    revisions: list[str] = field(default_factory=list)  # git commits whose dvc.lock holds it


def dataset_versions(path: str = "data/raw/dataset.csv") -> list[DataVersion]:
    """Versions in order of first use; versions only DVC knows (never trained on) come last."""
    versions: dict[tuple[str, str], DataVersion] = {}
    for run in runs_with_inputs():
        training = run.input("training")
        if training is None:
            continue
        key = (training.name.removesuffix("-train"), training.digest)
        if key not in versions:
            rows = [item.rows for item in run.inputs if item.rows is not None]
            versions[key] = DataVersion(
                dataset=key[0],
                digest=training.digest,
                dvc_md5=run.tags.get(f"{DATA_TAG}{path}"),
                rows=sum(rows) if rows else None,
                first_seen=_when(run.start_time),
            )
        versions[key].runs.append(f"{run.run_name} ({run.run_id})")
    listed = list(versions.values())
    root = find_root()
    if root is None:
        return listed
    for locked in lock_history(root, path):
        revision = "workspace" if locked.revision == "workspace" else locked.revision[:12]
        matches = [version for version in listed if version.dvc_md5 == locked.md5]
        if not matches:
            matches = [DataVersion("-", "-", locked.md5, None, locked.date[:16].replace("T", " "))]
            listed.extend(matches)
        for version in matches:
            version.revisions.append(revision)
    return listed


def _when(milliseconds: int) -> str:
    return datetime.fromtimestamp(milliseconds / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")
