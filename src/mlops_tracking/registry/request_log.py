"""A scoring worker's request log: every answered request counted, written down every few seconds.

``ScoringGuard`` (``registry/scoring_app.py``) calls ``RequestLog.record`` once per
``POST /invocations`` with the status it answered and the time it took; for an answered
request also the checked rows and the model's predictions, of which a uniform sample is kept
for the drift check. Recording is a lock and a few appends (microseconds): the cost of a
request does not change. A thread writes the window every ``write_seconds`` as one JSON line,
appended with a single ``write`` to ``DIR/worker-PID.jsonl``, and starts a new window; the
last window is written when the worker shuts down (the ASGI lifespan's shutdown, which uvicorn
sends on SIGTERM to every worker). The process that serves reads the lines
(``monitoring/serving_run.py``). A worker killed with SIGKILL loses its last few seconds.

The settings arrive as JSON in ``MLOPS_SCORING_REQUEST_LOG`` (``{"directory", "write_seconds",
"sample_rows"}``); without it nothing is recorded.
"""

from __future__ import annotations

import json
import os
import random
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlops_tracking.core.serving_stats import Window

LOG_VARIABLE = "MLOPS_SCORING_REQUEST_LOG"


class RequestLog:
    """One worker's figures since its last write (see the module docstring)."""

    def __init__(self, directory: Path, write_seconds: float, sample_rows: int) -> None:
        self.path = directory / f"worker-{os.getpid()}.jsonl"
        self.write_seconds = write_seconds
        self.sample_rows = sample_rows
        self._window = Window()
        self._lock = threading.Lock()
        self._draw = random.Random()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_environment(cls) -> RequestLog | None:
        text = os.environ.get(LOG_VARIABLE)
        if not text:
            return None
        settings = json.loads(text)
        return cls(
            Path(settings["directory"]),
            float(settings["write_seconds"]),
            int(settings["sample_rows"]),
        )

    @property
    def wants_sample(self) -> bool:
        return self.sample_rows > 0

    def record(
        self,
        status: int,
        latency_ms: float,
        count: int = 0,
        rows: Sequence[dict[str, Any]] = (),
        predictions: Sequence[Any] | None = None,
    ) -> None:
        """Count one request; ``count`` rows were scored when it answered 200."""
        with self._lock:
            self._window.add(status, latency_ms)
            if status == 200:
                self._window.add_scored(count, rows, predictions, self.sample_rows, self._draw)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="request-log", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.write()

    def write(self) -> None:
        """Append the window as one line and start a new one (nothing when it is empty)."""
        with self._lock:
            window, self._window = self._window, Window()
        if window.requests == 0:
            return
        line = (json.dumps(window.to_json(), default=str) + "\n").encode("utf-8")
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(descriptor, line)
        finally:
            os.close(descriptor)

    def _run(self) -> None:
        while not self._stop.wait(self.write_seconds):
            try:
                self.write()
            except OSError as error:  # the serving process reads what it can; say why not
                print(f"request log: cannot write {self.path}: {error}", flush=True)
