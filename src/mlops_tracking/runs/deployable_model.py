"""The deployable model, logged with MLflow's models-from-code: this file *is* the model code.

MLflow copies this file into the logged model and executes it at load time, so it must stay
self-contained (no imports from ``mlops_tracking``): a served model needs only its pinned
requirements. It bundles the fitted pipeline (preprocessing and estimator, saved with skops),
the same pipeline as an ONNX graph when the conversion is faithful, and the label names. It
normalises raw input the way training data was normalised and returns labels with class
probabilities (or predicted values for regression).

Two engines answer the same rows: ``onnx`` (onnxruntime, about a thousand times faster on one
row than scikit-learn's tree ensembles) and ``sklearn``. Training picks ``onnx`` only when it gave
scikit-learn's labels on every test row; a request may choose with ``params={"engine": ...}``.

Not imported by the package: the ``set_model`` call at the bottom is how MLflow finds the model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

MISSING_CATEGORY = "missing"  # the spelling mlops_tracking.core.dataset uses for missing categories
ENGINES = ("onnx", "sklearn")
NOT_NUMERIC = {"text", "boolean", "date", "datetime"}


class TabularModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
    """Labels and class probabilities (or values) for rows of the training table's columns."""

    def load_context(self, context: Any) -> None:
        import skops.io

        metadata = json.loads(Path(context.artifacts["metadata"]).read_text(encoding="utf-8"))
        # column -> float | integer | boolean | text | date | datetime; booleans were trained as
        # text categories; dates go to the pipeline as sent (its first step reads them)
        self.kinds: dict[str, str] = metadata["column_kinds"]
        self.labels: list[str] = metadata["labels"]
        self.engine: str = metadata.get("engine", "sklearn")
        self.numeric = [c for c, kind in self.kinds.items() if kind not in NOT_NUMERIC]
        self.pipeline = skops.io.load(
            context.artifacts["pipeline"], trusted=metadata["trusted_types"]
        )
        self.session: Any = None
        self.onnx_inputs: list[str] = metadata.get("onnx_inputs", [])
        if "onnx" in context.artifacts:
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = 1  # one row needs no thread pool; many requests do
            self.session = onnxruntime.InferenceSession(
                context.artifacts["onnx"], options, providers=["CPUExecutionProvider"]
            )

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Select the training columns in order; numbers as float64, categories as text, dates
        as sent."""
        missing = [column for column in self.kinds if column not in frame.columns]
        if missing:
            raise ValueError(f"input is missing column(s): {', '.join(missing)}")
        # One conversion for all numeric columns: per-column pandas calls cost ~0.1 ms each,
        # which dominates a single-row request.
        numbers = frame[self.numeric].to_numpy(dtype="float64") if self.numeric else None
        prepared: dict[str, Any] = {}
        for column, kind in self.kinds.items():
            if kind in {"date", "datetime"}:
                prepared[column] = frame[column].to_numpy()
            elif kind in {"text", "boolean"}:
                values = frame[column]
                text = values.astype(object).where(values.notna(), MISSING_CATEGORY)
                prepared[column] = text.astype(str).astype(object).to_numpy()
            else:
                assert numbers is not None
                prepared[column] = numbers[:, self.numeric.index(column)]
        return pd.DataFrame(prepared, index=frame.index)

    def feed(self, features: pd.DataFrame) -> dict[str, np.ndarray]:
        """The onnxruntime inputs: one float matrix, or one column each when there is text."""
        if len(self.onnx_inputs) == 1:
            return {self.onnx_inputs[0]: features.to_numpy(dtype=np.float32)}
        feed = {}
        for column, name in zip(self.kinds, self.onnx_inputs, strict=True):
            values = features[column].to_numpy().reshape(-1, 1)
            numeric = self.kinds[column] not in {"text", "boolean"}
            feed[name] = values.astype(np.float32) if numeric else values.astype(str)
        return feed

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        engine = (params or {}).get("engine") or self.engine
        if engine not in ENGINES or (engine == "onnx" and self.session is None):
            available = [name for name in ENGINES if name != "onnx" or self.session is not None]
            raise ValueError(f"engine must be one of {available}, got {engine!r}")
        features = self.prepare(model_input)
        if engine == "onnx":
            outputs = self.session.run(None, self.feed(features))
            if not self.labels:
                return pd.DataFrame({"prediction": np.asarray(outputs[0], "float64").ravel()})
            # float32 probabilities can leave [0, 1] by ~1e-7 and rows sum to 1 ± 1e-7
            proba = np.clip(np.asarray(outputs[1], dtype="float64"), 0.0, 1.0)
            proba /= proba.sum(axis=1, keepdims=True)
        elif not self.labels:
            return pd.DataFrame({"prediction": self.pipeline.predict(features)})
        else:
            proba = np.asarray(self.pipeline.predict_proba(features))
        output = pd.DataFrame(proba, columns=[f"proba_{label}" for label in self.labels])
        output.insert(0, "label", [self.labels[i] for i in proba.argmax(axis=1)])
        return output


mlflow.models.set_model(TabularModel())
