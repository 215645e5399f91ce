"""Code tests of model cards: Markdown rendered from a hand-made lineage, without MLflow."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mlops_tracking.core.model_card import MAX_DESCRIPTION, key_metrics, metric_groups, render

COMMIT = "4f2a9c1e7b3d5a60c8e2f1b9d7a4c3e5f6a7b8c9"
VALIDATION, TEST = "breast_cancer-validation", "breast_cancer-test"
SKLEARN_SOURCE = '{"tags": {"loader": "load_breast_cancer", "scikit-learn": "1.5.2"}}'


def _dataset(split: str, context: str, digest: str, rows: str) -> dict[str, Any]:
    return {
        "name": f"breast_cancer-{split}",
        "digest": digest,
        "context": context,
        "rows": rows,
        "source_type": "code",
        "source": SKLEARN_SOURCE,
    }


# The shape of registry.lineage.lineage() for a registered version.
LINEAGE: dict[str, Any] = {
    "model": {
        "name": "cancer-classifier",
        "version": "3",
        "uri": "models:/cancer-classifier/3",
        "reached_by": "staging",
        "aliases": ["staging"],
        "lifecycle": "staging",
        "deployment_status": None,
        "logged_model": "models:/m-0a1b2c3d",
        "registered_at": "2025-03-04T05:06:07+00:00",
        "onnx": {"name": "cancer-classifier-onnx", "version": "3"},
        "tags": {"lifecycle": "staging"},
    },
    "run": {
        "id": "9d8c7b6a5f4e3d2c1b0a",
        "name": "hgb-breast-cancer",
        "experiment": {"id": "1", "name": "cancer-experiments"},
        "status": "FINISHED",
        "start": "2025-03-04T05:00:00+00:00",
        "end": "2025-03-04T05:02:30+00:00",
        "parent": None,
        "author": "ana",
        "task": "binary",
        "family": "hist_gradient_boosting",
    },
    "params": {
        "data.dataset": "breast_cancer",
        "model.hist_gradient_boosting.learning_rate": "0.1",
        "model.hist_gradient_boosting.max_iter": "25",
        "model.name": "hist_gradient_boosting",
        "split.seed": "42",
    },
    "metrics": {
        "fit_time_seconds": 1.25,
        "test_accuracy": 0.964912,
        "test_log_loss": 0.1234567,
        "test_roc_auc": 0.9876543,
        "train_log_loss": 0.0456,
        "validation_accuracy": 0.95,
        "validation_log_loss": 0.15,
    },
    "datasets": [
        _dataset("train", "training", "a1b2c3d4", "341"),
        _dataset("validation", "validation", "e5f6a7b8", "114"),
        _dataset("test", "testing", "0f9e8d7c", "114"),
    ],
    "code": {
        "commit": COMMIT,
        "branch": "main",
        "dirty": "false",
        "command": "mlops-tracking train",
    },
    "environment": {"python": "3.11.9", "os": "Linux 6.8", "scikit-learn": "1.5.2"},
    # what the version's LoggedModel links each metric to (registry.lineage.model_metrics)
    "model_metrics": [
        {"key": "validation_accuracy", "value": 0.95, "dataset": VALIDATION, "digest": "e5f6a7b8"},
        {"key": "validation_log_loss", "value": 0.15, "dataset": VALIDATION, "digest": "e5f6a7b8"},
        {"key": "test_accuracy", "value": 0.964912, "dataset": TEST, "digest": "0f9e8d7c"},
        {"key": "test_log_loss", "value": 0.1234567, "dataset": TEST, "digest": "0f9e8d7c"},
        {"key": "test_roc_auc", "value": 0.9876543, "dataset": TEST, "digest": "0f9e8d7c"},
        {"key": "fit_time_seconds", "value": 1.25, "dataset": None, "digest": None},
    ],
}


def _lineage(**sections: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of LINEAGE with the given sections updated key by key."""
    lineage = copy.deepcopy(LINEAGE)
    for section, changes in sections.items():
        lineage[section].update(changes)
    return lineage


