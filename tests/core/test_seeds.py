"""Code tests of the seed statistics, against values worked out by hand."""

from __future__ import annotations

import pytest

from mlops_tracking.core.errors import ConfigError
from mlops_tracking.core.seeds import (
    MAX_SEEDS,
    ModelSeeds,
    SeedPlan,
    SeedResult,
    check_seed_count,
    parent_metrics,
    rank_models,
    seed_plan,
    seed_table,
    spread,
    summarise,
    summary_table,
    unmoved_by_seed,
)

# Student's t quantiles t(0.975, df) from a printed table (df 1 and 2)
T_1 = 12.7062047
T_2 = 4.3026527


def test_three_values_have_mean_sample_std_and_a_t_interval() -> None:
    # mean 0.12; squared deviations 0.0004 + 0 + 0.0004 over n - 1 = 2 -> std 0.02
    # half width 4.3026527 * 0.02 / sqrt(3) = 0.0860531 / 1.7320508 = 0.0496828
    result = spread([0.10, 0.12, 0.14])
    assert result.n == 3
    assert result.mean == pytest.approx(0.12)
    assert result.std == pytest.approx(0.02)
    assert result.ci95_low == pytest.approx(0.12 - T_2 * 0.02 / 3**0.5)
    assert result.ci95_low == pytest.approx(0.0703172, abs=1e-7)
    assert result.ci95_high == pytest.approx(0.1696828, abs=1e-7)


def test_two_values_give_the_wide_interval_of_one_degree_of_freedom() -> None:
    # mean 2, std sqrt(2), half width t(0.975, 1) * sqrt(2) / sqrt(2) = 12.7062047
    result = spread([1.0, 3.0])
    assert (result.mean, result.std) == pytest.approx((2.0, 2**0.5))
    assert (result.ci95_low, result.ci95_high) == pytest.approx((2 - T_1, 2 + T_1))


def test_one_value_has_a_mean_and_no_spread_or_interval() -> None:
    result = spread([0.5])
    assert (result.n, result.mean, result.std, result.ci95_low) == (1, 0.5, None, None)
    assert result.statistics() == {"mean": 0.5}


def test_identical_values_have_exactly_no_spread() -> None:
    # 0.1 * 3 / 3 is 0.10000000000000002 in floating point: no rounding noise as a spread
    result = spread([0.1, 0.1, 0.1])
    assert result.statistics() == {"mean": 0.1, "std": 0.0, "ci95_low": 0.1, "ci95_high": 0.1}


def test_no_values_is_a_bug_not_a_spread() -> None:
    with pytest.raises(ValueError, match="at least one value"):
        spread([])


@pytest.mark.parametrize("count", [0, -1, MAX_SEEDS + 1])
def test_a_seed_count_outside_the_range_is_a_config_error(count: int) -> None:
    with pytest.raises(ConfigError, match=f"--seeds must be between 1 and {MAX_SEEDS}"):
        check_seed_count(count)


def test_the_plan_counts_up_from_the_model_seed_and_keeps_the_split() -> None:
    assert seed_plan(42, 7, 3, vary_split=False) == [
        SeedPlan(42, 7),
        SeedPlan(43, 7),
        SeedPlan(44, 7),
    ]
    assert seed_plan(42, 7, 2, vary_split=True) == [SeedPlan(42, 7), SeedPlan(43, 8)]


def _result(model: str, seed: int, loss: float, **extra: float) -> SeedResult:
    metrics = {"validation_log_loss": loss, "test_log_loss": loss + 0.01, **extra}
    return SeedResult(model, SeedPlan(seed, 1), f"{model}-{seed}", metrics)


@pytest.fixture
def summaries() -> list[ModelSeeds]:
    return summarise(
        [
            _result("forest", 42, 0.30, fit_time_seconds=2.0, train_loss=0.1),
            _result("forest", 43, 0.26, fit_time_seconds=4.0, train_loss=0.1),
            _result("linear", 42, 0.25, fit_time_seconds=1.0),
            _result("linear", 43, 0.25),  # no fit time: not summarised for this model
        ]
    )


def test_summaries_keep_the_evaluation_metrics_and_fit_time_each_run_has(
    summaries: list[ModelSeeds],
) -> None:
    forest, linear = summaries
    assert set(forest.spreads) == {"validation_log_loss", "test_log_loss", "fit_time_seconds"}
    assert set(linear.spreads) == {"validation_log_loss", "test_log_loss"}
    assert forest.spreads["fit_time_seconds"].mean == pytest.approx(3.0)
    # values 0.30 and 0.26: mean 0.28, std sqrt(2 * 0.02**2 / 1) = 0.0282843
    assert forest.spreads["validation_log_loss"].mean == pytest.approx(0.28)
    assert forest.spreads["validation_log_loss"].std == pytest.approx(0.0282843, abs=1e-7)


def test_models_rank_by_the_mean_and_name_their_lowest_seed_run(
    summaries: list[ModelSeeds],
) -> None:
    ranked = rank_models(summaries, "validation_log_loss", "minimize")
    assert [s.model for s in ranked] == ["linear", "forest"]  # mean 0.25 beats 0.28
    assert [s.model for s in rank_models(summaries, "validation_log_loss", "maximize")] == [
        "forest",
        "linear",
    ]
    table = summary_table(ranked)
    assert list(table["model"]) == ["linear", "forest"]
    assert list(table["rank"]) == [1, 2]
    assert list(table["run_id"]) == ["linear-42", "forest-42"]
    assert list(table["seeds"]) == ["42,43", "42,43"]
    assert table.loc[1, "validation_log_loss_mean"] == pytest.approx(0.28)
    assert table.loc[0, "validation_log_loss_std"] == pytest.approx(0.0)


def test_parent_metrics_are_grouped_by_model_and_skip_what_is_undefined() -> None:
    summaries = summarise([_result("forest", 42, 0.3), _result("linear", 42, 0.2)])
    assert parent_metrics(summaries) == pytest.approx(
        {
            "forest/validation_log_loss_mean": 0.3,
            "forest/test_log_loss_mean": 0.31,
            "linear/validation_log_loss_mean": 0.2,
            "linear/test_log_loss_mean": 0.21,
        }
    )


def test_the_seed_table_has_one_row_per_run(summaries: list[ModelSeeds]) -> None:
    table = seed_table(summaries)
    assert list(zip(table["model"], table["model_seed"], strict=True)) == [
        ("forest", 42),
        ("forest", 43),
        ("linear", 42),
        ("linear", 43),
    ]
    assert list(table["validation_log_loss"]) == pytest.approx([0.30, 0.26, 0.25, 0.25])


def test_a_model_with_one_score_at_every_seed_is_named_and_one_seed_is_not(
    summaries: list[ModelSeeds],
) -> None:
    assert unmoved_by_seed(summaries, "validation_log_loss") == ["linear"]
    lone = summarise([_result("linear", 42, 0.25)])
    assert unmoved_by_seed(lone, "validation_log_loss") == []
