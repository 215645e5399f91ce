"""Inputs and outputs: log the training and test data as datasets, and the test predictions."""

import mlflow
import mlflow.data
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

# One table: 30 numeric feature columns and the label column "target".
data = load_breast_cancer(as_frame=True)
frame = data.frame.assign(target=data.target_names[data.target])  # "malignant" / "benign"
train, test = train_test_split(frame, test_size=0.25, random_state=42, stratify=frame["target"])

mlflow.set_experiment("tutorial-inputs-and-outputs")

with mlflow.start_run(run_name="inputs-and-outputs") as run:
    # A dataset carries a name, a digest (a hash of the content), a source, a schema and a
    # profile (row count). The context says what the run used it for.
    train_data = mlflow.data.from_pandas(train, name="breast_cancer-train", targets="target")
    test_data = mlflow.data.from_pandas(test, name="breast_cancer-test", targets="target")
    mlflow.log_input(train_data, context="training")
    mlflow.log_input(test_data, context="testing")

    features = [column for column in frame.columns if column != "target"]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(train[features], train["target"])

    # Inference outputs: one row per test example, logged as a table (.json or .parquet).
    predictions = test[["target"]].rename(columns={"target": "truth"})
    predictions["prediction"] = model.predict(test[features])
    benign = list(model.classes_).index("benign")
    predictions["proba_benign"] = model.predict_proba(test[features])[:, benign]
    predictions.insert(0, "id", test.index)
    mlflow.log_table(predictions, "predictions/test_predictions.json")
    accuracy = float((predictions["truth"] == predictions["prediction"]).mean())
    mlflow.log_metric("test_accuracy", accuracy)

print(
    f"run {run.info.run_id}: {len(train)} training rows, {len(test)} test rows, "
    f"test_accuracy {accuracy:.3f}; open `mlflow ui` and the run's Overview"
)
