"""The MLflow UI in a real browser: ``mlflow server`` on a free local port, and Debian's Chromium.

Shared by ``scripts/screenshots.py`` (the pictures the docs show) and ``tests/ui`` (the checks
that the pages carry what the docs claim), so both open the same UI the same way. Chromium is
Debian's (``/usr/bin/chromium``), driven by Playwright; no browser is ever downloaded.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

CHROMIUM = Path("/usr/bin/chromium")
# Headless and quiet: no GPU, no QUIC, no first-run, update, sync or background network calls.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_SECONDS = 180  # a busy 2-core machine takes a while to import MLflow and migrate a store


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def mlflow_server(
    folder: Path,
    env: dict[str, str],
    artifacts: Path | None = None,
    output: IO[str] | int = subprocess.DEVNULL,
) -> Iterator[str]:
    """Serve ``folder/mlflow.db`` on a free port; yield its base URL; always stop it.

    ``artifacts`` makes the server store uploaded artifacts there (clients that log through
    it); a store written directly keeps its own artifact paths.
    """
    port = str(free_port())
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", port]
    command += ["--workers", "1", "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}"]
    if artifacts is not None:
        command += ["--artifacts-destination", str(artifacts)]
    server = subprocess.Popen(
        command,
        cwd=folder,
        env={key: value for key, value in env.items() if key != "MLFLOW_TRACKING_URI"},
        stdout=output,
        stderr=subprocess.STDOUT if output != subprocess.DEVNULL else subprocess.DEVNULL,
        start_new_session=True,  # its own process group, job workers included
    )
    try:
        wait_until_healthy(url, server, START_SECONDS)
        yield url
    finally:
        stop(server)


def wait_until_healthy(url: str, server: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"mlflow server exited with code {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"mlflow server at {url} did not answer /health within {seconds:.0f} s")


def stop(server: subprocess.Popen[bytes]) -> None:
    """Stop the server and the job workers it started (its own process group)."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
