"""Tags: who ran what and why (run tags), and where it ran (environment tags)."""

import getpass
import os
import platform
import shutil

import mlflow
import sklearn
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import cross_val_score


def cloud_provider() -> str:
    """Name the cloud from environment variables its runtimes set (no network call)."""
    markers = {"aws": "AWS_REGION", "gcp": "GOOGLE_CLOUD_PROJECT", "azure": "AZUREML_RUN_ID"}
    return next((cloud for cloud, name in markers.items() if os.environ.get(name)), "none")


mlflow.set_experiment("tutorial-tags")
mlflow.set_experiment_tag("team", "tutorial")  # a tag on the experiment, not on a run
with mlflow.start_run(run_name="random-forest-tagged") as run:
    # Run tags: free-form strings you can search and group by, and change later.
    mlflow.set_tags(
        {
            "author": getpass.getuser(),
            "model.family": "random_forest",
            "task": "classification",
            "dataset": "breast_cancer",
        }
    )
    # mlflow.note.content is the run's description, rendered as Markdown at the top of its page.
    mlflow.set_tag(
        "mlflow.note.content",
        "Random forest on **breast_cancer**, 5-fold cross-validation. Baseline for the tutorial.",
    )
    # Environment tags: the machine and software, to explain a result that differs elsewhere.
    mlflow.set_tags(
        {
            "env.python": platform.python_version(),
            "env.os": f"{platform.system()} {platform.release()}",
            "env.cpu_count": str(os.cpu_count()),
            "env.gpu": "nvidia" if shutil.which("nvidia-smi") else "none",
            "env.cloud_provider": cloud_provider(),
            "env.scikit-learn": sklearn.__version__,
        }
    )

    X, y = load_breast_cancer(return_X_y=True)
    scores = cross_val_score(RandomForestClassifier(n_estimators=50, random_state=0), X, y, cv=5)
    mlflow.log_metric("cv_accuracy", scores.mean())
    mlflow.set_tag("review", "pending")  # unlike a param, a tag may be overwritten

# Tags make runs findable: search the experiment by one.
found = mlflow.search_runs(filter_string="tags.`model.family` = 'random_forest'")
print(f"Logged run {run.info.run_id} ({len(found)} random_forest run(s) in tutorial-tags).")
