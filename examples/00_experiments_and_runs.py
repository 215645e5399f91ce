"""Experiments and runs: an experiment is a container, a run is one execution of your code.

Logs two runs, then a parent run with three nested child runs, into the experiment
`tutorial-experiments-and-runs`, and reads them back with MlflowClient.
"""

import mlflow
from mlflow import MlflowClient
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=42, stratify=y)

# The experiment is created on first use; later calls reuse it (same name, same id).
experiment = mlflow.set_experiment("tutorial-experiments-and-runs")


def train(C: float) -> None:
    """One execution: fit a model and log what it was and how it scored to the active run."""
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C)).fit(X_train, y_train)
    mlflow.log_param("C", C)
    mlflow.log_metric("test_accuracy", model.score(X_test, y_test))


# Each `start_run` is one run: its own id, name, start and end time, and status.
for C in (0.01, 1.0):
    with mlflow.start_run(run_name=f"logreg-C{C}"):
        train(C)

# A parent run groups related runs: nested=True makes each child point at it
# (the tag mlflow.parentRunId), and the UI shows the children under the parent.
with mlflow.start_run(run_name="sweep-C") as parent:
    for C in (0.1, 1.0, 10.0):
        with mlflow.start_run(run_name=f"sweep-C{C}", nested=True):
            train(C)

# Read the store back: the experiment by name, then its runs, filtered and ordered.
client = MlflowClient()
found = client.search_experiments(filter_string="name = 'tutorial-experiments-and-runs'")[0]
children = client.search_runs(
    [found.experiment_id],
    filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
    order_by=["metrics.test_accuracy DESC", "params.C ASC"],
)
for run in children:
    seconds = (run.info.end_time - run.info.start_time) / 1000
    print(f"  {run.info.run_name:14} {run.info.run_id}  {run.info.status}  {seconds:.2f} s")
every_run = client.search_runs([found.experiment_id])
print(
    f"experiment {found.name} (id {found.experiment_id}): {len(every_run)} runs, "
    f"best child {children[0].info.run_name}. Open it: mlflow ui, then "
    f"http://127.0.0.1:5000/#/experiments/{found.experiment_id}/runs?workflowType=machine_learning"
)
