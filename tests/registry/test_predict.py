"""Batch prediction with a registered version, traced by its own inference run."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import RegistryStore, count_runs

runner = CliRunner()


@pytest.fixture
def staged(registry_store: RegistryStore) -> str:
    """The best run registered and promoted to staging; returns its version."""
    from mlops_tracking.core.config import Config
    from mlops_tracking.registry.release import promote, register_run

    version = register_run(registry_store.runs[0], Config().registry).version.version
    promote(Config(), "breast_cancer-binary", "staging", version=version, by="tester")
    return version


def _input(path: Path, rows: int = 40) -> Path:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame.drop(columns="target")
    frame.sample(rows, random_state=0).to_csv(path, index=False)
    return path


def _inference_runs(client) -> list:  # type: ignore[no-untyped-def,type-arg]
    experiment = client.get_experiment_by_name("breast_cancer-binary-inference")
    return [] if experiment is None else client.search_runs([experiment.experiment_id])


def test_predict_writes_predictions_and_logs_a_traceable_run(
    staged: str, tmp_path: Path, client
) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.cli.app import app

    source = _input(tmp_path / "batch.csv")

    result = runner.invoke(app, ["predict", "breast_cancer-binary@staging", "--input", str(source)])

    assert result.exit_code == 0, result.output
    written = tmp_path / "batch.predictions.csv"
    predictions = pd.read_csv(written)
    assert len(predictions) == 40
    assert set(predictions["label"]) <= {"malignant", "benign"}
    (run,) = _inference_runs(client)
    tags = run.data.tags
    assert run.info.status == "FINISHED"
    assert (tags["model.name"], tags["model.version"], tags["model.alias"]) == (
        "breast_cancer-binary",
        staged,
        "staging",
    )
    assert tags["mlops.run_type"] == "inference"
    assert tags["input.sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert tags["output.sha256"] == hashlib.sha256(written.read_bytes()).hexdigest()
    (dataset,) = run.inputs.dataset_inputs
    assert {t.key: t.value for t in dataset.tags}["mlflow.data.context"] == "inference"
    assert dataset.dataset.digest
    table = client.load_table(
        run.info.experiment_id, "predictions/outputs.json", run_ids=[run.info.run_id]
    )
    assert list(table["label"]) == list(predictions["label"])
    assert run.data.metrics["rows"] == 40
    assert run.info.run_id in result.output


def test_the_onnx_engine_gives_the_same_labels(staged: str, tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.cli.app import app

    source = _input(tmp_path / "batch.csv", rows=120)
    by_pyfunc, by_onnx = tmp_path / "pyfunc.csv", tmp_path / "onnx.csv"

    for engine, output in (("pyfunc", by_pyfunc), ("onnx", by_onnx)):
        result = runner.invoke(
            app,
            [
                *("predict", "breast_cancer-binary/1", "-i", str(source)),
                *("-o", str(output), "--engine", engine),
            ],
        )
        assert result.exit_code == 0, result.output

    pyfunc, onnx = pd.read_csv(by_pyfunc), pd.read_csv(by_onnx)
    assert list(onnx["label"]) == list(pyfunc["label"])
    # and both agree with scikit-learn itself (the deployable model's sklearn engine)
    import mlflow

    rows = pd.read_csv(source)
    sklearn = mlflow.pyfunc.load_model("models:/breast_cancer-binary/1").predict(
        rows, params={"engine": "sklearn"}
    )
    assert list(onnx["label"]) == list(sklearn["label"])
    difference = (onnx.filter(like="proba_") - sklearn.filter(like="proba_")).abs().max().max()
    assert difference < 1e-5
    engines = sorted(run.data.tags["engine"] for run in _inference_runs(client))
    assert engines == ["onnx", "pyfunc"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["mean radius"]), "lacks column(s) 'mean radius'"),
        (
            lambda f: f.astype({"mean texture": object}).assign(**{"mean texture": "abc"}),
            "column 'mean texture' must be numeric (double) but row 1 holds 'abc'",
        ),
    ],
    ids=["missing-column", "wrong-type"],
)
def test_bad_input_names_the_column_and_logs_nothing(
    staged: str, tmp_path: Path, client, change, message: str
) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.cli.app import app

    source = tmp_path / "bad.csv"
    change(pd.read_csv(_input(tmp_path / "good.csv"))).to_csv(source, index=False)
    before = count_runs()

    result = runner.invoke(app, ["predict", "breast_cancer-binary@staging", "-i", str(source)])

    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert count_runs() == before
    assert not (tmp_path / "bad.predictions.csv").exists()


def _table(path: Path, rows: int = 4) -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(as_frame=True).frame.head(rows).reset_index(drop=True)


@pytest.mark.parametrize("engine", ["pyfunc", "onnx"])
def test_predict_applies_the_serving_input_policy(
    staged: str, tmp_path: Path, client, engine: str
) -> None:  # type: ignore[no-untyped-def]
    """The training target is ignored, a missing value imputed and named, 1e39 refused."""
    from mlops_tracking.cli.app import app

    table = _table(tmp_path)  # holds the training target column
    table.loc[1, "mean area"] = None
    source = tmp_path / "with_target.csv"
    table.to_csv(source, index=False)
    command = ["predict", "breast_cancer-binary@staging", "--input", str(source)]

    result = runner.invoke(app, [*command, "--engine", engine])
    assert result.exit_code == 0, result.output
    predictions = pd.read_csv(tmp_path / "with_target.predictions.csv", keep_default_na=False)
    assert list(predictions["imputed"]) == ["", "mean area", "", ""]
    assert "'mean area' row 2" in result.output and "'target'" in result.output
    (run,) = _inference_runs(client)
    assert run.info.status == "FINISHED"

    refused = runner.invoke(app, [*command, "--set", "serving.missing_values=refuse"])
    assert refused.exit_code != 0
    assert "column 'mean area' row 2 is empty" in refused.output

    table.loc[1, "mean area"] = 1e39
    table.assign(surprise=1).to_csv(source, index=False)
    extra = runner.invoke(app, command)
    assert extra.exit_code != 0 and "'surprise'" in extra.output
    table.to_csv(source, index=False)
    huge = runner.invoke(app, [*command, "--engine", engine])
    assert huge.exit_code != 0
    assert "column 'mean area' row 2 holds 1e+39" in " ".join(huge.output.split())
    assert len(_inference_runs(client)) == 1  # refused batches log no inference run


def test_the_gate_and_predict_leave_no_model_copy_in_the_temporary_directory(
    registry_store: RegistryStore, temp_dir: Path, tmp_path: Path
) -> None:
    """Each loads from a checked copy in TMPDIR and removes it once the model is in memory."""
    from mlops_tracking.core.config import Config
    from mlops_tracking.registry.predict import batch_predict
    from mlops_tracking.registry.release import promote, register_run

    version = register_run(registry_store.runs[0], Config().registry).version.version
    assert list(temp_dir.iterdir()) == []
    promoted = promote(Config(), "breast_cancer-binary", "staging", version=version, by="tester")
    assert promoted.entry.decision == "promoted"  # the gate scored it: it loaded the version
    assert list(temp_dir.iterdir()) == []
    source = _input(tmp_path / "batch.csv")
    for engine in ("pyfunc", "onnx"):
        done = batch_predict("breast_cancer-binary@staging", source, None, engine, "tester")
        assert done.rows == 40
        assert list(temp_dir.iterdir()) == []
