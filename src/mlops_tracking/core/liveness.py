"""Is a RUNNING run still alive? The rule the runs table and the reaper share (pure).

A run made here carries two tags from its first moment: ``mlops.heartbeat`` (the last time its
process said it was alive, refreshed every ``tracking.heartbeat_seconds``) and
``mlops.process`` (``host:pid``). A run is *stale* when its process is gone from this machine,
or when its heartbeat is older than ``tracking.stale_after_seconds`` (a process on another
machine, or one that hangs). A RUNNING run without a heartbeat (plain MLflow calls, an older
version of this project) is never called stale: nothing says it is dead.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

HEARTBEAT_TAG = "mlops.heartbeat"
PROCESS_TAG = "mlops.process"
REAPED_TAG = "mlops.reaped"
DEFAULT_STALE_AFTER_SECONDS = 300.0


def now() -> datetime:
    return datetime.now(UTC)


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def liveness_tags(moment: datetime | None = None) -> dict[str, str]:
    """The tags a run starts with: a first heartbeat and the process that owns it."""
    return {HEARTBEAT_TAG: stamp(moment or now()), PROCESS_TAG: this_process()}


def process_alive(pid: int) -> bool:
    """Whether ``pid`` exists on this machine (another user's process counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def staleness(
    tags: Mapping[str, str],
    stale_after_seconds: float,
    moment: datetime | None = None,
    host: str | None = None,
    alive: Callable[[int], bool] = process_alive,
) -> str | None:
    """Why a RUNNING run is stale ("its process 123 on box is gone", "no heartbeat for 9 min"),
    or None while it may be alive (or when it has no heartbeat to judge by)."""
    beat = _parsed(tags.get(HEARTBEAT_TAG))
    if beat is None:
        return None
    owner_host, _, pid = tags.get(PROCESS_TAG, "").rpartition(":")
    if owner_host == (host or socket.gethostname()) and pid.isdigit() and not alive(int(pid)):
        return f"its process {pid} on {owner_host} is gone (last heartbeat {stamp(beat)})"
    silent = ((moment or now()) - beat).total_seconds()
    if silent > stale_after_seconds:
        return f"no heartbeat for {_duration(silent)} (last {stamp(beat)})"
    return None


def last_heartbeat(tags: Mapping[str, str]) -> datetime | None:
    return _parsed(tags.get(HEARTBEAT_TAG))


def _parsed(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
