"""The status a deployment leaves behind when a stop signal lands while it is being recorded."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest


class _Copy:
    removed = False

    def remove(self) -> None:
        self.removed = True


def test_a_signal_while_serving_is_recorded_still_ends_stopped(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A signal held during the ``serving`` write is raised when that write returns: the
    deployment must still stop the server and record ``stopped``, never stay ``serving``."""
    from mlops_tracking.registry import serving
    from mlops_tracking.registry.catalog import VersionRef
    from mlops_tracking.runs.interrupts import RunInterrupted

    recorded: list[str] = []

    def record_status(ref: VersionRef, status: str, by: str, **fields: str) -> None:
        recorded.append(status)
        if status == "serving":  # written, then the held SIGTERM is raised on the next line
            raise RunInterrupted("SIGTERM")

    monkeypatch.setattr(serving, "record_status", record_status)
    monkeypatch.setattr(serving, "_wait_until_ready", lambda served: None)
    process = subprocess.Popen(["sleep", "60"], start_new_session=True)
    log = tmp_path / "server.log"
    log.write_text("")
    copy = _Copy()
    served = serving.Deployment(
        VersionRef("m", "1"), "127.0.0.1", 5001, process, log,  # type: ignore[arg-type]
        "models:/m/1", copy, "pyfunc", "tester", "http://127.0.0.1:5001/invocations", "here",
    )  # fmt: skip
    try:
        with pytest.raises(RunInterrupted), serving.deployment(served):
            pytest.fail("the block must not run: the signal came first")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert recorded == ["serving", "stopped"]
    assert process.returncode is not None  # the server was stopped, not left to its own
    assert copy.removed
