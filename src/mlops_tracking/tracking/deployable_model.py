"""The deployable model, logged with MLflow's models-from-code: this file *is* the model code.

MLflow copies this file into the logged model and executes it at load time, so it must stay
self-contained (no imports from ``mlops_tracking``): a served model needs only its pinned
requirements. It bundles the fitted pipeline (preprocessing and estimator, saved with skops) and
the label names, normalises raw input the way training data was normalised, and returns labels
with class probabilities (or predicted values for regression).

Not imported by the package: the ``set_model`` call at the bottom is how MLflow finds the model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

MISSING_CATEGORY = "missing"  # the spelling mlops_tracking.data uses for missing categories


class TabularModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
    """Labels and class probabilities (or values) for rows of the training table's columns."""

    def load_context(self, context: Any) -> None:
        import skops.io

        metadata = json.loads(Path(context.artifacts["metadata"]).read_text(encoding="utf-8"))
        # column -> float | integer | boolean | text; booleans were trained as text categories
        self.kinds: dict[str, str] = metadata["column_kinds"]
        self.labels: list[str] = metadata["labels"]
        self.pipeline = skops.io.load(
            context.artifacts["pipeline"], trusted=metadata["trusted_types"]
        )

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Select the training columns in order; numbers as float64, categories as text."""
        missing = [column for column in self.kinds if column not in frame.columns]
        if missing:
            raise ValueError(f"input is missing column(s): {', '.join(missing)}")
        prepared = {}
        for column, kind in self.kinds.items():
            values = frame[column]
            if kind in {"text", "boolean"}:
                text = values.astype(object).where(values.notna(), MISSING_CATEGORY)
                prepared[column] = text.astype(str).astype(object)
            else:
                prepared[column] = pd.to_numeric(values, errors="raise").astype("float64")
        return pd.DataFrame(prepared, index=frame.index)

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        features = self.prepare(model_input)
        if not self.labels:
            return pd.DataFrame({"prediction": self.pipeline.predict(features)})
        proba = np.asarray(self.pipeline.predict_proba(features))
        output = pd.DataFrame(proba, columns=[f"proba_{label}" for label in self.labels])
        output.insert(0, "label", [self.labels[i] for i in proba.argmax(axis=1)])
        return output


mlflow.models.set_model(TabularModel())
