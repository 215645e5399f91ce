"""Parameters: the hyperparameters, data processing and feature engineering of one run."""

import mlflow
from sklearn.datasets import load_breast_cancer
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

# Every choice that shapes the result, in one place. Dotted names group them in the UI.
data = {"data.dataset": "breast_cancer", "data.test_size": 0.25, "data.seed": 0}
features = {"features.scaling": "standard", "features.selection.k": 10}
model = LogisticRegression(C=0.5, max_iter=500)

X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=data["data.test_size"], random_state=data["data.seed"], stratify=y
)
pipeline = make_pipeline(
    StandardScaler(), SelectKBest(f_classif, k=features["features.selection.k"]), model
)

mlflow.set_experiment("tutorial-parameters")
with mlflow.start_run(run_name="logistic-regression-k10") as run:
    # Data processing and feature engineering parameters, plus what the split produced.
    mlflow.log_params(data | features)
    mlflow.log_params({"data.train_rows": len(X_train), "data.test_rows": len(X_test)})
    # Every hyperparameter of the estimator, sklearn's defaults included: a default that
    # changes in a new sklearn release is then visible when two runs are compared.
    mlflow.log_params({f"model.{key}": value for key, value in model.get_params().items()})

    pipeline.fit(X_train, y_train)
    mlflow.log_metric("test_accuracy", pipeline.score(X_test, y_test))

    # A parameter is written once: logging "data.seed" again with another value would raise
    # MlflowException ("Changing param values is not allowed"). Values are stored as strings.

print(f"Logged run {run.info.run_id} in experiment tutorial-parameters; see it with `mlflow ui`.")
