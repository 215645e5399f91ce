"""The commands on runs made without this project, as a user reads them."""

from __future__ import annotations

from typer.testing import CliRunner

from conftest import ForeignStore

runner = CliRunner()


def _invoke(*args: str):  # type: ignore[no-untyped-def]
    from mlops_tracking.cli.app import app

    result = runner.invoke(app, list(args), catch_exceptions=False)
    result.text = " ".join(result.output.split())  # free of the terminal's line wrapping
    return result


def test_runs_labels_each_experiment_with_its_task_and_its_own_metrics(
    foreign_store: ForeignStore,
) -> None:
    result = _invoke("runs")
    assert result.exit_code == 0, result.output
    assert "Experiment plain-diabetes (regression)" in result.text
    assert "Experiment plain-iris (classification)" in result.text
    assert "(binary)" not in result.text
    header = next(line for line in result.output.splitlines() if "r2" in line)
    assert "rmse" in header and "test_accuracy" not in header  # the metrics the runs logged
    for kind in ("regression", "autolog", "pending", "failed", "no_mlmodel"):
        assert foreign_store.runs[kind] in result.text
    assert foreign_store.runs["deleted"] not in result.text  # as MLflow's searches hide it


def test_audit_marks_a_deleted_run_and_half_written_models(foreign_store: ForeignStore) -> None:
    deleted = _invoke("audit", foreign_store.runs["deleted"])
    failed = _invoke("audit", foreign_store.runs["failed"])

    assert deleted.exit_code == 1 and failed.exit_code == 1
    assert "· DELETED" in deleted.text
    assert (
        f"(the run is deleted: `mlflow runs restore --run-id {foreign_store.runs['deleted']}`)"
        in (deleted.text)
    )
    assert "No such artifact" not in failed.text and "status FAILED" in failed.text


def test_lineage_of_a_half_written_model_says_what_it_is(
    foreign_store: ForeignStore,
    client,  # type: ignore[no-untyped-def]
) -> None:
    run_id = foreign_store.runs["failed"]
    experiment = client.get_run(run_id).info.experiment_id
    (model,) = client.search_logged_models([experiment], f"source_run_id = '{run_id}'")

    result = _invoke("lineage", f"models:/{model.model_id}")

    assert result.exit_code == 0, result.output
    assert f"logged model: models:/{model.model_id} (status FAILED: not completely written)" in (
        result.text
    )
    assert f"({run_id})" in result.text and "params not recorded" in result.text


def test_register_lineage_and_promote_a_foreign_run(
    foreign_store: ForeignStore,
    client,  # type: ignore[no-untyped-def]
) -> None:
    registered = _invoke("register", foreign_store.runs["two_models"], "--name", "plain")
    lineage = _invoke("lineage", "plain/1")
    promoted = _invoke("promote", "plain", "--to", "staging")

    assert registered.exit_code == 0, registered.output
    assert "registered second" in registered.text and "--model NAME" in registered.text
    assert "--force --reason TEXT (the run was not made by mlops-tracking" in registered.text
    assert client.get_model_version("plain", "1").tags["logged_model"] == "second"
    assert lineage.exit_code == 0
    assert "commit not recorded" in lineage.text and "None" not in lineage.text
    assert promoted.exit_code == 2
    assert "not made by mlops-tracking" in promoted.text and "--force --reason" in promoted.text
    assert client.get_registered_model("plain").aliases == {}


def test_register_refuses_a_half_written_model_in_one_line(foreign_store: ForeignStore) -> None:
    result = _invoke("register", foreign_store.runs["pending"])
    assert result.exit_code == 2
    assert "has no completely written model: half-written" in result.text
    assert "Traceback" not in result.output
