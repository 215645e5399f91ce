"""Preprocessing and feature engineering as scikit-learn transformers.

The transformer becomes the first step of the model pipeline, so every logged model format
(skops, pickle, ONNX, pyfunc) carries it and serving needs no separate preprocessing code.
Date columns become calendar features in its first step (``dates.CalendarFeatures``), so a
model takes the raw date.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops_tracking.core.config import FeaturesConfig

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from mlops_tracking.core.dataset import Dataset
    from mlops_tracking.core.dates import CalendarFeatures


def build_preprocessor(
    config: FeaturesConfig,
    numeric: list[str],
    categorical: list[str],
    classification: bool,
    *,
    scale: bool = True,
    dates: CalendarFeatures | None = None,
) -> Pipeline:
    """Return an unfitted transformer: calendar features, impute, scale, encode, expand, select.

    ``dates`` (see ``calendar_features``) replaces the date columns by their calendar parts,
    which are imputed and scaled as numeric columns; which parts a column gives is known only
    once fitted (those that vary), so the numeric columns are then chosen by dtype at fit time.

    With only numeric columns the transformer works on the whole matrix, which keeps the ONNX
    export a single float tensor input; categorical columns need a ``ColumnTransformer``.
    ``scale=False`` skips scaling for scale-invariant models (trees), where it changes nothing in
    scikit-learn but makes the float32 ONNX graph cross split thresholds differently.
    kbest's ``k`` is capped at the raw column count here; ``fit_selection_size`` raises it to
    the configured ``k`` when encoding or polynomial features make the table wider.
    """
    from sklearn.pipeline import Pipeline

    steps: list[tuple[str, Any]] = []
    numeric_columns: list[str] | Any = numeric
    if dates is not None and dates.columns:
        from sklearn.compose import make_column_selector

        steps.append(("dates", dates))
        numeric_columns = make_column_selector(dtype_include="number")
    numeric_steps = _numeric_steps(config, scale)
    if categorical:
        transformer = _column_transformer(config, numeric_columns, categorical, numeric_steps)
        steps.append(("columns", transformer))
    else:
        steps.extend(numeric_steps)
    if config.polynomial.degree > 1:
        from sklearn.preprocessing import PolynomialFeatures

        polynomial = PolynomialFeatures(
            degree=config.polynomial.degree,
            interaction_only=config.polynomial.interaction_only,
            include_bias=False,
        )
        steps.append(("polynomial", polynomial))
    if config.selection.method == "kbest":
        # A first, safe cap: the raw column count never exceeds the encoded width, so sklearn
        # never warns "k is greater than n_features". fit_selection_size refines it.
        k = max(1, min(config.selection.k, len(numeric) + len(categorical)))
        steps.append(("select", _select_k_best(k, classification)))
    return Pipeline(steps)


def calendar_features(dataset: Dataset) -> CalendarFeatures | None:
    """The calendar step for the dataset's date columns (None when it has none)."""
    from mlops_tracking.core.dates import ISO_8601, CalendarFeatures

    columns = dataset.date_columns
    if not columns:
        return None
    formats = dataset.date_formats or {}
    return CalendarFeatures(
        columns=tuple(columns), formats=tuple(formats.get(column, ISO_8601) for column in columns)
    )


def date_params(preprocessor: Pipeline) -> dict[str, str]:
    """Feature-engineering params of the calendar step: its columns and the parts of each."""
    if "dates" not in preprocessor.named_steps:
        return {}
    step = preprocessor.named_steps["dates"]
    return {
        "features.date_columns": ", ".join(step.columns),
        "features.date_parts": "; ".join(
            f"{column}: {', '.join(parts) or 'none (constant)'}"
            for column, parts in step.parts_.items()
        ),
    }


def fit_selection_size(
    preprocessor: Pipeline, config: FeaturesConfig, X: Any, y: Any
) -> int | None:
    """Set kbest's ``k`` to the configured value capped at the width it selects from.

    The width is known only after encoding and polynomial expansion, so the steps before the
    selector are fitted once on ``X`` to measure it. Returns the final ``k`` (None: no selection).
    """
    if "select" not in preprocessor.named_steps:
        return None
    width = int(preprocessor[:-1].fit_transform(X, y).shape[1])
    k = min(config.selection.k, width)
    preprocessor.named_steps["select"].set_params(k=k)
    return k


