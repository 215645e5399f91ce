"""Run lifecycle: start a run, and end it with a status that tells the truth.

MLflow's own ``with mlflow.start_run()`` marks *any* exception FAILED, Ctrl-C included, and a
SIGTERM (a scheduler cancelling the job) kills the process with the run left RUNNING forever.
``tracked_run`` ends runs FINISHED, FAILED (with the traceback as an artifact) or KILLED.
"""

from __future__ import annotations

import logging
import signal
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlflow import ActiveRun

TRACEBACK_ARTIFACT = "error/traceback.txt"
MAX_TAG_LENGTH = 500


class RunInterrupted(BaseException):
    """The process was asked to stop (SIGINT or SIGTERM) while a run was active.

    A ``BaseException``, like ``KeyboardInterrupt``, so ``except Exception`` cannot swallow it.
    """

    def __init__(self, signal_name: str) -> None:
        super().__init__(f"interrupted by {signal_name}")
        self.signal_name = signal_name
        self.exit_code = 128 + int(getattr(signal, signal_name))


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise RunInterrupted(signal.Signals(signum).name)


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def stop_signals_raise(signals: tuple[signal.Signals, ...] = STOP_SIGNALS) -> Iterator[None]:
    """Turn ``signals`` into ``RunInterrupted`` while the block runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in signals}
    for sig in previous:
        signal.signal(sig, _raise_interrupted)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def forget_active_model() -> None:
    """Clear MLflow's process-wide "active model".

    MLflow attaches ``get_active_model_id()`` to every metric logged without a model id, and
    loading or logging a model makes it active. Without this, a run would link its metrics
    (system metrics included) to a model from an earlier run or from a model load.
    """
    import mlflow

    mlflow.clear_active_model()


@contextmanager
def tracked_run(
    experiment_id: str,
    run_name: str,
    tags: dict[str, str],
    description: str,
    system_metrics_interval: float | None = 1.0,
) -> Iterator[ActiveRun]:
    """Start a run (nested under the active run, if any) and end it with the right status.

    ``system_metrics_interval`` is the CPU/memory sampling period in seconds (None: off).
    """
    import mlflow

    from mlops_tracking.runs.http_settings import stop_retrying_after_outage

    parent = mlflow.active_run()
    forget_active_model()
    # The outermost run owns the signal handlers; nested runs inherit them.
    with stop_signals_raise() if parent is None else nullcontext():
        run = mlflow.start_run(
            experiment_id=experiment_id,
            run_name=run_name,
            tags=tags,
            description=description or None,
            nested=parent is not None,
            log_system_metrics=False,  # sampled by system_metrics() below, from step 1
        )
        try:
            with (
                system_metrics(run.info.run_id, system_metrics_interval),
                stop_retrying_after_outage(),
            ):
                yield run
        except (KeyboardInterrupt, RunInterrupted) as interrupt:
            _end(run, "KILLED", interrupt)
            raise
        except BaseException as error:
            _end(run, "FAILED", error)
            raise
        else:
            _end(run, "FINISHED", None)


# MLflow's system monitor logs its first sample at step 0, and MLflow 3's ``log_model`` copies
# every step-0 run metric without a model onto the new LoggedModel: CPU, disk and network
# figures would become metrics of every model (the first rows of its page). Final metrics are
# the only step-0 metrics this project logs, each linked explicitly (``metrics.log_metrics``).
FIRST_SYSTEM_METRICS_STEP = 1


@contextmanager
def system_metrics(run_id: str, interval: float | None) -> Iterator[None]:
    """Sample CPU, memory, disk and network every ``interval`` seconds (None: off) as ``system/*``.

    The samples start at step ``FIRST_SYSTEM_METRICS_STEP`` and the last one is flushed when
    the block ends, before the run does.
    """
    if interval is None:
        yield
        return
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

    monitor = SystemMetricsMonitor(  # type: ignore[no-untyped-call]
        run_id, sampling_interval=interval, samples_before_logging=1
    )
    monitor._logging_step = FIRST_SYSTEM_METRICS_STEP  # no public setting for the first step
    monitor.start()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        with signals_ignored():
            monitor.finish()  # type: ignore[no-untyped-call]


def _end(run: ActiveRun, status: str, error: BaseException | None) -> None:
    """Record the error (if any) and end the run; a second Ctrl-C cannot interrupt this."""
    import mlflow

    from mlops_tracking.runs.http_settings import unclosed_run

    run_id = run.info.run_id
    ended = f"MLflow run {run_id} ended {status}."
    if error is not None:
        error.add_note(ended)
    with signals_ignored(), unclosed_run(run_id, error, ended):
        if error is not None:
            _record_error(run_id, error)
        active = mlflow.active_run()
        if active is not None and active.info.run_id == run_id:
            mlflow.end_run(status=status)
        else:  # the block ended the run itself or switched runs: end ours explicitly
            mlflow.MlflowClient().set_terminated(run_id, status=status)


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


def _record_error(run_id: str, error: BaseException) -> None:
    """Keep the traceback and a one-line reason on the run; never mask the original error."""
    import mlflow

    text = "".join(traceback.format_exception(error))
    reason = f"{type(error).__name__}: {error}"[:MAX_TAG_LENGTH]
    try:
        client = mlflow.MlflowClient()
        client.log_text(run_id, text, TRACEBACK_ARTIFACT)
        client.set_tag(run_id, "mlops.error", reason)
    except Exception as logging_error:  # the store itself may be what failed
        logging.getLogger(__name__).warning(
            "could not record the error on run %s: %s", run_id, logging_error
        )
