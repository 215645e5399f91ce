"""Run and experiment details: ids, names, times and status, and runs nested in a parent."""

from datetime import datetime

import mlflow
from mlflow import MlflowClient
from sklearn.datasets import load_wine
from sklearn.model_selection import cross_val_score
from sklearn.tree import DecisionTreeClassifier

X, y = load_wine(return_X_y=True)
experiment = mlflow.set_experiment("tutorial-run-details")  # created on first use

# A parent run groups one child run per setting; the UI nests the children under it.
with mlflow.start_run(run_name="depth-sweep") as parent:
    for depth in (2, 4):
        with mlflow.start_run(run_name=f"depth-{depth}", nested=True):
            mlflow.log_param("max_depth", depth)
            scores = cross_val_score(DecisionTreeClassifier(max_depth=depth, random_state=0), X, y)
            mlflow.log_metric("cv_accuracy", scores.mean())
    # A run whose code raises ends FAILED: `with` records the failure, then re-raises.
    try:
        with mlflow.start_run(run_name="depth-invalid", nested=True):
            mlflow.log_param("max_depth", -1)
            DecisionTreeClassifier(max_depth=-1).fit(X, y)  # raises InvalidParameterError
    except ValueError:
        pass

# Everything above is in the store: read it back as any later script or notebook would.
client = MlflowClient()
children = client.search_runs(
    [experiment.experiment_id],
    filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
    order_by=["attributes.start_time ASC"],
)
for run in [client.get_run(parent.info.run_id), *children]:
    info = run.info
    started = datetime.fromtimestamp(info.start_time / 1000)  # times are epoch milliseconds
    seconds = (info.end_time - info.start_time) / 1000
    print(
        f"{info.run_name:<14} {info.run_id}  {info.status:<8} started {started:%H:%M:%S}, "
        f"took {seconds:.2f} s, experiment {client.get_experiment(info.experiment_id).name}"
    )