def _numeric_steps(config: FeaturesConfig, scale: bool) -> list[tuple[str, Any]]:
    from sklearn.impute import SimpleImputer

    steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy=config.imputation))]
    if scale and config.scaling != "none":
        steps.append(("scale", _scaler(config.scaling)))
    return steps


def _scaler(kind: str) -> Any:
    from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

    return {"standard": StandardScaler, "minmax": MinMaxScaler, "robust": RobustScaler}[kind]()


def _column_transformer(
    config: FeaturesConfig,
    numeric: list[str] | Any,  # names, or a selector resolved when fitted
    categorical: list[str],
    numeric_steps: list[tuple[str, Any]],
) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    encoder: Any
    if config.categorical_encoding == "onehot":
        encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    else:
        encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    transformers: list[tuple[str, Any, list[str]]] = [("categorical", encoder, categorical)]
    if not isinstance(numeric, list) or numeric:
        transformers.insert(0, ("numeric", Pipeline(numeric_steps), numeric))
    return ColumnTransformer(transformers, verbose_feature_names_out=False)


def _select_k_best(k: int, classification: bool) -> Any:
    from sklearn.feature_selection import SelectKBest, f_classif, f_regression

    return SelectKBest(score_func=f_classif if classification else f_regression, k=k)


def preprocessing_state(preprocessor: Pipeline) -> dict[str, Any]:
    """Describe the fitted preprocessing as plain JSON data (means, scales, categories, ...)."""
    state: dict[str, Any] = {"output_features": _feature_names_out(preprocessor)}
    for name, step in walk_steps(preprocessor):
        entry: dict[str, Any] = {"class": type(step).__name__}
        for attribute in ("statistics_", "mean_", "scale_", "center_", "data_min_", "data_max_"):
            if hasattr(step, attribute):
                entry[attribute.rstrip("_")] = _to_list(getattr(step, attribute))
        if hasattr(step, "categories_"):
            entry["categories"] = [_to_list(c) for c in step.categories_]
        if name == "dates":
            entry.update(formats=dict(zip(step.columns, step.formats, strict=True)))
            entry.update(parts={column: list(parts) for column, parts in step.parts_.items()})
        if len(entry) > 1:
            state[name] = entry
    if "select" in preprocessor.named_steps:
        # The selector saw a bare array (x0, x1, ...); name its choice by the columns it chose.
        select = preprocessor.named_steps["select"]
        names = _feature_names_out(preprocessor[:-1])
        chosen = list(select.get_support(indices=True))
        state["select"] = {
            "class": type(select).__name__,
            "k": int(select.k),
            "selected": [names[i] for i in chosen] if names else chosen,
        }
    return state


def walk_steps(transformer: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Flatten nested Pipelines and ColumnTransformers into (dotted name, step) pairs."""
    children: list[tuple[str, Any]] = []
    if hasattr(transformer, "steps"):
        children = list(transformer.steps)
    elif hasattr(transformer, "transformers_"):
        children = [(name, step) for name, step, _ in transformer.transformers_]
    if not children:
        return [(prefix.rstrip(".") or type(transformer).__name__, transformer)]
    walked: list[tuple[str, Any]] = []
    for name, step in children:
        if step in ("drop", "passthrough"):
            continue
        walked.extend(walk_steps(step, f"{prefix}{name}."))
    return walked


def _feature_names_out(preprocessor: Pipeline) -> list[str]:
    try:
        return [str(name) for name in preprocessor.get_feature_names_out()]
    except (AttributeError, ValueError):
        return []


def _to_list(values: Any) -> list[Any]:
    return [v.item() if hasattr(v, "item") else v for v in list(values)]


def encoder_categories(pipeline: Pipeline) -> dict[str, list[str]]:
    """The categories the fitted encoder learned, by input column ({} without categories).

    What a deployable model counts unseen values against: the encoder's own ``categories_``,
    in training form (text, missing values spelled ``missing``).
    """
    preprocess = pipeline[0]
    columns = getattr(preprocess, "named_steps", {}).get("columns")
    if columns is None:  # only numeric columns: no ColumnTransformer, no encoder
        return {}
    for name, encoder, names in columns.transformers_:
        if name == "categorical" and hasattr(encoder, "categories_"):
            return {
                str(column): [str(value) for value in known]
                for column, known in zip(names, encoder.categories_, strict=True)
            }
    return {}
