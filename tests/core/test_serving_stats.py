"""Request figures: windows add up, merge, sample and summarise as a server's metrics."""

from __future__ import annotations

import math
import random

from mlops_tracking.core.serving_stats import (
    Totals,
    Window,
    merged,
    percentile,
    summary_tags,
    total_figures,
    window_figures,
)


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1 … 100
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile(values, 99) == 99.0
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))


def test_a_window_counts_statuses_rows_and_samples_uniformly() -> None:
    window, draw = Window(), random.Random(1)
    for number in range(1000):
        window.add(200, 1.0)
        window.add_scored(1, [{"x": number}], [number % 2], cap=100, draw=draw)
    window.add(400, 0.5)
    window.add(415, 0.2)
    assert (window.requests, window.errors, window.rows) == (1002, 2, 1000)
    assert window.statuses == {"200": 1000, "400": 1, "415": 1}
    assert len(window.sample) == len(window.predictions) == 100
    assert all(p == row["x"] % 2 for row, p in zip(window.sample, window.predictions, strict=True))
    # a reservoir, not the first 100: later rows are in it
    assert max(row["x"] for row in window.sample) > 500
    assert Window.from_json(window.to_json()) == window


def test_rows_without_named_cells_or_predictions_are_counted_but_not_sampled() -> None:
    window = Window()
    window.add_scored(5, [], None, cap=10, draw=random.Random(0))  # a tensor request
    window.add_scored(2, [{"a": 1}, {"a": 2}], [1], cap=10, draw=random.Random(0))
    assert window.rows == 7 and window.sample == []


def test_workers_merge_into_one_window_and_totals_run_on() -> None:
    first, second = Window(), Window()
    for latency in (1.0, 2.0, 3.0):
        first.add(200, latency)
    second.add(200, 10.0)
    second.add(500, 20.0)
    draw = random.Random(0)
    for window in (first, second):
        window.add_scored(1, [{"a": 1}], ["x"], cap=5, draw=draw)
    both = merged([first, second], cap=1, draw=draw)
    assert both.requests == 5 and both.statuses == {"200": 4, "500": 1}
    assert sorted(both.latencies_ms) == [1.0, 2.0, 3.0, 10.0, 20.0]
    assert len(both.sample) == 1  # drawn again down to the cap
    figures = window_figures(both, seconds=2.0)
    assert figures["serving/requests"] == 5 and figures["serving/errors"] == 1
    assert figures["serving/requests_per_second"] == 2.5
    assert figures["serving/latency_p50_ms"] == 3.0
    assert figures["serving/latency_p99_ms"] == 20.0
    totals = Totals()
    totals.add(both, draw)
    totals.add(first, draw)
    shown = total_figures(totals)
    assert shown["serving/requests_total"] == 8
    assert shown["serving/status_200_total"] == 7 and shown["serving/status_500_total"] == 1
    assert shown["serving/errors_total"] == 1
    assert summary_tags(totals)["monitoring.requests"] == "8"


def test_an_empty_window_has_counts_but_no_latency() -> None:
    figures = window_figures(Window(), seconds=30.0)
    assert figures["serving/requests"] == 0
    assert not any("latency" in key for key in figures)
