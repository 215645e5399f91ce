"""Artifacts: plots, a text summary and an environment file attached to a run."""

import tempfile
from importlib.metadata import distributions
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # draw to files, no window: works on a server or in CI

import mlflow
from matplotlib import pyplot as plt
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay, classification_report
from sklearn.model_selection import train_test_split

X, y = load_breast_cancer(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
model = RandomForestClassifier(n_estimators=50, random_state=0).fit(X_train, y_train)

mlflow.set_experiment("tutorial-artifacts")
with mlflow.start_run(run_name="random-forest-plots") as run:
    # Figures go straight from memory to the run: no file to save and clean up.
    matrix = ConfusionMatrixDisplay.from_estimator(model, X_test, y_test)
    mlflow.log_figure(matrix.figure_, "plots/confusion_matrix.png")
    roc = RocCurveDisplay.from_estimator(model, X_test, y_test)
    mlflow.log_figure(roc.figure_, "plots/roc_curve.png")
    plt.close("all")

    # From memory too: a model summary (a dict, saved as JSON) and the classification report.
    summary = {"estimator": type(model).__name__, "trees": len(model.estimators_)}
    mlflow.log_dict(summary, "model/summary.json")
    mlflow.log_text(classification_report(y_test, model.predict(X_test)), "model/report.txt")

    # Files already on disk: log_artifact for one file, log_artifacts for a whole folder.
    mlflow.log_artifact(__file__, artifact_path="source")  # the script that made this run
    with tempfile.TemporaryDirectory() as scratch:
        # The exact version of every installed package: what `pip freeze` prints.
        freeze = sorted(f"{d.metadata['Name']}=={d.version}" for d in distributions())
        packages = Path(scratch, "pip-freeze.txt")
        packages.write_text("\n".join(freeze) + "\n")
        mlflow.log_artifact(str(packages), artifact_path="environment")
        # The data the model was trained and tested on, as it was at that moment.
        splits = Path(scratch, "data")
        splits.mkdir()
        X_train.assign(target=y_train).to_csv(splits / "train.csv", index=False)
        X_test.assign(target=y_test).to_csv(splits / "test.csv", index=False)
        mlflow.log_artifacts(str(splits), artifact_path="data")

print(f"Logged run {run.info.run_id} in experiment tutorial-artifacts; see it with `mlflow ui`.")
