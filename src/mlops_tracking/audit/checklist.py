"""The audit's checklist: which outline items a training or comparison run must show."""

from __future__ import annotations

import re

from mlops_tracking.audit.model_items import (
    hyperparameters,
    linked_metrics,
    model_format,
    model_signatures,
    onnx_parity,
)
from mlops_tracking.audit.rules import (
    Check,
    artifact,
    found,
    history,
    metric,
    not_applicable,
    params,
    tags,
)
from mlops_tracking.audit.snapshot import ENV_TAGS, AuditItem, RunSnapshot

# --- §6, §7, §10 ---------------------------------------------------------------------------------


def git_commit(s: RunSnapshot) -> AuditItem:
    item = "Git commit"
    if s.tags.get("git.available") == "false":
        return not_applicable(
            "6 Source code", item, "run outside a git repository (git.available=false)"
        )
    return tags("6 Source code", item, "mlflow.source.git.commit")(s)


def git_dirty(s: RunSnapshot) -> AuditItem:
    item = "Uncommitted changes (git.dirty, diff when dirty)"
    dirty = s.tags.get("git.dirty")
    if s.tags.get("git.available") == "false":
        return not_applicable("6 Source code", item, "run outside a git repository")
    if dirty is None:
        return AuditItem("6 Source code", item, "missing", "tag git.dirty")
    if dirty == "true" and "source/git.diff" not in s.artifacts:
        return AuditItem("6 Source code", item, "missing", "git.dirty=true but no source/git.diff")
    where = "git.dirty=true, source/git.diff" if dirty == "true" else "git.dirty=false"
    return AuditItem("6 Source code", item, "present", where)


def notebook(s: RunSnapshot) -> AuditItem:
    if s.tags.get("mlflow.source.type") != "NOTEBOOK":
        return not_applicable("6 Source code", "Notebook", "not run from a notebook")
    return artifact("6 Source code", "Notebook", r"\.ipynb$")(s)


def dataset_context(context: str) -> Check:
    item = f"{context.capitalize()} data (log_input)"

    def check(s: RunSnapshot) -> AuditItem:
        hits = []
        for entry in s.run.inputs.dataset_inputs if s.run.inputs else []:
            contexts = {t.value for t in entry.tags if t.key == "mlflow.data.context"}
            aliases = {
                context,
                {"training": "train", "testing": "test", "validation": "eval"}.get(
                    context, context
                ),
            }
            if contexts & aliases and entry.dataset.digest and entry.dataset.source:
                hits.append(f"{entry.dataset.name} (digest {entry.dataset.digest})")
        return found(
            "7 Inputs and outputs",
            item,
            hits,
            f"a dataset input with context '{context}', a digest and a source",
        )

    return check


def data_version(s: RunSnapshot) -> AuditItem:
    """The run says which DVC data version it used, or why it could not (outside a DVC repo)."""
    section, item = "7 Inputs and outputs", "Data version (DVC hashes, workspace state)"
    available = s.tags.get("dvc.available")
    if available is None:  # runs made before the DVC binding existed
        return not_applicable(section, item, "the run predates the DVC binding (no dvc.* tags)")
    if available == "false":
        return not_applicable(section, item, s.tags.get("dvc.reason", "no DVC information"))
    hashes = sorted(k.removeprefix("dvc.data.") for k in s.tags if k.startswith("dvc.data."))
    state = f"workspace_clean={s.tags.get('dvc.workspace_clean', '?')}"
    if not hashes:
        return AuditItem(section, item, "present", f"read no DVC-versioned file; {state}")
    return AuditItem(
        section, item, "present", f"{len(hashes)} file hashes ({hashes[0]}, …); {state}"
    )


def predictions_table(s: RunSnapshot) -> AuditItem:
    tables = s.tags.get("mlflow.loggedArtifacts", "")
    hits = re.findall(r'"path":\s*"([^"]*predictions[^"]*)"', tables)
    return found(
        "7 Inputs and outputs",
        "Inference outputs (predictions table)",
        hits,
        "a table logged with log_table whose path contains 'predictions'",
    )


def run_status(s: RunSnapshot) -> AuditItem:
    info = s.run.info
    item = "Start, end, duration and status"
    if info.status != "FINISHED" or not info.end_time:
        return AuditItem(
            "10 Run details",
            item,
            "missing",
            f"a FINISHED run with an end time (status {info.status})",
        )
    seconds = (info.end_time - info.start_time) / 1000
    return AuditItem("10 Run details", item, "present", f"FINISHED in {seconds:.1f}s")


def named_experiment(s: RunSnapshot) -> AuditItem:
    if s.run.info.experiment_id == "0":
        return AuditItem(
            "10 Run details", "Named experiment", "missing", "an experiment other than Default"
        )
    return AuditItem("10 Run details", "Named experiment", "present", s.experiment)


def run_name(s: RunSnapshot) -> AuditItem:
    return found(
        "10 Run details", "Run name and id", [n for n in [s.run.info.run_name] if n], "a run name"
    )


def parent_link(s: RunSnapshot) -> AuditItem:
    parent = s.tags.get("mlflow.parentRunId")
    if parent is None:
        return not_applicable("10 Run details", "Parent run", "a top-level run")
    return AuditItem("10 Run details", "Parent run", "present", f"mlflow.parentRunId={parent}")


def children(s: RunSnapshot) -> AuditItem:
    item = "Child runs, all finished"
    expected = [m for m in s.tags.get("compare.models", "").split(",") if m]
    done = [c for c in s.children if c.info.status == "FINISHED"]
    if not s.children or len(done) < max(len(expected), 1):
        states = ", ".join(f"{c.info.run_name}={c.info.status}" for c in s.children) or "none"
        return AuditItem(
            "10 Run details",
            item,
            "missing",
            f"{len(expected) or 'some'} finished child runs (found {states})",
        )
    return AuditItem("10 Run details", item, "present", ", ".join(c.info.run_name for c in done))


def system_metrics(s: RunSnapshot) -> AuditItem:
    if s.tags.get("mlops.system_metrics") == "false":
        return not_applicable(
            "10 Run details",
            "System metrics (CPU, memory)",
            "switched off (tracking.system_metrics=false)",
        )
    hits = [k for k in s.metrics if k.startswith("system/") and ("cpu" in k or "memory" in k)]
    return found(
        "10 Run details",
        "System metrics (CPU, memory)",
        hits,
        "system/cpu_* and system/*memory* metrics (log_system_metrics=True)",
    )


def custom_metric(s: RunSnapshot) -> AuditItem:
    declared = s.tags.get("mlops.custom_metric", "")
    hits = [declared] if declared and declared in s.metrics else []
    return found(
        "1 Metrics", "Custom metric", hits, "a metric named by the tag mlops.custom_metric"
    )


def models_compared(s: RunSnapshot) -> AuditItem:
    value = s.params.get("compare.models", "")
    return found(
        "2 Parameters", "Models compared", [value] if value else [], "param compare.models"
    )


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


def checklist(profile: str) -> list[Check]:
    from mlops_tracking.audit.registry_items import REGISTRY_CHECKS

    if profile == "comparison":
        return COMPARISON_CHECKS + COMMON_CHECKS
    return TRAINING_CHECKS + REGISTRY_CHECKS + COMMON_CHECKS
