"""Promotion decisions as values: the gate, the audit trail's entries, alias history, lifecycle.

Pure functions of numbers and records; ``release`` gathers the evidence (evaluations read from
the registry) and the registry's shell writes the outcome.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from mlops_tracking.core.errors import ConfigError

# What a version's `lifecycle` tag says, from the aliases it holds and has held.
REGISTERED, ARCHIVED = "registered", "archived"


@dataclass(frozen=True)
class Gate:
    """The outcome of comparing a candidate with the alias's current holder."""

    passed: bool
    explanation: str
    metric: str
    goal: str
    margin: float
    candidate_value: float | None = None
    holder_value: float | None = None
    baseline_value: float | None = None  # the trivial baseline's score on the same split


@dataclass(frozen=True)
class TrailEntry:
    """One decision about an alias, as appended to the registered model's audit trail."""

    at: str  # ISO 8601, UTC
    action: str  # promote, force, rollback
    alias: str
    version: str  # the candidate (promote) or the restored version (rollback)
    previous: str | None  # who held the alias before the decision
    decision: str  # promoted, rejected, rolled_back
    by: str  # the git author (or OS user) who ran the command
    reason: str = ""
    metric: str = ""
    candidate_value: float | None = None
    holder_value: float | None = None
    margin: float | None = None
    dataset_digest: str = ""
    details: dict[str, str] = field(default_factory=dict)
    baseline_value: float | None = None
    # the user the tracking server authenticated (basic-auth); None on a local store, and in
    # entries written before it was recorded
    user: str | None = None

    @property
    def moved(self) -> bool:
        """Whether this decision moved the alias."""
        return self.decision in {"promoted", "rolled_back"}

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TrailEntry:
        data: dict[str, Any] = json.loads(text)
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)


def gate_metric(configured: str, task: str) -> str:
    """The gate's metric name (without a split prefix); ``auto`` is log_loss or rmse."""
    from mlops_tracking.core.evaluation import METRIC_NAMES

    metric = configured.removeprefix("test_").removeprefix("validation_")
    if metric == "auto":
        return "rmse" if task == "regression" else "log_loss"
    if metric not in METRIC_NAMES[task]:
        raise ConfigError(
            f"registry.metric '{configured}' is not a {task} metric; choose one of "
            f"{', '.join(METRIC_NAMES[task])}"
        )
    return metric


def decide(
    metric: str, candidate: float, holder: float | None, margin: float, holder_version: str = ""
) -> Gate:
    """Pass when there is no holder, or the candidate beats the holder by at least ``margin``."""
    from mlops_tracking.core.evaluation import metric_goal

    goal = metric_goal(metric)
    if not np.isfinite(candidate):
        return Gate(False, f"the candidate's {metric} is {candidate}", metric, goal, margin)
    if holder is None:
        explanation = f"first holder of the alias: {metric} = {candidate:.6g} on its own evaluation"
        return Gate(True, explanation, metric, goal, margin, candidate, None)
    if not np.isfinite(holder):
        explanation = (
            f"version {holder_version} cannot be scored ({metric} = {holder}); the candidate's "
            f"{metric} = {candidate:.6g} replaces it"
        )
        return Gate(True, explanation, metric, goal, margin, candidate, holder)
    gain = candidate - holder if goal == "maximize" else holder - candidate
    better = "higher" if goal == "maximize" else "lower"
    passed = bool(gain >= margin)
    verdict = "passes" if passed else "fails"
    explanation = (
        f"{verdict}: {metric} {candidate:.6g} vs {holder:.6g} for version {holder_version} "
        f"({better} is better; improvement {gain:+.6g}, required ≥ {margin:g})"
    )
    return Gate(passed, explanation, metric, goal, margin, candidate, holder)


def check_baseline(metric: str, candidate: float, baseline: float, margin: float) -> Gate | None:
    """A failed gate when the candidate does not beat the trivial baseline, else ``None``.

    Beating means strictly better (a tie with knowing nothing is no model); ``margin`` applies
    to the holder, not here. A candidate that cannot be scored is left to ``decide``.
    """
    from mlops_tracking.core.baseline import improvement
    from mlops_tracking.core.evaluation import metric_goal

    gain = improvement(metric, candidate, baseline)
    if not np.isfinite(candidate) or gain > 0:
        return None
    goal = metric_goal(metric)
    better = "higher" if goal == "maximize" else "lower"
    explanation = (
        f"fails: {metric} {candidate:.6g} does not beat the trivial baseline's {baseline:.6g} "
        f"on the same split ({better} is better; improvement {gain:+.6g}, required > 0)"
    )
    return Gate(False, explanation, metric, goal, margin, candidate, None, baseline)


def with_baseline(gate: Gate, baseline: float) -> Gate:
    """``gate`` with the baseline it was checked against, in its value and its explanation."""
    explanation = f"{gate.explanation}; the trivial baseline scores {baseline:.6g}"
    return replace(gate, explanation=explanation, baseline_value=baseline)


def holders(entries: list[TrailEntry], alias: str) -> list[str]:
    """The alias's holders, oldest first, replayed from the trail (a rollback pops one)."""
    stack: list[str] = []
    for entry in entries:
        if entry.alias != alias or not entry.moved:
            continue
        if entry.action == "rollback":
            if stack:
                stack.pop()
            if not stack or stack[-1] != entry.version:
                stack.append(entry.version)
        else:
            stack.append(entry.version)
    return stack


def lifecycle(held: list[str], order: list[str], ever_held: bool) -> str:
    """The version's ``lifecycle`` tag: the most senior alias it holds, else archived/registered.

    ``order`` lists the configured aliases from junior to senior (staging, production).
    """
    for alias in reversed(order):
        if alias in held:
            return alias
    return ARCHIVED if ever_held else REGISTERED


def proba_matrix(outputs: pd.DataFrame, labels: tuple[str, ...]) -> np.ndarray:
    """The class probabilities of a deployable model's output, in ``labels`` order."""
    columns = [f"proba_{label}" for label in labels]
    missing = [column for column in columns if column not in outputs.columns]
    if missing:
        raise ValueError(f"model output lacks {', '.join(missing)}: it was trained on other labels")
    return outputs.loc[:, columns].to_numpy(dtype=float)
