"""The stages of the DVC pipeline that are pure data work: prepare, featurize, evaluate.

``dvc.yaml`` calls each through ``mlops-tracking pipeline <stage>``; training sits between
featurize and evaluate and is the one stage that writes to MLflow (``workflows.pipeline_train``).

* **prepare** materialises the source once under ``data/raw/``: a shipped dataset as a CSV, a
  user's CSV as an exact copy. Later stages only read it, so raw data is never modified.
* **featurize** cleans and splits the raw table into ``data/features/{train,validation,test}.csv``
  with the table's metadata. Feature *transforms* (imputation, scaling, selection) stay inside the
  model pipeline so that serving applies exactly what training fitted.
* **evaluate** scores the model file the train stage wrote (what ``dvc pull`` hands a teammate) on
  the test split, checks it reproduces the metrics the MLflow run logged, and writes DVC's
  metrics and plots files, with the MLflow run id.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mlops_tracking.core.config import DataConfig
from mlops_tracking.core.data import Dataset, Split, SplitName, Splits, first_rows, split_dataset
from mlops_tracking.core.environment import package_version
from mlops_tracking.core.errors import DataError

RAW_DIR = Path("data/raw")
FEATURES_DIR = Path("data/features")
MODEL_DIR = Path("models")
REPORTS_DIR = Path("reports")
TABLE = "dataset.csv"
METADATA = "dataset.json"
MODEL_FILE = "model.skops"
MODEL_METADATA = "model.json"
METRICS_FILE = "metrics.json"
PREDICTIONS_PLOT = "plots/predictions.csv"
SPLIT_NAMES: tuple[SplitName, ...] = ("train", "validation", "test")
ROW_ID = "row_id"
METRIC_TOLERANCE = 1e-9  # the model file must reproduce the run's metrics to this precision


class PipelineError(DataError):
    """A pipeline stage's input is missing or disagrees with what an earlier stage wrote."""


@dataclass(frozen=True)
class StageOutput:
    """What a stage wrote, for the CLI to print."""

    files: tuple[Path, ...]
    summary: str


def prepare(config: DataConfig, out_dir: Path = RAW_DIR) -> StageOutput:
    """Materialise the configured source under ``out_dir`` (the pipeline's immutable raw data)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    table, metadata = out_dir / TABLE, out_dir / METADATA
    if config.path is not None:
        if not config.path.is_file():
            raise PipelineError(f"data.path={config.path} does not exist; check the path.")
        shutil.copyfile(config.path, table)
        meta: dict[str, Any] = {
            "source": "file",
            "name": config.path.stem,
            "path": str(config.path),
            "target": config.target,
        }
        rows = "all"
    else:
        from mlops_tracking.core.data import load_dataset

        # data.rows takes an early extract of the source: the raw table *is* that version.
        dataset = load_dataset(config)
        dataset.features.assign(**{dataset.target_name: dataset.target}).to_csv(
            table, index_label=ROW_ID
        )
        meta = {
            "source": "sklearn",
            "name": dataset.name,
            "loader": dataset.source,
            "scikit-learn": package_version("scikit-learn"),
            "task": dataset.task,
            "target": dataset.target_name,
            "labels": list(dataset.labels),
            "rows": len(dataset.target),
        }
        rows = str(len(dataset.target))
    _write_json(metadata, meta)
    return StageOutput((table, metadata), f"raw data: {meta['name']} ({rows} rows) in {table}")


def featurize(
    config: DataConfig, raw_dir: Path = RAW_DIR, out_dir: Path = FEATURES_DIR
) -> StageOutput:
    """Clean and split the raw table into one CSV per split plus the table's metadata."""
    dataset = read_raw(config, raw_dir)
    splits = split_dataset(dataset, config)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for split in splits:
        path = out_dir / f"{split.name}.csv"
        split.frame(dataset.target_name).to_csv(path, index_label=ROW_ID)
        written.append(path)
    _write_json(
        out_dir / METADATA,
        {
            "name": dataset.name,
            "task": dataset.task,
            "target": dataset.target_name,
            "labels": list(dataset.labels),
            "column_kinds": {str(c): dataset.kind(str(c)) for c in dataset.features.columns},
            "source": (raw_dir / TABLE).as_posix(),
            "source_sha256": dataset.source_sha256,
            "dropped_columns": list(dataset.dropped_columns),
            "dropped_rows": dataset.dropped_rows,
            "values_made_missing": dataset.coerced_values or {},
            "rows": splits.sizes,
        },
    )
    sizes = ", ".join(f"{name} {size}" for name, size in splits.sizes.items())
    return StageOutput((*written, out_dir / METADATA), f"splits: {sizes} rows in {out_dir}")


def read_raw(config: DataConfig, raw_dir: Path = RAW_DIR) -> Dataset:
    """The raw table ``prepare`` wrote, as a validated ``Dataset``."""
    meta = _read_json(raw_dir / METADATA, "run `dvc repro prepare`")
    table = raw_dir / TABLE
    if meta["source"] == "file":
        from mlops_tracking.core.cleaning import load_csv

        target = config.target or meta["target"]
        loaded = load_csv(table, target, config.task, config.drop_columns)
        dataset = _renamed(loaded, meta["name"])
    else:
        frame = _read_table(table, {})
        target_name = meta["target"]
        target = frame.pop(target_name)
        classification = meta["task"] != "regression"
        dataset = Dataset(
            name=meta["name"],
            features=frame.astype("float64"),
            target=target.astype("int64" if classification else "float64"),
            target_name=target_name,
            task=meta["task"],
            labels=tuple(meta["labels"]),
            source=meta["loader"],
            source_kind="sklearn",
        )
    return first_rows(dataset, config.rows)


