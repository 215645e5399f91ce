"""Serve a registered version with MLflow's scoring server and record its deployment status.

The server is MLflow's own (``mlflow.pyfunc.scoring_server``) behind the project's guard
(``registry/scoring_app.py``: body cap, content types, no stack traces, the input rules).

The version's tags say whether it is ``serving``, ``stopped`` or ``failed``, where (the
endpoint others reach and the machine it runs on, ``registry/endpoints.py``), what it loaded
(``models:/NAME/VERSION`` or the ONNX twin's), since when and (for a failure, including a
start refused by the integrity check) why; each change is also appended to the model's trail.
The checked local copy the server loads from is removed when it stops or fails to start.

It runs in this interpreter (what ``mlflow models serve --env-manager local`` does), with
this interpreter's folder first on ``PATH``: ``mlflow models serve`` starts ``uvicorn`` by
name and exited 127 where the environment's ``bin`` was not on ``PATH``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_tracking.core.config import MonitoringConfig, ServingConfig
from mlops_tracking.core.errors import UserError
from mlops_tracking.core.promotion import TrailEntry
from mlops_tracking.registry.catalog import (
    VersionRef,
    append_trail,
    model_version,
    set_version_tags,
)
from mlops_tracking.registry.endpoints import (
    local_url,
    port_in_use,
    public_endpoint,
    reach,
    this_machine,
)
from mlops_tracking.registry.request_log import LOG_VARIABLE
from mlops_tracking.runs.interrupts import signals_ignored

if TYPE_CHECKING:
    from mlops_tracking.monitoring.serving_run import ServingMonitor
    from mlops_tracking.runs.integrity import VerifiedCopy

WORKER_WRITE_SECONDS = 2.0  # how often a worker writes its requests down (at most)
STARTUP_TIMEOUT = 120.0  # seconds; a cold start imports MLflow, pandas and the model (~10 s)


class ServingError(UserError):
    """The model server could not start (port in use, model failed to load, timeout)."""


@dataclass(frozen=True)
class Deployment:
    ref: VersionRef  # the version the alias resolved to (its tags carry the status)
    host: str  # the address it is bound to
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    model_uri: str  # what the server loaded: models:/ of the version itself or its ONNX twin
    copy: VerifiedCopy  # the checked local files it loaded them from (removed when it stops)
    engine: str
    by: str  # who started it, as recorded with each status change
    endpoint: str  # where others reach it (…/invocations), as recorded
    machine: str  # the machine it runs on, as recorded
    workers: int = 1
    monitoring: MonitoringConfig | None = None  # None: no request figures are recorded
    request_log: Path | None = None  # where its workers write their request figures
    monitor: ServingMonitor | None = None  # its monitoring run, once it answers

    @property
    def url(self) -> str:
        """Where this machine reaches it (``/ping``), whatever address it is bound to."""
        return local_url(self.host, self.port)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def record_status(ref: VersionRef, status: str, by: str, **fields: str) -> None:
    """Write ``deployment.status`` and its details on the version; append to the trail."""
    tags = {"deployment.status": status, **{f"deployment.{k}": v for k, v in fields.items()}}
    set_version_tags(ref, tags)
    append_trail(
        ref.name, _entry(ref, status, by, fields.get("reason") or fields.get("endpoint", ""))
    )


def _entry(ref: VersionRef, status: str, by: str, reason: str) -> TrailEntry:
    return TrailEntry(
        at=datetime.now(UTC).isoformat(timespec="milliseconds"),
        action="deploy",
        alias=ref.alias or "",
        version=ref.version,
        previous=None,
        decision=status,
        by=by,
        reason=reason,
    )


def server_command(
    model_uri: str,
    host: str,
    port: int,
    workers: int = 1,
    settings: ServingConfig | None = None,
) -> list[str]:
    """MLflow's scoring server behind the project's guard (``registry/scoring_app.py``)."""
    return [
        sys.executable,
        "-m",
        "mlops_tracking.registry.scoring_app",
        "--model-uri",
        model_uri,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--settings",
        (settings or ServingConfig()).model_dump_json(),
    ]


def server_environment() -> dict[str, str]:
    """This environment, with our interpreter's ``bin`` first on PATH (see the module doc)."""
    from mlops_tracking.runs.integrity import PICKLE_VARIABLE, pickle_setting
    from mlops_tracking.runs.store import tracking_uri

    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    env["MLFLOW_TRACKING_URI"] = tracking_uri()
    env[PICKLE_VARIABLE] = pickle_setting()  # refused unless the user allowed it (integrity)
    env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    return env


