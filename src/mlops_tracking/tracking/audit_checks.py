"""The audit's checklist: one check per outline item, for training and comparison runs."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable

from mlops_tracking.tracking.audit import ENV_TAGS, AuditItem, RunSnapshot

Check = Callable[[RunSnapshot], AuditItem]


def _found(
    section: str, item: str, hits: Iterable[str], wanted: str, required: bool = True
) -> AuditItem:
    hits = sorted(set(hits))
    if hits:
        shown = ", ".join(hits[:4]) + (f" (+{len(hits) - 4})" if len(hits) > 4 else "")
        return AuditItem(section, item, "present", shown, required)
    return AuditItem(section, item, "missing", f"expected {wanted}", required)


def _na(section: str, item: str, why: str) -> AuditItem:
    return AuditItem(section, item, "n/a", why, required=False)


def metric(section: str, item: str, pattern: str, when: str = "any") -> Check:
    def check(s: RunSnapshot) -> AuditItem:
        if (when == "classification" and not s.classification) or (
            when == "regression" and s.classification
        ):
            return _na(section, item, f"not a {when} run")
        hits = [
            k
            for k, v in s.metrics.items()
            if re.search(pattern, k) and math.isfinite(v) and not k.startswith("system/")
        ]
        return _found(section, item, hits, f"a finite metric matching /{pattern}/")

    return check


def history(section: str, item: str, hint: str, when: str = "any") -> Check:
    """A step-indexed curve for both the training and the validation split."""

    def check(s: RunSnapshot) -> AuditItem:
        if when == "classification" and not s.classification:
            return _na(section, item, "not a classification run")
        curves = {k: n for k, n in s.history_steps.items() if hint in k and n > 1}
        train = [k for k in curves if re.search(r"train", k)]
        val = [k for k in curves if re.search(r"val|valid|eval|test", k)]
        if train and val:
            return AuditItem(
                section,
                item,
                "present",
                ", ".join(f"{k} ({curves[k]} steps)" for k in sorted(train + val)),
            )
        single = [f"{k} ({n} step)" for k, n in s.history_steps.items() if hint in k]
        seen = f"; found only {', '.join(single)}" if single else ""
        return AuditItem(
            section,
            item,
            "missing",
            f"train and validation '{hint}' metrics logged at more than one step{seen}",
        )

    return check


def artifact(section: str, item: str, pattern: str, when: str = "any") -> Check:
    def check(s: RunSnapshot) -> AuditItem:
        if (when == "classification" and not s.classification) or (
            when == "regression" and s.classification
        ):
            return _na(section, item, f"not a {when} run")
        hits = [path for path in s.artifacts if re.search(pattern, path)]
        return _found(section, item, hits, f"an artifact matching /{pattern}/")

    return check


def tags(section: str, item: str, *keys: str, any_of: bool = False) -> Check:
    """All of ``keys`` set (or, with ``any_of``, at least one of them)."""

    def check(s: RunSnapshot) -> AuditItem:
        present = [k for k in keys if s.tags.get(k)]
        if present and (any_of or len(present) == len(keys)):
            return AuditItem(
                section, item, "present", ", ".join(f"{k}={s.tags[k][:40]}" for k in present)
            )
        missing = [k for k in keys if k not in present]
        joined = " or ".join(missing) if any_of else ", ".join(missing)
        return AuditItem(section, item, "missing", f"tag(s) {joined}")

    return check


def params(section: str, item: str, prefix: str, minimum: int = 1) -> Check:
    def check(s: RunSnapshot) -> AuditItem:
        hits = [k for k in s.params if k.startswith(prefix)]
        if len(hits) >= minimum:
            return AuditItem(section, item, "present", f"{len(hits)} params {prefix}*")
        return AuditItem(
            section,
            item,
            "missing",
            f"at least {minimum} param(s) named {prefix}* (found {len(hits)})",
        )

    return check


# --- §4 models -----------------------------------------------------------------------------------


def _models_with(s: RunSnapshot, test: Callable[[dict[str, object]], bool]) -> list[str]:
    return [f"{m.name} (models:/{m.model_id})" for m in s.models if test(s.flavors[m.model_id])]


def _sklearn_format(flavors: dict[str, object]) -> str:
    sklearn = flavors.get("sklearn")
    return str(sklearn.get("serialization_format", "")) if isinstance(sklearn, dict) else ""


# A PythonModel logged as an object loads through mlflow.pyfunc.model; one logged as code
# (models-from-code, the recommended way) through mlflow.pyfunc.loaders.code_model.
CUSTOM_PYFUNC_LOADERS = {"mlflow.pyfunc.model", "mlflow.pyfunc.loaders.code_model"}


def _is_custom_pyfunc(flavors: dict[str, object]) -> bool:
    pyfunc = flavors.get("python_function")
    return isinstance(pyfunc, dict) and pyfunc.get("loader_module") in CUSTOM_PYFUNC_LOADERS


MODEL_FORMATS: dict[str, tuple[str, Callable[[dict[str, object]], bool]]] = {
    "sklearn flavor, skops format": (
        "a LoggedModel with the sklearn flavor saved by skops",
        lambda f: _sklearn_format(f) == "skops",
    ),
    "Pickled model": (
        "a LoggedModel with the sklearn flavor saved by pickle or cloudpickle",
        lambda f: _sklearn_format(f) in {"pickle", "cloudpickle"},
    ),
    "ONNX model": ("a LoggedModel with the onnx flavor", lambda f: "onnx" in f),
    "Custom pyfunc model": (
        "a LoggedModel with a custom mlflow.pyfunc.PythonModel",
        _is_custom_pyfunc,
    ),
}


FORMAT_KEYS = {
    "sklearn flavor, skops format": "sklearn",
    "Pickled model": "pickle",
    "ONNX model": "onnx",
    "Custom pyfunc model": "pyfunc",
}


def model_format(item: str) -> Check:
    wanted, test = MODEL_FORMATS[item]

    def check(s: RunSnapshot) -> AuditItem:
        requested = s.tags.get("mlops.model_formats")
        if requested is not None and FORMAT_KEYS[item] not in requested.split(","):
            return _na("4 Models", item, "not requested (tracking.model_formats)")
        error = s.tags.get("mlops.onnx_error") if FORMAT_KEYS[item] == "onnx" else None
        if error:
            return AuditItem("4 Models", item, "missing", f"ONNX conversion failed: {error}")
        return _found("4 Models", item, _models_with(s, test), wanted)

    return check


def onnx_parity(s: RunSnapshot) -> AuditItem:
    """ONNX must agree with scikit-learn: labels (99%) or values (within 5% of the model's RMSE)."""
    item = "ONNX parity with scikit-learn"
    m = s.metrics
    if "onnx" not in s.tags.get("mlops.model_formats", "onnx").split(","):
        return _na("4 Models", item, "ONNX not requested")
    if "onnx_label_agreement" in m:
        ok = m["onnx_label_agreement"] >= 0.99 and m.get("onnx_max_abs_proba_diff", 1) <= 0.01
        where = (
            f"labels agree {m['onnx_label_agreement']:.1%}, max probability diff "
            f"{m.get('onnx_max_abs_proba_diff', float('nan')):.1e}"
        )
    elif "onnx_max_abs_diff" in m and "test_rmse" in m:
        ok = m["onnx_max_abs_diff"] <= 0.05 * m["test_rmse"]
        where = f"max diff {m['onnx_max_abs_diff']:.3g} vs test RMSE {m['test_rmse']:.3g}"
    else:
        return AuditItem(
            "4 Models",
            item,
            "missing",
            "metrics onnx_label_agreement or onnx_max_abs_diff (with test_rmse)",
        )
    if ok:
        return AuditItem("4 Models", item, "present", where)
    return AuditItem("4 Models", item, "missing", f"outside tolerance: {where}")


def model_signatures(s: RunSnapshot) -> AuditItem:
    item = "Signature and input example on every model"
    if not s.models:
        return AuditItem("4 Models", item, "missing", "expected logged models")
    lacking = [
        m.name
        for m in s.models
        if not s.flavors[m.model_id].get("_signature")
        or not s.flavors[m.model_id].get("_input_example")
    ]
    if lacking:
        return AuditItem("4 Models", item, "missing", f"no signature or example: {lacking}")
    return AuditItem("4 Models", item, "present", f"{len(s.models)} models")


def linked_metrics(s: RunSnapshot) -> AuditItem:
    item = "Metrics linked to the model and evaluation dataset"
    linked = []
    for model in s.models:
        on_data = [m for m in model.metrics or [] if m.dataset_digest]
        if on_data:
            linked.append(
                f"{model.name}: {len(on_data)} metrics on {on_data[0].dataset_name} "
                f"(digest {on_data[0].dataset_digest})"
            )
    return _found(
        "1 Metrics",
        item,
        linked[:2],
        "metrics logged with model_id= and dataset= (shown on the model page)",
    )


# --- §6, §7, §10 ---------------------------------------------------------------------------------


def git_commit(s: RunSnapshot) -> AuditItem:
    item = "Git commit"
    if s.tags.get("git.available") == "false":
        return _na("6 Source code", item, "run outside a git repository (git.available=false)")
    return tags("6 Source code", item, "mlflow.source.git.commit")(s)


def git_dirty(s: RunSnapshot) -> AuditItem:
    item = "Uncommitted changes (git.dirty, diff when dirty)"
    dirty = s.tags.get("git.dirty")
    if s.tags.get("git.available") == "false":
        return _na("6 Source code", item, "run outside a git repository")
    if dirty is None:
        return AuditItem("6 Source code", item, "missing", "tag git.dirty")
    if dirty == "true" and "source/git.diff" not in s.artifacts:
        return AuditItem("6 Source code", item, "missing", "git.dirty=true but no source/git.diff")
    where = "git.dirty=true, source/git.diff" if dirty == "true" else "git.dirty=false"
    return AuditItem("6 Source code", item, "present", where)


def notebook(s: RunSnapshot) -> AuditItem:
    if s.tags.get("mlflow.source.type") != "NOTEBOOK":
        return _na("6 Source code", "Notebook", "not run from a notebook")
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
        return _found(
            "7 Inputs and outputs",
            item,
            hits,
            f"a dataset input with context '{context}', a digest and a source",
        )

    return check


def predictions_table(s: RunSnapshot) -> AuditItem:
    tables = s.tags.get("mlflow.loggedArtifacts", "")
    hits = re.findall(r'"path":\s*"([^"]*predictions[^"]*)"', tables)
    return _found(
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
    return _found(
        "10 Run details", "Run name and id", [n for n in [s.run.info.run_name] if n], "a run name"
    )


def parent_link(s: RunSnapshot) -> AuditItem:
    parent = s.tags.get("mlflow.parentRunId")
    if parent is None:
        return _na("10 Run details", "Parent run", "a top-level run")
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
        return _na(
            "10 Run details",
            "System metrics (CPU, memory)",
            "switched off (tracking.system_metrics=false)",
        )
    hits = [k for k in s.metrics if k.startswith("system/") and ("cpu" in k or "memory" in k)]
    return _found(
        "10 Run details",
        "System metrics (CPU, memory)",
        hits,
        "system/cpu_* and system/*memory* metrics (log_system_metrics=True)",
    )


def custom_metric(s: RunSnapshot) -> AuditItem:
    declared = s.tags.get("mlops.custom_metric", "")
    hits = [declared] if declared and declared in s.metrics else []
    return _found(
        "1 Metrics", "Custom metric", hits, "a metric named by the tag mlops.custom_metric"
    )


def models_compared(s: RunSnapshot) -> AuditItem:
    value = s.params.get("compare.models", "")
    return _found(
        "2 Parameters", "Models compared", [value] if value else [], "param compare.models"
    )


def hyperparameters(s: RunSnapshot) -> AuditItem:
    """Every hyperparameter of the estimator (as its model summary lists them) is a param."""
    item = "Model hyperparameters"
    logged = {k.removeprefix("model.") for k in s.params if k.startswith("model.")}
    expected = set(s.model_hyperparameters or ())
    if expected:
        missing = sorted(expected - logged)
        if missing:
            return AuditItem(
                "2 Parameters",
                item,
                "missing",
                f"not logged: model.{missing[0]}"
                + (f" (+{len(missing) - 1})" if len(missing) > 1 else ""),
            )
        return AuditItem(
            "2 Parameters",
            item,
            "present",
            f"all {len(expected)} estimator hyperparameters as model.*",
        )
    if len(logged) >= 3:
        return AuditItem("2 Parameters", item, "present", f"{len(logged)} params model.*")
    return AuditItem(
        "2 Parameters",
        item,
        "missing",
        "model.* params for the estimator's hyperparameters (and model/summary.json)",
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
    specific = COMPARISON_CHECKS if profile == "comparison" else TRAINING_CHECKS
    return specific + COMMON_CHECKS
