"""Fit, evaluate and export one model: everything a training run records, computed in memory.

Pure composition of the core; the run's MLflow shell (``runs/recorder.py``) records the
``TrainingRecord``.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

import pandas as pd

from mlops_tracking.core.config import flatten
from mlops_tracking.core.dataset import DATE_KINDS, Dataset
from mlops_tracking.core.records import ModelPackage, TrainingInputs

# skl2onnx converts scikit-learn's own transformers only, and ONNX has no operator that reads a
# date from text: a table with dates gets every format but ONNX, and the pyfunc runs sklearn.
ONNX_DATES_SKIPPED = (
    "not converted: the calendar features of date columns are computed in Python "
    "(core/dates.py), which ONNX cannot express; the pyfunc model serves with scikit-learn"
)

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from mlops_tracking.core.export import OnnxExport
    from mlops_tracking.core.models import ModelFamily
    from mlops_tracking.core.records import TrainingRecord
    from mlops_tracking.core.training import FitResult, StepListener


def run_threads(inputs: TrainingInputs) -> int:
    """The thread count of a run on ``inputs`` (``model.threads``, resolved on its table)."""
    from mlops_tracking.core.threads import resolve_threads

    return resolve_threads(inputs.config.model.threads, len(inputs.splits.train))


def train_and_evaluate(inputs: TrainingInputs, family: ModelFamily) -> TrainingRecord:
    """Fit the family's pipeline with its learning history, score it and export it.

    Fitting, the history, evaluation, the ONNX parity check and the baseline run with OpenMP
    and BLAS held to the run's thread count.
    """
    from mlops_tracking.core.threads import limited_threads

    with limited_threads(run_threads(inputs)):
        return _train_and_evaluate(inputs, family)


def _train_and_evaluate(inputs: TrainingInputs, family: ModelFamily) -> TrainingRecord:
    from sklearn.utils import estimator_html_repr

    from mlops_tracking.core import evaluation, export, plots
    from mlops_tracking.core.baseline import judge_baseline
    from mlops_tracking.core.features import preprocessing_state
    from mlops_tracking.core.model_input import training_ranges
    from mlops_tracking.core.models import estimator_params, summarize_model
    from mlops_tracking.core.records import TrainingRecord

    config, dataset, splits = inputs.config, inputs.dataset, inputs.splits
    pipeline, fit = fit_pipeline(inputs, family)
    scores = evaluation.evaluate_model(
        pipeline, splits, dataset, config.evaluation, config.model.seed
    )
    selection_metric, _ = evaluation.selection_rule(config.evaluation, dataset.task)
    baseline = judge_baseline(
        scores.metrics, splits, dataset, selection_metric, config.evaluation.calibration_bins
    )
    onnx, onnx_metrics, tags, engine = _onnx(inputs, pipeline)
    skops = export.to_skops(pipeline)
    estimator = flatten({"model": estimator_params(pipeline)})
    tags.update(baseline.tags())
    if fit.best_step is not None:
        tags["history.best_step"] = str(fit.best_step)
    return TrainingRecord(
        config=config,
        config_file=inputs.config_file,
        dataset=dataset,
        splits=splits,
        fit=fit,
        evaluation=scores,
        figures=plots.evaluation_figures(scores, fit.history, dataset.labels),
        package=ModelPackage(
            pipeline=pipeline,
            family=family.name,
            task=dataset.task,
            labels=dataset.labels,
            column_kinds={str(c): dataset.kind(str(c)) for c in dataset.features.columns},
            input_example=raw_rows(splits.test.X.head(5), dataset),
            features_example=splits.test.X.head(5),
            skops=skops,
            onnx=onnx,
            serving_engine=engine,
            hyperparameters={k.removeprefix("model."): v for k, v in estimator.items()},
            ranges=training_ranges(splits.train.X, _input_types(dataset)),
            ignored_columns=(dataset.target_name, *dataset.dropped_columns),
        ),
        params={**estimator, **derived_params(inputs, family, pipeline)},
        metrics={**scores.metrics, **onnx_metrics, "fit_time_seconds": fit.fit_seconds},
        tags=tags,
        model_summary=summarize_model(pipeline, len(skops.data)),
        estimator_html=estimator_html_repr(pipeline),
        preprocessing_state=preprocessing_state(pipeline[:-1]),
        custom_sources=custom_sources(dataset.task),
        code=inputs.code,
        baseline=baseline,
        reference_profile=reference_profile(pipeline, inputs),
    )


def reference_profile(pipeline: Pipeline, inputs: TrainingInputs) -> dict[str, Any]:
    """The train split as the model receives rows, with its predictions (``core/drift.py``)."""
    from mlops_tracking.core.drift import build_profile

    dataset, train = inputs.dataset, inputs.splits.train
    predicted = pipeline.predict(train.X)
    regression = dataset.task == "regression"
    predictions = (
        [float(value) for value in predicted]
        if regression
        else [dataset.labels[int(code)] for code in predicted]
    )
    kinds = {str(c): dataset.kind(str(c)) for c in dataset.features.columns}
    bins = inputs.config.monitoring.bins
    return build_profile(
        raw_rows(train.X, dataset), kinds, predictions, bins, regression=regression
    )


def _input_types(dataset: Dataset) -> dict[str, str]:
    from mlops_tracking.core.model_input import KIND_TYPES

    return {str(c): KIND_TYPES.get(dataset.kind(str(c)), "any") for c in dataset.features.columns}


def unfitted_pipeline(inputs: TrainingInputs, family: ModelFamily) -> Pipeline:
    """The family's pipeline (preprocessing + estimator), sized for the data, not yet fitted."""
    from mlops_tracking.core.features import (
        build_preprocessor,
        calendar_features,
        fit_selection_size,
    )
    from mlops_tracking.core.models import build_model, build_pipeline

    config, dataset, train = inputs.config, inputs.dataset, inputs.splits.train
    preprocessor = build_preprocessor(
        config.features,
        dataset.numeric_columns,
        dataset.categorical_columns,
        dataset.is_classification,
        scale=not family.scale_invariant,
        dates=calendar_features(dataset),
    )
    fit_selection_size(preprocessor, config.features, train.X, train.y)
    estimator = build_model(config.model, dataset.task, family.name, run_threads(inputs))
    return build_pipeline(preprocessor, estimator)


