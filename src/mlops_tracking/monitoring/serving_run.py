"""The monitoring run of one server's life: its request figures, flushed while it serves.

``serve`` (``registry/serving.py``) opens one run per start in the experiment
``NAME-monitoring``, tagged with the registered version it serves and the version's source
run (``mlops.run_type=serving``). Every ``monitoring.flush_seconds`` a thread reads what the
scoring workers wrote down (``registry/request_log.py``: one JSON line per worker and window),
merges the lines into one window and logs, at step 0, 1, 2 …:

* the window: ``serving/requests``, ``serving/errors``, ``serving/rows_scored``,
  ``serving/requests_per_second`` and ``serving/latency_p50_ms`` (p95, p99);
* the running totals: ``serving/requests_total``, ``serving/errors_total``,
  ``serving/status_<code>_total``, ``serving/rows_scored_total`` and whole-life latency
  percentiles (``serving/latency_p50_ms_total`` …);
* the drift of the window's sample of scored rows against the training run's reference
  profile (``drift/…`` at the same step, the latest window's HTML page), once the sample
  holds ``monitoring.min_rows`` rows;
* the run's heartbeat (``mlops.heartbeat``), so a server killed with SIGKILL leaves a run the
  reaper ends KILLED rather than one RUNNING forever.

``on_figures`` hands the totals to the caller, which writes them on the version
(``monitoring.requests``, ``monitoring.latency_p50_ms`` …) for ``models NAME``. The last flush
comes after the server has stopped, so it holds every answered request; then the run ends
FINISHED, or FAILED when the server died on its own.

One run per start, not one per version: a version served twice (or on two machines at once)
has two runs, each with its own figures, and the version's tags name the latest.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_tracking.core.liveness import HEARTBEAT_TAG, liveness_tags, now, stamp
from mlops_tracking.core.serving_stats import (
    Totals,
    Window,
    merged,
    summary_tags,
    total_figures,
    window_figures,
)
from mlops_tracking.monitoring.drift import log_drift, reference_profile

if TYPE_CHECKING:
    from mlops_tracking.core.config import MonitoringConfig
    from mlops_tracking.core.drift import DriftReport

RUN_TYPE = "serving"


def monitoring_experiment(model_name: str) -> str:
    return f"{model_name}-monitoring"


@dataclass(frozen=True)
class Served:
    """What a monitoring run is about: the version, where it answers, who started it."""

    name: str
    version: str
    source_run_id: str
    model_uri: str
    endpoint: str
    engine: str
    workers: int
    by: str


@dataclass
class _Reader:
    """New complete lines of every worker's log since the last read."""

    directory: Path
    offsets: dict[Path, int] = field(default_factory=dict)

    def windows(self) -> list[Window]:
        windows = []
        for path in sorted(self.directory.glob("worker-*.jsonl")):
            start = self.offsets.get(path, 0)
            with path.open("rb") as handle:
                handle.seek(start)
                data = handle.read()
            complete = data[: data.rfind(b"\n") + 1]  # a line being written waits for the next
            self.offsets[path] = start + len(complete)
            windows += [Window.from_json(json.loads(line)) for line in complete.splitlines()]
        return windows


