"""Stop signals land between store calls: the run ends KILLED and the store stays writable."""

from __future__ import annotations

import os
import random
import signal
import threading
import time

import pytest


def _send_later(sig: signal.Signals, delay: float) -> threading.Timer:
    timer = threading.Timer(delay, os.kill, (os.getpid(), sig))
    timer.start()
    return timer


def test_a_signal_inside_a_store_call_waits_for_it() -> None:
    import sqlalchemy

    from mlops_tracking.runs.interrupts import inside_store_call

    def frame_in_sqlalchemy():  # a frame whose module is sqlalchemy's
        return eval("__import__('sys')._getframe()", vars(sqlalchemy))

    assert inside_store_call(frame_in_sqlalchemy())
    import sys

    assert not inside_store_call(sys._getframe())


def test_the_project_s_clean_up_is_protected_like_a_store_call() -> None:
    import sys

    from mlops_tracking.runs.interrupts import held, inside_store_call, protected

    @protected
    def clean_up() -> bool:
        return inside_store_call(sys._getframe())

    assert clean_up()
    with held():
        assert inside_store_call(sys._getframe())
    assert not inside_store_call(sys._getframe())


def test_a_held_signal_is_raised_when_the_store_call_returns() -> None:
    from mlops_tracking.runs.interrupts import RunInterrupted, held, stop_signals_raise

    reached = []
    with pytest.raises(RunInterrupted, match="SIGTERM"), stop_signals_raise():
        with held():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)  # several rechecks: still held
            reached.append("end of the held block")
        reached.append("after it")  # never: the signal is raised as the block ends
    assert reached == ["end of the held block"]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL or callable(
        signal.getsignal(signal.SIGTERM)
    )


def test_sighup_ends_the_run_like_sigterm(client) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.runs.interrupts import RunInterrupted
    from mlops_tracking.runs.lifecycle import tracked_run
    from mlops_tracking.runs.store import ensure_experiment, open_store

    open_store()
    with (
        pytest.raises(RunInterrupted) as stopped,
        tracked_run(ensure_experiment("hup"), "r", {}, "", None) as run,
    ):
        os.kill(os.getpid(), signal.SIGHUP)
        time.sleep(1)
    assert stopped.value.exit_code == 129
    stored = client.get_run(run.info.run_id)
    assert stored.info.status == "KILLED"
    assert stored.data.tags["mlops.error"] == "RunInterrupted: interrupted by SIGHUP"


def test_signals_during_a_loop_of_store_calls_never_leave_a_run_running(client) -> None:  # type: ignore[no-untyped-def]
    """White box: SIGTERM/SIGINT on a timer while the run does nothing but write to the store.

    Before, 5 of 12 such runs stayed RUNNING and the next write hung on "database is locked".
    """
    from mlops_tracking.runs.interrupts import RunInterrupted
    from mlops_tracking.runs.lifecycle import tracked_run
    from mlops_tracking.runs.store import ensure_experiment, open_store

    open_store()
    experiment = ensure_experiment("store-loop")
    chooser = random.Random(12)
    run_ids = []
    for attempt in range(12):
        sig = chooser.choice([signal.SIGTERM, signal.SIGINT])
        timer = _send_later(sig, chooser.uniform(0.05, 0.4))
        started = time.monotonic()
        with (
            pytest.raises(RunInterrupted),
            tracked_run(experiment, f"loop-{attempt}", {}, "", None) as run,
        ):
            run_ids.append(run.info.run_id)
            step = 0
            while time.monotonic() - started < 15:  # the signal comes long before
                client.log_metric(run.info.run_id, "x", step, step=step)
                client.set_tag(run.info.run_id, "step", str(step))
                step += 1
        timer.join()
        assert time.monotonic() - started < 10, "an interrupted run must not wait for a lock"
    # Every run of the experiment: a signal that lands while a run is being created stops the
    # attempt before the body sees the run, but the run it created must end KILLED too.
    runs = client.search_runs([experiment])
    assert set(run_ids) <= {r.info.run_id for r in runs}
    assert [r.info.status for r in runs] == ["KILLED"] * len(runs)
    assert all(r.data.tags["mlops.error"].startswith("RunInterrupted") for r in runs)
    assert all(r.info.end_time for r in runs)


def test_a_second_signal_during_a_long_wait_stops_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_tracking.runs import interrupts
    from mlops_tracking.runs.interrupts import RunInterrupted, held, stop_signals_raise

    monkeypatch.setattr(interrupts, "FORCE_AFTER_SECONDS", 0.2)
    reached = []
    with pytest.raises(RunInterrupted, match="SIGINT"), stop_signals_raise(), held():
        os.kill(os.getpid(), signal.SIGTERM)  # held: a store call in progress
        time.sleep(0.4)
        reached.append("still waiting")
        os.kill(os.getpid(), signal.SIGINT)  # the user insists
        time.sleep(0.4)
        reached.append("never")
    assert reached == ["still waiting"]
