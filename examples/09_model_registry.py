"""Model registry: versions of a named model, aliases for its stages, a deployment status."""

import mlflow
from mlflow import MlflowClient
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

data = load_breast_cancer(as_frame=True)
X, y = data.data, data.target_names[data.target]  # labels "malignant" / "benign"
NAME = "tutorial-breast-cancer"  # the registered model: one name, many versions
client = MlflowClient()

mlflow.set_experiment("tutorial-model-registry")

# Two trainings, each registered as a new version of NAME (1, 2 on a fresh store).
versions = []
for c in (0.01, 1.0):
    with mlflow.start_run(run_name=f"logistic-C{c}"):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c)).fit(X, y)
        mlflow.log_metric("train_accuracy", model.score(X, y))
        info = mlflow.sklearn.log_model(
            model, name="model", input_example=X.head(3), registered_model_name=NAME
        )
        versions.append(str(info.registered_model_version))
older, newer = versions

# Stages are aliases in MLflow 3: the newer version is tried in staging while the older
# one serves production. Moving an alias is how a version is promoted or rolled back.
client.set_registered_model_alias(NAME, "production", older)
client.set_registered_model_alias(NAME, "staging", newer)

# Where each version is deployed is not an MLflow field: record it as a version tag.
client.set_model_version_tag(NAME, older, "deployment.status", "serving")
client.set_model_version_tag(NAME, newer, "deployment.status", "not deployed")
client.update_model_version(NAME, newer, description="C=1.0; candidate for production.")

# Consumers ask for an alias, never a version number, so promotion needs no code change.
production = client.get_model_version_by_alias(NAME, "production")
loaded = mlflow.sklearn.load_model(f"models:/{NAME}@production")
print(
    f"{NAME}: @production is version {production.version} "
    f"({production.tags['deployment.status']}), @staging is version {newer}; "
    f"first prediction {loaded.predict(X.head(1))[0]}"
)
