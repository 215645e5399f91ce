"""The command line as a user drives it: exit codes, messages, and what lands in the store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import FAST, PARAMS, count_runs, sets, write_csv

runner = CliRunner()


def _invoke(*args: str):  # type: ignore[no-untyped-def]
    from mlops_tracking.cli.app import app

    return runner.invoke(app, list(args), catch_exceptions=False)


def _fast_args() -> list[str]:
    return sets(*FAST)


def _train(*overrides: str, fast: bool = True, extra: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    """``mlops-tracking train`` on params.yaml with ``--set`` overrides (small models unless not
    ``fast``)."""
    return _invoke(
        "train", "--config", str(PARAMS), *sets(*(FAST if fast else ()), *overrides), *extra
    )


def test_help_lists_every_command() -> None:
    result = _invoke("--help")
    assert result.exit_code == 0
    commands = ("train", "compare", "runs", "audit", "demo", "register", "promote", "rollback")
    for command in (*commands, "models", "serve", "predict", "lineage"):
        assert command in result.output


def test_help_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys; from mlops_tracking.cli.app import app; "
        "heavy = {'mlflow', 'sklearn', 'matplotlib', 'pandas', 'skl2onnx'} & set(sys.modules);"
        "print(sorted(heavy))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert output == "[]"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.test_size=1.5"], "data.test_size: Input should be less than 1 (got 1.5)"),
        (["data.seed=abc"], "data.seed: Input should be a valid integer"),
        (["model.name=xgboost"], "model.name: Input should be 'logistic_regression'"),
        (["model.max_dept=3"], "Did you mean model.random_forest.max_depth"),
        (["nonsense.key=1"], "unknown key 'nonsense'"),
        (["data.test_size"], "--set expects KEY=VALUE"),
        (["model.name=ridge"], "model.name=ridge cannot do binary"),
        (["data.path=missing.csv", "data.target=y"], "CSV file not found: missing.csv"),
    ],
)
def test_invalid_input_exits_2_with_a_clear_message_and_no_run(
    overrides: list[str], message: str
) -> None:
    result = _train(*overrides, fast=False)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert count_runs() == 0


def test_invalid_params_file_exits_2(tmp_path: Path) -> None:
    broken = tmp_path / "params.yaml"
    broken.write_text("data:\n  test_sise: 0.2\n")
    result = _invoke("train", "--config", str(broken))
    assert result.exit_code == 2
    said = " ".join(result.output.split())  # a terminal of any width may fold the message
    assert "unknown key 'data.test_sise'" in said and "Did you mean 'data.test_size'" in said
    missing = _invoke("train", "--config", str(tmp_path / "nope.yaml"))
    assert missing.exit_code == 2 and "config file not found" in missing.output
    assert count_runs() == 0


def test_an_empty_model_name_is_refused_not_replaced() -> None:
    result = _invoke("register", "0123456789abcdef", "--name", "")
    assert result.exit_code == 2
    assert "--name is empty" in " ".join(result.output.split())


def test_an_error_after_the_runs_ended_does_not_say_no_run_had_started(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlops_tracking.cli import terminal
    from mlops_tracking.runs import lifecycle

    def disk_full() -> None:
        raise OSError("disk full")

    monkeypatch.setattr(lifecycle, "ENDED_RUNS", [("4f2a", "FINISHED")])
    with pytest.raises(terminal.typer.Exit):
        terminal.run_command(disk_full)
    after = " ".join(capsys.readouterr().out.split())
    assert "after its runs had ended: 4f2a FINISHED" in after and "no run had started" not in after
    monkeypatch.setattr(lifecycle, "ENDED_RUNS", [])
    with pytest.raises(terminal.typer.Exit):
        terminal.run_command(disk_full)
    assert "(no run had started)" in capsys.readouterr().out


def test_a_missing_target_column_exits_2_and_suggests(tmp_path: Path) -> None:
    csv = write_csv(tmp_path / "churn.csv")
    result = _train(f"data.path={csv}", "data.target=churn", fast=False)
    assert result.exit_code == 2
    assert "target column 'churn' is not in" in result.output
    assert "Did you mean 'churned'?" in result.output
    assert count_runs() == 0


def test_train_on_a_users_csv_end_to_end(tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    import mlflow
    import pandas as pd

    from mlops_tracking.audit.checklist import audit_run

    csv = write_csv(tmp_path / "churn.csv")
    result = _train(
        f"data.path={csv}",
        "data.target=churned",
        "model.name=hist_gradient_boosting",
        extra=("--experiment", "churn"),
    )
    assert result.exit_code == 0, result.output
    assert "mlflow ui --backend-store-uri" in result.output
    (run,) = client.search_runs([client.get_experiment_by_name("churn").experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.params["data.path"] == str(csv)
    assert run.data.params["data.dropped_columns"] == "customer_id"
    assert run.data.params["data.n_categorical"] == "2"
    assert audit_run(run.info.run_id).passed
    # the deployable model takes raw rows: text categories, missing values and all
    raw = pd.read_csv(csv).drop(columns=["churned", "customer_id"]).head(8)
    raw.loc[0, "plan"] = None
    output = mlflow.pyfunc.load_model(run.data.tags["model_uri.pyfunc"]).predict(raw)
    assert set(output["label"]) <= {"no", "yes"}
    assert output[["proba_no", "proba_yes"]].sum(axis=1).round(6).eq(1).all()
    onnx_inputs = mlflow.models.get_model_info(run.data.tags["model_uri.onnx"]).signature.inputs
    assert len(onnx_inputs.inputs) == 4  # one tensor per column: size, visits, colour, plan


def test_runs_and_audit_commands_read_the_store(binary_run) -> None:  # type: ignore[no-untyped-def]
    listing = _invoke("runs")
    assert listing.exit_code == 0
    assert "hist_gradient_boosting-breast_cancer" in listing.output
    assert binary_run.run_id in listing.output and "FINISHED" in listing.output
    table = _invoke("audit", binary_run.run_id)
    assert table.exit_code == 0 and "PASS" in table.output
    report = json.loads(_invoke("audit", binary_run.run_id, "--json").output)
    assert report["passed"] is True and report["run_id"] == binary_run.run_id


def test_audit_exit_codes_for_incomplete_and_unknown_runs() -> None:
    import mlflow

    mlflow.set_experiment("plain")
    with mlflow.start_run() as run:
        mlflow.log_metric("loss", 1.0)
    incomplete = _invoke("audit", run.info.run_id)
    assert incomplete.exit_code == 1
    assert "FAIL" in incomplete.output and "missing" in incomplete.output
    unknown = _invoke("audit", "0123456789abcdef")
    assert unknown.exit_code == 2
    assert "no run '0123456789abcdef' in the tracking store" in " ".join(unknown.output.split())
    assert _invoke("runs", "--experiment", "nope").exit_code == 2


def test_compare_command_shows_a_ranked_table(client) -> None:  # type: ignore[no-untyped-def]
    result = _invoke(
        "compare", "--models", "logistic_regression,mlp", "--config", str(PARAMS), *_fast_args()
    )
    assert result.exit_code == 0, result.output
    assert "compare-breast_cancer" in result.output and "Best:" in result.output
    experiment = client.get_experiment_by_name("breast_cancer-binary")
    assert len(client.search_runs([experiment.experiment_id])) == 3


def test_compare_with_seeds_prints_each_models_mean_and_interval(client) -> None:  # type: ignore[no-untyped-def]
    result = _invoke(
        "compare",
        "--models",
        "logistic_regression,random_forest",
        "--seeds",
        "2",
        "--config",
        str(PARAMS),
        *_fast_args(),
    )
    assert result.exit_code == 0, result.output
    parent = client.search_runs(
        [client.get_experiment_by_name("breast_cancer-binary").experiment_id],
        "attributes.run_name = 'compare-breast_cancer'",
    )[0]
    assert "validation_log_loss over 2 seed(s), best first" in result.output
    for model in ("logistic_regression", "random_forest"):
        mean = parent.data.metrics[f"{model}/validation_log_loss_mean"]
        low = parent.data.metrics[f"{model}/validation_log_loss_ci95_low"]
        row = next(line for line in result.output.splitlines() if line.strip().startswith(model))
        assert f"{mean:.4f} ± " in row and f"[{low:.4f}, " in row and row.rstrip().endswith("2")
    best = parent.data.tags["compare.best_model"]
    assert f"Best: {best} ({parent.data.tags['compare.best_run_id']}) by mean " in result.output
    # lbfgs does not use its seed; the forest's bootstrap does
    assert parent.data.metrics["logistic_regression/validation_log_loss_std"] == 0
    said = " ".join(result.output.split())
    assert "logistic_regression: the same score at every seed, their fit does not use" in said
    assert "random_forest: the same" not in said


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--seeds", "0"), "--seeds must be between 1 and 50 (got 0)"),
        (("--vary-split",), "--vary-split varies the split per seed: give --seeds N with it"),
    ],
)
def test_compare_refuses_bad_seed_options_with_exit_2(args: tuple[str, ...], message: str) -> None:
    result = _invoke("compare", "--models", "mlp", *args, "--config", str(PARAMS))
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert count_runs() == 0


@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path) -> None:
    """`mlops-tracking demo` as a user runs it; every run it makes passes the audit."""
    from mlflow import MlflowClient

    from mlops_tracking.audit.checklist import audit_run

    store = f"sqlite:///{tmp_path / 'demo.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": store}
    result = subprocess.run(
        [sys.executable, "-m", "mlops_tracking", "demo", "--config", str(PARAMS)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Audit: 7/7 runs pass every outline item." in result.stdout
    # no raw library warning; the pickle format's risk is said once, in our words
    assert "WARNING" not in result.stdout + result.stderr, result.stdout + result.stderr
    assert " ".join(result.stdout.split()).count("runs any code its file contains") == 1
    assert f"mlflow ui --backend-store-uri {store}" in result.stdout
    os.environ["MLFLOW_TRACKING_URI"] = store
    client = MlflowClient(store)
    experiments = {e.name: e.experiment_id for e in client.search_experiments()}
    assert {"breast_cancer-binary", "wine-multiclass", "diabetes-regression"} <= set(experiments)
    everything = client.search_runs(list(experiments.values()))
    assert all(r.info.status == "FINISHED" for r in everything)
    # the tour's serving run and drift check live in breast_cancer-binary-monitoring
    watched = [
        r for r in everything if r.data.tags.get("mlops.run_type") in {"serving", "drift_check"}
    ]
    assert len(watched) == 2
    runs = [r for r in everything if r not in watched]
    assert len(runs) == 7
    parent = next(r for r in runs if r.data.tags.get("mlops.run_type") == "comparison")
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(r.data.tags["model.family"] for r in children) == sorted(
        ["logistic_regression", "random_forest", "hist_gradient_boosting", "mlp"]
    )
    for run in runs:
        assert audit_run(run.info.run_id).passed, run.info.run_name
    _assert_demo_lifecycle(client, parent.data.tags["compare.best_run_id"], result.stdout)


def _assert_demo_lifecycle(client, best_run: str, output: str) -> None:  # type: ignore[no-untyped-def]
    """The demo's registry tour, read back: best in production, weaker rejected, served once."""
    from mlops_tracking.registry.catalog import read_trail

    name = "breast_cancer-binary"
    aliases = {alias: str(v) for alias, v in client.get_registered_model(name).aliases.items()}
    production = client.get_model_version(name, aliases["production"])
    assert aliases == {"staging": str(production.version), "production": str(production.version)}
    assert production.run_id == best_run
    assert production.tags["lifecycle"] == "production"
    assert production.tags["deployment.status"] == "stopped"
    decisions = [(e.action, e.alias, e.decision) for e in read_trail(name)]
    assert decisions == [
        ("promote", "staging", "promoted"),
        ("promote", "production", "promoted"),
        ("promote", "staging", "rejected"),
        ("deploy", "production", "serving"),
        ("deploy", "production", "stopped"),
    ]
    assert '{"predictions": [{"label": ' in output
    assert f"Lineage of {name}@production" in output
    assert production.tags["git.commit"] in output


