"""Record everything a training run produced, one outline section at a time.

``record_training`` receives values computed by the functional core and writes them to the
active run: parameters, datasets, learning histories, artifacts (plots, tables, source,
environment, custom objects), the model in four formats, and final metrics linked to those
models and to the test dataset.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from mlops_tracking.tracking.artifacts import ArtifactStage
from mlops_tracking.tracking.context import stage_environment, stage_source
from mlops_tracking.tracking.datasets import log_splits
from mlops_tracking.tracking.metrics import log_history, log_metrics, log_params
from mlops_tracking.tracking.model_formats import ModelPackage, log_model_formats

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from mlflow.models.model import ModelInfo

    from mlops_tracking.config import Config
    from mlops_tracking.data import Dataset, Splits
    from mlops_tracking.evaluation import Evaluation
    from mlops_tracking.training import FitResult
    from mlops_tracking.workflows import TrainingInputs

PREDICTIONS_TABLE = "predictions/test_predictions.json"


@dataclass(frozen=True)
class TrainingRecord:
    """The complete, computed outcome of one training run, ready to be recorded."""

    config: Config
    config_file: Path | None
    dataset: Dataset
    splits: Splits
    fit: FitResult
    evaluation: Evaluation
    figures: dict[str, Figure]
    package: ModelPackage
    params: dict[str, str]
    metrics: dict[str, float]
    model_summary: dict[str, Any]
    estimator_html: str
    preprocessing_state: dict[str, Any]
    custom_sources: dict[str, str] = field(default_factory=dict)


def record_training(run_id: str, record: TrainingRecord) -> dict[str, ModelInfo]:
    """Write ``record`` to the active run ``run_id``; return the logged models by format."""
    import mlflow

    log_params(run_id, record.params)
    datasets = log_splits(record.dataset, record.splits)
    log_history(run_id, record.fit.history)
    with ArtifactStage() as stage:
        _stage_run_files(stage, record)
        stage_source(stage)
        stage_environment(stage)
        for path, figure in record.figures.items():
            stage.figure(path, figure)
        stage.upload(run_id)
    mlflow.log_table(record.evaluation.predictions, PREDICTIONS_TABLE)
    models = log_model_formats(record.package, record.config.tracking.model_formats)
    mlflow.set_tags({f"model_uri.{fmt}": info.model_uri for fmt, info in models.items()})
    log_metrics(
        run_id, record.metrics, [info.model_id for info in models.values()], datasets["test"]
    )
    return models


def _stage_config(stage: ArtifactStage, config: Config, config_file: Path | None) -> None:
    stage.yaml("config/resolved.yaml", config.to_dict())
    if config_file is not None:
        stage.copy("config/params.yaml", config_file)


def _stage_run_files(stage: ArtifactStage, record: TrainingRecord) -> None:
    _stage_config(stage, record.config, record.config_file)
    _stage_data(stage, record)
    _stage_evaluation(stage, record)
    _stage_objects(stage, record)
    stage.json("model/summary.json", record.model_summary)
    stage.text("model/estimator.html", record.estimator_html)
    for path, source in record.custom_sources.items():
        stage.text(path, source)


def _stage_data(stage: ArtifactStage, record: TrainingRecord) -> None:
    """Snapshot each split (capped at ``snapshot_max_rows``) and the table's schema."""
    limit = record.config.tracking.snapshot_max_rows
    dataset = record.dataset
    for split in record.splits:
        frame = split.frame(dataset.target_name)
        stage.csv(f"data/{split.name}.csv", frame.head(limit), index=True)
    stage.json(
        "data/schema.json",
        {
            "dataset": dataset.name,
            "source": dataset.source,
            "task": dataset.task,
            "target": dataset.target_name,
            "numeric_columns": dataset.numeric_columns,
            "categorical_columns": dataset.categorical_columns,
            "dropped_columns": list(dataset.dropped_columns),
            "dropped_rows_without_target": dataset.dropped_rows,
            "rows": record.splits.sizes,
            "snapshot_rows_limit": limit,
        },
    )


def _stage_evaluation(stage: ArtifactStage, record: TrainingRecord) -> None:
    evaluation = record.evaluation
    history = record.fit.history
    stage.json("evaluation/metrics.json", record.metrics)
    stage.csv(
        "evaluation/history.csv", pd.DataFrame({history.unit: history.steps, **history.series})
    )
    stage.csv(
        f"evaluation/feature_importance_{evaluation.importance_kind}.csv", evaluation.importances
    )
    if evaluation.confusion is not None:
        stage.csv("evaluation/confusion_matrix.csv", evaluation.confusion, index=True)
        stage.json(
            "evaluation/confusion_matrix.json",
            {
                "labels": list(evaluation.confusion.columns),
                "matrix": evaluation.confusion.to_numpy().tolist(),
            },
        )


def _stage_objects(stage: ArtifactStage, record: TrainingRecord) -> None:
    """Custom Python objects, as readable JSON and as a pickle for programmatic reuse."""
    labels = record.dataset.labels
    stage.json(
        "objects/label_mapping.json", {str(code): label for code, label in enumerate(labels)}
    )
    stage.json("objects/preprocessing_state.json", record.preprocessing_state)
    # SECURITY: a pickle runs code when loaded; load it only from a store you trust.
    stage.path("objects/preprocessor.pkl").write_bytes(
        pickle.dumps(record.package.pipeline[:-1], protocol=pickle.HIGHEST_PROTOCOL)
    )


@dataclass(frozen=True)
class ComparisonRecord:
    """The outcome of a comparison, as the parent run records it."""

    inputs: TrainingInputs
    table: pd.DataFrame
    metric: str
    goal: str
    failed: dict[str, str]
    figures: dict[str, Figure]


def record_comparison(run_id: str, record: ComparisonRecord) -> None:
    """Write the parent run of a comparison: shared config and data, ranking, best model."""
    import mlflow

    config, config_file = record.inputs.config, record.inputs.config_file
    params = {k: v for k, v in config.run_params().items() if not k.startswith("model.")}
    models = ",".join(record.table["model"]) if len(record.table) else ""
    params.update(
        {
            "compare.models": models
            + ("," if models and record.failed else "")
            + ",".join(record.failed),
            "compare.selection_metric": record.metric,
            "compare.selection_goal": record.goal,
        }
    )
    log_params(run_id, params)
    log_splits(record.inputs.dataset, record.inputs.splits)
    with ArtifactStage() as stage:
        _stage_config(stage, config, config_file)
        stage.csv("comparison/models.csv", record.table)
        if record.failed:
            stage.json("comparison/failed.json", record.failed)
        for path, figure in record.figures.items():
            stage.figure(path, figure)
        stage_source(stage)
        stage_environment(stage)
        stage.upload(run_id)
    mlflow.log_table(record.table, "comparison/models.json")
    tags = {"compare.failed_models": ",".join(record.failed) or "none"}
    if len(record.table):
        best = record.table.iloc[0]
        tags.update(
            {"compare.best_model": str(best["model"]), "compare.best_run_id": str(best["run_id"])}
        )
        log_metrics(
            run_id,
            {
                f"best_{record.metric}": float(best[record.metric]),
                "models_compared": float(len(record.table)),
            },
        )
    mlflow.set_tags(tags)
