"""Turn data splits into MLflow datasets (name, digest, source, schema) and log them as inputs."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_tracking.core.environment import package_version

if TYPE_CHECKING:
    from mlflow.data.dataset_source import DatasetSource
    from mlflow.data.pandas_dataset import PandasDataset

    from mlops_tracking.core.dataset import Dataset, Split, Splits
    from mlops_tracking.core.records import TrainingInputs

# MLflow's conventional input contexts; the UI shows them as badges on the run.
CONTEXTS = {"train": "training", "validation": "validation", "test": "testing"}


@contextmanager
def integer_codes_expected() -> Iterator[None]:
    """Silence MLflow's schema hint about integer columns where integers are by design.

    Class labels are encoded as integer codes and are never missing, and feature columns are
    always float64, so the hint ("integer columns cannot represent missing values") would only
    ever fire for the target and the predicted labels.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        yield


def _source(dataset: Dataset) -> DatasetSource:
    from mlflow.data.code_dataset_source import CodeDatasetSource

    if dataset.source_kind == "sklearn":
        # A shipped dataset is produced by code, not read from a file the user owns.
        return CodeDatasetSource(
            tags={
                "loader": dataset.source,
                "scikit-learn": package_version("scikit-learn"),
            }
        )
    return local_source(Path(dataset.source))


def local_source(path: Path) -> DatasetSource:
    """A local file as a dataset source."""
    from mlflow.data.dataset_source_registry import get_dataset_source_from_json

    # Resolving a plain path makes MLflow warn that two local source types match; naming the
    # source type directly is unambiguous.
    return get_dataset_source_from_json(json.dumps({"uri": str(path)}), source_type="local")


def to_mlflow_dataset(
    dataset: Dataset, split: Split, source: DatasetSource | None = None
) -> PandasDataset:
    """An MLflow dataset for ``split``: features plus target, named ``<dataset>-<split>``."""
    from mlflow.data.pandas_dataset import from_pandas

    with integer_codes_expected():
        return from_pandas(
            split.frame(dataset.target_name),
            source=source or _source(dataset),
            targets=dataset.target_name,
            name=f"{dataset.name}-{split.name}",
        )


def dvc_sources(inputs: TrainingInputs) -> dict[str, DatasetSource]:
    """For splits read from DVC-versioned files: path, git revision and DVC hash of each."""
    from mlops_tracking.runs.dvc_source import DvcDatasetSource

    dataset, dvc = inputs.dataset, inputs.dvc
    if not dataset.files or dvc is None or dvc.root is None:
        return {}
    from mlops_tracking.core.dvc_workspace import committed_revision, repository

    hashes = {tracked.path: tracked.md5 or "missing" for tracked in dvc.lineage}
    repo = repository(dvc.root)
    sources: dict[str, DatasetSource] = {}
    for name, path in dataset.files.items():
        resolved = Path(path).resolve()
        if not resolved.is_relative_to(dvc.root):
            return {}  # e.g. a version restored from the DVC cache: no longer a repository path
        relative = resolved.relative_to(dvc.root).as_posix()
        md5 = hashes.get(relative, "")
        revision = committed_revision(dvc.root, relative, md5)
        sources[name] = DvcDatasetSource(relative, revision, md5, repo)
    return sources


def log_splits(
    dataset: Dataset, splits: Splits, sources: dict[str, DatasetSource] | None = None
) -> dict[str, PandasDataset]:
    """Log every split as an input of the active run, with its context and row count."""
    import mlflow

    chosen = sources or {}
    datasets: dict[str, PandasDataset] = {
        split.name: to_mlflow_dataset(dataset, split, chosen.get(split.name)) for split in splits
    }
    with integer_codes_expected():  # the schema is inferred lazily, here
        mlflow.log_inputs(
            datasets=list(datasets.values()),
            contexts=[CONTEXTS[name] for name in datasets],
            tags_list=[{"rows": str(size)} for size in splits.sizes.values()],
        )
    return datasets
