"""examples/04_models.py: one classifier as four LoggedModels (skops, pickle, ONNX, pyfunc)."""

from __future__ import annotations

from pathlib import Path

import pytest

from snippets import run_example

# Each snippet runs as a reader runs it: a new Python process that imports MLflow and
# scikit-learn and creates a store (5-15 s each), so the inner loop skips them.
pytestmark = pytest.mark.slow


def test_models_snippet_logs_four_loadable_formats(tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    import mlflow
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    output = run_example("04_models", tmp_path)

    experiment = client.get_experiment_by_name("tutorial-models")
    (run,) = client.search_runs([experiment.experiment_id])
    run_id = run.info.run_id
    assert run_id in output
    assert "the custom one says ['malignant', 'benign']" in output  # what it loaded back said
    models = {m.name: m for m in client.search_logged_models([experiment.experiment_id])}
    assert sorted(models) == ["lr-onnx", "lr-pickle", "lr-pyfunc", "lr-sklearn"]
    for model in models.values():
        assert model.source_run_id == run_id
        assert model.status.to_int() == mlflow.entities.LoggedModelStatus.READY.to_int()

    flavors = {
        name: mlflow.models.get_model_info(f"models:/{m.model_id}").flavors
        for name, m in models.items()
    }
    assert flavors["lr-sklearn"]["sklearn"]["serialization_format"] == "skops"
    assert flavors["lr-pickle"]["sklearn"]["serialization_format"] == "cloudpickle"
    assert "onnx" in flavors["lr-onnx"]
    assert flavors["lr-pyfunc"]["python_function"]["loader_module"] == "mlflow.pyfunc.model"
    for name, model in models.items():
        info = mlflow.models.get_model_info(f"models:/{model.model_id}")
        assert info.signature is not None, name
        assert info.saved_input_example_info is not None, name

    # the model is not a run artifact in MLflow 3: the run's artifact list does not hold it
    assert not [a.path for a in client.list_artifacts(run_id) if a.path.startswith("lr-")]

    # reload parity: the skops model, the pickle and ONNX agree on the same rows
    X, _ = load_breast_cancer(return_X_y=True, as_frame=True)
    rows = X.head(20)
    skops = mlflow.sklearn.load_model(f"models:/{models['lr-sklearn'].model_id}")
    pickled = mlflow.sklearn.load_model(f"models:/{models['lr-pickle'].model_id}")
    onnx = mlflow.pyfunc.load_model(f"models:/{models['lr-onnx'].model_id}")
    np.testing.assert_array_equal(skops.predict(rows), pickled.predict(rows))
    np.testing.assert_array_equal(
        onnx.predict(rows.to_numpy(np.float32))["label"], skops.predict(rows)
    )
    screening = mlflow.pyfunc.load_model(f"models:/{models['lr-pyfunc'].model_id}")
    answer = screening.predict(rows)
    assert list(answer.columns) == ["label", "proba_malignant"]
    assert set(answer["label"]) <= {"malignant", "benign"}

    # the accuracy is linked to the sklearn model and to the test dataset it was computed on
    linked = client.get_logged_model(models["lr-sklearn"].model_id).metrics
    (accuracy,) = [m for m in linked if m.key == "test_accuracy"]
    assert accuracy.value > 0.9
    assert accuracy.dataset_name == "breast_cancer-test"
    assert accuracy.run_id == run_id
    (dataset_input,) = run.inputs.dataset_inputs
    assert dataset_input.dataset.name == "breast_cancer-test"
    assert dataset_input.dataset.digest == accuracy.dataset_digest
    assert [t.value for t in dataset_input.tags if t.key == "mlflow.data.context"] == ["testing"]
