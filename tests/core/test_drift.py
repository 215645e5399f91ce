"""The reference profile and the drift comparison, on tables whose answer is known."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlops_tracking.core.config import MonitoringConfig
from mlops_tracking.core.drift import (
    OTHER,
    build_profile,
    compare,
    drift_tags,
    metric_name,
    psi,
    shifted_copy,
)
from mlops_tracking.core.drift_report import drift_page

SETTINGS = MonitoringConfig()


def _table(rows: int, seed: int) -> pd.DataFrame:
    draw = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "height": draw.normal(170, 10, rows),
            "age": draw.integers(18, 90, rows),
            "colour": draw.choice(["red", "blue", "green"], rows, p=[0.5, 0.3, 0.2]),
        }
    )


KINDS = {"height": "float", "age": "integer", "colour": "text", "when": "date"}


def _profile(rows: int = 2000, seed: int = 0) -> dict:  # type: ignore[type-arg]
    table = _table(rows, seed)
    labels = np.where(table["height"] > 170, "tall", "short")
    return build_profile(table, KINDS, list(labels), SETTINGS.bins)


def test_psi_is_zero_for_equal_shares_and_grows_with_the_shift() -> None:
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0.0
    small, large = psi([0.5, 0.5], [0.45, 0.55]), psi([0.5, 0.5], [0.1, 0.9])
    assert 0 < small < 0.1 < large
    assert np.isfinite(psi([0.5, 0.5, 0.0], [0.4, 0.4, 0.2]))  # an empty bin stays finite


def test_a_profile_is_json_and_leaves_out_dates() -> None:
    table = _table(500, 0).assign(when=pd.Timestamp("2026-01-01"))
    profile = build_profile(table, KINDS, ["a"] * 500, 10)
    assert set(profile["columns"]) == {"height", "age", "colour"}
    assert profile == json.loads(json.dumps(profile))
    height = profile["columns"]["height"]
    assert len(height["edges"]) == 9 and sum(height["shares"]) == pytest.approx(1.0)
    assert profile["columns"]["colour"]["shares"].keys() == {"red", "blue", "green"}
    assert profile["prediction"]["shares"] == {"a": 1.0}


def test_rows_from_the_same_distribution_do_not_drift() -> None:
    fresh = _table(500, seed=1)
    labels = np.where(fresh["height"] > 170, "tall", "short")
    report = compare(_profile(), fresh, list(labels), SETTINGS)
    assert report.judged and report.drifted == [] and report.verdict == "no drift"
    assert max(f.psi for f in report.features) < 0.1
    assert report.prediction is not None and report.prediction.psi < 0.1


def test_one_column_moved_two_standard_deviations_drifts_alone() -> None:
    moved = shifted_copy(_table(500, seed=1), "height", by_std=2.0)
    report = compare(_profile(), moved, None, SETTINGS)
    assert report.drifted == ["height"]
    height = next(f for f in report.features if f.name == "height")
    assert height.psi > 1 and height.ks_pvalue is not None and height.ks_pvalue < 1e-10
    assert height.mean_shift_std == pytest.approx(2.0, abs=0.3)  # moved by the batch's own sd
    assert report.prediction is None


def test_a_category_seen_only_at_scoring_time_is_reported() -> None:
    table = _table(500, seed=1)
    table.loc[:99, "colour"] = "purple"  # 100 of 500 rows: a new category
    report = compare(_profile(), table, None, SETTINGS)
    colour = next(f for f in report.features if f.name == "colour")
    assert colour.unseen == {"purple": 100}
    assert report.unseen == {"colour": {"purple": 100}}
    assert "colour" in report.drifted  # a fifth of the rows in a bucket training never filled
    assert report.metrics()["drift/unseen_rows/colour"] == 100


def test_categories_beyond_the_kept_ones_are_not_called_unseen() -> None:
    many = pd.DataFrame({"code": [f"c{i}" for i in range(200)] * 5})
    profile = build_profile(many, {"code": "text"}, ["a"] * 1000, 10)
    assert profile["columns"]["code"]["other"] > 0  # 150 rare codes share one bucket
    report = compare(profile, many.head(300), None, SETTINGS)
    assert report.unseen == {} and OTHER == "(other)"


def test_a_small_batch_is_not_judged() -> None:
    report = compare(_profile(), shifted_copy(_table(10, 1), "height", 5.0), None, SETTINGS)
    assert not report.judged and report.drifted == [] and report.verdict == "not judged"
    assert drift_tags(report, "r1", "t")["monitoring.drift"] == "not judged"


def test_metrics_and_tags_name_the_drifted_features() -> None:
    table = _table(500, 1).rename(columns={"height": "height (cm)"})
    profile = build_profile(
        _table(2000, 0).rename(columns={"height": "height (cm)"}),
        {"height (cm)": "float"},
        [1] * 2000,
        10,
    )
    report = compare(profile, shifted_copy(table, "height (cm)"), None, SETTINGS)
    metrics = report.metrics()
    assert metric_name("height (cm)") == "height _cm_"
    assert metrics["drift/psi/height _cm_"] > 1 and metrics["drift/features_drifted"] == 1
    tags = drift_tags(report, "run-1", "2026-12-02T00:00:00+00:00")
    assert tags["monitoring.drift"] == "true" and tags["monitoring.drift_features"] == "height (cm)"
    assert tags["monitoring.drift_run_id"] == "run-1"


def test_the_html_page_leads_with_the_verdict_and_escapes_names() -> None:
    table = _table(500, 1).rename(columns={"height": "<b>h</b>"})
    profile = build_profile(
        _table(2000, 0).rename(columns={"height": "<b>h</b>"}),
        {"<b>h</b>": "float"},
        [1] * 2000,
        10,
    )
    report = compare(profile, shifted_copy(table, "<b>h</b>"), None, SETTINGS)
    page = drift_page(report, "Drift of x.csv", {"model": "m version 1"})
    assert "<b>h</b>" not in page and "&lt;b&gt;h&lt;/b&gt;" in page
    assert 'class="verdict drifted"' in page and "m version 1" in page
    assert "<script" not in page and "http" not in page.replace("http-equiv", "")
