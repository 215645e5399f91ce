"""The stages of the DVC pipeline: prepare, featurize, train and evaluate.

``dvc.yaml`` calls each through ``mlops-tracking pipeline <stage>``; every stage but train is
pure data work, and train is a tracked MLflow run on the featurized splits.

* **prepare** materialises the source once under ``data/raw/``: a shipped dataset as a CSV, a
  user's CSV as an exact copy. Later stages only read it, so raw data is never modified.
* **featurize** cleans and splits the raw table into ``data/features/{train,validation,test}.csv``
  with the table's metadata (``core/stage_files.py``). Feature *transforms* (imputation,
  scaling, selection) stay inside the model pipeline so that serving applies exactly what
  training fitted.
* **train** runs a fully tracked MLflow run on those splits, bound to their DVC versions, and
  writes the fitted pipeline as ``models/model.skops``.
* **evaluate** scores the model file the train stage wrote (what ``dvc pull`` hands a teammate) on
  the test split, checks it reproduces the metrics the MLflow run logged, and writes DVC's
  metrics and plots files, with the MLflow run id.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from mlops_tracking.core.config import DataConfig
from mlops_tracking.core.data import first_rows, settle_classes, split_dataset
from mlops_tracking.core.dataset import Dataset, Split
from mlops_tracking.core.environment import package_version
from mlops_tracking.core.errors import PipelineError
from mlops_tracking.core.stage_files import (
    FEATURES_DIR,
    METADATA,
    ROW_ID,
    load_splits,
    read_json,
    read_table,
    write_json,
    write_splits,
)

if TYPE_CHECKING:
    from mlops_tracking.core.config import Config
    from mlops_tracking.runs.workflow import Progress, RunOutcome

RAW_DIR = Path("data/raw")
MODEL_DIR = Path("models")
REPORTS_DIR = Path("reports")
TABLE = "dataset.csv"
MODEL_FILE = "model.skops"
MODEL_METADATA = "model.json"
METRICS_FILE = "metrics.json"
PREDICTIONS_PLOT = "plots/predictions.csv"
METRIC_TOLERANCE = 1e-9  # the model file must reproduce the run's metrics to this precision


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
        from mlops_tracking.core.data import load_source

        # data.rows takes an early extract of the source: the raw table *is* that version.
        dataset = load_source(config)
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
    write_json(metadata, meta)
    return StageOutput((table, metadata), f"raw data: {meta['name']} ({rows} rows) in {table}")


def featurize(
    config: DataConfig, raw_dir: Path = RAW_DIR, out_dir: Path = FEATURES_DIR
) -> StageOutput:
    """Clean and split the raw table into one CSV per split plus the table's metadata."""
    dataset = read_raw(config, raw_dir)
    splits = split_dataset(dataset, config)
    written = write_splits(dataset, splits, out_dir, (raw_dir / TABLE).as_posix())
    sizes = ", ".join(f"{name} {size}" for name, size in splits.sizes.items())
    return StageOutput(tuple(written), f"splits: {sizes} rows in {out_dir}")


def read_raw(config: DataConfig, raw_dir: Path = RAW_DIR) -> Dataset:
    """The raw table ``prepare`` wrote, as a validated ``Dataset``."""
    meta = read_json(raw_dir / METADATA, "run `dvc repro prepare`")
    table = raw_dir / TABLE
    if meta["source"] == "file":
        from mlops_tracking.core.cleaning import load_csv

        loaded = load_csv(table, config, target=config.target or meta["target"])
        dataset = _renamed(loaded, meta["name"])
    else:
        frame = read_table(table, {})
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
    return settle_classes(first_rows(dataset, config.rows), config)


def write_model(
    skops_data: bytes, metadata: dict[str, Any], model_dir: Path = MODEL_DIR
) -> StageOutput:
    """The train stage's outputs: the fitted pipeline (skops) and what loading it needs."""
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / MODEL_FILE).write_bytes(skops_data)
    write_json(model_dir / MODEL_METADATA, metadata)
    return StageOutput(
        (model_dir / MODEL_FILE, model_dir / MODEL_METADATA),
        f"model: {model_dir / MODEL_FILE} (MLflow run {metadata['run_id']})",
    )


def train(
    config: Config,
    config_file: Path | None,
    features_dir: Path,
    model_dir: Path = MODEL_DIR,
    progress: Progress | None = None,
) -> tuple[RunOutcome, StageOutput]:
    """The pipeline's train stage: a tracked run on the featurized splits, and its model file."""
    from mlops_tracking.runs.workflow import load_pipeline_inputs, train_and_log

    inputs = load_pipeline_inputs(config, config_file, features_dir)
    outcome = train_and_log(config, config_file, progress=progress, inputs=inputs)
    assert outcome.skops is not None
    metadata = {
        "run_id": outcome.run_id,
        "experiment": outcome.experiment.name,
        "experiment_id": outcome.experiment.id,
        "family": outcome.model_name,
        "task": outcome.task,
        "model_uris": outcome.model_uris,
        "dvc_experiment": inputs.dvc.experiment if inputs.dvc else None,
        "trusted_types": outcome.skops.trusted_types,
        "test_metrics": {k: v for k, v in outcome.metrics.items() if k.startswith("test_")},
    }
    return outcome, write_model(outcome.skops.data, metadata, model_dir)


def evaluate(
    model_dir: Path = MODEL_DIR,
    features_dir: Path = FEATURES_DIR,
    reports_dir: Path = REPORTS_DIR,
    calibration_bins: int = 10,
) -> StageOutput:
    """Score the model file on the test split; write DVC metrics (with the run id) and plots."""
    import skops.io

    from mlops_tracking.core.evaluation import compute_metrics, predict

    meta = read_json(model_dir / MODEL_METADATA, "run `dvc repro train`")
    pipeline = skops.io.loads((model_dir / MODEL_FILE).read_bytes(), trusted=meta["trusted_types"])
    dataset, splits = load_splits(features_dir)
    predictions = predict(pipeline, splits.test, dataset.is_classification)
    scores = compute_metrics(predictions, dataset.task, len(dataset.labels), calibration_bins)
    metrics = {f"test_{name}": float(value) for name, value in scores.items()}
    check_metrics(metrics, meta["test_metrics"], meta["run_id"])
    reports_dir.mkdir(parents=True, exist_ok=True)
    write_json(
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
