"""Models: one classifier logged four ways (skops, pickle, ONNX, custom pyfunc), then loaded."""

from importlib.metadata import version

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from onnxruntime import InferenceSession
from skl2onnx import to_onnx
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

X, y = load_breast_cancer(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X_train, y_train)


class Screening(mlflow.pyfunc.PythonModel):
    """A custom model: the pipeline plus a business rule, returning named columns."""

    def __init__(self, pipeline, threshold):
        self.pipeline, self.threshold = pipeline, threshold

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        malignant = self.pipeline.predict_proba(model_input)[:, 0]  # class 0 is malignant
        label = np.where(malignant >= self.threshold, "malignant", "benign")
        return pd.DataFrame({"label": label, "proba_malignant": malignant})


# What loading the models needs, pinned: without it MLflow infers the list for every model by
# loading it in a subprocess, which takes seconds each.
packages = ["mlflow", "numpy", "pandas", "scikit-learn", "skops", "cloudpickle", "onnx"]
pins = [f"{package}=={version(package)}" for package in [*packages, "onnxruntime"]]

mlflow.set_experiment("tutorial-models")
with mlflow.start_run(run_name="logistic-regression-4-formats") as run:
    example = X_train.head(3)  # stored with each model; its columns are the model's input
    signature = infer_signature(example, pipeline.predict(example))
    sklearn_args = {"signature": signature, "input_example": example, "pip_requirements": pins}
    models = {}
    # MLflow 3: `name=` (not artifact_path=); scikit-learn models are saved with skops.
    models["sklearn"] = mlflow.sklearn.log_model(pipeline, name="lr-sklearn", **sklearn_args)
    # The same model pickled, for tools that expect it. Unpickling runs code: trust the store.
    models["pickle"] = mlflow.sklearn.log_model(
        pipeline, name="lr-pickle", serialization_format="cloudpickle", **sklearn_args
    )
    # ONNX runs in onnxruntime from any language; zipmap=False returns plain arrays. Its flavor
    # infers no signature, so run the graph once and describe what goes in and comes out.
    numbers = X_train.to_numpy(np.float32)[:3]
    graph = to_onnx(pipeline, numbers[:1], options={"zipmap": False})
    label, proba = InferenceSession(graph.SerializeToString()).run(None, {"X": numbers})
    models["onnx"] = mlflow.onnx.log_model(
        graph,
        name="lr-onnx",
        signature=infer_signature(numbers, {"label": label, "probabilities": proba}),
        input_example=numbers,
        pip_requirements=pins,
        onnx_execution_providers=["CPUExecutionProvider"],
    )
    # A custom model: its signature comes from the type hints of predict and the example.
    models["pyfunc"] = mlflow.pyfunc.log_model(
        name="lr-pyfunc",
        python_model=Screening(pipeline, threshold=0.3),
        input_example=example,
        pip_requirements=pins,
    )

    # Metrics can belong to a model and to the data they were computed on (MLflow 3).
    test_frame = X_test.assign(target=y_test.astype(float))  # MLflow warns on integer columns
    test_data = mlflow.data.from_pandas(test_frame, name="breast_cancer-test", targets="target")
    mlflow.log_input(test_data, context="testing")
    accuracy = pipeline.score(X_test, y_test)
    mlflow.log_metric(
        "test_accuracy", accuracy, model_id=models["sklearn"].model_id, dataset=test_data
    )

# Load each one back by its models:/m-... URI, as any other program would, and predict.
answers = {}
for fmt, info in models.items():
    loaded = mlflow.pyfunc.load_model(info.model_uri)
    rows = X_test.head(2).to_numpy(np.float32) if fmt == "onnx" else X_test.head(2)
    answers[fmt] = loaded.predict(rows)
labels = list(answers["pyfunc"]["label"])
print(f"Run {run.info.run_id}: 4 models logged and reloaded; the custom one says {labels}.")
