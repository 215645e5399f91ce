"""The pipeline's data stages: raw data, featurized splits, the model-file evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from conftest import FAST, PARAMS, write_csv
from mlops_tracking.core.config import load_config
from mlops_tracking.core.data import load_dataset, split_dataset
from mlops_tracking.core.errors import PipelineError
from mlops_tracking.core.stage_files import load_splits
from mlops_tracking.pipeline.stages import (
    check_metrics,
    evaluate,
    featurize,
    prepare,
    read_raw,
    write_model,
)


def _config(*overrides: str):  # type: ignore[no-untyped-def]
    return load_config(PARAMS, [*FAST, *overrides])


@pytest.mark.parametrize("dataset", ["breast_cancer", "wine", "diabetes"])
def test_featurized_splits_are_exactly_the_splits_training_makes(
    tmp_path: Path, dataset: str
) -> None:
    from mlops_tracking.runs.datasets import to_mlflow_dataset

    config = _config(f"data.dataset={dataset}").data
    prepare(config, tmp_path / "raw")
    featurize(config, tmp_path / "raw", tmp_path / "features")
    loaded, splits = load_splits(tmp_path / "features")

    direct = load_dataset(config)
    expected = split_dataset(direct, config)
    assert loaded.name == direct.name
    assert loaded.labels == direct.labels
    assert loaded.task == direct.task
    for ours, theirs in zip(splits, expected, strict=True):
        pd.testing.assert_frame_equal(ours.X, theirs.X)
        pd.testing.assert_series_equal(ours.y, theirs.y, check_names=False)
        # the MLflow digest is what proves two runs saw the same data
        assert to_mlflow_dataset(loaded, ours).digest == to_mlflow_dataset(direct, theirs).digest
    assert loaded.files == {
        name: (tmp_path / "features" / f"{name}.csv").as_posix()
        for name in ("train", "validation", "test")
    }


def test_data_rows_takes_an_earlier_extract_as_another_data_version(tmp_path: Path) -> None:
    v1 = prepare(_config("data.rows=455").data, tmp_path / "v1")
    v2 = prepare(_config().data, tmp_path / "v2")
    assert "455 rows" in v1.summary and "569 rows" in v2.summary
    raw_v1 = (tmp_path / "v1" / "dataset.csv").read_bytes()
    raw_v2 = (tmp_path / "v2" / "dataset.csv").read_bytes()
    assert raw_v1 != raw_v2
    assert raw_v2.startswith(raw_v1)  # v2 adds rows; it changes none of v1's
    assert json.loads((tmp_path / "v1" / "dataset.json").read_text())["rows"] == 455


def test_a_users_csv_is_copied_unchanged_and_cleaned_by_featurize(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "churn.csv")
    config = _config(f"data.path={source}", "data.target=churned").data
    prepare(config, tmp_path / "raw")
    assert (tmp_path / "raw" / "dataset.csv").read_bytes() == source.read_bytes()
    featurize(config, tmp_path / "raw", tmp_path / "features")
    dataset, splits = load_splits(tmp_path / "features")
    assert dataset.name == "churn"
    assert dataset.labels == ("no", "yes")
    assert "customer_id" in dataset.dropped_columns
    # text columns stay text, with missing values as their own category
    assert splits.train.X["plan"].dtype == object
    assert "missing" in set(splits.train.X["plan"])
    assert splits.train.X["size"].dtype == "float64"
    assert splits.train.X["size"].isna().any()
    direct = load_dataset(config)
    pd.testing.assert_series_equal(dataset.features.dtypes, direct.features.dtypes)
    assert dataset.column_kinds == direct.column_kinds


def test_featurize_without_prepare_says_which_stage_to_run(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match=r"dataset.json is missing; run `dvc repro prepare`"):
        read_raw(_config().data, tmp_path / "raw")


def test_a_missing_split_file_says_how_to_get_it(tmp_path: Path) -> None:
    config = _config().data
    prepare(config, tmp_path / "raw")
    featurize(config, tmp_path / "raw", tmp_path / "features")
    (tmp_path / "features" / "test.csv").unlink()
    with pytest.raises(
        PipelineError, match=r"test.csv is missing; run `dvc repro` \(or `dvc pull`"
    ):
        load_splits(tmp_path / "features")


def _model_files(tmp_path: Path) -> tuple[Path, dict[str, float]]:
    """A real fitted pipeline written as the train stage writes it, with its true metrics."""
    from mlops_tracking.core.evaluation import compute_metrics, predict
    from mlops_tracking.core.export import to_skops
    from mlops_tracking.core.modelling import fit_pipeline
    from mlops_tracking.core.models import family_for
    from mlops_tracking.runs.workflow import load_pipeline_inputs

    config = _config("model.name=logistic_regression")
    prepare(config.data, tmp_path / "raw")
    featurize(config.data, tmp_path / "raw", tmp_path / "features")
    inputs = load_pipeline_inputs(config, None, tmp_path / "features")
    pipeline, _ = fit_pipeline(inputs, family_for("logistic_regression", "binary"))
    scores = compute_metrics(
        predict(pipeline, inputs.splits.test, True), "binary", 2, config.evaluation.calibration_bins
    )
    metrics = {f"test_{name}": value for name, value in scores.items()}
    skops = to_skops(pipeline)
    write_model(
        skops.data,
        {
            "run_id": "r1",
            "experiment": "e",
            "trusted_types": skops.trusted_types,
            "test_metrics": metrics,
        },
        tmp_path / "models",
    )
    return tmp_path, metrics


def test_evaluate_writes_dvc_metrics_with_the_run_id_and_a_plot(tmp_path: Path) -> None:
    folder, metrics = _model_files(tmp_path)
    output = evaluate(folder / "models", folder / "features", folder / "reports")
    written = json.loads((folder / "reports" / "metrics.json").read_text())
    assert written["mlflow_run_id"] == "r1"
    assert {k: v for k, v in written.items() if k.startswith("test_")} == metrics
    plot = pd.read_csv(folder / "reports" / "plots" / "predictions.csv")
    assert list(plot.columns) == ["row_id", "actual", "predicted"]
    assert set(plot["actual"]) <= {"malignant", "benign"}
    assert len(plot) == 114
    assert "r1" in output.summary


def test_evaluate_refuses_a_model_file_that_does_not_reproduce_its_run(tmp_path: Path) -> None:
    folder, metrics = _model_files(tmp_path)
    meta_path = folder / "models" / "model.json"
    meta = json.loads(meta_path.read_text())
    meta["test_metrics"]["test_accuracy"] = metrics["test_accuracy"] - 0.01
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(PipelineError, match=r"does not reproduce the metrics of MLflow run r1"):
        evaluate(folder / "models", folder / "features", folder / "reports")
    assert not (folder / "reports" / "metrics.json").exists()


def test_check_metrics_ignores_metrics_the_run_did_not_log() -> None:
    check_metrics({"test_accuracy": 0.9, "test_new": 1.0}, {"test_accuracy": 0.9}, "r")
    with pytest.raises(PipelineError, match=r"test_accuracy 0\.9 → 0\.8"):
        check_metrics({"test_accuracy": 0.8}, {"test_accuracy": 0.9}, "r")


# --- dvc.yaml declares every module a stage runs -----------------------------------------------

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "mlops_tracking"
# Loaded by every command (the app merges every command module; terminal turns errors into exit
# codes): they cannot change what a stage writes, so a change to them need not re-run stages.
PLUMBING = {
    "cli/app.py",
    "cli/runs.py",
    "cli/registry.py",
    "cli/terminal.py",
    "runs/lifecycle.py",
    "runs/interrupts.py",  # stop signals, raised between store calls
    "core/liveness.py",  # the heartbeat tags and the stale rule
    "cli/server.py",  # the team server's and sync's commands, registered beside the stages
    "cli/sync.py",
    "cli/sweeps.py",  # the sweep and report commands, registered beside the stages
    "cli/reports.py",
    "cli/monitoring.py",  # the monitor and package commands, registered beside the stages
    "cli/packaging.py",
}
RUN_STAGE = """
import sys
from mlops_tracking.cli.app import app
try:
    app(sys.argv[1:], standalone_mode=False)