def served_version(ref: VersionRef, engine: str) -> VersionRef:
    """The version a server loads for ``engine``: ``ref`` itself, or its registered ONNX twin.

    The server loads a local copy of its files that matched the manifest recorded at
    registration (``runs/integrity.py``): exactly what was checked, and a changed file is
    refused, naming it, before a server starts; its ``models:/`` URI is what is recorded.
    """
    from mlops_tracking.registry.catalog import ONNX_SUFFIX, RegistryError, model_version

    if engine == "pyfunc":
        return VersionRef(ref.name, ref.version)
    if engine != "onnx":
        raise RegistryError(f"--engine must be pyfunc or onnx, not '{engine}'")
    twin = model_version(ref).tags.get("onnx.version")
    if twin is None:
        raise RegistryError(f"{ref} has no registered ONNX form; serve it with --engine pyfunc")
    return VersionRef(ref.name + ONNX_SUFFIX, twin)


SERVE_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)  # SIGHUP: the terminal closed


@contextmanager
def deployment(served: Deployment) -> Iterator[Deployment]:
    """Wait for a ``launch``ed server, then keep it until the block ends: serving → stopped.

    ``with deployment(launch(ref, by, port=5001)) as served:`` serves at once; launching
    earlier lets the server boot while the caller does other work. Stopping (the block ending,
    an interrupt) records ``stopped``; a server that could not start, or died on its own,
    records ``failed`` with the reason. Clean-up ignores further stop signals, and the server
    dies with this process (Linux) even if it is killed.
    """
    ref, by = served.ref, served.by
    started = {
        "endpoint": served.endpoint,
        "machine": served.machine,
        "model_uri": served.model_uri,
        "engine": served.engine,
    }
    try:
        _wait_until_ready(served)
    except BaseException as error:
        with signals_ignored(SERVE_SIGNALS):
            _stop(served.process)
            served.copy.remove()
            if isinstance(error, ServingError):
                record_status(ref, "failed", by, reason=str(error)[:1000], stopped_at=_now())
            else:  # interrupted while starting: a stop, not a failure
                reason = f"stopped before it answered ({type(error).__name__})"
                record_status(ref, "stopped", by, reason=reason, stopped_at=_now())
        raise
    try:
        # inside the block whose clean-up records the end: a signal that lands while this is
        # written (raised once its store call returns) still ends in ``stopped``
        record_status(ref, "serving", by, started_at=_now(), stopped_at="", reason="", **started)
        served = replace(served, monitor=_monitor(served))
        yield served
    finally:
        with signals_ignored(SERVE_SIGNALS):
            _finish(served)


def _monitor(served: Deployment) -> ServingMonitor | None:
    """Open and start the monitoring run of this server's life (``monitoring/serving_run.py``)."""
    if served.monitoring is None or served.request_log is None:
        return None
    from mlops_tracking.monitoring.serving_run import Served, ServingMonitor

    ref = served.ref
    about = Served(
        name=ref.name,
        version=ref.version,
        source_run_id=model_version(ref).run_id or "",
        model_uri=served.model_uri,
        endpoint=served.endpoint,
        engine=served.engine,
        workers=served.workers,
        by=served.by,
    )

    def on_figures(tags: dict[str, str]) -> None:
        set_version_tags(ref, tags)

    monitor = ServingMonitor.open(about, served.request_log, served.monitoring, on_figures)
    monitor.start()
    return monitor


