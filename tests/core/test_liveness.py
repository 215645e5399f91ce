"""When a RUNNING run counts as stale: its process is gone here, or its heartbeat is old."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mlops_tracking.core.liveness import (
    HEARTBEAT_TAG,
    PROCESS_TAG,
    liveness_tags,
    process_alive,
    staleness,
    stamp,
)

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def _tags(beat: datetime, process: str = "box:123") -> dict[str, str]:
    return {HEARTBEAT_TAG: stamp(beat), PROCESS_TAG: process}


def test_a_fresh_heartbeat_of_a_live_process_is_not_stale() -> None:
    tags = _tags(NOW - timedelta(seconds=20))
    assert staleness(tags, 300, NOW, host="box", alive=lambda pid: True) is None


def test_a_dead_process_on_this_machine_is_stale_at_once() -> None:
    tags = _tags(NOW - timedelta(seconds=1), "box:123")
    reason = staleness(tags, 300, NOW, host="box", alive=lambda pid: pid != 123)
    assert reason is not None
    assert "process 123 on box is gone" in reason


def test_a_process_on_another_machine_is_judged_by_its_heartbeat() -> None:
    def never_asked(pid: int) -> bool:
        raise AssertionError("a pid of another machine means nothing here")

    assert (
        staleness(_tags(NOW - timedelta(seconds=299), "far:1"), 300, NOW, "box", never_asked)
        is None
    )
    reason = staleness(_tags(NOW - timedelta(minutes=9), "far:1"), 300, NOW, "box", never_asked)
    assert reason == f"no heartbeat for 9 min (last {stamp(NOW - timedelta(minutes=9))})"


def test_a_run_without_a_heartbeat_is_never_stale() -> None:
    assert staleness({}, 300, NOW, host="box", alive=lambda pid: False) is None
    assert staleness({HEARTBEAT_TAG: "not a time"}, 300, NOW, "box", lambda pid: False) is None


def test_a_new_run_starts_with_a_heartbeat_of_this_process() -> None:
    import os

    tags = liveness_tags(NOW)
    assert tags[HEARTBEAT_TAG] == "2026-12-02T12:00:00+00:00"
    assert tags[PROCESS_TAG].endswith(f":{os.getpid()}")
    assert staleness(tags, 300, NOW) is None  # this very process is alive


def test_process_alive_tells_a_live_pid_from_a_free_one() -> None:
    import os
    import subprocess
    import sys

    assert process_alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not process_alive(child.pid)
