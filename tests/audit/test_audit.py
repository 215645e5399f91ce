"""The audit reads runs back from the store and says what is present and what is missing."""

from __future__ import annotations

import json

import pytest

from conftest import StoredRun


def test_our_runs_pass_every_required_item(any_run: StoredRun) -> None:
    from mlops_tracking.audit.checklist import audit_run

    report = audit_run(any_run.run_id)
    assert report.passed, [(i.item, i.location) for i in report.missing]
    assert report.profile == "training"
    sections = {item.section.split()[0] for item in report.items}
    assert sections == {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}
    registry_items = [item for item in report.items if item.section.startswith("9 ")]
    # never registered: the §9 items are n/a, not missing
    assert {item.status for item in registry_items} == {"n/a"}
    present = {item.item for item in report.items if item.status == "present"}
    for item in (
        "Training and validation loss per step",
        "ONNX model",
        "Custom pyfunc model",
        "Metrics linked to the model and evaluation dataset",
        "Custom metric",
        "System metrics (CPU, memory)",
        "Testing data (log_input)",
        "Trivial baseline (validation and test)",
        "Beats the trivial baseline (selection metric)",
    ):
        assert item in present, item
    assert not report.flagged
    regression = report.task == "regression"
    by_name = {item.item: item for item in report.items}
    assert (by_name["RMSE"].status == "present") is regression
    assert (by_name["ROC curve"].status == "n/a") is regression


def test_report_serialises_for_scripts(binary_run: StoredRun) -> None:
    from mlops_tracking.audit.checklist import audit_run

    data = json.loads(json.dumps(audit_run(binary_run.run_id).to_dict()))
    assert data["passed"] is True
    assert data["summary"]["missing"] == 0
    assert data["run_id"] == binary_run.run_id
    assert {"section", "item", "status", "location", "required"} <= set(data["items"][0])


def test_a_bare_run_is_audited_and_told_what_is_missing() -> None:
    """A run made without this project (plain MLflow calls) gets a useful report, not a crash."""
    import mlflow

    from mlops_tracking.audit.checklist import audit_run

    mlflow.set_experiment("someone-else")
    with mlflow.start_run() as run:
        mlflow.log_param("n_estimators", 10)
        mlflow.log_metric("training_log_loss", 0.3)
        mlflow.log_metric("training_accuracy_score", 0.9)
    report = audit_run(run.info.run_id)
    assert not report.passed
    missing = {item.item: item.location for item in report.missing}
    assert (
        "found only training_log_loss (1 step)" in missing["Training and validation loss per step"]
    )
    assert "none recorded" in missing["Trivial baseline (validation and test)"]
    verdict = {item.item: item for item in report.items}[
        "Beats the trivial baseline (selection metric)"
    ]
    assert (verdict.status, verdict.location) == ("n/a", "no baseline recorded")
    assert "sklearn flavor" in missing["sklearn flavor, skops format"]
    assert "mlops.custom_metric" in missing["Custom metric"]
    present = {item.item for item in report.items if item.status == "present"}
    assert {
        "Accuracy",
        "Log loss",
        "Named experiment",
        "Start, end, duration and status",
    } <= present


def test_a_training_loss_without_validation_curve_is_missing() -> None:
    import mlflow
    from mlflow.entities import Metric

    from mlops_tracking.audit.checklist import audit_run

    with mlflow.start_run() as run:
        mlflow.MlflowClient().log_batch(
            run.info.run_id, metrics=[Metric("train_loss", 1 / s, 0, s) for s in range(1, 6)]
        )
    item = next(
        i
        for i in audit_run(run.info.run_id).items
        if i.item == "Training and validation loss per step"
    )
    assert item.status == "missing"
    assert "train_loss (5 step)" in item.location


def test_dirty_tree_without_diff_is_missing() -> None:
    import mlflow

    from mlops_tracking.audit.checklist import audit_run

    with mlflow.start_run(tags={"git.available": "true", "git.dirty": "true"}) as run:
        pass
    item = next(i for i in audit_run(run.info.run_id).items if i.item.startswith("Uncommitted"))
    assert item.status == "missing"
    assert "no source/git.diff" in item.location


def test_a_failed_run_does_not_pass() -> None:
    import mlflow

    from mlops_tracking.audit.checklist import audit_run

    with pytest.raises(RuntimeError), mlflow.start_run() as run:
        raise RuntimeError("boom")
    item = next(i for i in audit_run(run.info.run_id).items if i.item.startswith("Start, end"))
    assert item.status == "missing"
    assert "status FAILED" in item.location


def test_an_unknown_run_id_is_a_clear_error() -> None:
    from mlops_tracking.audit.checklist import audit_run
    from mlops_tracking.core.errors import RunNotFoundError
    from mlops_tracking.runs.store import open_store

    open_store()
    with pytest.raises(RunNotFoundError, match="no run 'abc123' in the tracking store"):
        audit_run("abc123")


def test_look_alike_metric_names_do_not_count() -> None:
    import mlflow

    from mlops_tracking.audit.checklist import audit_run

    with mlflow.start_run() as run:
        mlflow.log_metrics(
            {
                "test_average_precision": 0.9,
                "test_f1_score_is_not_here": 1.0,
                "test_roc_auc": float("nan"),
            }
        )
    status = {item.item: item.status for item in audit_run(run.info.run_id).items}
    assert status["Precision"] == "missing"
    assert status["F1 score"] == "missing"
    assert status["ROC AUC"] == "missing"  # NaN is not a result
    assert status["Author"] == "missing"  # mlflow.user is always set; an author is chosen


def test_onnx_parity_outside_tolerance_is_missing() -> None:
    import mlflow

    from mlops_tracking.audit.checklist import audit_run

    with mlflow.start_run() as run:
        mlflow.log_metrics({"onnx_label_agreement": 0.9, "onnx_max_abs_proba_diff": 0.3})
    item = next(i for i in audit_run(run.info.run_id).items if i.item.startswith("ONNX parity"))
    assert item.status == "missing"
    assert item.location.startswith("outside tolerance: labels agree 90.0%")