def load_features(features_dir: Path = FEATURES_DIR) -> tuple[Dataset, Splits]:
    """The splits ``featurize`` wrote, typed as training expects, and the whole table."""
    meta = _read_json(features_dir / METADATA, "run `dvc repro featurize`")
    kinds: dict[str, str] = meta["column_kinds"]
    classification = meta["task"] != "regression"
    target_name = meta["target"]
    loaded: dict[str, Split] = {}
    files: dict[str, str] = {}
    for name in SPLIT_NAMES:
        path = features_dir / f"{name}.csv"
        frame = _read_table(path, kinds)
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
    )
    return dataset, splits


def feature_files(features_dir: Path = FEATURES_DIR) -> list[Path]:
    """The files a run trained from pipeline data reads."""
    return [*(features_dir / f"{name}.csv" for name in SPLIT_NAMES), features_dir / METADATA]


def write_model(
    skops_data: bytes, metadata: dict[str, Any], model_dir: Path = MODEL_DIR
) -> StageOutput:
    """The train stage's outputs: the fitted pipeline (skops) and what loading it needs."""
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / MODEL_FILE).write_bytes(skops_data)
    _write_json(model_dir / MODEL_METADATA, metadata)
    return StageOutput(
        (model_dir / MODEL_FILE, model_dir / MODEL_METADATA),
        f"model: {model_dir / MODEL_FILE} (MLflow run {metadata['run_id']})",
    )


def evaluate(
    model_dir: Path = MODEL_DIR,
    features_dir: Path = FEATURES_DIR,
    reports_dir: Path = REPORTS_DIR,
    calibration_bins: int = 10,
) -> StageOutput:
    """Score the model file on the test split; write DVC metrics (with the run id) and plots."""
    import skops.io

    from mlops_tracking.core.evaluation import compute_metrics, predict

    meta = _read_json(model_dir / MODEL_METADATA, "run `dvc repro train`")
    pipeline = skops.io.loads((model_dir / MODEL_FILE).read_bytes(), trusted=meta["trusted_types"])
    dataset, splits = load_features(features_dir)
    predictions = predict(pipeline, splits.test, dataset.is_classification)
    scores = compute_metrics(predictions, dataset.task, len(dataset.labels), calibration_bins)
    metrics = {f"test_{name}": float(value) for name, value in scores.items()}
    check_metrics(metrics, meta["test_metrics"], meta["run_id"])
    reports_dir.mkdir(parents=True, exist_ok=True)
    _write_json(
        reports_dir / METRICS_FILE,
        {"mlflow_run_id": meta["run_id"], "mlflow_experiment": meta["experiment"], **metrics},
    )
    plot = reports_dir / PREDICTIONS_PLOT
    plot.parent.mkdir(parents=True, exist_ok=True)
    _predictions_frame(dataset, splits.test, predictions.predicted).to_csv(plot, index=False)
    headline = ", ".join(f"{k} {v:.4f}" for k, v in list(metrics.items())[:3])
    return StageOutput(
        (reports_dir / METRICS_FILE, plot),
        f"evaluated run {meta['run_id']} on {len(splits.test)} test rows: {headline}",
    )


def check_metrics(computed: dict[str, float], logged: dict[str, float], run_id: str) -> None:
    """Refuse a model file that does not reproduce the metrics its MLflow run logged."""
    differing = [
        f"{name} {logged[name]:.6g} → {value:.6g}"
        for name, value in computed.items()
        if name in logged and abs(value - logged[name]) > METRIC_TOLERANCE
    ]
    if differing:
        raise PipelineError(
            f"models/{MODEL_FILE} does not reproduce the metrics of MLflow run {run_id}: "
            f"{'; '.join(differing)}. The model or the test split changed after training; "
            "run `dvc repro` to rebuild both."
        )


def _predictions_frame(dataset: Dataset, split: Split, predicted: Any) -> pd.DataFrame:
    if dataset.is_classification:
        labels = list(dataset.labels)
        return pd.DataFrame(
            {
                "row_id": split.y.index,
                "actual": [labels[int(code)] for code in split.y],
                "predicted": [labels[int(code)] for code in predicted],
            }
        )
    return pd.DataFrame({"row_id": split.y.index, "actual": split.y, "predicted": predicted})


def _renamed(dataset: Dataset, name: str) -> Dataset:
    from dataclasses import replace

    return replace(dataset, name=name)


def _read_table(path: Path, kinds: dict[str, str]) -> pd.DataFrame:
    """Read a CSV this module wrote: text columns stay text (``missing`` is a category)."""
    if not path.is_file():
        raise PipelineError(f"{path} is missing; run `dvc repro` (or `dvc pull`) to create it.")
    # object, not pandas' string dtype: categorical columns are recognised as object columns
    text = {column: object for column, kind in kinds.items() if kind in {"text", "boolean"}}
    frame = pd.read_csv(path, index_col=ROW_ID, dtype=text, keep_default_na=False, na_values=[""])
    numeric = [c for c in frame.columns if c in kinds and c not in text]
    frame[numeric] = frame[numeric].astype("float64")
    frame.index.name = None
    return frame


def _read_json(path: Path, hint: str) -> dict[str, Any]:
    if not path.is_file():
        raise PipelineError(f"{path} is missing; {hint}.")
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def _write_json(path: Path, content: dict[str, Any]) -> None:
    path.write_text(json.dumps(content, indent=2, sort_keys=False) + "\n")
