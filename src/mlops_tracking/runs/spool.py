"""The offline spool: where a run goes when its tracking server cannot be reached.

With ``tracking.offline: auto``, a command whose server refuses, is unreachable or times out
(never a 401 or 403: those are the user's to fix) runs again, whole, into a local SQLite store,
the spool. Every spooled run carries the server it was meant for (``mlops.spool.target``) and,
when the outage struck mid-run, the server runs it left behind (``mlops.spool.abandoned``);
``mlops-tracking sync`` copies the runs there and ends those KILLED (``sync/``).

Why run again instead of switching stores mid-run: a run's records reference each other (model
ids in metrics, dataset digests, artifact paths), so a run half on the server and half in the
spool could never be put together honestly. The jobs are seeded and deterministic, so the second
run records what the first would have.

The spool lives in the user's state folder, not next to the project: ``sqlite:///mlflow.db``
there is the local store itself, and the spool must survive ``git clean``, fresh checkouts and
worktrees, and be found by ``sync`` from any folder. Each run names its own target, so several
projects can share it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlparse, urlunparse

from mlops_tracking.runs.http_errors import StoreProblem, classify

if TYPE_CHECKING:
    from mlops_tracking.core.config import Config

SPOOL_URI_VARIABLE = "MLOPS_TRACKING_SPOOL_URI"
TARGET_TAG = "mlops.spool.target"
ABANDONED_TAG = "mlops.spool.abandoned"
SYNC_COMMAND = "mlops-tracking sync"

# What the server did, by ``http_errors`` kind (only outages hand off).
_FAILURES = {
    "refused": "refused the connection",
    "unreachable": "cannot be reached",
    "timeout": "did not answer in time",
    "unavailable": "kept answering with server errors (HTTP 5xx)",
}

Result = TypeVar("Result")


def default_spool_uri() -> str:
    """``$XDG_STATE_HOME`` (default ``~/.local/state``)/mlops-tracking/spool/mlflow.db."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return f"sqlite:///{Path(state) / 'mlops-tracking' / 'spool' / 'mlflow.db'}"


def spool_uri(configured: str | None = None) -> str:
    """The spool store: ``MLOPS_TRACKING_SPOOL_URI``, else ``tracking.spool_uri``, else the
    per-user default (the environment wins, as MLflow's own variables do)."""
    return os.environ.get(SPOOL_URI_VARIABLE) or configured or default_spool_uri()


def public_uri(uri: str) -> str:
    """``uri`` without its user and password: safe to record; credentials come from the
    environment (MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD) when it is used."""
    parsed = urlparse(uri)
    host = parsed.hostname or ""
    netloc = f"{host}:{parsed.port}" if parsed.port else host
    return urlunparse(parsed._replace(netloc=netloc))


def is_server(uri: str) -> bool:
    return urlparse(uri).scheme in ("http", "https")


@dataclass(frozen=True)
class HandOff:
    """Why a command's runs went to the spool instead of their server."""

    target: str  # the server, without credentials
    spool: str
    reason: str  # what went wrong, in words
    abandoned: tuple[str, ...] = ()  # server runs left RUNNING by a mid-run outage

    def message(self) -> str:
        """The one line a user reads: what happened, where the runs are, what to run later."""
        if self.abandoned:
            when = (
                f" during run {', '.join(self.abandoned)} (left RUNNING there; sync ends it "
                "KILLED), so the job runs again"
            )
        else:
            when = ", so the runs are written"
        return (
            f"Offline: the tracking server {self.target} {self.reason}{when} into the spool "
            f"{self.spool}. Once the server is back, `{SYNC_COMMAND}` copies them there."
        )


def run_or_spool(
    config: Config,
    job: Callable[[Config], Result],
    announce: Callable[[HandOff], None],
    uri: str | None = None,
) -> Result:
    """Run ``job`` against the tracking server; when the server cannot be reached, run it again
    into the spool (``tracking.offline: auto``) after ``announce`` says so.

    Only outages hand off: a 401, a 403 or any other error propagates, as does everything when
    ``tracking.offline`` is off or the store is not a server.
    """
    from mlops_tracking.runs.http_settings import UNCLOSED_RUNS

    target = uri or os.environ.get("MLFLOW_TRACKING_URI", "")
    if config.tracking.offline == "off" or not is_server(target):
        return job(config)
    already_unclosed = len(UNCLOSED_RUNS)
    try:
        return job(config)
    except Exception as error:
        problem = classify(error, target)
        if problem is None or not problem.outage:
            raise
        hand_off = HandOff(
            target=public_uri(target),
            spool=spool_uri(config.tracking.spool_uri),
            reason=_failure(problem),
            abandoned=tuple(UNCLOSED_RUNS[already_unclosed:]),
        )
    announce(hand_off)
    return job(redirect(config, hand_off))


def redirect(config: Config, hand_off: HandOff) -> Config:
    """Point MLflow at the spool and return ``config`` with the tags every spooled run carries."""
    import mlflow

    os.environ["MLFLOW_TRACKING_URI"] = hand_off.spool
    mlflow.set_tracking_uri(hand_off.spool)
    tags = {**config.tracking.tags, TARGET_TAG: hand_off.target}
    if hand_off.abandoned:
        tags[ABANDONED_TAG] = ",".join(hand_off.abandoned)
    tracking = config.tracking.model_copy(update={"tags": tags})
    return config.model_copy(update={"tracking": tracking})


def _failure(problem: StoreProblem) -> str:
    return _FAILURES.get(problem.kind, "cannot be reached")
