"""The files the pipeline's stages hand each other: tables with a row id, JSON metadata, and
the featurized splits (one CSV per split plus ``dataset.json``).

``featurize`` writes the splits; training, ``evaluate`` and ``reproduce`` read them back typed
exactly as training expects, so a run on pipeline data has the same MLflow digests as a run
that split the data itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from mlops_tracking.core.dataset import DATE_KINDS, Dataset, Split, SplitName, Splits
from mlops_tracking.core.dialect import CsvDialect
from mlops_tracking.core.errors import PipelineError

FEATURES_DIR = Path("data/features")
METADATA = "dataset.json"
SPLIT_NAMES: tuple[SplitName, ...] = ("train", "validation", "test")
ROW_ID = "row_id"


def write_splits(dataset: Dataset, splits: Splits, out_dir: Path, source: str) -> list[Path]:
    """Write one CSV per split and the table's metadata; return the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for split in splits:
        path = out_dir / f"{split.name}.csv"
        split.frame(dataset.target_name).to_csv(path, index_label=ROW_ID)
        written.append(path)
    write_json(
        out_dir / METADATA,
        {
            "name": dataset.name,
            "task": dataset.task,
            "target": dataset.target_name,
            "labels": list(dataset.labels),
            "column_kinds": {str(c): dataset.kind(str(c)) for c in dataset.features.columns},
            "source": source,
            "source_sha256": dataset.source_sha256,
            "dropped_columns": list(dataset.dropped_columns),
            "dropped_rows": dataset.dropped_rows,
            "values_made_missing": dataset.coerced_values or {},
            "date_formats": dataset.date_formats or {},
            "csv_dialect": _dialect_json(dataset),
            "rare_classes": dataset.rare_classes,
            "rows": splits.sizes,
        },
    )
    return [*written, out_dir / METADATA]


def load_splits(features_dir: Path = FEATURES_DIR) -> tuple[Dataset, Splits]:
    """The splits ``featurize`` wrote, typed as training expects, and the whole table."""
    meta = read_json(features_dir / METADATA, "run `dvc repro featurize`")
    kinds: dict[str, str] = meta["column_kinds"]
    classification = meta["task"] != "regression"
    target_name = meta["target"]
    loaded: dict[str, Split] = {}
    files: dict[str, str] = {}
    for name in SPLIT_NAMES:
        path = features_dir / f"{name}.csv"
        frame = read_table(path, kinds)
        y = frame.pop(target_name).astype("int64" if classification else "float64")
        loaded[name] = Split(name, frame, y)
        files[name] = path.as_posix()
    splits = Splits(loaded["train"], loaded["validation"], loaded["test"])
    features = pd.concat([split.X for split in splits]).sort_index()
    target = pd.concat([split.y for split in splits]).sort_index()
    dataset = Dataset(
        name=meta["name"],
        features=features,
        target=target,
        target_name=target_name,
        task=meta["task"],
        labels=tuple(meta["labels"]),
        source=features_dir.as_posix(),
        source_kind="file",
        dropped_columns=tuple(meta["dropped_columns"]),
        dropped_rows=int(meta["dropped_rows"]),
        column_kinds=kinds,  # type: ignore[arg-type]
        coerced_values=meta["values_made_missing"] or None,
        source_sha256=meta["source_sha256"],
        files=files,
        date_formats=meta.get("date_formats") or None,
        csv_dialect=CsvDialect(**meta["csv_dialect"]) if meta.get("csv_dialect") else None,
        rare_classes=meta.get("rare_classes"),
    )
    return dataset, splits


def _dialect_json(dataset: Dataset) -> dict[str, str] | None:
    dialect = dataset.csv_dialect
    return None if dialect is None else {"sep": dialect.sep, "decimal": dialect.decimal}


def split_files(features_dir: Path = FEATURES_DIR) -> list[Path]:
    """The files a run trained from pipeline data reads."""
    return [*(features_dir / f"{name}.csv" for name in SPLIT_NAMES), features_dir / METADATA]


def read_table(path: Path, kinds: dict[str, str]) -> pd.DataFrame:
    """Read a CSV a stage wrote: text columns stay text (``missing`` is a category)."""
    if not path.is_file():
        raise PipelineError(f"{path} is missing; run `dvc repro` (or `dvc pull`) to create it.")
    # object, not pandas' string dtype: categorical columns are recognised as object columns
    text = {column: object for column, kind in kinds.items() if kind in {"text", "boolean"}}
    dates = [column for column, kind in kinds.items() if kind in DATE_KINDS]
    frame = pd.read_csv(path, index_col=ROW_ID, dtype=text, keep_default_na=False, na_values=[""])
    numeric = [c for c in frame.columns if c in kinds and c not in text and c not in dates]
    frame[numeric] = frame[numeric].astype("float64")
    if dates:
        from mlops_tracking.core.dates import ISO_8601, parse_dates

        for column in dates:  # written by pandas as ISO 8601
            frame[column] = parse_dates(frame[column], ISO_8601)
    frame.index.name = None
    return frame


def read_json(path: Path, hint: str) -> dict[str, Any]:
    if not path.is_file():
        raise PipelineError(f"{path} is missing; {hint}.")
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def write_json(path: Path, content: dict[str, Any]) -> None:
    path.write_text(json.dumps(content, indent=2, sort_keys=False) + "\n")
