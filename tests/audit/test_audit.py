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
    links = by_name["Metrics linked to the model and evaluation dataset"].location
    assert "-validation, " in links and "-test, " in links and "on no dataset" in links


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


def test_a_seeded_comparison_needs_a_finished_child_per_model_and_seed() -> None:
    import mlflow

    from mlops_tracking.audit.checklist import audit_run

    tags = {"mlops.run_type": "comparison", "compare.models": "mlp,ridge", "compare.seeds": "2"}
    with mlflow.start_run(tags=tags) as parent:
        for name in ("mlp-seed42", "mlp-seed43", "ridge-seed42"):
            with mlflow.start_run(run_name=name, nested=True):
                pass
    item = next(i for i in audit_run(parent.info.run_id).items if i.item.startswith("Child runs"))
    assert item.status == "missing"
    assert item.location.startswith("4 finished child runs (found ")


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


def _snapshot_of_model_metrics(links: dict[str, str | None]):  # type: ignore[no-untyped-def]
    """A run with validation and test inputs and one LoggedModel whose metrics link as given
    (metric key -> the split whose dataset it names, or None), read back from the store."""
    import mlflow
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    from mlops_tracking.audit.snapshot import RunSnapshot

    datasets = {
        split: mlflow.data.from_pandas(pd.DataFrame({"x": [float(i)]}), name=f"toy-{split}")
        for i, split in enumerate(("validation", "test"))
    }
    client = MlflowClient()
    with mlflow.start_run() as run:
        mlflow.log_inputs(
            list(datasets.values()), contexts=["validation", "testing"], tags_list=[{}, {}]
        )
        model = mlflow.initialize_logged_model(name="toy-pyfunc")
        metrics = [
            Metric(
                key,
                0.5,
                0,
                0,
                model_id=model.model_id,
                dataset_name=d and d.name,
                dataset_digest=d and d.digest,
            )
            for key, split in links.items()
            for d in [datasets[split] if split else None]
        ]
        client.log_batch(run.info.run_id, metrics=metrics)
    stored = client.get_run(run.info.run_id)
    logged = client.get_logged_model(model.model_id)
    return RunSnapshot(stored, "toy", [], [logged], {}, {}, {}, [])


def test_metrics_linked_to_the_split_they_were_computed_on_are_present() -> None:
    from mlops_tracking.audit.model_items import linked_metrics

    item = linked_metrics(
        _snapshot_of_model_metrics(
            {"validation_log_loss": "validation", "test_log_loss": "test", "fit_time_seconds": None}
        )
    )

    assert item.status == "present"
    assert item.location == "1 on toy-validation, 1 on toy-test, 1 on no dataset"


def test_a_validation_metric_linked_to_the_test_set_is_missing() -> None:
    from mlops_tracking.audit.model_items import linked_metrics

    item = linked_metrics(
        _snapshot_of_model_metrics(
            {"validation_log_loss": "test", "validation_f1": "test", "test_log_loss": "test"}
        )
    )

    assert item.status == "missing" and item.failed
    assert item.location == (
        "toy-pyfunc: validation_log_loss is linked to toy-test, not to toy-validation "
        "(validation split) (+1 more)"
    )


def test_a_test_metric_linked_to_no_dataset_is_missing() -> None:
    from mlops_tracking.audit.model_items import linked_metrics

    item = linked_metrics(_snapshot_of_model_metrics({"test_log_loss": None}))

    assert item.status == "missing"
    assert "test_log_loss is linked to no dataset, not to toy-test" in item.location


def test_system_metrics_copied_onto_a_model_are_missing() -> None:
    from mlops_tracking.audit.run_items import system_metrics

    item = system_metrics(
        _snapshot_of_model_metrics(
            {"system/cpu_utilization_percentage": None, "test_log_loss": "test"}
        )
    )

    assert item.status == "missing"
    assert item.location == (
        "system metrics on the run only, but toy-pyfunc carries system/cpu_utilization_percentage"
    )
