"""Count the HTTP requests this process sends, by endpoint, and which project code sent each.

The hook sits on ``requests.adapters.HTTPAdapter.send``, the one door every MLflow client call
goes through (REST calls, artifact uploads and downloads, the heartbeat and system-metrics
threads): one count per request put on the wire. urllib3's retries happen below it, so a
retried request counts once; a healthy server retries nothing. Shared by
``tests/runs/test_request_count.py`` and ``benchmarks/server.py``.

Run as a script, it counts one CLI command in a process of its own:
``python tests/request_counter.py OUT.json train --config params.yaml`` runs
``mlops-tracking train ...`` and writes ``{"exit_code", "seconds", "requests"}`` to OUT.json
(``seconds``: the command alone, Python's start-up and the CLI's imports excluded).
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

# Ids and artifact paths vary per run: an endpoint's kind is its path without them.
_KINDS = (
    (re.compile(r"^(/api/2\.0/mlflow-artifacts/artifacts)/.*"), r"\1/<path>"),
    (re.compile(r"^(/api/2\.0/mlflow/logged-models)/m-[0-9a-f]+"), r"\1/<id>"),
)


def endpoint_kind(method: str, url: str) -> str:
    """``PUT /api/2.0/mlflow-artifacts/artifacts/<path>``: the method and path, ids folded."""
    path = urlparse(url).path
    for pattern, replacement in _KINDS:
        path = pattern.sub(replacement, path)
    return f"{method} {path}"


@dataclass
class RequestLog:
    """Every request sent while counting: its kind and the project function that sent it."""

    requests: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def total(self) -> int:
        return len(self.requests)

    def by_kind(self) -> Counter[str]:
        return Counter(kind for kind, _ in self.requests)

    def by_caller(self) -> Counter[tuple[str, str]]:
        return Counter(self.requests)

    def breakdown(self, callers: bool = False) -> str:
        """One line per kind (or per kind and caller), most frequent first."""
        counts: Counter[Any] = self.by_caller() if callers else self.by_kind()
        lines = [
            f"{count:5d}  {' <- '.join(key) if callers else key}"
            for key, count in counts.most_common()
        ]
        return "\n".join([f"{self.total} HTTP requests:", *lines])


def _caller() -> str:
    """The innermost frame of this package's code (``runs/metrics.py:log_params``), if any."""
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if "/mlops_tracking/" in name and "/site-packages/mlflow/" not in name:
            short = name.rsplit("/mlops_tracking/", 1)[-1]
            return f"{short}:{frame.f_code.co_name}"
        frame = frame.f_back  # type: ignore[assignment]
    return "(outside mlops_tracking)"


@contextmanager
def counting_requests() -> Iterator[RequestLog]:
    """Count every HTTP request sent by any thread of this process inside the block."""
    from requests.adapters import HTTPAdapter

    log = RequestLog()
    original = HTTPAdapter.send

    def send(self: HTTPAdapter, request: Any, *args: Any, **kwargs: Any) -> Any:
        with log.lock:
            log.requests.append((endpoint_kind(request.method, request.url), _caller()))
        return original(self, request, *args, **kwargs)

    HTTPAdapter.send = send  # type: ignore[method-assign]
    try:
        yield log
    finally:
        HTTPAdapter.send = original  # type: ignore[method-assign]


def count_command(out: Path, args: list[str]) -> int:
    """Run ``mlops-tracking ARGS`` here, counting its requests into ``out``; its exit code."""
    from mlops_tracking.cli.app import app

    code: int | str | None = 0
    with counting_requests() as log:
        started = time.perf_counter()
        try:
            app(args=args, prog_name="mlops-tracking")
        except SystemExit as exit_:
            code = exit_.code
        seconds = time.perf_counter() - started
    exit_code = code if isinstance(code, int) else (0 if code is None else 1)
    record = {"exit_code": exit_code, "seconds": seconds, "requests": log.requests}
    out.write_text(json.dumps(record))
    return exit_code


def read_count(out: Path) -> tuple[RequestLog, float]:
    """What ``count_command`` wrote: the request log and the command's seconds."""
    record = json.loads(out.read_text())
    return RequestLog([(kind, caller) for kind, caller in record["requests"]]), record["seconds"]


if __name__ == "__main__":
    sys.exit(count_command(Path(sys.argv[1]), sys.argv[2:]))
