"""Model cards: a registered version described in Markdown, from its lineage alone.

The card is logged next to the run's other artifacts and becomes the version's description, so
the registry UI shows what the model is for, what it was trained and tested on, and its limits.
"""

from __future__ import annotations

from typing import Any

from mlops_tracking.core.metric_links import EVALUATION_SPLITS

# MLflow stores a version description in a 5,000-character column.
MAX_DESCRIPTION = 5000
_INTENDED_USE = {
    "binary": "Scores rows of the training table's columns with one of two labels and a "
    "probability for each.",
    "multiclass": "Assigns rows of the training table's columns to one of several labels, with a "
    "probability for each.",
    "regression": "Predicts a numeric value for rows of the training table's columns.",
}

_LIMITATIONS = {
    "classification": (
        "- Probabilities are as calibrated as `test_expected_calibration_error` says.",
        "- The ONNX form computes in float32: probabilities may differ from scikit-learn in the "
        "7th digit (its labels were checked to agree on every test row at training).",
    ),
    "regression": (
        "- Errors are averages: `test_within_10pct` says how often a prediction is within 10 %.",
        "- The ONNX form computes in float32; the serving engine tag says whether it was close "
        "enough to scikit-learn to be used.",
    ),
}


def key_metrics(metrics: dict[str, float], task: str | None) -> dict[str, float]:
    """The test metrics worth showing for ``task``, plus validation loss and fit time."""
    from mlops_tracking.core.evaluation import METRIC_NAMES

    names = [f"test_{name}" for name in METRIC_NAMES.get(task or "", ())]
    names += ["validation_log_loss", "validation_rmse", "fit_time_seconds"]
    return {name: metrics[name] for name in names if name in metrics}


# What each split is for, as the card says it next to the split's metrics.
_PURPOSE = {
    "training": "the data the model was fitted on",
    "validation": "used to compare and choose models",
    "testing": "held out (nothing chose or tuned the model on it)",
}


def card_metrics(metrics: dict[str, float], task: str | None) -> dict[str, float]:
    """The metrics a card shows: the task's metrics on validation and test, fit time, latency."""
    from mlops_tracking.core.evaluation import METRIC_NAMES

    names = [
        f"{split}_{name}"
        for split in EVALUATION_SPLITS
        for name in METRIC_NAMES.get(task or "", ())
    ]
    names += ["fit_time_seconds", "predict_latency_ms_single_row_p50"]
    return {name: metrics[name] for name in names if name in metrics}


def metric_groups(lineage: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The card's metrics grouped by the dataset the store links each to (its heading first).

    The links are the LoggedModel's (``lineage["model_metrics"]``), so the card says what the
    store says: a metric the model does not link to a dataset is a measurement of the run, and
    one the model does not carry at all is listed as not linked to the model.
    """
    links = {link["key"]: link for link in lineage.get("model_metrics") or []}
    contexts = {(d["name"], d["digest"]): d["context"] for d in lineage["datasets"]}
    groups: dict[str, dict[str, float]] = {}
    for key, value in card_metrics(lineage["metrics"], lineage["run"].get("task")).items():
        link = links.get(key)
        if link is None:
            heading = "Not linked to the model (run metrics):"
        elif link["dataset"]:
            context = contexts.get((link["dataset"], link["digest"]))
            purpose = f", {_PURPOSE[context]}" if context in _PURPOSE else ""
            heading = f"Computed on `{link['dataset']}` (digest `{link['digest']}`){purpose}:"
        else:
            heading = "Measured on the run, on no dataset:"
        groups.setdefault(heading, {})[key] = value
    return groups


def _metric_sections(lineage: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for heading, metrics in metric_groups(lineage).items():
        lines += [heading, "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.4g} |" for k, v in metrics.items()]
        lines.append("")
    return lines or ["No metrics recorded.", ""]


def render(lineage: dict[str, Any]) -> str:
    """The Markdown card of the version described by ``lineage`` (see ``registry.lineage``)."""
    model, run, code = lineage["model"], lineage["run"], lineage["code"]
    task = run.get("task") or "unknown"
    lines = [
        f"# {model['name']} version {model['version']}",
        "",
        f"**{run.get('family') or 'model'}** for a {task} task, trained in run "
        f"`{run['name']}` (`{run['id']}`, experiment `{run['experiment']['name']}`).",
        "",
        "## Intended use",
        _INTENDED_USE.get(task, "See the source run."),
        "Send raw rows with the columns listed in the model signature; the model applies the "
        "same cleaning and preprocessing as training. Not for data unlike the training data.",
        "",
        "## Data",
        "| split | dataset | digest | rows | source |",
        "|---|---|---|---|---|",
        *(
            f"| {d['context']} | {d['name']} | `{d['digest']}` | {d['rows']} | "
            f"{_source(d['source'])} |"
            for d in lineage["datasets"]
        ),
        "",
        "## Metrics",
        *_metric_sections(lineage),
        "## Parameters",
        ", ".join(f"`{k}={v}`" for k, v in lineage["params"].items() if k.startswith("model.")),
        "",
        "## Code and environment",
        f"Commit `{code.get('commit') or 'unknown'}` on `{code.get('branch') or '?'}` "
        f"(uncommitted changes: {code.get('dirty') or 'unknown'}).",
        f"Command: `{code.get('command') or 'unknown'}`.",
        ", ".join(f"{k} {v}" for k, v in lineage["environment"].items() if k[0].islower())[:600],
        "",
        "## Limitations",
        "- Scores hold for data drawn like the test split; check drift before trusting them.",
        *_LIMITATIONS["regression" if task == "regression" else "classification"],
    ]
    text = "\n".join(line for line in lines if line is not None) + "\n"
    if len(text) > MAX_DESCRIPTION:
        text = text[: MAX_DESCRIPTION - 80] + "\n\n… (truncated; the full card is an artifact)\n"
    return text


def _source(source: Any) -> str:
    text = str(source)
    return text if len(text) <= 80 else text[:77] + "…"
