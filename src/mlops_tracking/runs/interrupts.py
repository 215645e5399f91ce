"""Stop signals that end a run at a safe point, never inside a store call.

SIGINT (Ctrl-C), SIGTERM (a scheduler cancelling the job) and SIGHUP (the terminal closed)
become ``RunInterrupted`` so the run can end KILLED with its traceback. Raised at an arbitrary
moment, that exception could land inside MLflow's ``cursor.execute``: MLflow's session rolls back
only on ``Exception``, the SQLite write lock stays held, and every later write of the process
(ending the run included) waits out the busy timeout and fails, leaving the run RUNNING.

So the handler looks at where the main thread is. Inside MLflow, SQLAlchemy, an HTTP client or
the project's own clean-up, the signal is held, and raised at the next line of the code that
made the outermost such call, once it has returned (a one-frame trace, as a debugger steps over
a call). A store call takes milliseconds; the longest MLflow call of a run (logging a model) a
second or two; when a server does not answer, a second signal stops it sooner). SIGKILL
cannot be caught: the heartbeat and ``runs --reap`` end such runs.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import CodeType, FrameType
from typing import Any, TypeVar

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# A store call still running this long after the signal is a wait on an unanswering server
# (MLflow retries for the outage window), not a database write: a second signal stops it.
FORCE_AFTER_SECONDS = 5.0
# Frames of these packages are store calls (or run inside one): a signal waits for them.
STORE_MODULES = ("mlflow", "sqlalchemy", "alembic", "sqlite3", "requests", "urllib3", "http")
_PROTECTED: set[CodeType] = set()  # the project's clean-up functions, protected the same way

F = TypeVar("F", bound=Callable[..., Any])


class RunInterrupted(BaseException):
    """The process was asked to stop (SIGINT, SIGTERM or SIGHUP) while a run was active.

    A ``BaseException``, like ``KeyboardInterrupt``, so ``except Exception`` cannot swallow it.
    """

    def __init__(self, signal_name: str) -> None:
        super().__init__(f"interrupted by {signal_name}")
        self.signal_name = signal_name
        self.exit_code = 128 + int(getattr(signal, signal_name))


def protected(function: F) -> F:
    """Mark ``function`` as clean-up that a stop signal waits for (like a store call)."""
    _PROTECTED.add(function.__code__)
    return function


def inside_store_call(frame: FrameType | None) -> bool:
    """Whether the main thread, stopped at ``frame``, is inside a store call or clean-up."""
    return _Held.depth > 0 or _outermost_store_frame(frame) is not None


def _is_store_frame(frame: FrameType) -> bool:
    module = frame.f_globals.get("__name__", "")
    return frame.f_code in _PROTECTED or module.split(".", 1)[0] in STORE_MODULES


def _outermost_store_frame(frame: FrameType | None) -> FrameType | None:
    outermost = None
    while frame is not None:
        if _is_store_frame(frame):
            outermost = frame
        frame = frame.f_back
    return outermost


class _Held:
    """The stop signal waiting for the current store call to return (main thread only)."""

    name: str | None = None
    active: bool = False
    depth: int = 0  # open ``held()`` blocks
    since: float = 0.0  # when the held signal arrived (time.monotonic)


def _on_stop(signum: int, frame: FrameType | None) -> None:
    name = signal.Signals(signum).name
    if not _Held.active:
        raise RunInterrupted(name)
    if _Held.name is not None:  # already waiting for the store call to return
        if time.monotonic() - _Held.since > FORCE_AFTER_SECONDS:  # a wait on the network:
            _Held.name = None  # a second signal after this long stops it now
            raise RunInterrupted(name)
        return
    _Held.since = time.monotonic()
    if _Held.depth:  # ``held()`` raises it when the block ends
        _Held.name = name
        return
    store_frame = _outermost_store_frame(frame)
    if store_frame is None or store_frame.f_back is None:
        raise RunInterrupted(name)
    _Held.name = name
    _raise_on_next_line(store_frame.f_back)


def _raise_on_next_line(caller: FrameType) -> None:
    """Raise the held signal at the next line ``caller`` runs: after the store call returns.

    A per-frame trace function, the way a debugger steps over a call: the call finishes (its
    transaction committed or rolled back, its result assigned), then the exception is raised in
    the caller's code. Frames entered meanwhile are not traced; tracing ends when it fires.
    """
    previous = sys.gettrace()

    def on_caller(frame: FrameType, event: str, arg: Any) -> Any:
        if _Held.name is None or _Held.depth:  # raised or taken over meanwhile
            return None
        if event == "line":
            sys.settrace(previous)
            name, _Held.name = _Held.name, None
            raise RunInterrupted(name)
        if event == "return" and frame.f_back is not None:  # returned at once: its caller
            frame.f_back.f_trace = on_caller
        return on_caller

    caller.f_trace = on_caller
    caller.f_trace_lines = True
    sys.settrace(previous or _untraced)


def _untraced(frame: FrameType, event: str, arg: Any) -> None:
    """Tracing on for the thread (so the caller's trace fires), no frame traced for it."""
    return None


@contextmanager
def held() -> Iterator[None]:
    """A block that a stop signal waits for, like a store call; raised when the block ends.

    For a store call whose result must be kept (``run = mlflow.start_run()``): the assignment
    happens inside the block, so the code that handles the interrupt knows the run.
    """
    _Held.depth += 1
    try:
        yield
    finally:
        _Held.depth -= 1
    if _Held.depth == 0 and _Held.active and _Held.name is not None:
        name, _Held.name = _Held.name, None
        raise RunInterrupted(name)


@contextmanager
def stop_signals_raise(signals: tuple[signal.Signals, ...] = STOP_SIGNALS) -> Iterator[None]:
    """Turn ``signals`` into ``RunInterrupted`` at safe points while the block runs.

    A signal held until the block's last store call returned is raised when the block ends
    (unless the block is already raising). Main thread only; elsewhere the block runs as is.
    """
    if threading.current_thread() is not threading.main_thread() or _Held.active:
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in signals}
    for sig in signals:
        signal.signal(sig, _on_stop)
    _Held.active, _Held.name = True, None
    raising = False
    try:
        yield
    except BaseException:
        raising = True
        raise
    finally:
        _Held.active = False
        if sys.gettrace() is _untraced:  # a held signal that never reached its line
            sys.settrace(None)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        held, _Held.name = _Held.name, None
        if held is not None and not raising:
            raise RunInterrupted(held)


@contextmanager
def signals_ignored(signals: tuple[signal.Signals, ...] = STOP_SIGNALS) -> Iterator[None]:
    """Ignore ``signals`` while the block runs: clean-up must not be cut short by a second one."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
