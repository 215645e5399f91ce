"""Runs made without this project: plain MLflow calls in the style of MLflow's own examples.

Each function logs one run into the current store and returns its id. The data is tiny (a
slice of iris or diabetes) so that the models cost little; what matters is what MLflow records.
The pip requirements are named (``pip_requirements=``, a documented option) so that MLflow does
not infer them in a subprocess, seconds per model; autolog still infers its own.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import Any
from unittest import mock

IRIS_ROWS = slice(0, 150, 3)  # 50 rows, all three classes
DIABETES_ROWS = slice(0, 80)


def requirements() -> list[str]:
    import sklearn

    return [f"scikit-learn=={sklearn.__version__}"]


def iris() -> tuple[Any, Any]:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True, as_frame=True)
    return X.iloc[IRIS_ROWS].reset_index(drop=True), y.iloc[IRIS_ROWS].reset_index(drop=True)


def diabetes() -> tuple[Any, Any]:
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True, as_frame=True)
    return X.iloc[DIABETES_ROWS], y.iloc[DIABETES_ROWS]


def logged_like_the_examples() -> str:
    """``mlflow.sklearn.log_model(model, name="model", signature=..., input_example=...)``."""
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    X, y = iris()
    mlflow.set_experiment("plain-iris")
    with mlflow.start_run() as run:
        params = {"C": 0.5, "max_iter": 300}
        model = LogisticRegression(**params).fit(X, y)
        mlflow.log_params(params)
        mlflow.log_metric("accuracy", model.score(X, y))
        signature = infer_signature(X, model.predict(X))
        mlflow.sklearn.log_model(
            model,
            name="model",
            signature=signature,
            input_example=X[:3],
            pip_requirements=requirements(),
        )
    return str(run.info.run_id)


def autologged() -> str:
    """``mlflow.sklearn.autolog()`` and a ``fit``: autolog logs params, metrics and a model."""
    import mlflow
    from sklearn.linear_model import LogisticRegression

    X, y = iris()
    mlflow.set_experiment("plain-iris")
    mlflow.sklearn.autolog()
    try:
        # Autolog's training metrics call log_loss(y_pred=...), which scikit-learn 1.9 renamed
        # (FutureWarning); autolog saves with cloudpickle and says so (a logged warning only).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            with mlflow.start_run() as run:
                LogisticRegression(max_iter=300).fit(X, y)
    finally:
        mlflow.sklearn.autolog(disable=True)
    return str(run.info.run_id)


def regression() -> str:
    """A regressor whose run names its metrics freely (rmse, r2) and declares no task."""
    import mlflow
    import numpy as np
    from sklearn.linear_model import LinearRegression

    X, y = diabetes()
    mlflow.set_experiment("plain-diabetes")
    with mlflow.start_run() as run:
        model = LinearRegression().fit(X, y)
        error = model.predict(X) - y
        mlflow.log_metrics({"rmse": float(np.sqrt((error**2).mean())), "r2": model.score(X, y)})
        mlflow.sklearn.log_model(
            model, name="model", input_example=X[:3], pip_requirements=requirements()
        )
    return str(run.info.run_id)


def two_models() -> str:
    """One run that logged two models ("first", then "second")."""
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    X, y = iris()
    mlflow.set_experiment("plain-iris")
    with mlflow.start_run() as run:
        for name, strength in (("first", 1.0), ("second", 0.1)):
            model = LogisticRegression(C=strength, max_iter=300).fit(X, y)
            signature = infer_signature(X, model.predict(X))
            mlflow.sklearn.log_model(
                model, name=name, signature=signature, pip_requirements=requirements()
            )
    return str(run.info.run_id)


def deleted() -> str:
    """A finished run, then deleted (``mlflow runs delete``): soft-deleted, still in the store."""
    import mlflow

    mlflow.set_experiment("plain-diabetes")
    with mlflow.start_run() as run:
        mlflow.log_metric("rmse", 50.0)
    mlflow.MlflowClient().delete_run(run.info.run_id)
    return str(run.info.run_id)


def pending_model() -> str:
    """A LoggedModel created and never finished (``initialize_logged_model``): PENDING."""
    import mlflow

    mlflow.set_experiment("plain-iris")
    with mlflow.start_run() as run:
        mlflow.initialize_logged_model(name="half-written")
    return str(run.info.run_id)


def failed_model() -> str:
    """``log_model`` interrupted by an error inside the save: the LoggedModel ends FAILED."""
    import mlflow
    from sklearn.linear_model import LogisticRegression

    X, y = iris()
    mlflow.set_experiment("plain-iris")
    model = LogisticRegression(max_iter=300).fit(X, y)
    disk_full = OSError(28, "No space left on device")
    with (
        mlflow.start_run() as run,
        mock.patch.object(mlflow.sklearn, "save_model", side_effect=disk_full),
        contextlib.suppress(OSError),  # the run goes on, as a script that catches it would
    ):
        mlflow.sklearn.log_model(model, name="model", pip_requirements=requirements())
    return str(run.info.run_id)


def model_without_mlmodel() -> str:
    """A model logged completely, then its MLmodel file deleted from the artifact folder."""
    import mlflow
    from sklearn.linear_model import LogisticRegression

    X, y = iris()
    mlflow.set_experiment("plain-iris")
    with mlflow.start_run() as run:
        model = LogisticRegression(max_iter=300).fit(X, y)
        info = mlflow.sklearn.log_model(model, name="model", pip_requirements=requirements())
    location = mlflow.MlflowClient().get_logged_model(info.model_id).artifact_location
    (Path(location.removeprefix("file://")) / "MLmodel").unlink()
    return str(run.info.run_id)


MAKERS = {
    "example": logged_like_the_examples,
    "autolog": autologged,
    "regression": regression,
    "two_models": two_models,
    "deleted": deleted,
    "pending": pending_model,
    "failed": failed_model,
    "no_mlmodel": model_without_mlmodel,
}
