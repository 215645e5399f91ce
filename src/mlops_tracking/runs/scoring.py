"""Score rows with a logged deployable model, in process, typed by the model's own input rules.

``predict``, the promotion gate and ``reproduce`` all score through ``score_rows``: the rows take
the types the model's rules apply (``core/model_input.py``, which the model runs itself when
served), so a held-out split in training form, a CSV and a JSON request are read alike.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def load_deployable(uri: str) -> Any:
    """The pyfunc at ``uri`` (a checked local copy, or ``models:/...``), loaded once per store
    and process, with pickle deserialisation refused unless the user allowed it.

    Registered versions are checked first (``runs/integrity.py``) and loaded from the checked
    copy; MLflow refuses the pickle and skops flavors of a model logged with plain MLflow calls
    while ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION`` is not ``true``, which is an ``IntegrityError``.
    """
    from mlflow import get_tracking_uri
    from mlflow.exceptions import MlflowException

    from mlops_tracking.runs.integrity import PICKLE_VARIABLE, IntegrityError, pickle_refused
    from mlops_tracking.runs.lifecycle import forget_active_model

    try:
        with pickle_refused():
            model = _loaded(get_tracking_uri(), uri)
    except MlflowException as error:
        if PICKLE_VARIABLE not in str(error):
            raise
        raise IntegrityError(
            "this model is a serialised object (pickle, cloudpickle or skops), and loading it "
            "runs whatever code the file holds; predict, serve, the gate and reproduce refuse "
            f"that by default. If you trust the store, set {PICKLE_VARIABLE}=true"
        ) from None
    forget_active_model()  # loading made it the process-wide active model
    return model


@functools.lru_cache(maxsize=8)
def _loaded(store: str, uri: str) -> Any:
    """Keyed by store too: the same name and version in another store is another model."""
    import mlflow

    return mlflow.pyfunc.load_model(uri)


def input_types(model: Any) -> dict[str, str]:
    """The column types a loaded deployable model's input rules apply, in signature order.

    Recorded with the model; for a model logged before they were, read from its signature
    (nothing for a signature without column names: such rows go to the model as they are).
    """
    from mlflow.exceptions import MlflowException

    try:
        recorded = getattr(model.unwrap_python_model(), "types", None)
    except MlflowException:  # not a Python model: a model registered from a run of another tool
        recorded = None
    if recorded:
        return dict(recorded)
    schema = model.metadata.get_input_schema()
    if schema is None or not schema.has_input_names():
        return {}
    return {spec.name: getattr(spec.type, "name", "any") for spec in schema.inputs}


def recorded_categories(model: Any) -> dict[str, list[str]] | None:
    """The categories the model's encoder learned, as recorded when it was logged.

    None for a model logged before they were recorded (it cannot tell unseen ones).
    """
    from mlflow.exceptions import MlflowException

    try:
        categories: dict[str, list[str]] | None = getattr(
            model.unwrap_python_model(), "categories", None
        )
    except MlflowException:  # not a Python model
        return None
    return categories


def score_rows(
    model: Any, rows: pd.DataFrame, origin: str, engine: str | None = None
) -> pd.DataFrame:
    """The model's outputs for ``rows`` (raw or training form), typed by its rules first.

    A value that cannot take its column's type is a ``DataError`` naming ``origin``.
    """
    from mlops_tracking.core.rows import check_rows

    types = input_types(model)
    typed = _dates_as_text(check_rows(rows, types, origin), types) if types else rows
    params = {"engine": engine} if engine else None
    return _as_frame(model.predict(typed, params=params))


def _dates_as_text(rows: pd.DataFrame, types: dict[str, str]) -> pd.DataFrame:
    """Date columns held as ``datetime64`` (a rebuilt split) as ISO 8601 text.

    The date rule passes ``datetime64`` through for the pipeline, but the deployable model's
    signature declares date columns ``string`` (as a CSV spells them), and MLflow's schema
    enforcement refuses ``datetime64`` there ("Can not safely convert datetime64 to <U0")
    before the model sees the rows. The calendar step reads ISO 8601 as well as its format.
    """
    import pandas as pd

    from mlops_tracking.core.model_input import coerce_rows

    dates = [
        column
        for column, kind in types.items()
        if kind == "date" and pd.api.types.is_datetime64_any_dtype(rows[column])
    ]
    if not dates:
        return rows
    spelled = rows.copy()
    spelled[dates] = coerce_rows(rows[dates], dict.fromkeys(dates, "string"))
    return spelled


def _as_frame(outputs: Any) -> pd.DataFrame:
    """Outputs as a table: the deployable pyfunc answers one; a model logged with plain MLflow
    calls (e.g. the sklearn flavor) answers an array or a Series, one column per output."""
    import numpy as np
    import pandas as pd

    if isinstance(outputs, pd.DataFrame):
        return outputs
    if isinstance(outputs, pd.Series):
        return outputs.to_frame("prediction").reset_index(drop=True)
    array = np.asarray(outputs)
    if array.ndim <= 1:
        return pd.DataFrame({"prediction": array.reshape(-1)})
    return pd.DataFrame(array.reshape(len(array), -1)).add_prefix("output_")
