"""Run lifecycle: start a run, keep it alive, and end it with a status that tells the truth.

MLflow's own ``with mlflow.start_run()`` marks *any* exception FAILED, Ctrl-C included, and a
SIGTERM (a scheduler cancelling the job) kills the process with the run left RUNNING forever.
``tracked_run`` ends runs FINISHED, FAILED (with the traceback as an artifact) or KILLED, stop
signals taking effect only between store calls (``runs/interrupts.py``). While it runs, a
heartbeat tag says the process is alive, so a run whose process was killed outright can be told
apart and ended by ``runs --reap`` (``runs/reaper.py``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

from mlops_tracking.core.liveness import HEARTBEAT_TAG, liveness_tags, now, stamp
from mlops_tracking.runs.interrupts import (
    STOP_SIGNALS,
    RunInterrupted,
    held,
    protected,
    signals_ignored,
    stop_signals_raise,
)

if TYPE_CHECKING:
    from mlflow import ActiveRun

TRACEBACK_ARTIFACT = "error/traceback.txt"
MAX_TAG_LENGTH = 500
DEFAULT_HEARTBEAT_SECONDS = 30.0
# (run id, status) of every run this process ended: what an error after them is reported with
ENDED_RUNS: list[tuple[str, str]] = []

__all__ = [
    "STOP_SIGNALS",
    "RunInterrupted",
    "signals_ignored",
    "stop_signals_raise",
    "tracked_run",
]


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
    *,
    heartbeat_seconds: float | None = DEFAULT_HEARTBEAT_SECONDS,
) -> Iterator[ActiveRun]:
    """Start a run (nested under the active run, if any) and end it with the right status.

    ``system_metrics_interval`` is the CPU/memory sampling period in seconds (None: off);
    ``heartbeat_seconds`` how often the run's ``mlops.heartbeat`` tag is refreshed (None: only
    the first one, at the start).
    """
    import mlflow

    from mlops_tracking.runs.http_settings import stop_retrying_after_outage

    # MLflow's end_run prints "View run ... at" and "View experiment at" lines (and reads the
    # run again to do so) unless this is set; the CLI prints its own links.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    parent = mlflow.active_run()
    forget_active_model()
    run: ActiveRun | None = None
    # The outermost run owns the signal handlers; nested runs inherit them.
    with stop_signals_raise() if parent is None else nullcontext():
        try:
            with held(), _creating_run():  # a signal during start_run waits for `run`
                run = mlflow.start_run(
                    experiment_id=experiment_id,
                    run_name=run_name,
                    tags={**tags, **liveness_tags()},
                    description=description or None,
                    nested=parent is not None,
                    log_system_metrics=False,  # sampled by system_metrics() below, from step 1
                )
            with (
                heartbeat(run.info.run_id, heartbeat_seconds),
                system_metrics(run.info.run_id, system_metrics_interval),
                stop_retrying_after_outage(),
            ):
                yield run
        except (KeyboardInterrupt, RunInterrupted) as interrupt:
            if run is not None:
                _end(run, "KILLED", interrupt)
            raise
        except BaseException as error:
            if run is not None:
                _end(run, "FAILED", error)
            raise
        else:
            _end(run, "FINISHED", None)


CREATION_LOST_NOTE = (
    "The tracking server stopped answering while the run was being created: it may hold a "
    "run of this command that stays RUNNING. Once the server answers again, "
    "`mlops-tracking runs --reap` ends it KILLED (its process is gone)."
)


@contextmanager
def _creating_run() -> Iterator[None]:
    """Say so when the server stops answering during run creation: it may have made the run
    (and a reply lost on the way back leaves the client without its id)."""
    from mlops_tracking.runs.http_errors import is_outage

    try:
        yield
    except Exception as error:
        if is_outage(error):
            error.add_note(CREATION_LOST_NOTE)
        raise


@contextmanager
def heartbeat(run_id: str, interval: float | None) -> Iterator[None]:
    """Refresh the run's ``mlops.heartbeat`` tag every ``interval`` seconds from a thread.

    One tag write per interval (30 s by default): what ``runs`` and ``runs --reap`` judge a
    RUNNING run by. A failed write (the store is away) is retried at the next beat.
    """
    if interval is None:
        yield
        return
    stopped = threading.Event()

    def beat() -> None:
        from mlflow import MlflowClient

        client = MlflowClient()
        while not stopped.wait(interval):
            try:
                client.set_tag(run_id, HEARTBEAT_TAG, stamp(now()))
            except Exception as error:  # the store is away: the next beat tries again
                logging.getLogger(__name__).debug("heartbeat of run %s failed: %s", run_id, error)

    thread = threading.Thread(target=beat, name=f"heartbeat-{run_id[:8]}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stopped.set()
        thread.join(timeout=5)


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
    monitor = _sampler(run_id, interval)
    monitor._logging_step = FIRST_SYSTEM_METRICS_STEP  # no public setting for the first step
    monitor.start()
    try:
        yield
    finally:
        with signals_ignored():
            monitor.finish()


# System metrics are sampled every interval but sent at most this often: one request per
# flush instead of one per sample (the UI's live charts lag by at most this much).
SYSTEM_METRICS_FLUSH_SECONDS = 10.0


def _sampler(run_id: str, interval: float) -> Any:
    """MLflow's system-metrics monitor, made lighter on a tracking server.

    MLflow's loop reads the run after every sample (to stop when it is no longer RUNNING) and
    logs nearly every sample as its own request. This run's end stops the sampler itself
    (``finish()`` before the run ends), so the read is dropped; the samples, each with its own
    step and time, go up in one batch every ``SYSTEM_METRICS_FLUSH_SECONDS`` and at the end.
    """
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor
    from mlflow.utils.autologging_utils import BatchMetricsLogger

    class Batches(BatchMetricsLogger):
        flushed = time.monotonic()

        def _should_flush(self) -> bool:
            if time.monotonic() - self.flushed < SYSTEM_METRICS_FLUSH_SECONDS:
                return False
            self.flushed = time.monotonic()
            return True

    class Sampler(SystemMetricsMonitor):
        def __init__(self, run_id: str, interval: float) -> None:
            super().__init__(run_id, sampling_interval=interval, samples_before_logging=1)  # type: ignore[no-untyped-call]
            self.mlflow_logger = Batches(run_id, tracking_uri=self._tracking_uri)  # type: ignore[no-untyped-call]

        def monitor(self) -> None:
            while True:
                self.collect_metrics()  # type: ignore[no-untyped-call]
                if self._shutdown_event.wait(self.sampling_interval):
                    return
                try:
                    self.publish_metrics(self.aggregate_metrics())  # type: ignore[no-untyped-call]
                except Exception as error:  # the store is away: the next flush tries again
                    logging.getLogger(__name__).debug("system metrics not logged: %s", error)

    return Sampler(run_id, interval)


@protected
def _fail_pending_models(run: ActiveRun) -> None:
    """Mark the run's half-written models FAILED: models are created before their files are
    logged (``runs/model_formats.py``), so an interrupted run can leave some PENDING."""
    import mlflow
    from mlflow.entities import LoggedModelStatus

    client = mlflow.MlflowClient()
    try:
        models = client.search_logged_models(
            [run.info.experiment_id], filter_string=f"source_run_id = '{run.info.run_id}'"
        )
        for model in models:  # by status here: a status filter matched none in MLflow 3.17.2
            if model.status == LoggedModelStatus.PENDING:
                client.finalize_logged_model(model.model_id, LoggedModelStatus.FAILED)
    except Exception:  # the run still ends; the reaper fails what is left of a stale run
        return


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
            failure = _record_error(run_id, error)
            error.add_note(
                f"Its traceback is the run's artifact {TRACEBACK_ARTIFACT}."
                if failure is None
                else f"Its traceback could not be recorded on the run: {failure}"
            )
            _fail_pending_models(run)
        active = mlflow.active_run()
        if active is not None and active.info.run_id == run_id:
            mlflow.end_run(status=status)
        else:  # the block ended the run itself or switched runs: end ours explicitly
            mlflow.MlflowClient().set_terminated(run_id, status=status)
        ENDED_RUNS.append((run_id, status))


@protected
def _record_error(run_id: str, error: BaseException) -> str | None:
    """Keep the traceback and a one-line reason on the run; never mask the original error.

    Returns None, or why the store would not take them.
    """
    import mlflow

    text = "".join(traceback.format_exception(error))
    reason = f"{type(error).__name__}: {error}"[:MAX_TAG_LENGTH]
    try:
        client = mlflow.MlflowClient()
        client.log_text(run_id, text, TRACEBACK_ARTIFACT)
        client.set_tag(run_id, "mlops.error", reason)
    except Exception as logging_error:  # the store itself may be what failed
        return f"{type(logging_error).__name__}: {str(logging_error).splitlines()[0][:200]}"
    return None