class ServingMonitor:
    """Flushes a server's request figures to its monitoring run (see the module docstring)."""

    def __init__(
        self,
        run_id: str,
        experiment_id: str,
        log_directory: Path,
        settings: MonitoringConfig,
        on_figures: Callable[[dict[str, str]], None] | None = None,
    ) -> None:
        self.run_id, self.experiment_id = run_id, experiment_id
        self.settings = settings
        self.on_figures = on_figures
        self.totals = Totals()
        self.last_window = Window()
        self.profile: dict[str, Any] | None = None  # the training run's, for the drift check
        self.served: Served | None = None
        self.drift: DriftReport | None = None  # the latest judged window's
        self.steps = 0
        self._reader = _Reader(log_directory)
        self._draw = random.Random(0)
        self._since = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def open(
        cls,
        served: Served,
        log_directory: Path,
        settings: MonitoringConfig,
        on_figures: Callable[[dict[str, str]], None] | None = None,
    ) -> ServingMonitor:
        """Create the monitoring run (RUNNING) in ``NAME-monitoring``."""
        from mlflow import MlflowClient

        from mlops_tracking.runs.metrics import log_params
        from mlops_tracking.runs.store import ensure_experiment

        experiment_id = ensure_experiment(
            monitoring_experiment(served.name), tags={"mlops.run_type": "monitoring"}
        )
        started = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        tags = {
            "mlops.run_type": RUN_TYPE,
            "mlflow.user": served.by,
            "mlflow.note.content": (
                f"Requests answered by {served.name} version {served.version} "
                f"({served.engine}) at {served.endpoint}, from its start to its stop."
            ),
            "monitoring.model_name": served.name,
            "monitoring.model_version": served.version,
            "monitoring.source_run_id": served.source_run_id,
            "monitoring.model_uri": served.model_uri,
            "deployment.endpoint": served.endpoint,
            **liveness_tags(),
        }
        run = MlflowClient().create_run(
            experiment_id, tags=tags, run_name=f"serve-v{served.version}-{started}"
        )
        run_id = run.info.run_id
        log_params(
            run_id,
            {
                "model.name": served.name,
                "model.version": served.version,
                "engine": served.engine,
                "workers": str(served.workers),
                "monitoring.flush_seconds": str(settings.flush_seconds),
                "monitoring.sample_rows": str(settings.sample_rows),
            },
        )
        monitor = cls(run_id, experiment_id, log_directory, settings, on_figures)
        monitor.served = served
        if settings.sample_rows > 0 and served.source_run_id:
            monitor.profile = reference_profile(served.source_run_id)
        return monitor

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="serving-monitor", daemon=True)
        self._thread.start()

    def close(self, status: str = "FINISHED") -> None:
        """Stop flushing, flush what is left (call it once the server has stopped), end."""
        from mlflow import MlflowClient

        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        try:
            self.flush()
        finally:
            MlflowClient().set_terminated(self.run_id, status)

    def flush(self) -> Window:
        """Log one step: the window since the last flush and the totals; return the window."""
        from mlflow import MlflowClient
        from mlflow.entities import Metric, RunTag

        with self._lock:  # the thread and the final flush never log the same lines twice
            window = merged(self._reader.windows(), self.settings.sample_rows, self._draw)
            elapsed, self._since = time.monotonic() - self._since, time.monotonic()
            self.totals.add(window, self._draw)
            figures = {**window_figures(window, elapsed), **total_figures(self.totals)}
            moment = now()
            at = int(moment.timestamp() * 1000)
            metrics = [Metric(key, value, at, self.steps) for key, value in figures.items()]
            MlflowClient().log_batch(
                self.run_id, metrics=metrics, tags=[RunTag(HEARTBEAT_TAG, stamp(moment))]
            )
            drift = self._drift(window, self.steps)
            self.steps += 1
            self.last_window = window
        if self.on_figures is not None:
            self.on_figures(
                {**summary_tags(self.totals), "monitoring.run_id": self.run_id, **drift}
            )
        return window

    def _drift(self, window: Window, step: int) -> dict[str, str]:
        """The window's sample against the training profile, logged at ``step``; the tags."""
        if self.profile is None or len(window.sample) < self.settings.min_rows:
            return {}
        import pandas as pd

        from mlops_tracking.core.drift import compare, drift_tags

        rows = pd.DataFrame(window.sample)
        predictions = [_label(value) for value in window.predictions]
        report = compare(self.profile, rows, predictions, self.settings)
        served = self.served
        about = {
            "model": f"{served.name} version {served.version}" if served else "",
            "training run": served.source_run_id if served else "",
            "serving run": self.run_id,
            "window": f"step {step}, a sample of {len(rows)} of {window.offered} scored rows",
        }
        log_drift(self.run_id, report, "Drift of the rows served", about, step=step)
        self.drift = report
        return drift_tags(report, self.run_id, stamp(now()))

    def _run(self) -> None:
        while not self._stop.wait(self.settings.flush_seconds):
            try:
                self.flush()
            except Exception as error:
                print(f"monitoring: could not log the request figures: {error}", flush=True)


def _label(prediction: Any) -> Any:
    """A deployable model answers a row as ``{"label": …, "proba_…": …}``; the rest as values."""
    if isinstance(prediction, dict):
        return prediction.get("label", prediction.get("prediction"))
    return prediction
