"""The model zoo: a family name maps to an estimator factory and a learning-history strategy.

Every family trains as a ``Pipeline(preprocess, model)`` so that what is logged is what serves.
A factory takes the family's hyperparameters, the seed, whether the task is classification and
the run's thread count (``core/threads.py``); only the random forest has a worker count of its
own, the other families' threads are OpenMP and BLAS pools, which the run limits around them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from mlops_tracking.core.config import ModelConfig
from mlops_tracking.core.errors import ConfigError

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

HistoryStrategy = Literal["epochs", "boosting", "trees", "training_size"]


@dataclass(frozen=True)
class ModelFamily:
    """How to build one family of estimators and how its learning history is traced."""

    name: str
    classification: bool
    regression: bool
    history: HistoryStrategy
    build: Callable[[dict[str, Any], int, bool, int], Any]
    summary: str
    scale_invariant: bool = False  # trees split on thresholds: scaling cannot change them

    def supports(self, task: str) -> bool:
        return self.regression if task == "regression" else self.classification


def _logistic_regression(
    params: dict[str, Any], seed: int, classification: bool, threads: int
) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(**params, random_state=seed)


def _ridge(params: dict[str, Any], seed: int, classification: bool, threads: int) -> Any:
    from sklearn.linear_model import Ridge

    return Ridge(**params, random_state=seed)


def _random_forest(params: dict[str, Any], seed: int, classification: bool, threads: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    cls = RandomForestClassifier if classification else RandomForestRegressor
    settings = dict(params)
    n_jobs = settings.pop("n_jobs")  # set explicitly, it overrides model.threads
    return cls(**settings, n_jobs=threads if n_jobs is None else n_jobs, random_state=seed)


def _hist_gradient_boosting(
    params: dict[str, Any], seed: int, classification: bool, threads: int
) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    cls = HistGradientBoostingClassifier if classification else HistGradientBoostingRegressor
    # Our own validation split drives the history, so sklearn's internal split is switched off.
    return cls(**params, early_stopping=False, random_state=seed)


def _mlp(params: dict[str, Any], seed: int, classification: bool, threads: int) -> Any:
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    cls = MLPClassifier if classification else MLPRegressor
    settings = dict(params)
    # The epoch loop in training.py uses partial_fit and applies `patience` on its own
    # early-stopping slice; max_iter is set to the epoch budget so the logged estimator params
    # tell the truth.
    max_epochs = settings.pop("max_epochs")
    settings.pop("patience")
    settings.pop("early_stopping_fraction")
    layers = tuple(settings.pop("hidden_layer_sizes"))
    return cls(**settings, hidden_layer_sizes=layers, max_iter=max_epochs, random_state=seed)


FAMILIES: dict[str, ModelFamily] = {
    family.name: family
    for family in (
        ModelFamily(
            name="logistic_regression",
            classification=True,
            regression=False,
            history="training_size",
            build=_logistic_regression,
            summary="L2-regularised logistic regression (lbfgs)",
        ),
        ModelFamily(
            name="ridge",
            classification=False,
            regression=True,
            history="training_size",
            build=_ridge,
            summary="L2-regularised linear regression",
        ),
        ModelFamily(
            name="random_forest",
            classification=True,
            regression=True,
            history="trees",
            build=_random_forest,
            summary="bagged decision trees",
            scale_invariant=True,
        ),
        ModelFamily(
            name="hist_gradient_boosting",
            classification=True,
            regression=True,
            history="boosting",
            build=_hist_gradient_boosting,
            summary="histogram-based gradient boosting",
            scale_invariant=True,
        ),
        ModelFamily(
            name="mlp",
            classification=True,
            regression=True,
            history="epochs",
            build=_mlp,
            summary="multi-layer perceptron trained with Adam",
        ),
    )
}


def family_for(name: str, task: str) -> ModelFamily:
    """Return the family ``name``; raise ``ConfigError`` if it cannot do ``task``."""
    family = FAMILIES.get(name)
    if family is None:
        raise ConfigError(f"unknown model '{name}'; choose one of: {', '.join(FAMILIES)}.")
    if not family.supports(task):
        suitable = [f.name for f in FAMILIES.values() if f.supports(task)]
        raise ConfigError(
            f"model.name={name} cannot do {task}; choose one of: {', '.join(suitable)}."
        )
    return family


def build_model(config: ModelConfig, task: str, name: str | None = None, threads: int = 1) -> Any:
    """Build the unfitted estimator of the selected (or named) family for ``task``.

    ``threads`` is the run's resolved thread count (``core/threads.resolve_threads``).
    """
    family = family_for(name or config.name, task)
    params = config.hyperparameters(family.name)
    return family.build(params, config.seed, task != "regression", threads)


def build_pipeline(preprocessor: Any, estimator: Any) -> Pipeline:
    from sklearn.pipeline import Pipeline

    return Pipeline([("preprocess", preprocessor), ("model", estimator)])


def estimator_params(pipeline: Pipeline) -> dict[str, Any]:
    """Every hyperparameter of the final estimator, including sklearn's defaults."""
    estimator = pipeline[-1]
    return {
        key: value for key, value in estimator.get_params(deep=False).items() if not callable(value)
    }


def summarize_model(pipeline: Pipeline, serialized_bytes: int) -> dict[str, Any]:
    """Describe structure, size and hyperparameters of a fitted pipeline as JSON data."""
    estimator = pipeline[-1]
    summary: dict[str, Any] = {
        "estimator": f"{type(estimator).__module__}.{type(estimator).__name__}",
        "steps": _describe_steps(pipeline),
        "n_features_in": int(getattr(pipeline, "n_features_in_", 0)),
        "feature_names_in": [str(n) for n in getattr(pipeline, "feature_names_in_", [])],
        "n_features_after_preprocessing": int(getattr(estimator, "n_features_in_", 0)),
        "hyperparameters": {k: _json_value(v) for k, v in estimator_params(pipeline).items()},
        "serialized_size_bytes": serialized_bytes,
    }
    summary.update(_capacity(estimator))
    return summary


def _describe_steps(pipeline: Pipeline) -> list[dict[str, str]]:
    from mlops_tracking.core.features import walk_steps

    return [{"name": name, "class": type(step).__name__} for name, step in walk_steps(pipeline)]


def _capacity(estimator: Any) -> dict[str, Any]:
    """Count what the model learned: coefficients, weights or tree nodes."""
    if hasattr(estimator, "coefs_"):  # MLP
        weights = sum(w.size for w in estimator.coefs_) + sum(b.size for b in estimator.intercepts_)
        return {
            "n_parameters": int(weights),
            "layers": [w.shape[0] for w in estimator.coefs_] + [estimator.coefs_[-1].shape[1]],
        }
    if hasattr(estimator, "coef_"):
        return {
            "n_parameters": int(estimator.coef_.size + getattr(estimator.intercept_, "size", 1))
        }
    if hasattr(estimator, "estimators_"):  # forests
        nodes = sum(tree.tree_.node_count for tree in estimator.estimators_)
        return {"n_trees": len(estimator.estimators_), "n_tree_nodes": int(nodes)}
    if hasattr(estimator, "_predictors"):  # histogram gradient boosting
        nodes = sum(p.nodes.size for stage in estimator._predictors for p in stage)
        return {"n_iterations": int(estimator.n_iter_), "n_tree_nodes": int(nodes)}
    return {}


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, tuple | list):
        return [_json_value(v) for v in value]
    return str(value)
