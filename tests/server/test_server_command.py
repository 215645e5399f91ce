"""``mlops-tracking server`` for real: PostgreSQL databases, auth, and what clients are told."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import PARAMS, cli, sets
from mlops_tracking.registry.endpoints import free_port
from team_server import POSTGRES, TeamServer, requires_postgres

pytestmark = [pytest.mark.slow, requires_postgres]

CLI = [sys.executable, "-m", "mlops_tracking"]


def test_the_server_command_starts_checks_and_stops(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    name = f"mlops_test_{uuid.uuid4().hex[:10]}"
    port = free_port()
    password = secrets.token_urlsafe(12)
    env = {
        **os.environ,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_urlsafe(16),
        "MLFLOW_AUTH_ADMIN_PASSWORD": password,
    }
    overrides = sets(
        f"server.port={port}",
        f"server.backend_store_uri={POSTGRES}/{name}",
        f"server.auth_database_uri={POSTGRES}/{name}_auth",
        f"server.artifacts_destination={tmp_path / 'artifacts'}",
        f"server.state_dir={tmp_path / 'state'}",
        "server.workers=1",
    )
    server = subprocess.Popen(
        [*CLI, "server", "--config", str(PARAMS), *overrides],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        seen = []
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            line = server.stdout.readline()
            seen.append(line)
            if "Stop with Ctrl-C." in line or not line:
                break
        printed = "".join(seen)
        assert f"Created database {name}\n" in printed, printed
        assert f"Created database {name}_auth" in printed
        assert "MLflow tracking server ready in" in printed
        assert f"export MLFLOW_TRACKING_URI=http://127.0.0.1:{port}" in printed
        assert "admin user 'admin'" in printed

        uri = f"http://127.0.0.1:{port}"
        ini = tmp_path / "state" / "basic_auth.ini"
        assert oct(ini.stat().st_mode & 0o777) == "0o600"
        assert f"database_uri = {POSTGRES}/{name}_auth" in ini.read_text()
        os.environ.update(MLFLOW_TRACKING_USERNAME="admin", MLFLOW_TRACKING_PASSWORD=password)
        try:
            client = MlflowClient(uri)
            experiment = client.create_experiment("team")
            run = client.create_run(experiment)
            client.log_text(run.info.run_id, "proxied", "note.txt")
            listed = [item.path for item in client.list_artifacts(run.info.run_id)]
        finally:
            os.environ.pop("MLFLOW_TRACKING_USERNAME")
            os.environ.pop("MLFLOW_TRACKING_PASSWORD")
        assert listed == ["note.txt"]
        stored = list((tmp_path / "artifacts").rglob("note.txt"))
        assert len(stored) == 1, "the server keeps proxied artifacts in artifacts_destination"

        server.send_signal(signal.SIGTERM)
        rest, _ = server.communicate(timeout=60)
        assert "Server stopped." in rest
        assert server.returncode == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
        for database in (name, f"{name}_auth"):
            subprocess.run(
                ["dropdb", "--if-exists", "--force", "-h", "127.0.0.1", "-U", "postgres", database],
                check=False,
                capture_output=True,
            )


def test_the_server_refuses_to_start_without_its_secrets(tmp_path: Path) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("MLFLOW_FLASK_SERVER_SECRET_KEY", "MLFLOW_AUTH_ADMIN_PASSWORD")
    }
    done = cli("server", "--config", str(PARAMS), env=env, cwd=tmp_path, timeout=60)
    assert done.returncode == 2, done.stdout
    assert "MLFLOW_FLASK_SERVER_SECRET_KEY and MLFLOW_AUTH_ADMIN_PASSWORD" in done.stdout
    assert not (tmp_path / "build").exists()


def test_new_secrets_make_a_private_file_once(tmp_path: Path) -> None:
    done = cli(
        "server", "--new-secrets", ".server.env", env=dict(os.environ), cwd=tmp_path, timeout=60
    )
    assert done.returncode == 0, done.stdout
    assert (tmp_path / ".server.env").stat().st_mode & 0o077 == 0
    again = cli(
        "server", "--new-secrets", ".server.env", env=dict(os.environ), cwd=tmp_path, timeout=60
    )
    assert again.returncode == 2
    assert "exists" in again.stdout


def test_clients_are_told_401_from_403_before_any_training(
    team_server: TeamServer, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    nobody = cli("runs", env=team_server.env(None), cwd=tmp_path)
    assert nobody.returncode == 2
    assert "HTTP 401" in nobody.stdout
    assert "MLFLOW_TRACKING_USERNAME" in nobody.stdout

    wrong = {**team_server.env("alice"), "MLFLOW_TRACKING_PASSWORD": "not-it"}
    rejected = cli("runs", env=wrong, cwd=tmp_path)
    assert rejected.returncode == 2
    assert "HTTP 401" in rejected.stdout

    os.environ.update(MLFLOW_TRACKING_USERNAME="alice")
    os.environ.update(MLFLOW_TRACKING_PASSWORD=team_server.users["alice"])
    try:
        client = MlflowClient(team_server.uri)
        experiment = client.create_experiment(f"alice-{uuid.uuid4().hex[:6]}")
        name = client.get_experiment(experiment).name
    finally:
        os.environ.pop("MLFLOW_TRACKING_USERNAME")
        os.environ.pop("MLFLOW_TRACKING_PASSWORD")
    denied = cli(
        "train",
        "--config",
        str(PARAMS),
        "--experiment",
        name,
        env=team_server.env("bob"),
        cwd=tmp_path,
    )
    assert denied.returncode == 1, denied.stdout
    assert "HTTP 403" in denied.stdout
    assert "create a run" in denied.stdout
    assert "Traceback" not in denied.stdout
    admin = {"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": "x"}
    admin["MLFLOW_TRACKING_PASSWORD"] = team_server.users["admin"]
    os.environ.update(admin)
    try:
        runs = MlflowClient(team_server.uri).search_runs([experiment])
    finally:
        for key in admin:
            os.environ.pop(key)
    assert runs == [], "a denied train leaves no run behind"