def fit_pipeline(
    inputs: TrainingInputs, family: ModelFamily, on_step: StepListener | None = None
) -> tuple[Pipeline, FitResult]:
    """Build the family's pipeline and fit it with its learning history (``on_step`` hears
    each point of the curve as it is traced: a sweep's pruner)."""
    from mlops_tracking.core.threads import limited_threads
    from mlops_tracking.core.training import fit_with_history

    pipeline = unfitted_pipeline(inputs, family)
    mlp = inputs.config.model.mlp
    with limited_threads(run_threads(inputs)):
        fit = fit_with_history(
            pipeline,
            inputs.splits,
            family,
            n_classes=len(inputs.dataset.labels),
            patience=mlp.patience,
            seed=inputs.config.model.seed,
            stopping_fraction=mlp.early_stopping_fraction,
            on_step=on_step,
        )
    return pipeline, fit


def _onnx(
    inputs: TrainingInputs, pipeline: Pipeline
) -> tuple[OnnxExport | None, dict[str, float], dict[str, str], str]:
    """Convert to ONNX when a format needs it; a failed conversion is recorded, not fatal.

    Returns the export, its parity metrics, tags, and the engine the deployable pyfunc should
    run: ``onnx`` only when onnxruntime gives scikit-learn's labels on every test row (for
    regression: every value within 0.1 % of the largest), else ``sklearn``.

    skl2onnx does not cover every scikit-learn estimator and option, and a user's table must
    still yield a run (with the other formats) when it cannot be converted.
    """
    from mlops_tracking.core import export

    if not {"onnx", "pyfunc"} & set(inputs.config.tracking.model_formats):
        return None, {}, {}, "sklearn"
    dataset, splits = inputs.dataset, inputs.splits
    if dataset.date_columns:
        return None, {}, {"mlops.onnx_skipped": ONNX_DATES_SKIPPED}, "sklearn"
    try:
        onnx = export.to_onnx(pipeline, splits.train.X.head(1), dataset.categorical_columns)
        parity = export.onnx_parity(onnx, pipeline, splits.test.X, run_threads(inputs))
    except Exception as error:  # skl2onnx raises many types for unsupported pipelines
        return None, {}, {"mlops.onnx_error": f"{type(error).__name__}: {error}"[:500]}, "sklearn"
    if dataset.is_classification:
        metrics = {
            "onnx_max_abs_proba_diff": parity.max_abs_diff,
            "onnx_label_agreement": parity.label_agreement,
        }
    else:
        metrics = {"onnx_max_abs_diff": parity.max_abs_diff}
    engine = "onnx" if parity.label_agreement == 1.0 else "sklearn"
    return onnx, metrics, {"mlops.serving_engine": engine}, engine


