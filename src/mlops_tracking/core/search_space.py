"""What a sweep searches: the ``sweep`` section of ``params.yaml`` and its search spaces.

A search space maps a model family's hyperparameters to a ``Range`` (``low``/``high``, optionally
on a log scale or in steps) or to ``Choices``. Every bound and every choice is checked against
the family's own parameter schema (``core/config.py``) when the configuration loads, so a range
that reaches an invalid value (``n_estimators: {low: 0, ...}``) fails before any run or trial
exists, with the key that is wrong.

``suggest`` draws one trial's values through any object with Optuna's ``suggest_*`` methods;
this module never imports Optuna.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Protocol

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    model_validator,
)

Sampler = Literal["tpe", "random"]
Pruner = Literal["median", "none"]
# Trials whose pruner watches their validation curve: families that learn step by step.
PRUNABLE_HISTORIES = ("epochs", "boosting", "trees")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Range(_Frozen):
    """Numbers from ``low`` to ``high`` (both included); integers when the parameter is one."""

    low: float
    high: float
    log: bool = False  # sample on a log scale (learning rates, regularisation)
    step: float | None = Field(None, gt=0)  # only multiples of step above low

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0 (got {self.low})")
        if self.log and self.step is not None:
            raise ValueError("log and step cannot be combined (Optuna samples one or the other)")
        return self


class Choices(_Frozen):
    """One of a list of values (categories, or layer shapes such as ``[64, 32]``)."""

    choices: tuple[Any, ...] = Field(min_length=1)


def _dimension_kind(value: Any) -> str:
    """``choices`` when the mapping lists them, else a ``range`` (one error message, not two)."""
    if isinstance(value, Mapping):
        return "<choices>" if "choices" in value else "<range>"
    return "<choices>" if isinstance(value, Choices) else "<range>"


Dimension = Annotated[
    Annotated[Range, Tag("<range>")] | Annotated[Choices, Tag("<choices>")],
    Discriminator(_dimension_kind),
]


def _default_space() -> dict[str, dict[str, Dimension]]:
    log = {"log": True}
    return {
        "logistic_regression": {"C": Range(low=1e-3, high=100.0, **log)},
        "ridge": {"alpha": Range(low=1e-3, high=100.0, **log)},
        "random_forest": {
            "n_estimators": Range(low=20, high=300, **log),
            "max_depth": Range(low=2, high=32, **log),
            "min_samples_leaf": Range(low=1, high=20, **log),
            "max_features": Choices(choices=("sqrt", "log2", 0.5)),
        },
        "hist_gradient_boosting": {
            "max_iter": Range(low=20, high=300, **log),
            "learning_rate": Range(low=0.01, high=0.3, **log),
            "max_leaf_nodes": Range(low=8, high=64, **log),
            "l2_regularization": Range(low=1e-6, high=10.0, **log),
        },
        "mlp": {
            "hidden_layer_sizes": Choices(choices=((32,), (64, 32), (128, 64))),
            "alpha": Range(low=1e-6, high=1e-1, **log),
            "learning_rate_init": Range(low=1e-4, high=1e-2, **log),
            "batch_size": Choices(choices=(16, 32, 64)),
        },
    }


class SweepConfig(_Frozen):
    """How ``mlops-tracking sweep`` searches the selected model family's hyperparameters."""

    trials: int = Field(20, ge=1, le=10_000)  # trials per sweep command (--trials)
    workers: int = Field(1, ge=1, le=64)  # worker processes sharing the study (--workers)
    timeout_seconds: float | None = Field(None, gt=0)  # start no trial after this long
    study: str | None = None  # default: <experiment>-<model>; the same name resumes it
    # auto: a journal file beside the local store, PostgreSQL on the team server's database
    storage: str = "auto"
    sampler: Sampler = "tpe"
    seed: int = 42  # the sampler's seed (each worker derives its own from it)
    pruner: Pruner = "median"
    pruner_startup_trials: int = Field(5, ge=0)  # trials that finish before any is pruned
    pruner_warmup_steps: int = Field(5, ge=0)  # steps of a curve before it can be pruned
    retrain_best: bool = True  # train the best trial again as a full, auditable run
    space: dict[str, dict[str, Dimension]] = Field(default_factory=_default_space)