except SystemExit as stop:
    assert not stop.code, stop.code
from pathlib import Path
import mlops_tracking
root = Path(mlops_tracking.__file__).parent
for name, module in sorted(sys.modules.items()):
    if name.startswith("mlops_tracking"):
        print(Path(module.__file__).relative_to(root).as_posix())
"""


def _modules_run(folder: Path, *args: str) -> set[str]:
    """The package's modules a stage command imports, run in a fresh interpreter in ``folder``."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", RUN_STAGE, "pipeline", *args, "--config", str(PARAMS)],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    )
    listed = done.stdout.splitlines()
    return {path for path in listed if path.endswith(".py") and not path.endswith("__init__.py")}


def _declared_code(stage: str) -> list[str]:
    import yaml

    deps = yaml.safe_load((PACKAGE.parents[1] / "dvc.yaml").read_text())["stages"][stage]["deps"]
    prefix = "src/mlops_tracking"
    return [dep.removeprefix(prefix).lstrip("/") for dep in deps if dep.startswith(prefix)]


def _undeclared(stage: str, modules: set[str]) -> list[str]:
    declared = _declared_code(stage)
    return sorted(
        module
        for module in modules - PLUMBING
        if not any(d in {"", module} or module.startswith(f"{d}/") for d in declared)
    )


@pytest.mark.slow
@pytest.mark.parametrize("source", ["shipped", "csv"])
def test_dvc_yaml_declares_every_module_prepare_and_featurize_run(
    tmp_path: Path, source: str
) -> None:
    overrides = []
    if source == "csv":
        csv = write_csv(tmp_path / "churn.csv", rows=150)
        overrides = ["--set", f"data.path={csv}", "--set", "data.target=churned"]
    prepared = _modules_run(tmp_path, "prepare", *overrides)
    featurized = _modules_run(tmp_path, "featurize", *overrides)
    assert "pipeline/stages.py" in prepared and "core/stage_files.py" in featurized
    if source == "csv":
        assert "core/cleaning.py" in featurized  # a user's CSV is cleaned by featurize
    assert _undeclared("prepare", prepared) == []
    assert _undeclared("featurize", featurized) == []


@pytest.mark.slow
def test_dvc_yaml_declares_every_module_evaluate_runs_and_train_depends_on_all(
    tmp_path: Path,
) -> None:
    folder, _ = _model_files(tmp_path)
    evaluated = _modules_run(folder, "evaluate")
    assert "core/evaluation.py" in evaluated
    assert _undeclared("evaluate", evaluated) == []
    assert _declared_code("train") == [""]  # any code change may change the model
