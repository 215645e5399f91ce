"""Audit items of outline section 4: the model formats, their signatures, parity and metrics."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from mlops_tracking.audit.rules import AuditItem, Check, found, missing, not_applicable
from mlops_tracking.audit.snapshot import RunSnapshot
from mlops_tracking.core.metric_links import is_system_metric, metric_split

if TYPE_CHECKING:
    from mlflow.entities import LoggedModel, Metric


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
            return not_applicable("4 Models", item, "not requested (tracking.model_formats)")
        skipped = s.tags.get("mlops.onnx_skipped") if FORMAT_KEYS[item] == "onnx" else None
        if skipped:
            return not_applicable("4 Models", item, f"ONNX {skipped}")
        error = s.tags.get("mlops.onnx_error") if FORMAT_KEYS[item] == "onnx" else None
        if error:
            return AuditItem("4 Models", item, "missing", f"ONNX conversion failed: {error}")
        return found("4 Models", item, _models_with(s, test), wanted)

    return check


def onnx_parity(s: RunSnapshot) -> AuditItem:
    """ONNX must agree with scikit-learn: labels (99%) or values (within 5% of the model's RMSE)."""
    item = "ONNX parity with scikit-learn"
    m = s.metrics
    if "onnx" not in s.tags.get("mlops.model_formats", "onnx").split(","):
        return not_applicable("4 Models", item, "ONNX not requested")
    if s.tags.get("mlops.onnx_skipped"):  # a pipeline ONNX cannot express, e.g. date columns
        return not_applicable("4 Models", item, f"ONNX {s.tags['mlops.onnx_skipped']}")
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
    models = s.complete_models
    if not models:
        return AuditItem("4 Models", item, "missing", "expected completely written logged models")
    lacking = [
        m.name
        for m in models
        if not s.flavors[m.model_id].get("_signature")
        or not s.flavors[m.model_id].get("_input_example")
    ]
    if lacking:
        return AuditItem("4 Models", item, "missing", f"no signature or example: {lacking}")
    return AuditItem("4 Models", item, "present", f"{len(models)} models")


def models_complete(s: RunSnapshot) -> AuditItem:
    """Every LoggedModel of the run finished logging (READY, with its MLmodel file)."""
    item = "Every logged model completely written"
    if not s.models:
        return not_applicable("4 Models", item, "the run logged no models")
    broken = [
        f"{m.name} (models:/{m.model_id}): {s.incomplete[m.model_id]}"
        for m in s.models
        if m.model_id in s.incomplete
    ]
    if broken:
        return AuditItem(
            "4 Models",
            item,
            "missing",
            "; ".join(broken) + ". Log the model again; the incomplete one cannot be loaded",
        )
    return AuditItem("4 Models", item, "present", f"{len(s.models)} models READY with MLmodel")


# The contexts MLflow's dataset inputs carry, by the split each names (``core.metric_links``).
_SPLIT_CONTEXTS = {
    "training": "train",
    "train": "train",
    "validation": "validation",
    "eval": "validation",
    "testing": "test",
    "test": "test",
}


def _split_datasets(s: RunSnapshot) -> dict[str, tuple[str, str]]:
    """The run's dataset inputs as split -> (name, digest)."""
    found: dict[str, tuple[str, str]] = {}
    for entry in s.run.inputs.dataset_inputs if s.run.inputs else []:
        for tag in entry.tags:
            split = _SPLIT_CONTEXTS.get(tag.value) if tag.key == "mlflow.data.context" else None
            if split is not None:
                found[split] = (entry.dataset.name, entry.dataset.digest)
    return found


def _link_problem(metric: Metric, datasets: dict[str, tuple[str, str]]) -> str | None:
    """What is wrong with one model metric's links, judged by ``core.metric_links``."""
    if is_system_metric(metric.key):  # the system metrics item reports these
        return None
    split = metric_split(metric.key)
    expected = datasets.get(split) if split is not None else None
    if expected is None:  # a measurement, or a split the run logged no input for
        return None
    if (metric.dataset_name, metric.dataset_digest) != expected:
        linked = metric.dataset_name or "no dataset"
        return f"{metric.key} is linked to {linked}, not to {expected[0]} ({split} split)"
    return None


def linked_metrics(s: RunSnapshot) -> AuditItem:
    """Metrics on the models name the dataset they were computed on.

    ``validation_*`` must link to the run's validation input and ``test_*`` to its test input:
    a validation metric linked to the test set claims the wrong data.
    """
    item = "Metrics linked to the model and evaluation dataset"
    datasets = _split_datasets(s)
    problems = [
        f"{model.name}: {problem}"
        for model in s.models
        for metric in model.metrics or []
        if (problem := _link_problem(metric, datasets))
    ]
    if problems:
        return missing("1 Metrics", item, problems)
    summaries = {model.name: _links_summary(model) for model in s.models}
    shown = sorted({text for text in summaries.values() if text})
    if len(shown) == 1 and len(summaries) > 1:  # usual: every format carries the same links
        shown = [f"{shown[0]} (each of {len(summaries)} models)"]
    return found(
        "1 Metrics",
        item,
        shown[:1],
        "metrics logged with model_id= and dataset= (shown on the model page)",
    )


def _links_summary(model: LoggedModel) -> str:
    """``9 on breast_cancer-validation, 9 on breast_cancer-test, 5 on no dataset``."""
    counts = Counter(m.dataset_name for m in model.metrics or [])
    if not any(counts):  # nothing linked to a dataset: not what the item looks for
        return ""
    parts = [f"{n} on {name}" for name, n in counts.items() if name]
    if counts[None]:
        parts.append(f"{counts[None]} on no dataset")
    return ", ".join(parts)


def hyperparameters(s: RunSnapshot) -> AuditItem:
    """Every hyperparameter of the estimator (as its model summary lists them) is a param."""
    item = "Model hyperparameters"
    logged = {k.removeprefix("model.") for k in s.params if k.startswith("model.")}
    expected = set(s.model_hyperparameters or ())
    if expected:
        absent = [f"model.{key}" for key in sorted(expected - logged)]
        if absent:
            return missing("2 Parameters", item, absent, prefix="not logged: ")
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