def _section(card: str, title: str) -> str:
    """The text of the card's ``## title`` section."""
    return card.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


# --- render ----------------------------------------------------------------------------------


def test_the_card_is_titled_with_the_model_name_and_version() -> None:
    card = render(LINEAGE)

    assert card.splitlines()[0] == "# cancer-classifier version 3"
    assert "trained in run `hgb-breast-cancer` (`9d8c7b6a5f4e3d2c1b0a`" in card
    assert "experiment `cancer-experiments`" in card
    assert "**hist_gradient_boosting** for a binary task" in card


def test_the_data_section_lists_every_dataset_with_its_digest() -> None:
    data = _section(render(LINEAGE), "Data")

    assert "| training | breast_cancer-train | `a1b2c3d4` | 341 |" in data
    assert "| validation | breast_cancer-validation | `e5f6a7b8` | 114 |" in data
    assert "| testing | breast_cancer-test | `0f9e8d7c` | 114 |" in data


def test_metrics_are_grouped_by_the_dataset_the_model_links_them_to() -> None:
    groups = metric_groups(LINEAGE)

    assert list(groups) == [
        f"Computed on `{VALIDATION}` (digest `e5f6a7b8`), used to compare and choose models:",
        f"Computed on `{TEST}` (digest `0f9e8d7c`), held out (nothing chose or tuned the model "
        "on it):",
        "Measured on the run, on no dataset:",
    ]
    validation, test, run = groups.values()
    assert validation == {"validation_accuracy": 0.95, "validation_log_loss": 0.15}
    assert list(test) == ["test_accuracy", "test_log_loss", "test_roc_auc"]
    assert run == {"fit_time_seconds": 1.25}


def test_a_validation_metric_linked_to_the_test_set_is_shown_under_the_test_set() -> None:
    """The card repeats the store's links; it does not guess them from the metric's name."""
    lineage = _lineage()
    lineage["model_metrics"][1] = {
        "key": "validation_log_loss",
        "value": 0.15,
        "dataset": TEST,
        "digest": "0f9e8d7c",
    }

    test = next(metrics for heading, metrics in metric_groups(lineage).items() if TEST in heading)

    assert "validation_log_loss" in test


def test_metrics_the_model_does_not_carry_are_listed_as_run_metrics() -> None:
    lineage = _lineage()
    lineage["model_metrics"] = []  # e.g. a model logged without linking its metrics

    groups = metric_groups(lineage)

    assert list(groups) == ["Not linked to the model (run metrics):"]
    assert "test_log_loss" in groups["Not linked to the model (run metrics):"]
    assert "Computed on" not in render(lineage)


def test_the_metrics_tables_show_values_to_four_significant_digits() -> None:
    metrics = _section(render(LINEAGE), "Metrics")

    assert "| test_log_loss | 0.1235 |" in metrics
    assert "| test_roc_auc | 0.9877 |" in metrics
    assert "| validation_log_loss | 0.15 |" in metrics
    assert "| fit_time_seconds | 1.25 |" in metrics
    assert "train_log_loss" not in metrics
    assert metrics.index("validation_log_loss") < metrics.index(TEST)


def test_the_parameters_section_shows_only_model_parameters() -> None:
    parameters = _section(render(LINEAGE), "Parameters")

    assert parameters.strip() == (
        "`model.hist_gradient_boosting.learning_rate=0.1`, "
        "`model.hist_gradient_boosting.max_iter=25`, `model.name=hist_gradient_boosting`"
    )


def test_the_card_names_the_commit_branch_command_and_environment() -> None:
    code = _section(render(LINEAGE), "Code and environment")

    assert f"Commit `{COMMIT}` on `main` (uncommitted changes: false)." in code
    assert "Command: `mlops-tracking train`." in code
    assert "python 3.11.9, os Linux 6.8, scikit-learn 1.5.2" in code


