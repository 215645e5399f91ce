"""Snippet 07 logs the training and test data as datasets and the test predictions as a table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from snippets import run_example

# Each snippet runs as a reader runs it: a new Python process that imports MLflow and
# scikit-learn and creates a store (5-15 s each), so the inner loop skips them.
pytestmark = pytest.mark.slow


def test_datasets_with_contexts_and_predictions_table(tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    output = run_example("07_inputs_and_outputs", tmp_path)

    experiment = client.get_experiment_by_name("tutorial-inputs-and-outputs")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_id in output

    inputs = {}
    for entry in run.inputs.dataset_inputs:
        context = {tag.key: tag.value for tag in entry.tags}["mlflow.data.context"]
        inputs[context] = entry.dataset
    assert set(inputs) == {"training", "testing"}
    train, test = inputs["training"], inputs["testing"]
    assert (train.name, test.name) == ("breast_cancer-train", "breast_cancer-test")
    assert train.digest and test.digest and train.digest != test.digest
    assert json.loads(train.profile)["num_rows"] == 426
    assert json.loads(test.profile)["num_rows"] == 143
    columns = {column["name"] for column in json.loads(test.schema)["mlflow_colspec"]}
    assert "target" in columns and "mean radius" in columns and len(columns) == 31

    table = client.load_table(
        experiment.experiment_id, "predictions/test_predictions.json", run_ids=[run.info.run_id]
    )
    assert list(table.columns) == ["id", "truth", "prediction", "proba_benign"]
    assert len(table) == 143
    assert table["proba_benign"].between(0, 1).all()
    accuracy = (table["truth"] == table["prediction"]).mean()
    assert abs(run.data.metrics["test_accuracy"] - accuracy) < 1e-9
    assert accuracy > 0.9
    assert "predictions/test_predictions.json" in run.data.tags["mlflow.loggedArtifacts"]
