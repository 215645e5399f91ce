"""The values the pure core hands to the MLflow shell of a capability.

Plain frozen dataclasses: the core builds them without knowing MLflow, the shell
(``mlops_tracking.runs``) records them without computing anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure
    from sklearn.pipeline import Pipeline

    from mlops_tracking.core.baseline import Baseline
    from mlops_tracking.core.config import Config
    from mlops_tracking.core.dataset import Dataset, Splits
    from mlops_tracking.core.dvc_workspace import DvcState
    from mlops_tracking.core.environment import GitState
    from mlops_tracking.core.evaluation import Evaluation
    from mlops_tracking.core.export import OnnxExport, SkopsExport
    from mlops_tracking.core.training import FitResult

# How each kind of source column is declared in the deployable model's signature. Dates are
# text, as the CSV spells them: the pipeline reads them with the format found in training,
# whereas MLflow's `datetime` type would parse "05/12/2012" month first whatever the source.
SIGNATURE_TYPES = {
    "float": "double",
    "integer": "long",
    "boolean": "boolean",
    "text": "string",
    "date": "string",
    "datetime": "string",
}


@dataclass(frozen=True)
class TrainingInputs:
    """A validated config and the data it selects: everything a run trains on."""

    config: Config
    config_file: Path | None
    dataset: Dataset
    splits: Splits
    code: GitState | None = None  # the code version, read once: tags and diff agree
    dvc: DvcState | None = None  # the DVC workspace and the data version it holds

    def with_model(self, name: str) -> TrainingInputs:
        config = self.config.with_overrides([f"model.name={name}"])
        return replace(self, config=config)


@dataclass(frozen=True)
class ModelPackage:
    """A fitted pipeline and what logging it in every format needs."""

    pipeline: Pipeline
    family: str
    task: str
    labels: tuple[str, ...]
    # column -> float | integer | boolean | text | date | datetime, in input order
    column_kinds: dict[str, str]
    input_example: pd.DataFrame  # raw rows, as a user sends them to the deployable pyfunc
    features_example: pd.DataFrame  # the same rows as the pipeline sees them (training form)
    skops: SkopsExport
    onnx: OnnxExport | None
    serving_engine: str = "sklearn"  # what the deployable pyfunc runs: onnx or sklearn
    hyperparameters: dict[str, str] = field(default_factory=dict)
    # numeric column -> [min, max] over the training rows (model_input.training_ranges)
    ranges: dict[str, list[float]] = field(default_factory=dict)
    # columns of the source table that training left out on purpose (the target, dropped ones)
    ignored_columns: tuple[str, ...] = ()

    @property
    def columns(self) -> list[str]:
        return list(self.column_kinds)

    @property
    def categorical(self) -> list[str]:
        return [c for c, kind in self.column_kinds.items() if kind in {"text", "boolean"}]

    @property
    def model_type(self) -> str:
        return "regressor" if self.task == "regression" else "classifier"

    def tags(self, model_format: str) -> dict[str, str]:
        return {"format": model_format, "family": self.family, "task": self.task}


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
    tags: dict[str, str]
    model_summary: dict[str, Any]
    estimator_html: str
    preprocessing_state: dict[str, Any]
    custom_sources: dict[str, str] = field(default_factory=dict)
    code: GitState | None = None
    baseline: Baseline | None = None  # the task's trivial baseline on the same splits
    # the train split's reference profile for drift checks (core/drift.py)
    reference_profile: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ComparisonRecord:
    """The outcome of a comparison, as the parent run records it."""

    inputs: TrainingInputs
    table: pd.DataFrame
    metric: str
    goal: str
    failed: dict[str, str]
    figures: dict[str, Figure]
    # more tables by artifact path without suffix (written as .csv and as an MLflow .json table)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)  # logged on the parent as they are