class TrialLike(Protocol):
    """The part of ``optuna.Trial`` that draws values."""

    def suggest_int(
        self, name: str, low: int, high: int, *, step: int = 1, log: bool = False
    ) -> int: ...

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float: ...

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...


def check_space(
    space: Mapping[str, Mapping[str, Dimension]], schemas: Mapping[str, type[BaseModel]]
) -> None:
    """Raise ``ValueError`` naming the key when a space does not fit its family's schema.

    ``schemas`` maps each family to its parameter section class; each bound and choice must be a
    value that section accepts.
    """
    for family, dimensions in space.items():
        schema = schemas.get(family)
        if schema is None:
            raise ValueError(
                f"sweep.space.{family}: unknown model family; choose from {', '.join(schemas)}"
            )
        for name, dimension in dimensions.items():
            key = f"sweep.space.{family}.{name}"
            if name not in schema.model_fields:
                raise ValueError(
                    f"{key}: {family} has no hyperparameter '{name}'; it has "
                    f"{', '.join(schema.model_fields)}"
                )
            if name == "n_jobs":
                raise ValueError(f"{key}: n_jobs sets workers, not what a model learns")
            try:
                values = _probe_values(dimension, is_integer(schema, name))
            except ValueError as error:
                raise ValueError(f"{key}: {error}") from None
            for value in values:
                try:
                    schema.model_validate({name: value})
                except ValidationError as error:
                    reason = error.errors()[0]["msg"]
                    raise ValueError(
                        f"{key}: {value!r} is not valid for {name} ({reason})"
                    ) from None


def is_integer(schema: type[BaseModel], name: str) -> bool:
    """Whether a parameter takes whole numbers only (``int`` or ``int | None``)."""
    annotation = schema.model_fields[name].annotation
    return annotation is int or str(annotation) in {"int | None", "typing.Optional[int]"}


def _probe_values(dimension: Dimension, integer: bool) -> list[Any]:
    if isinstance(dimension, Choices):
        return [_plain(choice) for choice in dimension.choices]
    if integer:
        bounds = [dimension.low, dimension.high] + ([dimension.step] if dimension.step else [])
        fractional = [bound for bound in bounds if not float(bound).is_integer()]
        if fractional:
            raise ValueError(f"takes whole numbers; {fractional[0]} is not one")
        return [int(dimension.low), int(dimension.high)]
    return [dimension.low, dimension.high]


def _plain(value: Any) -> Any:
    """A YAML list choice (a layer shape) as the list the schema expects."""
    return list(value) if isinstance(value, tuple | list) else value


def suggest(
    trial: TrialLike, dimensions: Mapping[str, Dimension], schema: type[BaseModel]
) -> dict[str, Any]:
    """Draw one value for each dimension; the keys are the family's hyperparameter names."""
    values: dict[str, Any] = {}
    for name, dimension in dimensions.items():
        if isinstance(dimension, Choices):
            values[name] = _choice(trial, name, dimension.choices)
        elif is_integer(schema, name):
            step = int(dimension.step) if dimension.step else 1
            values[name] = trial.suggest_int(
                name, int(dimension.low), int(dimension.high), step=step, log=dimension.log
            )
        else:
            values[name] = trial.suggest_float(
                name, dimension.low, dimension.high, step=dimension.step, log=dimension.log
            )
    return values


def _choice(trial: TrialLike, name: str, choices: tuple[Any, ...]) -> Any:
    """Optuna's categorical choices must be None, bool, int, float or str: a list choice (a
    layer shape) is drawn as its JSON text and turned back into a list."""
    if all(choice is None or isinstance(choice, bool | int | float | str) for choice in choices):
        return trial.suggest_categorical(name, list(choices))
    texts = [json.dumps(_plain(choice)) for choice in choices]
    return json.loads(trial.suggest_categorical(name, texts))
