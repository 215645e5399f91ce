"""The audit's checklist per kind of run (training, comparison, sweep and sweep trial), and the
audit of one run.

The audit trusts nothing but the store (``MlflowClient``): no local files, no return values.
It works on any run: our conventions are checked first, and common alternatives (autolog's
``training_*`` metrics, ``mlflow.models.evaluate`` plots) are accepted where they carry the
same information. A missing item says what was looked for.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mlops_tracking.audit.model_items import (
    hyperparameters,
    linked_metrics,
    model_format,
    model_signatures,
    models_complete,
    onnx_parity,
)
from mlops_tracking.audit.registry_items import REGISTRY_CHECKS
from mlops_tracking.audit.rules import AuditItem, Check, artifact, history, metric, params, tags
from mlops_tracking.audit.run_items import (
    ENV_TAGS,
    baseline_beaten,
    baseline_metrics,
    children,
    custom_metric,
    data_version,
    dataset_context,
    git_commit,
    git_dirty,
    models_compared,
    named_experiment,
    notebook,
    parent_link,
    predictions_table,
    run_kept,
    run_name,
    run_status,
    system_metrics,
    trial_curves,
    trial_history,
    trial_score,
    trials_ended,
)
from mlops_tracking.audit.snapshot import snapshot

# --- checklists ----------------------------------------------------------------------------------

_CLS, _REG = "classification", "regression"

COMMON_CHECKS: list[Check] = [
    params("2 Parameters", "Data processing (dataset, split, seed)", "data.", 4),
    params("2 Parameters", "Feature engineering", "features.", 2),
    artifact("2 Parameters", "Resolved config file", r"^config/resolved\.ya?ml$"),
    artifact("3 Artifacts", "Source snapshot (package and entry point)", r"^source/"),
    artifact(
        "3 Artifacts",
        "Environment files (packages, Python, lock file)",
        r"^environment/(pip-freeze\.txt|python\.json|requirements\.lock)$",
    ),
    tags("5 Tags", "Author", "author"),
    tags("5 Tags", "Description", "mlflow.note.content"),
    tags("5 Tags", "Task and dataset", "task", "dataset"),
    tags(
        "5 Tags", "Environment (Python, OS, CPU, memory, GPU, CUDA, cloud, CI, versions)", *ENV_TAGS
    ),
    git_commit,
    git_dirty,
    tags("6 Source code", "Entry point", "mlflow.source.name"),
    notebook,
    dataset_context("training"),
    dataset_context("validation"),
    dataset_context("testing"),
    data_version,
    run_name,
    named_experiment,
    run_status,
    run_kept,
    system_metrics,
]

TRAINING_CHECKS: list[Check] = [
    metric(
        "1 Metrics",
        "Accuracy",
        r"^(test_|validation_|val_|eval_|training_)?accuracy(_score)?$",
        _CLS,
    ),
    history("1 Metrics", "Training and validation loss per step", "loss"),
    history("1 Metrics", "Accuracy curves per step", "accuracy", _CLS),
    metric(
        "1 Metrics",
        "Precision",
        r"^(test_|validation_|val_|eval_|training_)?precision(_score|_macro|_weighted|_micro)?$",
        _CLS,
    ),
    metric(
        "1 Metrics",
        "Recall",
        r"^(test_|validation_|val_|eval_|training_)?recall(_score|_macro|_weighted|_micro)?$",
        _CLS,
    ),
    metric(
        "1 Metrics",
        "F1 score",
        r"^(test_|validation_|val_|eval_|training_)?f1(_score|_macro|_weighted|_micro)?$",
        _CLS,
    ),
    metric(
        "1 Metrics",
        "ROC AUC",
        r"^(test_|validation_|val_|eval_|training_)?roc_auc(_ovr|_score)?$",
        _CLS,
    ),
    metric("1 Metrics", "Log loss", r"^(test_|validation_|val_|eval_|training_)?log_loss$", _CLS),
    metric(
        "1 Metrics",
        "RMSE",
        r"^(test_|validation_|val_|eval_|training_)?(rmse|root_mean_squared_error)$",
        _REG,
    ),
    metric(
        "1 Metrics",
        "MAE",
        r"^(test_|validation_|val_|eval_|training_)?(mae|mean_absolute_error)$",
        _REG,
    ),
    metric("1 Metrics", "R²", r"^(test_|validation_|val_|eval_|training_)?r2(_score)?$", _REG),
    custom_metric,
    baseline_metrics,
    baseline_beaten,
    metric("1 Metrics", "Fit time", r"fit_time|training_time"),
    metric("1 Metrics", "Prediction latency", r"latency"),
    linked_metrics,
    tags("2 Parameters", "Model family", "model.family"),
    hyperparameters,
    artifact("3 Artifacts", "Model summary", r"^model/summary\.json$"),
    artifact("3 Artifacts", "Confusion matrix (image)", r"confusion.*\.(png|svg)$", _CLS),
    artifact("3 Artifacts", "Confusion matrix (values)", r"confusion.*\.(csv|json)$", _CLS),
    artifact("3 Artifacts", "ROC curve", r"roc.*\.(png|svg|html)$", _CLS),
    artifact("3 Artifacts", "Precision-recall curve", r"precision_recall.*\.(png|svg|html)$", _CLS),
    artifact("3 Artifacts", "Loss / learning curves plot", r"(learning|loss).*\.(png|svg)$"),
    artifact("3 Artifacts", "Feature importances (image)", r"importance.*\.(png|svg)$"),
    artifact("3 Artifacts", "Feature importances (table)", r"importance.*\.(csv|json)$"),
    artifact("3 Artifacts", "Residual plot", r"residual.*\.(png|svg)$", _REG),
    artifact("3 Artifacts", "Predicted vs actual plot", r"predicted_vs_actual.*\.(png|svg)$", _REG),
    artifact(
        "3 Artifacts",
        "Snapshot of the data splits",
        r"^data/(train|validation|test)\.(csv|parquet)$",
    ),
    model_format("sklearn flavor, skops format"),
    model_format("Pickled model"),
    model_format("ONNX model"),
    model_format("Custom pyfunc model"),
    models_complete,
    model_signatures,
    onnx_parity,
    predictions_table,
    artifact("8 Custom logging", "Custom object as JSON", r"^objects/.*\.json$"),
    artifact("8 Custom logging", "Custom object as pickle", r"^objects/.*\.(pkl|pickle)$"),
    artifact("8 Custom logging", "Source of custom functions", r"^custom/.*\.py$"),
    parent_link,
]

COMPARISON_CHECKS: list[Check] = [
    metric("1 Metrics", "Best score of the comparison", r"^best_"),
    models_compared,
    artifact("3 Artifacts", "Comparison table", r"^comparison/models\.(csv|json)$"),
    artifact("3 Artifacts", "Comparison chart", r"^plots/comparison.*\.png$"),
    tags("10 Run details", "Best run", "compare.best_model", "compare.best_run_id"),
    children,
]


SWEEP_CHECKS: list[Check] = [
    metric("1 Metrics", "Best score of the sweep", r"^best_"),
    trial_curves,
    params("2 Parameters", "Search space and sampler", "sweep.", 5),
    artifact("3 Artifacts", "Trials table", r"^sweep/trials\.(csv|json)$"),
    artifact("3 Artifacts", "Optimisation history plot", r"^plots/sweep_history\.png$"),
    tags("10 Run details", "Study and best run", "sweep.study", "sweep.best_run_id"),
    trials_ended,
]

# A trial is tracked lightly on purpose (no models, datasets or files): what it must have.
TRIAL_CHECKS: list[Check] = [
    trial_score,
    trial_history,
    params("2 Parameters", "Hyperparameters", "model.", 3),
    params("2 Parameters", "Data processing (dataset, split, seed)", "data.", 4),
    tags("5 Tags", "Study, trial and state", "sweep.study", "sweep.trial", "sweep.trial_state"),
    tags(
        "5 Tags", "Environment (Python, OS, CPU, memory, GPU, CUDA, cloud, CI, versions)", *ENV_TAGS
    ),
    git_commit,
    parent_link,
    run_name,
    run_status,
]


def checklist(profile: str) -> list[Check]:
    if profile == "comparison":
        return COMPARISON_CHECKS + COMMON_CHECKS
    if profile == "sweep":
        return SWEEP_CHECKS + COMMON_CHECKS
    if profile == "sweep_trial":
        return TRIAL_CHECKS
    return TRAINING_CHECKS + REGISTRY_CHECKS + COMMON_CHECKS


@dataclass(frozen=True)
class AuditReport:
    run_id: str
    run_name: str
    experiment: str
    profile: str
    task: str
    status: str
    items: list[AuditItem] = field(default_factory=list)
    deleted: bool = False  # the run's lifecycle_stage is "deleted"

    @property
    def passed(self) -> bool:
        return not any(item.failed for item in self.items)

    @property
    def missing(self) -> list[AuditItem]:
        return [item for item in self.items if item.failed]

    @property
    def flagged(self) -> list[AuditItem]:
        """Items recorded with a warning (the model does not beat its baseline)."""
        return [item for item in self.items if item.status == "flagged"]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["passed"] = self.passed
        data["summary"] = {
            s: sum(i.status == s for i in self.items)
            for s in ("present", "missing", "n/a", "flagged")
        }
        return data


def audit_run(run_id: str) -> AuditReport:
    """Check one run against the outline's checklist, reading only the tracking store."""
    state = snapshot(run_id)
    items = [check(state) for check in checklist(state.profile)]
    items.sort(key=lambda item: int(item.section.split()[0]))
    info = state.run.info
    return AuditReport(
        info.run_id,
        info.run_name or "",
        state.experiment,
        state.profile,
        state.task,
        info.status,
        items,
        state.deleted,
    )