def test_a_messy_csv_trains_end_to_end(tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    """Odd column names, booleans, id columns and numeric typos: every format still works."""
    import mlflow
    import pandas as pd

    from messy_table import messy_csv
    from mlops_tracking.audit.checklist import audit_run

    csv = messy_csv(tmp_path / "messy.csv")
    result = _train(f"data.path={csv}", "data.target=label", "model.name=logistic_regression")
    assert result.exit_code == 0, result.output
    (run,) = client.search_runs([client.get_experiment_by_name("messy-binary").experiment_id])
    assert run.data.params["data.dropped_columns"] == "row_id, customer id"
    assert run.data.params["data.coerced_values"] == "amount ($)=2"
    assert "mlops.onnx_error" not in run.data.tags
    assert audit_run(run.info.run_id).passed
    raw = pd.read_csv(csv).drop(columns=["label"]).iloc[[0, 1, 2, 4, 5, 6]]  # row 3 has a typo
    raw["amount ($)"] = pd.to_numeric(raw["amount ($)"])
    raw.iloc[0, raw.columns.get_loc("amount ($)")] = None
    output = mlflow.pyfunc.load_model(run.data.tags["model_uri.pyfunc"]).predict(raw)
    assert set(output["label"]) <= {"x", "y"} and len(output) == 6
    onnx_info = mlflow.models.get_model_info(run.data.tags["model_uri.onnx"])
    assert [spec.name for spec in onnx_info.signature.inputs.inputs] == [
        "amount____",
        "a_b",
        "flag",
        "score",
    ]


def test_switched_off_formats_and_system_metrics_are_not_missing(client) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.audit.checklist import audit_run

    result = _train("tracking.model_formats=[sklearn,pyfunc]", "tracking.system_metrics=false")
    assert result.exit_code == 0, result.output
    (run,) = client.search_runs(
        [client.get_experiment_by_name("breast_cancer-binary").experiment_id]
    )
    report = audit_run(run.info.run_id)
    assert report.passed, report.missing
    status = {item.item: item.status for item in report.items}
    assert status["ONNX model"] == status["Pickled model"] == "n/a"
    assert status["System metrics (CPU, memory)"] == "n/a"
    assert not any(k.startswith("system/") for k in run.data.metrics)


def test_a_failed_onnx_conversion_keeps_the_run(monkeypatch: pytest.MonkeyPatch, client) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.audit.checklist import audit_run
    from mlops_tracking.core import export

    def unsupported(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Unable to find a shape calculator for type 'FancyEstimator'")

    monkeypatch.setattr(export, "to_onnx", unsupported)
    result = _train()
    assert result.exit_code == 0, result.output
    assert "ONNX conversion failed" in result.output
    (run,) = client.search_runs(
        [client.get_experiment_by_name("breast_cancer-binary").experiment_id]
    )
    assert run.info.status == "FINISHED"
    assert "FancyEstimator" in run.data.tags["mlops.onnx_error"]
    assert "model_uri.onnx" not in run.data.tags and "model_uri.pyfunc" in run.data.tags
    missing = {item.item: item.location for item in audit_run(run.info.run_id).missing}
    assert list(missing) == ["ONNX model", "ONNX parity with scikit-learn"] or list(missing) == [
        "ONNX model"
    ]


def test_a_crash_while_logging_models_keeps_what_was_recorded(
    monkeypatch: pytest.MonkeyPatch,
    client,  # type: ignore[no-untyped-def]
) -> None:
    from mlops_tracking.runs import model_formats

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(model_formats, "_log_onnx", disk_full)
    result = _train()
    assert result.exit_code == 1
    assert "failed: OSError" in result.output and "ended FAILED" in result.output
    assert "Traceback" not in result.output
    (run,) = client.search_runs(
        [client.get_experiment_by_name("breast_cancer-binary").experiment_id]
    )
    assert run.info.status == "FAILED"
    assert run.data.params["model.name"] == "random_forest"  # recorded before training
    assert len(run.inputs.dataset_inputs) == 3
    paths = {a.path for a in client.list_artifacts(run.info.run_id, "evaluation")}
    assert "evaluation/metrics.json" in paths
    assert {a.path for a in client.list_artifacts(run.info.run_id, "error")} == {
        "error/traceback.txt"
    }


def test_an_unreachable_server_is_one_line_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://user:secret@127.0.0.1:9")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    result = _invoke("runs")
    assert result.exit_code == 2
    assert "cannot open the tracking store http://user:***@127.0.0.1:9" in result.output
    assert "secret" not in result.output and "Traceback" not in result.output


def test_mlflows_pickle_warning_is_replaced_by_one_note_of_ours() -> None:
    """MLflow warns per pickled model in a paragraph; the CLI drops it and says it once itself."""
    import logging

    from mlops_tracking.cli.terminal import PICKLE_NOTE, SklearnFlavorFilter

    flavor = SklearnFlavorFilter()

    def passes(message: str) -> bool:
        record = logging.LogRecord("mlflow.sklearn", logging.WARNING, "", 0, message, None, None)
        return flavor.filter(record)

    pickle_warning = (
        "Saving scikit-learn models in the pickle or cloudpickle format requires exercising "
        "caution because these formats rely on Python's object serialization mechanism, ..."
    )
    assert not passes(pickle_warning)
    assert passes("Another warning") and not passes("Another warning")  # once, not per model
    assert "runs any code its file contains" in PICKLE_NOTE


@pytest.mark.parametrize("columns", ["60", "200"])
def test_the_printed_curl_example_is_one_valid_command_at_any_width(
    binary_run, columns: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    """Rich must not wrap it: joined at its backslashes, the printed text is one curl call."""
    import shlex

    from mlflow import MlflowClient

    from mlops_tracking.cli import terminal
    from mlops_tracking.cli.registry import print_command
    from mlops_tracking.registry.endpoints import example_request

    monkeypatch.setenv("COLUMNS", columns)
    model_uri = MlflowClient().get_run(binary_run.run_id).data.tags["model_uri.pyfunc"]
    endpoint = "http://127.0.0.1:5001/invocations"
    print_command(terminal.console(), example_request(model_uri, endpoint))

    printed = capsys.readouterr().out
    assert printed.count("\n") == 3  # three lines, as written: nothing inserted
    argv = shlex.split(printed.replace("\\\n", ""))
    assert argv[:6] == ["curl", "-s", endpoint, "-H", "Content-Type: application/json", "-d"]
    (record,) = json.loads(argv[6])["dataframe_records"]
    assert len(record) == 30  # breast_cancer's features


def test_the_runs_table_is_readable_at_80_columns(
    binary_run, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Status, every metric and the whole run id stay visible; nothing is cut to '…'."""
    from mlflow import MlflowClient

    metrics = MlflowClient().get_run(binary_run.run_id).data.metrics
    for columns, headers in (("80", ("accuracy", "roc_auc")), ("200", ("test_accuracy",))):
        monkeypatch.setenv("COLUMNS", columns)
        output = _invoke("runs").output
        table = output.split("Open the MLflow UI")[0]  # the UI's addresses are never folded
        assert max(len(line) for line in table.splitlines()) <= int(columns), output
        assert "FINISHED" in table and binary_run.run_id in table
        assert all(header in table for header in headers), output
        for name in ("test_accuracy", "test_f1", "test_roc_auc"):
            assert f"{metrics[name]:.4f}" in table
        assert "…" not in table, output


def test_a_full_disk_under_the_store_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    import sqlite3

    from mlops_tracking.cli import terminal

    def autoflush() -> None:
        try:
            raise sqlite3.OperationalError("database or disk is full")
        except sqlite3.OperationalError as error:
            raise RuntimeError("(raised as a result of Query-invoked autoflush)") from error

    with pytest.raises(terminal.typer.Exit):
        terminal.run_command(autoflush)
    said = " ".join(capsys.readouterr().out.split())
    assert "The disk under the tracking store is full" in said and "runs --reap" in said
