"""Custom logging: any Python object or function as an artifact of the run."""

import inspect
import pickle
import tempfile
from pathlib import Path

import mlflow
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler


def within_tolerance(y_true: np.ndarray, y_pred: np.ndarray, tolerance: float = 0.1) -> float:
    """A custom metric: the share of predictions within `tolerance` of the truth."""
    return float(np.mean(np.abs(y_pred - y_true) <= tolerance * np.abs(y_true)))


data = load_breast_cancer()
scaler = StandardScaler().fit(data.data)  # a fitted object we want to reuse later

mlflow.set_experiment("tutorial-custom-logging")

with mlflow.start_run(run_name="custom-logging") as run:
    # A dict becomes JSON, or YAML when the name ends in .yaml: both readable in the UI.
    labels = {str(code): str(name) for code, name in enumerate(data.target_names)}
    mlflow.log_dict(labels, "objects/label_mapping.json")
    mlflow.log_dict({"mean": scaler.mean_[:3].tolist()}, "objects/scaler_state.yaml")

    # Free text: notes, a report, a command line.
    mlflow.log_text("Scaler fitted on all 569 rows.\n", "objects/notes.txt")

    # Any other object: write it to a file yourself, then log the file. A pickle runs code
    # when it is loaded, so load it only from a store you trust.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "scaler.pkl"
        path.write_bytes(pickle.dumps(scaler))
        mlflow.log_artifact(str(path), artifact_path="objects")

    # A custom function: log its source code next to the value it computed.
    mlflow.log_text(inspect.getsource(within_tolerance), "custom/within_tolerance.py")
    truth = np.array([10.0, 20.0, 30.0, 40.0])
    mlflow.log_metric("within_10pct", within_tolerance(truth, np.array([10.5, 25.0, 29.0, 40.0])))

print(f"run {run.info.run_id}: objects/ and custom/ are in the run's Artifacts tab")
