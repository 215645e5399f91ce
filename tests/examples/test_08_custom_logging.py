"""Snippet 08 logs custom objects (JSON, YAML, text, a pickle) and a custom function's source."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import yaml

from snippets import run_example

# Each snippet runs as a reader runs it: a new Python process that imports MLflow and
# scikit-learn and creates a store (5-15 s each), so the inner loop skips them.
pytestmark = pytest.mark.slow


def test_objects_and_function_source(tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    import mlflow
    from sklearn.datasets import load_breast_cancer

    output = run_example("08_custom_logging", tmp_path)

    experiment = client.get_experiment_by_name("tutorial-custom-logging")
    (run,) = client.search_runs([experiment.experiment_id])
    run_id, root = run.info.run_id, run.info.artifact_uri
    assert run_id in output

    objects = sorted(entry.path for entry in client.list_artifacts(run_id, "objects"))
    assert objects == [
        "objects/label_mapping.json",
        "objects/notes.txt",
        "objects/scaler.pkl",
        "objects/scaler_state.yaml",
    ]
    assert mlflow.artifacts.load_dict(f"{root}/objects/label_mapping.json") == {
        "0": "malignant",
        "1": "benign",
    }
    # load_dict reads JSON only, although log_dict writes YAML for a .yaml name.
    state = yaml.safe_load(mlflow.artifacts.load_text(f"{root}/objects/scaler_state.yaml"))
    data = load_breast_cancer().data
    assert np.allclose(state["mean"], data.mean(axis=0)[:3])
    assert "569 rows" in mlflow.artifacts.load_text(f"{root}/objects/notes.txt")

    local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="objects/scaler.pkl")
    scaler = pickle.loads(Path(local).read_bytes())
    assert np.allclose(scaler.transform(data).mean(axis=0), 0)

    source = mlflow.artifacts.load_text(f"{root}/custom/within_tolerance.py")
    assert source.startswith("def within_tolerance(")
    assert "return float(np.mean(" in source
    assert run.data.metrics["within_10pct"] == 0.75
