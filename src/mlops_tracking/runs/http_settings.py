"""MLflow's HTTP retries and timeouts, set from ``tracking.http`` for each phase of a command.

MLflow 3.17 reads ``MLFLOW_HTTP_REQUEST_{TIMEOUT,MAX_RETRIES,BACKOFF_FACTOR,BACKOFF_JITTER}``
from the environment at every request (``rest_utils.http_request``) and caches one requests
session per distinct retry policy (``request_utils._cached_get_request_session``), so changing
the variables between requests takes effect at the next request. Its defaults (7 retries,
backoff factor 2, 120 s timeout) make an unreachable server fail after about 4.5 minutes.

Three phases:

- ``open``: a command's first request, ``tracking.http.max_retries`` retries (about 15 s);
- ``run``: once the store answered, enough retries to ride out a restart lasting
  ``tracking.http.outage_window_seconds``;
- ``outage``: after a request gave up on an unreachable server, no retries, so that the clean-up
  that follows (system metrics, the traceback, ending the run) fails at once instead of
  waiting out the window again for every call.

A variable the user set in the environment is never changed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Literal

from mlops_tracking.core.config import HttpConfig
from mlops_tracking.runs.http_errors import is_outage

Phase = Literal["open", "run", "outage"]

TIMEOUT = "MLFLOW_HTTP_REQUEST_TIMEOUT"
MAX_RETRIES = "MLFLOW_HTTP_REQUEST_MAX_RETRIES"
BACKOFF_FACTOR = "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"
BACKOFF_JITTER = "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER"
VARIABLES = (TIMEOUT, MAX_RETRIES, BACKOFF_FACTOR, BACKOFF_JITTER)

# MLflow refuses more (``_MLFLOW_HTTP_REQUEST_MAX_RETRIES_LIMIT``); urllib3 caps one backoff.
MLFLOW_RETRY_LIMIT = 10
URLLIB3_BACKOFF_MAX = 120.0

# The values this process set, to tell them from the user's own (which win).
_applied: dict[str, str] = {}
# The ``outage`` phase's values of the last config opened with, for ``give_up_retrying``.
_outage_values: dict[str, str] = {}
# Runs this process could not end because the store stopped answering: left RUNNING there, for
# the spool hand-off to name (``runs/spool.py``) and ``sync`` to end KILLED later.
UNCLOSED_RUNS: list[str] = []


def backoff_seconds(retries: int, factor: int) -> float:
    """urllib3's total sleep over ``retries`` retries: 0, then factor x 2, 4, 8 ... (no jitter)."""
    return sum(min(URLLIB3_BACKOFF_MAX, factor * 2.0 ** (n - 1)) for n in range(2, retries + 1))


def retries_spanning(window: float, factor: int) -> int:
    """The fewest retries whose backoff lasts ``window`` seconds (at most MLflow's limit)."""
    for retries in range(MLFLOW_RETRY_LIMIT + 1):
        if backoff_seconds(retries, factor) >= window:
            return retries
    return MLFLOW_RETRY_LIMIT


def environment(http: HttpConfig, phase: Phase) -> dict[str, str]:
    """The MLflow variables for ``phase`` (strings, as the environment holds them)."""
    retries = {
        "open": http.max_retries,
        "run": retries_spanning(http.outage_window_seconds, http.backoff_factor),
        "outage": 0,
    }[phase]
    timeout = http.run_timeout_seconds if phase == "run" else http.timeout_seconds
    return {
        TIMEOUT: str(timeout),
        MAX_RETRIES: str(retries),
        BACKOFF_FACTOR: str(http.backoff_factor),
        BACKOFF_JITTER: str(http.backoff_jitter),
    }


def longest_wait(http: HttpConfig, phase: Phase, answers: bool = False) -> float:
    """The longest a request can take in ``phase`` before it fails.

    A refused connection fails at once at every attempt; a server that accepts connections but
    never ``answers`` costs a full timeout per attempt.
    """
    values = environment(http, phase)
    retries = int(values[MAX_RETRIES])
    attempts = (retries + 1) * int(values[TIMEOUT]) if answers else 0
    jitter = max(retries - 1, 0) * http.backoff_jitter
    return attempts + backoff_seconds(retries, http.backoff_factor) + jitter


def apply(http: HttpConfig, phase: Phase) -> dict[str, str]:
    """Set MLflow's variables for ``phase``, except those the user set; return what is in force."""
    if phase == "open":
        _outage_values.update(environment(http, "outage"))
    return _set(environment(http, phase))


def give_up_retrying() -> None:
    """Stop retrying, with the short timeout: the server already failed a whole outage window.

    The timeout is the one of phase ``open`` applied last (the ``outage`` phase's own).
    """
    values = {MAX_RETRIES: "0"}
    if TIMEOUT in _outage_values:
        values[TIMEOUT] = _outage_values[TIMEOUT]
    _set(values)


def in_force() -> dict[str, str | None]:
    """The values MLflow reads now (None: MLflow's default)."""
    return {name: os.environ.get(name) for name in VARIABLES}


def user_set(name: str) -> bool:
    """Whether ``name`` holds a value of the user's rather than one this process applied."""
    current = os.environ.get(name)
    return current is not None and current != _applied.get(name)


@contextmanager
def stop_retrying_after_outage() -> Iterator[None]:
    """When the block fails because the store stopped answering, stop retrying.

    Without this, every clean-up call after the failure (the system-metrics flush, the
    traceback artifact, the error tag, ending the run) would retry for a whole outage window.
    """
    try:
        yield
    except Exception as error:
        if is_outage(error):
            give_up_retrying()
        raise


def unclosed_note(run_id: str) -> str:
    """What a user reads about a run the store could not mark ended."""
    return (
        f"MLflow run {run_id} could not be closed: the tracking store stopped "
        "answering, so the run stays RUNNING there. Once the server is back, "
        "`mlops-tracking runs --reap` ends it KILLED."
    )


@contextmanager
def unclosed_run(run_id: str, error: BaseException | None, ended: str) -> Iterator[None]:
    """Say so when ending a run fails because the store stopped answering.

    The note ``ended`` on ``error`` ("run ... ended FAILED") becomes ``unclosed_note``, and the
    original ``error`` stays the one reported; after a clean block the close failure itself is
    raised with the note. Any other failure to end the run propagates unchanged.
    """
    try:
        yield
    except Exception as close_error:
        if not is_outage(close_error):
            raise
        give_up_retrying()
        UNCLOSED_RUNS.append(run_id)
        if error is None:
            close_error.add_note(unclosed_note(run_id))
            raise
        notes = getattr(error, "__notes__", [])
        if ended in notes:
            notes.remove(ended)
        error.add_note(unclosed_note(run_id))


def _set(values: Mapping[str, str]) -> dict[str, str]:
    for name, value in values.items():
        if user_set(name):
            continue
        os.environ[name] = value
        _applied[name] = value
    return {name: os.environ[name] for name in values}
