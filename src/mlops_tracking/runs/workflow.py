"""Compose the pure core with the run's MLflow shell: one fully tracked training run.

Each workflow validates everything it can (config, data, model/task fit) *before* it creates a
run, so bad input never leaves an empty or half-written run behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from mlops_tracking.core.config import Config
from mlops_tracking.core.data import load_dataset, split_dataset
from mlops_tracking.core.dataset import Dataset, Splits
from mlops_tracking.core.environment import author, code_version, entry_point
from mlops_tracking.core.models import ModelFamily, family_for
from mlops_tracking.core.records import TrainingInputs

if TYPE_CHECKING:
    from mlops_tracking.core.export import SkopsExport


class Progress(Protocol):
    """Where workflows report what they are doing (the CLI shows a progress bar)."""

    def begin(self, total: int) -> None: ...

    def step(self, description: str) -> None: ...


class SilentProgress:
    def begin(self, total: int) -> None:
        pass

    def step(self, description: str) -> None:
        pass


@dataclass(frozen=True)
class ExperimentRef:
    id: str
    name: str


@dataclass(frozen=True)
class RunOutcome:
    """What a finished training run is, in terms a caller can print or look up."""

    run_id: str
    run_name: str
    experiment: ExperimentRef
    model_name: str
    task: str
    metrics: dict[str, float]
    model_uris: dict[str, str]
    skops: SkopsExport | None = None  # the fitted pipeline, for the DVC pipeline's model file


def load_inputs(config: Config, config_file: Path | None = None) -> TrainingInputs:
    """Load and split the configured data; raises ``DataError`` before any run exists."""
    dataset = load_dataset(config.data)
    splits = split_dataset(dataset, config.data)
    return inputs_for(config, config_file, dataset, splits)


def load_pipeline_inputs(
    config: Config, config_file: Path | None, features_dir: Path
) -> TrainingInputs:
    """The splits the pipeline's featurize stage wrote, bound to their DVC versions."""
    from mlops_tracking.core.stage_files import load_splits, split_files

    dataset, splits = load_splits(features_dir)
    return inputs_for(config, config_file, dataset, splits, split_files(features_dir))


def inputs_for(
    config: Config,
    config_file: Path | None,
    dataset: Dataset,
    splits: Splits,
    data_files: list[Path] | None = None,
) -> TrainingInputs:
    """Training inputs with the code version and the DVC workspace state read now."""
    from mlops_tracking.core.dvc_workspace import workspace_state

    if data_files is None:
        data_files = [Path(dataset.source)] if dataset.source_kind == "file" else []
    dvc = workspace_state(data_files)
    return TrainingInputs(config, config_file, dataset, splits, code_version(), dvc)


def open_experiment(config: Config, dataset: Dataset, override: str | None = None) -> ExperimentRef:
    """Open the store and find or create the run's experiment (default ``<dataset>-<task>``)."""
    from mlops_tracking.runs.context import NOTE
    from mlops_tracking.runs.store import ensure_experiment, open_store

    name = override or config.tracking.experiment or f"{dataset.name}-{dataset.task}"
    open_store(http=config.tracking.http)
    experiment_id = ensure_experiment(
        name,
        tags={
            "task": dataset.task,
            "dataset": dataset.name,
            NOTE: f"{dataset.task.capitalize()} experiments on `{dataset.name}` "
            f"({len(dataset.target)} rows, {dataset.features.shape[1]} features).",
        },
    )
    return ExperimentRef(experiment_id, name)


def describe_run(inputs: TrainingInputs, what: str) -> str:
    """The run description (Markdown): configured, else what ran on which data and how."""
    if inputs.config.tracking.description:
        return inputs.config.tracking.description
    command, _ = entry_point()
    sizes = ", ".join(f"{name} {size}" for name, size in inputs.splits.sizes.items())
    return (
        f"{what} on `{inputs.dataset.name}` ({inputs.dataset.task}; {sizes} rows).\n\n"
        f"Started with `{command}`."
    )


def base_tags(inputs: TrainingInputs, run_type: str) -> dict[str, str]:
    from mlops_tracking.core.dvc_workspace import params_digest
    from mlops_tracking.core.evaluation import custom_metric_name

    config, dataset = inputs.config, inputs.dataset
    dvc = inputs.dvc.tags(params_digest(config.run_params())) if inputs.dvc else {}
    return {
        **config.tracking.tags,
        **dvc,
        "author": author(config.tracking.author),
        "task": dataset.task,
        "dataset": dataset.name,
        "mlops.run_type": run_type,
        "mlops.custom_metric": f"test_{custom_metric_name(dataset.task)}",
        # what this run was asked to record, so the audit tells "off" from "lost"
        "mlops.model_formats": ",".join(config.tracking.model_formats),
        "mlops.system_metrics": str(config.tracking.system_metrics).lower(),
    }


def system_metrics_interval(config: Config) -> float | None:
    return config.tracking.system_metrics_interval if config.tracking.system_metrics else None


def train_and_log(
    config: Config,
    config_file: Path | None = None,
    experiment: str | None = None,
    progress: Progress | None = None,
    inputs: TrainingInputs | None = None,
) -> RunOutcome:
    """Train the configured model and record a fully tracked run; return where it lives.

    ``inputs`` replaces loading the configured data (the pipeline passes its featurized splits).
    """
    from mlops_tracking.core.evaluation import selection_rule

    inputs = inputs or load_inputs(config, config_file)
    family = family_for(config.model.name, inputs.dataset.task)
    selection_rule(config.evaluation, inputs.dataset.task)  # judged against the baseline by it
    target = open_experiment(config, inputs.dataset, experiment)
    (progress or SilentProgress()).step(f"{family.name} on {inputs.dataset.name}")
    run_name = config.tracking.run_name or f"{family.name}-{inputs.dataset.name}"
    return train_run(inputs, family, target, run_name)


def train_run(
    inputs: TrainingInputs,
    family: ModelFamily,
    experiment: ExperimentRef,
    run_name: str,
    extra_tags: dict[str, str] | None = None,
) -> RunOutcome:
    """One training run in ``experiment`` (nested under the active run, if any)."""
    from mlops_tracking.core.modelling import train_and_evaluate
    from mlops_tracking.core.training import HISTORY_UNITS
    from mlops_tracking.runs.context import run_tags
    from mlops_tracking.runs.lifecycle import tracked_run
    from mlops_tracking.runs.recorder import record_inputs, record_training

    tags = run_tags(
        inputs.code,
        {
            **base_tags(inputs, "training"),
            "model.family": family.name,
            "history.unit": HISTORY_UNITS[family.history],
            **(extra_tags or {}),
        },
    )
    description = describe_run(inputs, family.summary.capitalize())
    interval = system_metrics_interval(inputs.config)
    with tracked_run(
        experiment.id,
        run_name,
        tags,
        description,
        interval,
        heartbeat_seconds=inputs.config.tracking.heartbeat_seconds,
    ) as run:
        datasets = record_inputs(run.info.run_id, inputs, inputs.config.run_params())
        record = train_and_evaluate(inputs, family)
        models = record_training(run.info.run_id, experiment.id, record, datasets)
    history = record.fit.history.series
    baseline = record.baseline.all_metrics() if record.baseline else {}
    return RunOutcome(
        run_id=run.info.run_id,
        run_name=run_name,
        experiment=experiment,
        model_name=family.name,
        task=inputs.dataset.task,
        metrics={
            **record.metrics,
            **baseline,
            **{key: values[-1] for key, values in history.items()},
        },
        model_uris={fmt: info.model_uri for fmt, info in models.items()},
        skops=record.package.skops,
    )