def launch(
    ref: VersionRef,
    by: str,
    *,
    port: int = 5001,
    workers: int = 1,
    host: str | None = None,
    engine: str = "pyfunc",
    settings: ServingConfig | None = None,
    monitoring: MonitoringConfig | None = None,
) -> Deployment:
    """Start the server process without waiting for it; ``deployment`` waits for it.

    With ``monitoring`` (``monitoring`` in params.yaml) the workers count their requests and
    ``deployment`` logs them to a monitoring run; without it nothing is counted.

    ``settings`` (``serving`` in params.yaml, default its defaults) is what requests may hold,
    the address to bind (``host`` overrides it) and the URL to record (``public_url``).
    Whoever launches must hand the result to ``deployment`` (or ``stop``) even on error.
    A start refused here (the integrity check, a port in use) is recorded as ``failed``.
    """
    from mlops_tracking.runs.integrity import IntegrityError, verified_copy

    settings = settings or ServingConfig()
    host = host or settings.host
    served = served_version(ref, engine)
    endpoint, machine = public_endpoint(host, port, settings.public_url), this_machine()
    where = {"endpoint": endpoint, "machine": machine, "model_uri": served.uri, "engine": engine}
    try:
        copy = verified_copy(served.name, served.version)
    except IntegrityError as error:
        _record_refusal(ref, by, str(error)[:1000], where)
        raise
    request_log = None
    try:
        if port_in_use(host, port):
            reason = f"port {port} on {host} is already in use"
            _record_refusal(ref, by, reason, where)
            raise ServingError(f"{reason}; stop what uses it or pass --port with a free port")
        extra = {}
        if monitoring is not None:
            request_log = Path(tempfile.mkdtemp(prefix="mlops-requests-"))
            extra[LOG_VARIABLE] = request_log_settings(request_log, monitoring)
        command = server_command(str(copy), host, port, workers, settings)
        process, log_path = _start(command, extra)
    except BaseException:
        copy.remove()
        if request_log is not None:
            shutil.rmtree(request_log, ignore_errors=True)
        raise
    return Deployment(
        ref,
        host,
        port,
        process,
        log_path,
        served.uri,
        copy,
        engine,
        by,
        endpoint,
        machine,
        workers=workers,
        monitoring=monitoring,
        request_log=request_log,
    )


def request_log_settings(directory: Path, monitoring: MonitoringConfig) -> str:
    """``MLOPS_SCORING_REQUEST_LOG`` for the workers: where and how often they write."""
    import json

    # the workers write several times per flush, so a flush lags the requests by seconds
    write_seconds = min(WORKER_WRITE_SECONDS, monitoring.flush_seconds / 3)
    return json.dumps(
        {
            "directory": str(directory),
            "write_seconds": write_seconds,
            "sample_rows": monitoring.sample_rows,
        }
    )


def stop(served: Deployment) -> None:
    """Stop a launched server that never reached ``deployment`` (nothing was recorded)."""
    _stop(served.process)
    served.copy.remove()
    served.log_path.unlink(missing_ok=True)
    if served.request_log is not None:
        shutil.rmtree(served.request_log, ignore_errors=True)


def _record_refusal(ref: VersionRef, by: str, reason: str, started: dict[str, str]) -> None:
    """Record a refused start, unless the version may be live elsewhere (keep that status).

    Live elsewhere: its recorded endpoint answers, or it is on another machine's loopback
    where this one cannot tell (``registry/endpoints.py``).
    """
    current = model_version(ref).tags
    serving = current.get("deployment.status") == "serving"
    if serving and reach(current).state != "not answering":
        append_trail(ref.name, _entry(ref, "failed", by, f"{reason} (still serving elsewhere)"))
    else:
        record_status(ref, "failed", by, reason=reason, stopped_at=_now(), **started)


def _start(
    command: list[str], extra_environment: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], Path]:
    descriptor, name = tempfile.mkstemp(prefix="mlops-serve-", suffix=".log")
    os.close(descriptor)
    log_path = Path(name)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**server_environment(), **(extra_environment or {})},
            start_new_session=True,  # its own process group: uvicorn's workers stop with it
            preexec_fn=_die_with_parent,  # noqa: PLW1509 (no threads run yet in the child)
        )
    return process, log_path


def _die_with_parent() -> None:
    """Linux: SIGTERM the server when this process dies, even by SIGKILL (as MLflow does)."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _finish(served: Deployment) -> None:
    by = served.by
    crashed = served.process.poll() is not None
    _stop(served.process)  # its workers write their last requests as they shut down
    served.copy.remove()
    try:
        if served.monitor is not None:
            served.monitor.close("FAILED" if crashed else "FINISHED")
    finally:
        if served.request_log is not None:
            shutil.rmtree(served.request_log, ignore_errors=True)
        if crashed:
            code = served.process.returncode
            reason = f"server exited with code {code}: {_tail(served.log_path)}"
            record_status(served.ref, "failed", by, reason=reason[:1000], stopped_at=_now())
        else:
            record_status(served.ref, "stopped", by, stopped_at=_now())
            served.log_path.unlink(missing_ok=True)


def _wait_until_ready(served: Deployment, timeout: float = STARTUP_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            raise ServingError(
                f"the model server exited with code {served.process.returncode} before it "
                f"answered: {_tail(served.log_path)}"
            )
        try:
            with urllib.request.urlopen(f"{served.url}/ping", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise ServingError(f"the model server did not answer within {timeout:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def _tail(log_path: Path, lines: int = 3) -> str:
    try:
        text = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(no output)"
