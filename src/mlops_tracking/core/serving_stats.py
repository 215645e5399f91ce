"""Request figures of a model server: what one worker saw in a window, merged and summarised.

A scoring worker (``registry/request_log.py``) counts every ``POST /invocations`` into a
``Window``: its status, its latency inside the server (from the first byte of the request
to the answer, the guard's checks and the model included), the rows it scored, and a uniform
sample of those rows and their predictions for the drift check. Every few seconds it writes the
window down as one JSON line and starts a new one. The process that serves
(``monitoring/serving_run.py``) merges the lines of every worker into one window per flush,
keeps running totals in ``Totals``, and logs ``figures`` as the monitoring run's metrics.

Names are grouped by ``serving/`` so the MLflow UI charts them together. Latency percentiles
are exact over the window's requests (nearest rank on the sorted latencies), and over the
server's life from a uniform sample of ``LIFETIME_SAMPLE`` latencies.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

PREFIX = "serving/"
QUANTILES = (50, 95, 99)
LIFETIME_SAMPLE = 100_000  # latencies kept for the whole-life percentiles


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile of ``values`` (NaN when there are none)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Window:
    """One worker's requests since it last wrote them down (or several workers', merged)."""

    requests: int = 0
    statuses: dict[str, int] = field(default_factory=dict)  # "200" -> count
    rows: int = 0  # rows answered with 200
    latencies_ms: list[float] = field(default_factory=list)
    sample: list[dict[str, Any]] = field(default_factory=list)  # scored rows (a uniform sample)
    predictions: list[Any] = field(default_factory=list)  # the sample's predictions, in order
    offered: int = 0  # scored rows the sample was drawn from

    def add(self, status: int, latency_ms: float) -> None:
        self.requests += 1
        key = str(status)
        self.statuses[key] = self.statuses.get(key, 0) + 1
        self.latencies_ms.append(latency_ms)

    def add_scored(
        self,
        count: int,
        rows: Sequence[dict[str, Any]],
        predictions: Sequence[Any] | None,
        cap: int,
        draw: random.Random,
    ) -> None:
        """Count ``count`` rows as scored; keep ``rows`` (named cells, when the request had
        them) and their predictions in the sample (reservoir sampling)."""
        self.rows += count
        if cap <= 0 or not rows or predictions is None or len(predictions) != len(rows):
            return
        for row, prediction in zip(rows, predictions, strict=True):
            self.offered += 1
            if len(self.sample) < cap:
                self.sample.append(row)
                self.predictions.append(prediction)
                continue
            slot = draw.randrange(self.offered)
            if slot < cap:
                self.sample[slot], self.predictions[slot] = row, prediction

    @property
    def errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if not status.startswith("2"))

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "statuses": self.statuses,
            "rows": self.rows,
            "latencies_ms": [round(value, 4) for value in self.latencies_ms],
            "sample": self.sample,
            "predictions": self.predictions,
            "offered": self.offered,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Window:
        return cls(
            requests=int(data["requests"]),
            statuses={str(k): int(v) for k, v in dict(data["statuses"]).items()},
            rows=int(data["rows"]),
            latencies_ms=[float(value) for value in data["latencies_ms"]],
            sample=list(data.get("sample", [])),
            predictions=list(data.get("predictions", [])),
            offered=int(data.get("offered", 0)),
        )


def merged(windows: Iterable[Window], cap: int, draw: random.Random) -> Window:
    """One window of several: counts add up; the samples are drawn again down to ``cap``."""
    total = Window()
    pairs: list[tuple[dict[str, Any], Any]] = []
    for window in windows:
        total.requests += window.requests
        total.rows += window.rows
        total.offered += window.offered
        total.latencies_ms += window.latencies_ms
        for status, count in window.statuses.items():
            total.statuses[status] = total.statuses.get(status, 0) + count
        pairs += zip(window.sample, window.predictions, strict=True)
    if len(pairs) > cap:
        pairs = draw.sample(pairs, cap)
    total.sample = [row for row, _ in pairs]
    total.predictions = [prediction for _, prediction in pairs]
    return total


@dataclass
class Totals:
    """Running totals over a server's life, and a sample of its latencies."""

    requests: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    rows: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    seen: int = 0  # latencies the sample was drawn from

    def add(self, window: Window, draw: random.Random) -> None:
        self.requests += window.requests
        self.rows += window.rows
        for status, count in window.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + count
        for latency in window.latencies_ms:
            self.seen += 1
            if len(self.latencies_ms) < LIFETIME_SAMPLE:
                self.latencies_ms.append(latency)
            elif (slot := draw.randrange(self.seen)) < LIFETIME_SAMPLE:
                self.latencies_ms[slot] = latency

    @property
    def errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if not status.startswith("2"))


def window_figures(window: Window, seconds: float) -> dict[str, float]:
    """The metrics of one flush window (logged at its step)."""
    figures = {
        f"{PREFIX}requests": float(window.requests),
        f"{PREFIX}errors": float(window.errors),
        f"{PREFIX}rows_scored": float(window.rows),
        f"{PREFIX}requests_per_second": window.requests / seconds if seconds > 0 else 0.0,
    }
    if window.latencies_ms:
        for q in QUANTILES:
            figures[f"{PREFIX}latency_p{q}_ms"] = percentile(window.latencies_ms, q)
    return figures


def total_figures(totals: Totals) -> dict[str, float]:
    """The running totals (logged at every step) and the whole-life latency percentiles."""
    figures = {
        f"{PREFIX}requests_total": float(totals.requests),
        f"{PREFIX}errors_total": float(totals.errors),
        f"{PREFIX}rows_scored_total": float(totals.rows),
        **{
            f"{PREFIX}status_{status}_total": float(count)
            for status, count in sorted(totals.statuses.items())
        },
    }
    if totals.latencies_ms:
        for q in QUANTILES:
            figures[f"{PREFIX}latency_p{q}_ms_total"] = percentile(totals.latencies_ms, q)
    return figures


def summary_tags(totals: Totals) -> dict[str, str]:
    """What a registered version's tags say of its latest serving figures (``models NAME``)."""
    tags = {
        "monitoring.requests": str(totals.requests),
        "monitoring.errors": str(totals.errors),
    }
    if totals.latencies_ms:
        tags["monitoring.latency_p50_ms"] = f"{percentile(totals.latencies_ms, 50):.2f}"
        tags["monitoring.latency_p95_ms"] = f"{percentile(totals.latencies_ms, 95):.2f}"
    return tags