def raw_rows(rows: pd.DataFrame, dataset: Dataset) -> pd.DataFrame:
    """Rows as a user sends them: integers and booleans as such, not as training encodes them,
    dates as the source CSV spelled them."""
    example = rows.copy()
    for column in example.columns:
        kind = dataset.kind(str(column))
        if kind == "integer" and example[column].notna().all():
            example[column] = example[column].astype("int64")
        elif kind == "boolean":
            example[column] = example[column] == "True"
        elif kind in DATE_KINDS:
            example[column] = _date_text(example[column], dataset, str(column))
    return example


def _date_text(dates: pd.Series, dataset: Dataset, column: str) -> pd.Series:
    """``datetime64`` values written in the column's source format (ISO 8601 by default)."""
    from mlops_tracking.core.dates import ISO_8601

    source_format = (dataset.date_formats or {}).get(column, ISO_8601)
    if source_format == ISO_8601:
        with_time = dataset.kind(column) == "datetime"
        source_format = "%Y-%m-%d %H:%M:%S" if with_time else "%Y-%m-%d"
    text: pd.Series = dates.dt.strftime(source_format).astype(object)
    return text.where(dates.notna(), None)


def custom_sources(task: str) -> dict[str, str]:
    """The source of the custom functions a run uses, by artifact path."""
    from mlops_tracking.core.evaluation import CUSTOM_METRICS

    name, function = CUSTOM_METRICS["regression" if task == "regression" else "classification"]
    return {
        f"custom/{name}.py": inspect.getsource(function),
    }


def derived_params(
    inputs: TrainingInputs, family: ModelFamily, pipeline: Pipeline
) -> dict[str, str]:
    """Facts about the data and preprocessing a run used, logged beside the configured params."""
    from mlops_tracking.core.features import date_params

    dataset = inputs.dataset
    derived = {
        **_source_params(dataset),
        "data.name": dataset.name,
        "data.resolved_task": dataset.task,
        "data.n_rows": str(len(dataset.target)),
        "data.n_features": str(dataset.features.shape[1]),
        "data.n_numeric": str(len(dataset.numeric_columns)),
        "data.n_categorical": str(len(dataset.categorical_columns)),
        "data.n_date": str(len(dataset.date_columns)),
        "data.n_classes": str(len(dataset.labels)),
        "data.dropped_columns": ", ".join(dataset.dropped_columns) or "none",
        "data.dropped_rows": str(dataset.dropped_rows),
        "data.coerced_values": ", ".join(
            f"{column}={count}" for column, count in (dataset.coerced_values or {}).items()
        )
        or "none",
        **{f"data.n_{name}": str(size) for name, size in inputs.splits.sizes.items()},
        "features.scaling_applied": str(
            inputs.config.features.scaling != "none" and not family.scale_invariant
        ).lower(),
        "features.n_model_inputs": str(pipeline[-1].n_features_in_),
        "model.threads": str(run_threads(inputs)),
        "model.threads_setting": str(inputs.config.model.threads),
    }
    if dataset.source_sha256:
        derived["data.source_sha256"] = dataset.source_sha256
    preprocess = pipeline[0]
    if "select" in preprocess.named_steps:
        derived["features.selection.effective_k"] = str(preprocess.named_steps["select"].k)
    return {**derived, **date_params(preprocess)}


def _source_params(dataset: Dataset) -> dict[str, str]:
    """How the CSV was read and which rare classes were dropped or merged (data.rare_classes)."""
    params: dict[str, str] = {}
    if dataset.csv_dialect is not None:
        params["data.resolved_sep"] = dataset.csv_dialect.sep_name
        params["data.resolved_decimal"] = dataset.csv_dialect.decimal
    if dataset.is_classification:
        rare = dataset.rare_classes or {}
        shown = ", ".join(f"{label}={rows}" for label, rows in rare.items())
        params["data.rare_class_rows"] = shown or "none"
        params["data.n_rare_rows"] = str(sum(rare.values()))
    return params
