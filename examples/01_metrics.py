"""Metrics: a loss curve over epochs, final scores, and a metric of your own."""

import mlflow
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

X, y = load_breast_cancer(return_X_y=True)
X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.25, random_state=0)
scaler = StandardScaler().fit(X_train)
X_train, X_val = scaler.transform(X_train), scaler.transform(X_val)

mlflow.set_experiment("tutorial-metrics")
with mlflow.start_run(run_name="sgd-loss-curve") as run:
    model = SGDClassifier(loss="log_loss", alpha=1e-3, random_state=0)
    for epoch in range(20):
        # One pass over the training data per epoch; `classes` is needed on the first call.
        model.partial_fit(X_train, y_train, classes=np.unique(y))
        # `step` puts each value on the x-axis of a chart: without it, every point is step 0.
        mlflow.log_metric("train_loss", log_loss(y_train, model.predict_proba(X_train)), step=epoch)
        mlflow.log_metric("val_loss", log_loss(y_val, model.predict_proba(X_val)), step=epoch)

    # Final scores on the validation split, in one call (one round trip to the store).
    predicted = model.predict(X_val)
    proba = model.predict_proba(X_val)[:, 1]
    mlflow.log_metrics(
        {
            "val_accuracy": accuracy_score(y_val, predicted),
            "val_precision": precision_score(y_val, predicted),
            "val_recall": recall_score(y_val, predicted),
            "val_f1": f1_score(y_val, predicted),
            "val_roc_auc": roc_auc_score(y_val, proba),
        }
    )

    # A custom metric is any number you compute: here the share of malignant tumours (label 0)
    # that the model missed, the error a screening test cares most about.
    malignant = y_val == 0
    mlflow.log_metric("val_missed_malignant_rate", float(np.mean(predicted[malignant] != 0)))

print(f"Logged run {run.info.run_id} in experiment tutorial-metrics; see it with `mlflow ui`.")
