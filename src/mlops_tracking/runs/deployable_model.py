"""The deployable model, logged with MLflow's models-from-code: this file *is* the model code.

MLflow copies this file into the logged model and executes it at load time, so it must stay
self-contained (no imports from ``mlops_tracking``): a served model needs only its pinned
requirements. It bundles the fitted pipeline (preprocessing and estimator, saved with skops),
the same pipeline as an ONNX graph when the conversion is faithful, the label names, the
categories the encoder learned, and ``core/model_input.py``: the rules that type raw input
by the signature, check their values (non-finite, far outside the training range recorded
in ``metadata.json``, missing) and put them in training form, which ``predict`` and the
promotion gate run too. It returns labels with class probabilities (or predicted values for
regression), never a NaN: a non-finite output is refused as a bad request.

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

ENGINES = ("onnx", "sklearn")


class TabularModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
    """Labels and class probabilities (or values) for rows of the training table's columns.

    With categorical columns, each output row also names the columns whose value the encoder
    never saw in training (``unseen_categories``, empty when none): scikit-learn scores such a
    value as "none of the known categories" without a word, so the answer says it.
    """

    def load_context(self, context: Any) -> None:
        import skops.io

        metadata = json.loads(Path(context.artifacts["metadata"]).read_text(encoding="utf-8"))
        # column -> float | integer | boolean | text | date | datetime; booleans were trained as
        # text categories; dates go to the pipeline as sent (its first step reads them)
        self.kinds: dict[str, str] = metadata["column_kinds"]
        self.types: dict[str, str] = metadata["input_types"]  # column -> signature type
        # column -> the encoder's categories_, read from the fitted pipeline when it was logged
        self.categories: dict[str, list[str]] = metadata["categories"]
        self.labels: list[str] = metadata["labels"]
        self.engine: str = metadata.get("engine", "sklearn")
        self.rules = load_input_rules(context.artifacts["model_input"])
        # numeric column -> [min, max] in training; absent from models logged before it was
        # recorded, which skip the range rule
        self.ranges: dict[str, list[float]] = metadata.get("ranges", {})
        self.ignored_columns: list[str] = metadata.get("ignored_columns", [])
        self.configure()
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

    def configure(
        self, range_tolerance: float = 10.0, missing_values: str = "impute_and_report"
    ) -> None:
        """Set the input policy (``serving`` in params.yaml); loading sets the defaults."""
        self.missing_values = missing_values
        self.bounds = self.rules.accepted_bounds(self.ranges, range_tolerance)

    def prepare(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, list[int]]]:
        """The training columns in order, typed, checked, in training form; what is imputed.

        A value the rules refuse (``check_values``: non-finite, far outside the training
        range, missing under the refuse policy) is a bad request (HTTP 400).
        """
        try:
            typed = self.rules.coerce_rows(frame, self.types)
            imputed = self.rules.check_values(
                typed, self.types, self.bounds, self.missing_values, self.ranges
            )
        except self.rules.InputError as error:  # a bad request (HTTP 400), not a model failure
            raise _bad_request(f"input {error}") from None
        features: pd.DataFrame = self.rules.training_form(typed, self.types)
        return features, imputed

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
            raise _bad_request(f"params.engine must be one of {available}, not {engine!r}")
        features, imputed = self.prepare(model_input)
        output = self.score(features, engine)
        if self.categories:
            flags = self.rules.unseen_categories(features, self.categories)
            output[self.rules.UNSEEN_COLUMN] = self.rules.unseen_by_row(flags)
        if imputed:  # say which missing values the pipeline filled in, row by row
            output[self.rules.IMPUTED_COLUMN] = self.rules.imputed_by_row(imputed, len(output))
        return output

    def score(self, features: pd.DataFrame, engine: str) -> pd.DataFrame:
        if engine == "onnx":
            outputs = self.session.run(None, self.feed(features))
            if not self.labels:
                values = refuse_non_finite(np.asarray(outputs[0], "float64").ravel())
                return pd.DataFrame({"prediction": values})
            # float32 probabilities can leave [0, 1] by ~1e-7 and rows sum to 1 ± 1e-7
            proba = np.clip(np.asarray(outputs[1], dtype="float64"), 0.0, 1.0)
            proba /= proba.sum(axis=1, keepdims=True)
        elif not self.labels:
            values = refuse_non_finite(np.asarray(self.pipeline.predict(features), "float64"))
            return pd.DataFrame({"prediction": values})
        else:
            proba = np.asarray(self.pipeline.predict_proba(features))
        refuse_non_finite(proba)
        output = pd.DataFrame(proba, columns=[f"proba_{label}" for label in self.labels])
        output.insert(0, "label", [self.labels[i] for i in proba.argmax(axis=1)])
        return output


def _bad_request(message: str) -> Exception:
    """An error MLflow's scoring server answers with HTTP 400 and no stack trace."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def refuse_non_finite(values: np.ndarray) -> np.ndarray:
    """Never answer a NaN or infinite probability or value: refuse the row instead (400)."""
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise _bad_request(
            f"input row {row + 1} made the model answer a non-finite value; the row is "
            "refused rather than answered with NaN"
        )
    return values


def load_input_rules(path: str) -> Any:
    """The ``model_input`` module shipped with this model (``core/model_input.py`` at logging).

    Loaded under a name derived from its content, so models logged by different versions of
    the project keep their own rules in one process, and identical copies are loaded once.
    """
    import hashlib
    import importlib.util
    import sys

    name = "_mlops_model_input_" + hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


mlflow.models.set_model(TabularModel())
