"""Preprocessing and feature engineering as scikit-learn transformers.

The transformer becomes the first step of the model pipeline, so every logged model format
(skops, pickle, ONNX, pyfunc) carries it and serving needs no separate preprocessing code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops_tracking.config import FeaturesConfig

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline


def build_preprocessor(
    config: FeaturesConfig,
    numeric: list[str],
    categorical: list[str],
    classification: bool,
) -> Pipeline:
    """Return an unfitted transformer: impute, scale, encode, expand, then select.

    With only numeric columns the transformer works on the whole matrix, which keeps the ONNX
    export a single float tensor input; categorical columns need a ``ColumnTransformer``.
    """
    from sklearn.pipeline import Pipeline

    steps: list[tuple[str, Any]] = []
    numeric_steps = _numeric_steps(config)
    if categorical:
        steps.append(("columns", _column_transformer(config, numeric, categorical, numeric_steps)))
    else:
        steps.extend(numeric_steps)
    if config.polynomial.degree > 1:
        from sklearn.preprocessing import PolynomialFeatures

        steps.append(
            (
                "polynomial",
                PolynomialFeatures(
                    degree=config.polynomial.degree,
                    interaction_only=config.polynomial.interaction_only,
                    include_bias=False,
                ),
            )
        )
    if config.selection.method == "kbest":
        steps.append(
            (
                "select",
                _select_k_best(config.selection.k, len(numeric) + len(categorical), classification),
            )
        )
    if not steps:
        steps.append(("identity", "passthrough"))
    return Pipeline(steps)


def _numeric_steps(config: FeaturesConfig) -> list[tuple[str, Any]]:
    from sklearn.impute import SimpleImputer

    steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy=config.imputation))]
    if config.scaling != "none":
        steps.append(("scale", _scaler(config.scaling)))
    return steps


def _scaler(kind: str) -> Any:
    from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

    return {"standard": StandardScaler, "minmax": MinMaxScaler, "robust": RobustScaler}[kind]()


def _column_transformer(
    config: FeaturesConfig,
    numeric: list[str],
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
    if numeric:
        transformers.insert(0, ("numeric", Pipeline(numeric_steps), numeric))
    return ColumnTransformer(transformers, verbose_feature_names_out=False)


def _select_k_best(k: int, n_columns: int, classification: bool) -> Any:
    from sklearn.feature_selection import SelectKBest, f_classif, f_regression

    # k may exceed the column count of a small dataset (wine has 13); keep every column then.
    score = f_classif if classification else f_regression
    return SelectKBest(score_func=score, k=min(k, n_columns))


def effective_selection_k(config: FeaturesConfig, n_columns: int) -> int | None:
    """The number of features ``kbest`` keeps for a table of ``n_columns`` (None: no selection)."""
    if config.selection.method != "kbest":
        return None
    return min(config.selection.k, n_columns)


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
        if hasattr(step, "get_support"):
            entry["selected"] = _to_list(step.get_feature_names_out())
        if len(entry) > 1:
            state[name] = entry
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
