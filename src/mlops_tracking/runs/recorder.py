"""Record everything a training run produced, one outline section at a time.

Recording happens in two steps so that a failure loses as little as possible:

1. ``record_inputs`` right after the run starts: the configured params, the resolved config
   and the dataset inputs (a run that crashes while training still says what it trained on);
2. ``record_training`` once the model is fitted: params derived from it, learning curves,
   artifacts (``evaluation/metrics.json`` among them), the model formats, and last the final
   metrics, linked to those models and to the split each was computed on
   (``core.metric_links``), then the trivial baseline's metrics (``baseline_validation_*``,
   ``baseline_test_*``, ``baseline_margin``), run-level.

Every write names its run explicitly; nothing depends on which run happens to be active.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from mlops_tracking.core.drift import PROFILE_ARTIFACT
from mlops_tracking.runs.artifacts import ArtifactStage
from mlops_tracking.runs.context import stage_environment, stage_source
from mlops_tracking.runs.datasets import dvc_sources, log_splits
from mlops_tracking.runs.lifecycle import forget_active_model
from mlops_tracking.runs.metrics import log_history, log_metrics, log_params, set_tags
from mlops_tracking.runs.model_formats import DEPLOYABLE_MODEL_CODE, RunRef, log_model_formats

if TYPE_CHECKING:
    from mlflow.data.pandas_dataset import PandasDataset
    from mlflow.models.model import ModelInfo

    from mlops_tracking.core.config import Config
    from mlops_tracking.core.records import ComparisonRecord, TrainingInputs, TrainingRecord

PREDICTIONS_TABLE = "predictions/test_predictions.json"


def record_inputs(
    run_id: str, inputs: TrainingInputs, params: dict[str, str]
) -> dict[str, PandasDataset]:
    """Log what a run trains on before it trains: params, resolved config and datasets."""
    log_params(run_id, params)
    with ArtifactStage() as stage:
        _stage_config(stage, inputs.config, inputs.config_file)
        stage.upload(run_id)
    return log_splits(inputs.dataset, inputs.splits, dvc_sources(inputs))


def record_training(
    run_id: str,
    experiment_id: str,
    record: TrainingRecord,
    datasets: dict[str, PandasDataset],
) -> dict[str, ModelInfo]:
    """Write ``record`` to run ``run_id`` (of ``experiment_id``); return the models by format.

    Final metrics are logged last, in one batch linked to every LoggedModel: ``validation_*``
    with the validation dataset, ``test_*`` with the test dataset, measurements such as fit
    time with no dataset. Not earlier, because MLflow 3's ``log_model`` copies every step-0
    run metric that has no model onto the new model (re-reading each metric's history, once
    per model), which would duplicate them without their dataset; for the same reason system
    metrics start at step 1 (``lifecycle.system_metrics``). Their values are already in
    ``evaluation/metrics.json`` should model logging fail.
    """
    log_params(run_id, record.params)
    log_history(run_id, record.fit.history)
    with ArtifactStage() as stage:
        _stage_run_files(stage, record)
        stage_source(stage, record.code)
        stage_environment(stage)
        for path, figure in record.figures.items():
            stage.figure(path, figure)
        stage.table(PREDICTIONS_TABLE, record.evaluation.predictions)
        stage.upload(run_id)
        set_tags(run_id, {**record.tags, **stage.table_tags()})
    run = RunRef(run_id, experiment_id, {**record.config.run_params(), **record.params})
    models = log_model_formats(record.package, record.config.tracking.model_formats, run)
    forget_active_model()  # logging the pyfunc loads it, which makes it the active model
    set_tags(run_id, {f"model_uri.{fmt}": info.model_uri for fmt, info in models.items()})
    log_metrics(run_id, record.metrics, [info.model_id for info in models.values()], datasets)
    _log_baseline(run_id, record)
    return models


def _log_baseline(run_id: str, record: TrainingRecord) -> None:
    """The baseline's metrics, on the run only: the baseline is none of the logged models.

    Their split is in their name (``baseline_validation_*`` were scored on the run's validation
    input, ``baseline_test_*`` on its testing input). They carry no dataset link because MLflow
    3.17's SQL store keeps a metric's dataset only for model-linked metrics (its
    ``_log_model_metrics`` skips a metric without ``model_id``): one passed here would be lost.
    """
    if record.baseline is not None:
        log_metrics(run_id, record.baseline.all_metrics())


def _stage_config(stage: ArtifactStage, config: Config, config_file: Path | None) -> None:
    stage.yaml("config/resolved.yaml", config.to_dict())
    if config_file is not None:
        stage.copy("config/params.yaml", config_file)


def _stage_run_files(stage: ArtifactStage, record: TrainingRecord) -> None:
    _stage_data(stage, record)
    _stage_evaluation(stage, record)
    _stage_objects(stage, record)
    stage.json("model/summary.json", record.model_summary)
    stage.text("model/estimator.html", record.estimator_html)
    for path, source in record.custom_sources.items():
        stage.text(path, source)
    stage.text("custom/deployable_model.py", DEPLOYABLE_MODEL_CODE.read_text(encoding="utf-8"))
    if record.reference_profile:  # what predict, serve and monitor compare scored rows with
        stage.json(PROFILE_ARTIFACT, record.reference_profile)


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
            "column_kinds": record.package.column_kinds,
            "dropped_columns": list(dataset.dropped_columns),
            "dropped_rows_without_target": dataset.dropped_rows,
            "values_made_missing": dataset.coerced_values or {},
            "source_sha256": dataset.source_sha256 or None,
            "rows": record.splits.sizes,
            "snapshot_rows_limit": limit,
        },
    )


def _stage_evaluation(stage: ArtifactStage, record: TrainingRecord) -> None:
    evaluation = record.evaluation
    history = record.fit.history
    baseline = record.baseline.all_metrics() if record.baseline else {}
    stage.json("evaluation/metrics.json", {**record.metrics, **baseline})
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


def record_comparison(run_id: str, record: ComparisonRecord) -> None:
    """Write the outcome of a comparison on its parent run: ranking, chart, best model, and
    the record's further tables and metrics (a seeded comparison's statistics)."""
    with ArtifactStage() as stage:
        stage.csv("comparison/models.csv", record.table)
        for path, table in record.tables.items():
            stage.csv(f"{path}.csv", table)
            stage.table(f"{path}.json", table)
        if record.failed:
            stage.json("comparison/failed.json", record.failed)
        for path, figure in record.figures.items():
            stage.figure(path, figure)
        stage_source(stage, record.inputs.code)
        stage_environment(stage)
        stage.table("comparison/models.json", record.table)
        stage.upload(run_id)
        tables = stage.table_tags()
    tags = {**tables, "compare.failed_models": ",".join(record.failed) or "none"}
    if len(record.table):
        best = record.table.iloc[0]
        tags["compare.best_model"] = str(best["model"])
        tags["compare.best_run_id"] = str(best["run_id"])
        log_metrics(
            run_id,
            {
                f"best_{record.metric}": float(best[record.metric]),
                "models_compared": float(len(record.table)),
                **record.metrics,
            },
        )
    set_tags(run_id, tags)
