"""Run the planned ``mlflow server``: start it, wait until it answers, stop it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_tracking.server.plan import ServerSetupError, write_auth_ini

if TYPE_CHECKING:
    from mlops_tracking.server.plan import ServerPlan

READY_TIMEOUT = 180.0  # seconds; a first start creates ~60 tables in each database (~80 s on
# a busy 2-core machine)


def start(plan: ServerPlan) -> subprocess.Popen[bytes]:
    """Start the server in its own process group, its output appended to ``plan.log_path``."""
    if "://" not in plan.artifacts_destination:
        folder = Path(plan.artifacts_destination)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ServerSetupError(
                f"server.artifacts_destination {folder} cannot be created: {error.strerror}"
            ) from None
    write_auth_ini(plan)
    plan.log_path.parent.mkdir(parents=True, exist_ok=True)
    with plan.log_path.open("ab") as log:
        return subprocess.Popen(
            plan.command,
            env=plan.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # uvicorn's workers stop with it
        )


def wait_until_ready(
    plan: ServerPlan, process: subprocess.Popen[bytes], timeout: float = READY_TIMEOUT
) -> float:
    """Seconds until ``/health`` answered; a server that died or never answers is an error."""
    import requests

    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if process.poll() is not None:
            raise ServerSetupError(
                f"mlflow server exited with code {process.returncode} before it answered; "
                f"its log {plan.log_path} ends with:\n{log_tail(plan)}"
            )
        try:
            if requests.get(f"{plan.url}/health", timeout=2).status_code == 200:
                return time.monotonic() - began
        except requests.RequestException:
            pass
        time.sleep(0.25)
    stop(process)
    raise ServerSetupError(
        f"mlflow server did not answer on {plan.url} within {timeout:.0f} s; "
        f"its log {plan.log_path} ends with:\n{log_tail(plan)}"
    )


def stop(process: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """SIGTERM the server's process group, then SIGKILL what is left after ``grace`` seconds."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        process.wait()


def log_tail(plan: ServerPlan, lines: int = 15) -> str:
    try:
        text = plan.log_path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
