"""The audit of runs made without this project: their task, their models (complete or not) and
their lifecycle, read from the store."""

from __future__ import annotations

import pytest

from conftest import ForeignStore


def _items(run_id: str) -> dict[str, tuple[str, str]]:
    from mlops_tracking.audit.checklist import audit_run

    return {item.item: (item.status, item.location) for item in audit_run(run_id).items}


def test_a_regression_run_that_declares_no_task_is_audited_as_one(
    foreign_store: ForeignStore,
) -> None:
    from mlops_tracking.audit.checklist import audit_run

    report = audit_run(foreign_store.runs["regression"])
    items = {item.item: (item.status, item.location) for item in report.items}
    assert report.task == "regression"
    assert items["RMSE"] == ("present", "rmse") and items["R²"] == ("present", "r2")
    assert items["Accuracy"][0] == "n/a" and items["ROC curve"][0] == "n/a"


@pytest.mark.parametrize(
    ("kind", "flavor"), [("example", "sklearn flavor, skops format"), ("autolog", "Pickled model")]
)
def test_models_logged_by_plain_calls_are_found_complete(
    foreign_store: ForeignStore, kind: str, flavor: str
) -> None:
    items = _items(foreign_store.runs[kind])
    assert items["Every logged model completely written"] == (
        "present",
        "1 models READY with MLmodel",
    )
    assert items[flavor][0] == "present" and items[flavor][1].startswith("model (models:/m-")


@pytest.mark.parametrize(
    ("kind", "status", "detail"),
    [
        (
            "pending",
            "PENDING",
            "half-written (models:/m-{id}): status PENDING: logging was interrupted",
        ),
        ("failed", "FAILED", "model (models:/m-{id}): status FAILED: logging raised an error"),
        ("no_mlmodel", "READY", "model (models:/m-{id}): no MLmodel file in its artifacts"),
    ],
)
def test_a_half_written_model_is_a_missing_item_not_a_crash(
    foreign_store: ForeignStore,
    kind: str,
    status: str,
    detail: str,
    client,  # type: ignore[no-untyped-def]
) -> None:
    from mlops_tracking.audit.checklist import audit_run

    run_id = foreign_store.runs[kind]
    experiment = client.get_run(run_id).info.experiment_id
    (model,) = client.search_logged_models(
        [experiment], filter_string=f"source_run_id = '{run_id}'"
    )
    assert str(model.status) == status  # what MLflow left behind

    report = audit_run(run_id)
    missing = {item.item: item.location for item in report.missing}
    expected = detail.format(id=model.model_id.removeprefix("m-"))
    assert missing["Every logged model completely written"].startswith(expected)
    assert "Log the model again" in missing["Every logged model completely written"]
    assert missing["Signature and input example on every model"] == (
        "expected completely written logged models"
    )
    assert "sklearn flavor, skops format" in missing and "Pickled model" in missing


def test_a_deleted_run_is_marked_and_fails(foreign_store: ForeignStore) -> None:
    from rich.console import Console

    from mlops_tracking.audit.checklist import audit_run
    from mlops_tracking.cli.run_tables import audit_table

    run_id = foreign_store.runs["deleted"]
    report = audit_run(run_id)
    assert report.deleted and not report.passed
    kept = next(item for item in report.items if item.item == "Run kept (not deleted)")
    assert kept.status == "missing"
    assert f"restore it with `mlflow runs restore --run-id {run_id}`" in kept.location
    assert report.to_dict()["deleted"] is True
    console = Console(width=200, record=True)
    console.print(audit_table(report))
    assert "· FINISHED · DELETED" in console.export_text()


def test_a_kept_run_says_so(foreign_store: ForeignStore) -> None:
    assert _items(foreign_store.runs["example"])["Run kept (not deleted)"] == (
        "present",
        "lifecycle_stage=active",
    )
