"""Bounded waits against a real ``mlflow server``: unreachable, killed mid-run, restarted.

Each test drives the CLI in a subprocess, as a user would, and reads the store back with
``MlflowClient`` (through the server again, or the server's SQLite file directly). The times
are generous upper bounds of what the defaults promise (an unreachable store fails in about
15 s; a dead server ends a run within its outage window plus the clean-up).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow_ui import free_port, stop, wait_until_healthy

from conftest import FAST, PARAMS, sets, train_command

pytestmark = pytest.mark.slow

# these tests are about failing: no hand-off to the offline spool (tests/sync/ covers that)
OFF = "tracking.offline=off"
UNREACHABLE_SECONDS = 30  # "fails within about 15 s"; the margin is for a busy 2-core machine


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "mlops_tracking", *args]


def environment(uri: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_HTTP_REQUEST")}
    return {**env, "MLFLOW_TRACKING_URI": uri, "MLFLOW_DISABLE_TELEMETRY": "true"}


@dataclass(frozen=True)
class Finished:
    code: int
    output: str
    seconds: float


def run_to_the_end(command: list[str], uri: str, cwd: Path) -> Finished:
    """Run ``command`` against the store at ``uri``; its exit code, output and wall time."""
    started = time.monotonic()
    done = subprocess.run(
        command,
        check=False,
        cwd=cwd,
        env=environment(uri),
        capture_output=True,
        text=True,
        timeout=600,
    )
    return Finished(done.returncode, done.stdout + done.stderr, time.monotonic() - started)


class Server:
    """``mlflow server`` on a fixed port over ``folder/mlflow.db``, which can die and return."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--workers", "1"]
        command += ["--backend-store-uri", f"sqlite:///{self.folder / 'mlflow.db'}"]
        command += ["--artifacts-destination", str(self.folder / "mlartifacts")]
        self.process = subprocess.Popen(
            command,
            cwd=self.folder,
            env={k: v for k, v in environment("").items() if k != "MLFLOW_TRACKING_URI"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_until_healthy(self.url, self.process, 180)

    def kill(self) -> None:
        """SIGKILL the server and its workers: no goodbye, the port refuses at once."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def freeze(self) -> None:
        """SIGSTOP the server: the kernel still accepts connections, nothing ever answers."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGSTOP)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGCONT)
            stop(self.process)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    folder = tmp_path / "server"
    folder.mkdir()
    running = Server(folder)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def stored_runs(folder: Path) -> list[tuple[str, str, int | None]]:
    """(run id, status, end time) of every run, read from the server's database file."""
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments)
    return [(run.info.run_id, run.info.status, run.info.end_time) for run in runs]


def closed_port_uri() -> str:
    return f"http://127.0.0.1:{free_port()}"


@pytest.mark.parametrize(
    "args",
    [
        ("runs",),
        ("audit", "0123456789abcdef"),
        ("train", "--config", str(PARAMS), *sets(*FAST, OFF)),
    ],
    ids=["runs", "audit", "train"],
)
def test_a_closed_port_fails_fast_with_the_refused_message(
    args: tuple[str, ...], tmp_path: Path
) -> None:
    uri = closed_port_uri()
    result = run_to_the_end(cli(*args), uri, tmp_path)
    print(f"{args[0]} against a closed port: {result.seconds:.1f} s")
    assert result.code == 2, result.output
    expected = f"cannot open the tracking store {uri}: the tracking server refused the connection"
    assert expected in result.output
    assert "is it running?" in result.output
    assert result.seconds < UNREACHABLE_SECONDS


@pytest.mark.parametrize("command", ["runs", "train"])
def test_a_server_that_never_answers_fails_within_the_bound(command: str, tmp_path: Path) -> None:
    args = ("runs",) if command == "runs" else ("train", "--config", str(PARAMS), *sets(*FAST, OFF))
    with socket.socket() as silent:  # the kernel accepts connections; nobody ever answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
        result = run_to_the_end(cli(*args), uri, tmp_path)
    print(f"{command} against a silent socket: {result.seconds:.1f} s")
    assert result.code == 2, result.output
    assert "did not answer in time" in result.output
    assert result.seconds < UNREACHABLE_SECONDS


def train_until_the_run_exists(server: Server, cwd: Path, *overrides: str) -> subprocess.Popen[str]:
    """Start ``train`` against ``server``; return once its run is in the store."""
    process = subprocess.Popen(
        train_command(*FAST, OFF, "tracking.system_metrics_interval=0.2", *overrides),
        cwd=cwd,
        env=environment(server.url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if stored_runs(server.folder):
            return process
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"train made no run: {process.communicate()[0]}")


def test_a_server_killed_mid_run_ends_train_in_bounded_time(server: Server, tmp_path: Path) -> None:
    window = 10
    process = train_until_the_run_exists(
        server, tmp_path, f"tracking.http.outage_window_seconds={window}"
    )
    server.kill()
    killed = time.monotonic()
    output, _ = process.communicate(timeout=300)
    seconds = time.monotonic() - killed
    print(f"train after the server was killed: ended {seconds:.1f} s later (window {window} s)")
    print(output)
    assert process.returncode == 1, output
    # the first request to fail meets a refused connection, or one the dying server reset
    said = " ".join(output.split())
    assert "refused the connection" in said or "cannot reach the tracking server" in said, said
    assert "could not be closed" in output
    assert "mlops-tracking runs --reap" in output
    assert "no run had started" not in output
    # the window, then the clean-up without retries; generous for a loaded machine
    assert seconds < window + 60
    [(run_id, status, end_time)] = stored_runs(server.folder)
    assert run_id in output
    assert (status, end_time) == ("RUNNING", None)  # for the reaper, once the server is back


def test_a_server_restarted_within_the_window_lets_the_run_finish(
    server: Server, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    process = train_until_the_run_exists(server, tmp_path)  # default window: 120 s
    server.kill()
    down = time.monotonic()
    server.start()
    print(f"server back after {time.monotonic() - down:.1f} s")
    output, _ = process.communicate(timeout=400)
    print(f"train ended {time.monotonic() - down:.1f} s after the kill")
    assert process.returncode == 0, output
    assert "Retrying" in output  # urllib3's warning: requests did fail while the server was down
    [run] = MlflowClient(server.url).search_runs(
        [e.experiment_id for e in MlflowClient(server.url).search_experiments()]
    )
    assert run.info.status == "FINISHED"
    assert run.info.end_time is not None
    assert "test_accuracy" in run.data.metrics


def test_a_server_frozen_mid_run_ends_train_in_bounded_time(server: Server, tmp_path: Path) -> None:
    window, timeout = 10, 5
    process = train_until_the_run_exists(
        server,
        tmp_path,
        f"tracking.http.outage_window_seconds={window}",
        f"tracking.http.run_timeout_seconds={timeout}",
    )
    server.freeze()
    frozen = time.monotonic()
    output, _ = process.communicate(timeout=600)
    seconds = time.monotonic() - frozen
    print(f"train after the server froze: ended {seconds:.1f} s later")
    assert process.returncode == 1, output
    assert "did not answer in time" in output
    assert "mlops-tracking runs --reap" in output
    # the failing request: 5 attempts x 5 s + 14 s of backoff; then each clean-up call one
    # short timeout (4 s); generous for a loaded machine
    assert seconds < 5 * timeout + 14 + 90
    server.kill()  # SIGKILL works on a stopped process; it never serves the queued requests
    [(_, status, end_time)] = stored_runs(server.folder)
    assert (status, end_time) == ("RUNNING", None)
