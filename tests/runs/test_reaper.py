"""`runs --reap`: stale runs end KILLED with the reason and time, their PENDING models FAILED."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest

from mlops_tracking.core.liveness import HEARTBEAT_TAG, PROCESS_TAG, REAPED_TAG, now, stamp


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _running_run(client, name: str, tags: dict[str, str]) -> str:  # type: ignore[no-untyped-def]
    from mlops_tracking.runs.store import ensure_experiment, open_store

    open_store()
    experiment = ensure_experiment("reaper")
    return str(client.create_run(experiment, run_name=name, tags=tags).info.run_id)


def _ours(pid: int, host: str | None = None, age: float = 1.0) -> dict[str, str]:
    import socket

    beat = now() - timedelta(seconds=age)
    return {HEARTBEAT_TAG: stamp(beat), PROCESS_TAG: f"{host or socket.gethostname()}:{pid}"}


def test_a_run_whose_process_died_ends_killed_with_its_pending_model_failed(client) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.runs.reaper import reap

    run_id = _running_run(client, "killed -9", _ours(_dead_pid()))
    experiment = client.get_run(run_id).info.experiment_id
    pending = client.create_logged_model(experiment, name="rf", source_run_id=run_id)
    assert pending.status.to_proto() == 1 or str(pending.status) == "PENDING"
    (ended,) = reap(300)
    assert ended.run_id == run_id and ended.failed_models == (pending.model_id,)
    run = client.get_run(run_id)
    assert run.info.status == "KILLED"
    assert run.info.end_time is not None and run.info.end_time >= run.info.start_time
    assert "is gone" in run.data.tags["mlops.error"]
    assert run.data.tags[REAPED_TAG].startswith("ended KILLED by `mlops-tracking runs --reap` at ")
    assert str(client.get_logged_model(pending.model_id).status) == "FAILED"
    assert reap(300) == []  # nothing left to reap


def test_a_silent_run_of_another_machine_is_reaped_after_stale_after(client) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.runs.reaper import reap

    quiet = _running_run(client, "quiet", _ours(1, host="elsewhere", age=60))
    silent = _running_run(client, "silent", _ours(1, host="elsewhere", age=600))
    assert [r.run_id for r in reap(300)] == [silent]
    assert client.get_run(quiet).info.status == "RUNNING"
    assert "no heartbeat for 10 min" in client.get_run(silent).data.tags["mlops.error"]


def test_live_runs_and_runs_without_a_heartbeat_are_left_alone(client) -> None:  # type: ignore[no-untyped-def]
    import os

    from mlops_tracking.runs.reaper import reap

    alive = _running_run(client, "alive", _ours(os.getpid()))
    foreign = _running_run(client, "plain mlflow", {})
    assert reap(300) == []
    assert {client.get_run(r).info.status for r in (alive, foreign)} == {"RUNNING"}


def test_children_are_ended_before_their_parent(client) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.runs.reaper import reap

    tags = _ours(_dead_pid())
    parent = _running_run(client, "parent", tags)
    child = _running_run(client, "child", {**tags, "mlflow.parentRunId": parent})
    assert [r.run_id for r in reap(300)] == [child, parent]
    assert {client.get_run(r).info.status for r in (parent, child)} == {"KILLED"}


def test_the_runs_command_marks_a_stale_run_and_reaps_it(client) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from mlops_tracking.cli.app import app

    run_id = _running_run(client, "orphan", _ours(_dead_pid()))
    runner = CliRunner()
    listed = runner.invoke(app, ["runs"], catch_exceptions=False)
    assert listed.exit_code == 0, listed.output
    assert "RUNNING · stale" in listed.output
    reaped = runner.invoke(app, ["runs", "--reap"], catch_exceptions=False)
    assert reaped.exit_code == 0, reaped.output
    assert f"Ended stale run orphan ({run_id}) KILLED" in reaped.output
    assert "stale" not in reaped.output.split("KILLED:", 1)[1].split("\n", 1)[1]
    assert client.get_run(run_id).info.status == "KILLED"
    again = runner.invoke(app, ["runs", "--reap"], catch_exceptions=False)
    assert "No stale runs." in again.output


@pytest.mark.parametrize("reap_first", [True, False])
def test_train_reaps_first_unless_told_not_to(reap_first: bool, client) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from conftest import FAST, PARAMS, sets
    from mlops_tracking.cli.app import app

    run_id = _running_run(client, "orphan", _ours(_dead_pid()))
    overrides = sets(
        *FAST,
        f"tracking.reap_stale_runs={str(reap_first).lower()}",
        "tracking.model_formats=[sklearn]",
    )
    result = CliRunner().invoke(
        app, ["train", "-c", str(PARAMS), *overrides], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert client.get_run(run_id).info.status == ("KILLED" if reap_first else "RUNNING")
    assert ("Ended stale run orphan" in result.output) is reap_first
