"""Code tests of promotion as values: the gate, the trail's entries, alias history, lifecycle."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from mlops_tracking.core.errors import ConfigError
from mlops_tracking.core.promotion import (
    TrailEntry,
    decide,
    gate_metric,
    holders,
    lifecycle,
    proba_matrix,
)

# --- the gate --------------------------------------------------------------------------------

# metric, holder's value, a better candidate, a worse candidate
LOWER_IS_BETTER = ("log_loss", 0.30, 0.25, 0.35)
HIGHER_IS_BETTER = ("roc_auc", 0.90, 0.95, 0.85)
BOTH_GOALS = pytest.mark.parametrize(
    ("metric", "holder", "better", "worse"),
    [LOWER_IS_BETTER, HIGHER_IS_BETTER],
    ids=["minimised", "maximised"],
)


@BOTH_GOALS
def test_a_candidate_better_than_the_holder_passes(
    metric: str, holder: float, better: float, worse: float
) -> None:
    gate = decide(metric, better, holder, margin=0.0, holder_version="4")

    assert gate.passed
    assert gate.explanation.startswith("passes:")


@BOTH_GOALS
def test_a_candidate_worse_than_the_holder_fails(
    metric: str, holder: float, better: float, worse: float
) -> None:
    gate = decide(metric, worse, holder, margin=0.0, holder_version="4")

    assert not gate.passed
    assert gate.explanation.startswith("fails:")


@pytest.mark.parametrize(("metric", "goal"), [("log_loss", "minimize"), ("roc_auc", "maximize")])
def test_the_gate_records_the_metrics_goal(metric: str, goal: str) -> None:
    assert decide(metric, 0.5, 0.5, 0.0, "1").goal == goal


@BOTH_GOALS
def test_a_tie_passes_without_a_margin(
    metric: str, holder: float, better: float, worse: float
) -> None:
    assert decide(metric, holder, holder, margin=0.0, holder_version="4").passed


@BOTH_GOALS
def test_a_tie_fails_when_a_margin_is_required(
    metric: str, holder: float, better: float, worse: float
) -> None:
    assert not decide(metric, holder, holder, margin=0.001, holder_version="4").passed


@pytest.mark.parametrize(
    ("metric", "candidate", "holder", "passed"),
    [
        ("log_loss", 0.29, 0.30, False),  # 0.01 lower, 0.02 required
        ("log_loss", 0.27, 0.30, True),  # 0.03 lower
        ("roc_auc", 0.91, 0.90, False),  # 0.01 higher, 0.02 required
        ("roc_auc", 0.93, 0.90, True),  # 0.03 higher
    ],
)
def test_an_improvement_must_reach_the_margin(
    metric: str, candidate: float, holder: float, passed: bool
) -> None:
    assert decide(metric, candidate, holder, margin=0.02, holder_version="4").passed is passed


@BOTH_GOALS
def test_the_first_holder_of_an_alias_passes_whatever_its_score(
    metric: str, holder: float, better: float, worse: float
) -> None:
    gate = decide(metric, worse, None, margin=0.5)

    assert gate.passed
    assert gate.holder_value is None
    assert gate.explanation.startswith(f"first holder of the alias: {metric} = {worse:g}")


@pytest.mark.parametrize("holder", [0.30, None], ids=["with-holder", "first-holder"])
@pytest.mark.parametrize("candidate", [float("nan"), float("inf")])
def test_a_candidate_without_a_finite_score_fails(candidate: float, holder: float | None) -> None:
    gate = decide("log_loss", candidate, holder, margin=0.0, holder_version="4")

    assert not gate.passed
    assert gate.explanation == f"the candidate's log_loss is {candidate}"


def test_the_explanation_names_both_values_the_holder_and_the_direction() -> None:
    minimised = decide("log_loss", 0.35, 0.3, margin=0.01, holder_version="7").explanation
    maximised = decide("roc_auc", 0.95, 0.9, margin=0.0, holder_version="12").explanation

    assert minimised == (
        "fails: log_loss 0.35 vs 0.3 for version 7 "
        "(lower is better; improvement -0.05, required ≥ 0.01)"
    )
    assert maximised == (
        "passes: roc_auc 0.95 vs 0.9 for version 12 "
        "(higher is better; improvement +0.05, required ≥ 0)"
    )


# --- the gate's metric -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "metric"), [("binary", "log_loss"), ("multiclass", "log_loss"), ("regression", "rmse")]
)
def test_auto_gates_on_the_tasks_loss(task: str, metric: str) -> None:
    assert gate_metric("auto", task) == metric


@pytest.mark.parametrize(
    ("configured", "task", "metric"),
    [
        ("test_roc_auc", "binary", "roc_auc"),
        ("validation_f1_macro", "multiclass", "f1_macro"),
        ("test_rmse", "regression", "rmse"),
        ("r2", "regression", "r2"),
    ],
)
def test_a_split_prefix_is_stripped_from_the_gate_metric(
    configured: str, task: str, metric: str
) -> None:
    assert gate_metric(configured, task) == metric


@pytest.mark.parametrize(
    ("configured", "task", "valid"),
    [
        ("roc_auc", "regression", "rmse, mae, r2, mape, within_10pct"),
        ("test_rmse", "binary", "accuracy, balanced_accuracy, log_loss, "),
        ("validation_auc", "multiclass", "f1_weighted, roc_auc_ovr"),
    ],
)
def test_a_metric_the_task_does_not_have_is_a_config_error_listing_the_valid_ones(
    configured: str, task: str, valid: str
) -> None:
    message = f"registry.metric '{configured}' is not a {task} metric; choose one of "
    with pytest.raises(ConfigError, match=re.escape(message) + ".*" + re.escape(valid)):
        gate_metric(configured, task)


# --- the audit trail -------------------------------------------------------------------------

MOVED = {"promote": "promoted", "force": "promoted", "rollback": "rolled_back"}


def _entry(
    action: str, version: str, alias: str = "production", decision: str | None = None
) -> TrailEntry:
    return TrailEntry(
        at="2025-01-01T00:00:00+00:00",
        action=action,
        alias=alias,
        version=version,
        previous=None,
        decision=decision or MOVED[action],
        by="ana",
    )


def test_holders_replays_promotions_and_a_rollback_pops_one() -> None:
    trail = [
        _entry("promote", "1"),
        _entry("promote", "2"),
        _entry("promote", "3"),
        _entry("rollback", "2"),
        _entry("promote", "4"),
    ]

    assert holders(trail, "production") == ["1", "2", "4"]


def test_successive_rollbacks_walk_back_through_the_holders() -> None:
    trail = [
        *(_entry("promote", v) for v in "123"),
        _entry("rollback", "2"),
        _entry("rollback", "1"),
    ]

    assert holders(trail, "production") == ["1"]


def test_a_forced_promotion_counts_as_a_holder() -> None:
    assert holders([_entry("promote", "1"), _entry("force", "5")], "production") == ["1", "5"]


def test_a_rollback_without_recorded_history_leaves_the_restored_version() -> None:
    assert holders([_entry("rollback", "3")], "production") == ["3"]


def test_an_alias_never_promoted_has_no_holders() -> None:
    assert holders([_entry("promote", "1", alias="staging")], "production") == []


@pytest.mark.parametrize(
    "noise",
    [
        _entry("promote", "9", decision="rejected"),
        _entry("force", "9", alias="staging"),
        _entry("rollback", "9", alias="staging"),
        _entry("deploy", "9", decision="serving"),
        _entry("deploy", "9", decision="stopped"),
        _entry("deploy", "9", decision="failed"),
    ],
    ids=["rejected", "other-alias", "other-alias-rollback", "serving", "stopped", "failed"],
)
def test_holders_ignores_entries_that_did_not_move_the_alias(noise: TrailEntry) -> None:
    trail = [_entry("promote", "1"), noise, _entry("promote", "2")]

    assert holders(trail, "production") == ["1", "2"]


@pytest.mark.parametrize(
    ("decision", "moved"),
    [("promoted", True), ("rolled_back", True), ("rejected", False), ("serving", False)],
)
def test_an_entry_moved_the_alias_only_when_promoted_or_rolled_back(
    decision: str, moved: bool
) -> None:
    assert _entry("promote", "1", decision=decision).moved is moved


def test_a_trail_entry_survives_a_json_round_trip() -> None:
    entry = TrailEntry(
        at="2025-03-04T05:06:07+00:00",
        action="promote",
        alias="production",
        version="3",
        previous="2",
        decision="promoted",
        by="ana",
        reason="passes: log_loss 0.25 vs 0.3 for version 2",
        metric="log_loss",
        candidate_value=0.25,
        holder_value=0.3,
        margin=0.01,
        dataset_digest="0f9e8d7c",
        details={"ticket": "ML-42"},
    )

    assert TrailEntry.from_json(entry.to_json()) == entry


def test_reading_an_entry_ignores_unknown_keys_and_defaults_missing_ones() -> None:
    written = {
        "at": "2025-03-04T05:06:07+00:00",
        "action": "rollback",
        "alias": "production",
        "version": "2",
        "previous": "3",
        "decision": "rolled_back",
        "by": "ana",
        "written_by_a_newer_release": {"anything": 1},
    }

    entry = TrailEntry.from_json(json.dumps(written))

    assert entry == TrailEntry(
        at="2025-03-04T05:06:07+00:00",
        action="rollback",
        alias="production",
        version="2",
        previous="3",
        decision="rolled_back",
        by="ana",
    )
    assert (entry.reason, entry.metric, entry.margin, entry.details) == ("", "", None, {})


# --- lifecycle -------------------------------------------------------------------------------

ORDER = ["staging", "production"]  # junior to senior


@pytest.mark.parametrize(
    ("held", "ever_held", "tag"),
    [
        (["staging", "production"], True, "production"),
        (["production", "staging"], True, "production"),
        (["staging"], True, "staging"),
        (["production"], True, "production"),
        ([], True, "archived"),
        ([], False, "registered"),
        (["shadow"], False, "registered"),  # an alias outside the configured ones
    ],
)
def test_lifecycle_is_the_most_senior_alias_held(
    held: list[str], ever_held: bool, tag: str
) -> None:
    assert lifecycle(held, ORDER, ever_held) == tag


def test_seniority_comes_from_the_configured_order_not_the_names() -> None:
    assert lifecycle(["staging", "production"], ["production", "staging"], True) == "staging"


# --- probabilities from a deployable model's output -----------------------------------------


def test_proba_matrix_orders_columns_by_the_labels() -> None:
    outputs = pd.DataFrame(
        {"label": ["yes", "no"], "proba_yes": [0.7, 0.2], "proba_no": [0.3, 0.8], "extra": [1, 2]}
    )

    matrix = proba_matrix(outputs, ("no", "yes"))

    assert matrix.dtype == np.float64
    np.testing.assert_array_equal(matrix, [[0.3, 0.7], [0.8, 0.2]])


def test_proba_matrix_names_the_missing_label_columns() -> None:
    outputs = pd.DataFrame({"label": ["a"], "proba_a": [1.0]})

    with pytest.raises(
        ValueError, match="model output lacks proba_b, proba_c: it was trained on other labels"
    ):
        proba_matrix(outputs, ("a", "b", "c"))