def test_unrecorded_code_details_are_reported_as_unknown() -> None:
    lineage = _lineage(code={"commit": None, "branch": None, "dirty": None, "command": None})

    code = _section(render(lineage), "Code and environment")

    assert "Commit `unknown` on `?` (uncommitted changes: unknown)." in code
    assert "Command: `unknown`." in code


def test_the_card_ends_with_its_limitations() -> None:
    card = render(LINEAGE)

    limitations = _section(card, "Limitations")
    assert card.endswith(limitations)
    assert limitations.startswith("- Scores hold for data drawn like the test split")
    assert limitations.count("\n- ") == 2


@pytest.mark.parametrize(
    ("task", "use"),
    [
        ("binary", "one of two labels"),
        ("multiclass", "one of several labels"),
        ("regression", "Predicts a numeric value"),
        (None, "See the source run."),
    ],
)
def test_the_intended_use_follows_the_task(task: str | None, use: str) -> None:
    card = render(_lineage(run={"task": task}))

    assert use in _section(card, "Intended use")
    assert f"for a {task or 'unknown'} task" in card


def test_a_long_dataset_source_is_shortened_to_80_characters() -> None:
    lineage = _lineage()
    lineage["datasets"][0]["source"] = "s3://bucket/" + "deep/" * 30 + "rows.csv"

    row = next(line for line in render(lineage).splitlines() if "breast_cancer-train" in line)

    source = row.split(" | ")[-1].removesuffix(" |")
    assert len(source) == 78
    assert source == lineage["datasets"][0]["source"][:77] + "…"


def test_a_regression_card_does_not_mention_probabilities() -> None:
    lineage = _lineage(run={"task": "regression", "family": "random_forest"})
    lineage["metrics"] = {"test_rmse": 54.2, "test_r2": 0.41}

    limitations = _section(render(lineage), "Limitations")

    assert "calibration" not in limitations
    assert "Probabilities" not in limitations


# --- size ------------------------------------------------------------------------------------


def test_a_card_within_the_limit_is_not_truncated() -> None:
    card = render(LINEAGE)

    assert len(card) < MAX_DESCRIPTION
    assert "truncated" not in card


def test_an_oversized_card_is_truncated_below_the_limit_with_a_note() -> None:
    params = {f"model.step_{i:03d}.setting": "x" * 40 for i in range(200)}
    lineage = _lineage(params=params)

    card = render(lineage)

    assert len(card) <= MAX_DESCRIPTION
    assert card.startswith("# cancer-classifier version 3\n")
    assert card.endswith("\n\n… (truncated; the full card is an artifact)\n")
    assert "## Limitations" not in card


# --- key_metrics -----------------------------------------------------------------------------

EVERY_METRIC = {
    "test_log_loss": 0.12,
    "test_roc_auc": 0.98,
    "test_roc_auc_ovr": 0.97,
    "test_f1_macro": 0.9,
    "test_rmse": 54.2,
    "test_r2": 0.41,
    "train_log_loss": 0.05,
    "validation_log_loss": 0.15,
    "validation_rmse": 55.0,
    "validation_accuracy": 0.95,
    "fit_time_seconds": 1.25,
    "system_cpu_utilization_percentage": 80.0,
}


@pytest.mark.parametrize(
    ("task", "names"),
    [
        ("binary", ["test_log_loss", "test_roc_auc"]),
        ("multiclass", ["test_log_loss", "test_f1_macro", "test_roc_auc_ovr"]),
        ("regression", ["test_rmse", "test_r2"]),
        (None, []),
    ],
)
def test_key_metrics_keep_the_tasks_test_metrics_validation_loss_and_fit_time(
    task: str | None, names: list[str]
) -> None:
    picked = key_metrics(EVERY_METRIC, task)

    assert list(picked) == [*names, "validation_log_loss", "validation_rmse", "fit_time_seconds"]
    assert all(picked[name] == EVERY_METRIC[name] for name in picked)


def test_key_metrics_skip_what_the_run_did_not_log() -> None:
    assert key_metrics({"test_accuracy": 0.9, "train_accuracy": 1.0}, "binary") == {
        "test_accuracy": 0.9
    }
