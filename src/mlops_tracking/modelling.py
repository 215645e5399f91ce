"""Fit, evaluate and export one model: everything a training run records, computed in memory.

Pure composition of the functional core; the tracking shell receives the ``TrainingRecord``.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

import pandas as pd

from mlops_tracking.config import flatten
from mlops_tracking.data import Dataset, Splits

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from mlops_tracking.export import OnnxExport, SkopsExport
    from mlops_tracking.models import ModelFamily
    from mlops_tracking.tracking.model_formats import ModelPackage
    from mlops_tracking.tracking.recorder import TrainingRecord
    from mlops_tracking.training import FitResult
    from mlops_tracking.workflows import TrainingInputs


def train_and_evaluate(inputs: TrainingInputs, family: ModelFamily) -> TrainingRecord:
    """Fit the family's pipeline with its learning history, score it and export it."""
    from sklearn.utils import estimator_html_repr

    from mlops_tracking import evaluation, export, plots
    from mlops_tracking.features import preprocessing_state
    from mlops_tracking.models import estimator_params, summarize_model
    from mlops_tracking.tracking.recorder import TrainingRecord

    config, dataset, splits = inputs.config, inputs.dataset, inputs.splits
    pipeline, fit = fit_pipeline(inputs, family)
    scores = evaluation.evaluate(pipeline, splits, dataset, config.evaluation, config.model.seed)
    onnx = export.to_onnx(pipeline, splits.train.X.head(1), dataset.categorical_columns)
    skops = export.to_skops(pipeline)
    estimator = flatten({"model": estimator_params(pipeline)})
    return TrainingRecord(
        config=config,
        config_file=inputs.config_file,
        dataset=dataset,
        splits=splits,
        fit=fit,
        evaluation=scores,
        figures=plots.evaluation_figures(scores, fit.history, dataset.labels),
        package=_package(inputs, family, pipeline, skops=skops, onnx=onnx, estimator=estimator),
        params={**config.run_params(), **estimator, **derived_params(inputs, family, pipeline)},
        metrics={
            **scores.metrics,
            **onnx_parity_metrics(onnx, pipeline, dataset, splits),
            "fit_time_seconds": fit.fit_seconds,
        },
        model_summary=summarize_model(pipeline, len(skops.data)),
        estimator_html=estimator_html_repr(pipeline),
        preprocessing_state=preprocessing_state(pipeline[:-1]),
        custom_sources=custom_sources(dataset.task),
    )


def fit_pipeline(inputs: TrainingInputs, family: ModelFamily) -> tuple[Pipeline, FitResult]:
    from mlops_tracking.features import build_preprocessor, fit_selection_size
    from mlops_tracking.models import build_model, build_pipeline
    from mlops_tracking.training import fit_with_history

    config, dataset, train = inputs.config, inputs.dataset, inputs.splits.train
    preprocessor = build_preprocessor(
        config.features,
        dataset.numeric_columns,
        dataset.categorical_columns,
        dataset.is_classification,
        scale=not family.scale_invariant,
    )
    fit_selection_size(preprocessor, config.features, train.X, train.y)
    pipeline = build_pipeline(preprocessor, build_model(config.model, dataset.task, family.name))
    fit = fit_with_history(
        pipeline, inputs.splits, family, len(dataset.labels), config.model.mlp.patience
    )
    return pipeline, fit


def _package(
    inputs: TrainingInputs,
    family: ModelFamily,
    pipeline: Pipeline,
    *,
    skops: SkopsExport,
    onnx: OnnxExport,
    estimator: dict[str, str],
) -> ModelPackage:
    from mlops_tracking.tracking.model_formats import ModelPackage

    dataset, splits = inputs.dataset, inputs.splits
    return ModelPackage(
        pipeline=pipeline,
        family=family.name,
        task=dataset.task,
        labels=dataset.labels,
        columns=[str(c) for c in dataset.features.columns],
        categorical=dataset.categorical_columns,
        integer=list(dataset.integer_columns),
        input_example=_raw_example(splits.test.X.head(5), dataset.integer_columns),
        skops=skops,
        onnx=onnx,
        hyperparameters={key.removeprefix("model."): value for key, value in estimator.items()},
    )


def _raw_example(rows: pd.DataFrame, integer_columns: tuple[str, ...]) -> pd.DataFrame:
    """Rows as a user would send them: integer columns as integers (when none is missing)."""
    example = rows.copy()
    for column in integer_columns:
        if example[column].notna().all():
            example[column] = example[column].astype("int64")
    return example


def onnx_parity_metrics(
    onnx: OnnxExport, pipeline: Pipeline, dataset: Dataset, splits: Splits
) -> dict[str, float]:
    """Compare the ONNX graph with scikit-learn on the test set."""
    from mlops_tracking import export

    parity = export.onnx_parity(onnx, pipeline, splits.test.X)
    if dataset.is_classification:
        return {
            "onnx_max_abs_proba_diff": parity.max_abs_diff,
            "onnx_label_agreement": parity.label_agreement,
        }
    return {"onnx_max_abs_diff": parity.max_abs_diff}


def custom_sources(task: str) -> dict[str, str]:
    """The source of the custom functions a run uses, by artifact path."""
    from mlops_tracking.evaluation import CUSTOM_METRICS
    from mlops_tracking.tracking.model_formats import DEPLOYABLE_MODEL_CODE

    name, function = CUSTOM_METRICS["regression" if task == "regression" else "classification"]
    return {
        f"custom/{name}.py": inspect.getsource(function),
        "custom/deployable_model.py": DEPLOYABLE_MODEL_CODE.read_text(encoding="utf-8"),
    }


def derived_params(
    inputs: TrainingInputs, family: ModelFamily, pipeline: Pipeline
) -> dict[str, str]:
    """Facts about the data and preprocessing a run used, logged beside the configured params."""
    dataset = inputs.dataset
    derived = {
        "data.name": dataset.name,
        "data.resolved_task": dataset.task,
        "data.n_rows": str(len(dataset.target)),
        "data.n_features": str(dataset.features.shape[1]),
        "data.n_numeric": str(len(dataset.numeric_columns)),
        "data.n_categorical": str(len(dataset.categorical_columns)),
        "data.n_classes": str(len(dataset.labels)),
        "data.dropped_columns": ", ".join(dataset.dropped_columns) or "none",
        "data.dropped_rows": str(dataset.dropped_rows),
        **{f"data.n_{name}": str(size) for name, size in inputs.splits.sizes.items()},
        "features.scaling_applied": str(
            inputs.config.features.scaling != "none" and not family.scale_invariant
        ).lower(),
        "features.n_model_inputs": str(pipeline[-1].n_features_in_),
    }
    preprocess = pipeline[0]
    if "select" in preprocess.named_steps:
        derived["features.selection.effective_k"] = str(preprocess.named_steps["select"].k)
    return derived
