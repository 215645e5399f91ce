"""A real team server for tests: ``mlops-tracking server``'s plan on fresh PostgreSQL databases.

``running_team_server(folder)`` starts MLflow's server exactly as ``mlops-tracking server``
would (PostgreSQL backend, proxied artifacts, basic-auth with its users on PostgreSQL, an auth
cache), on two databases of its own that are dropped afterwards. The ``team_server`` fixture in
conftest.py shares one per test process; tests that kill or restart a server start their own.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mlops_tracking.registry.endpoints import free_port

POSTGRES = "postgresql://postgres@127.0.0.1:5432"


def postgres_running() -> bool:
    if shutil.which("pg_isready") is None:
        return False
    return subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"], check=False).returncode == 0


requires_postgres = pytest.mark.skipif(
    not postgres_running(),
    reason="PostgreSQL is not running on 127.0.0.1:5432 (.ci/run starts it where it is installed)",
)


@dataclass
class TeamServer:
    """A running (or stopped) server and the users made on it."""

    folder: Path
    port: int
    databases: tuple[str, str]  # the tracking store's and the auth store's
    environ: dict[str, str]  # the server's secrets
    auth: bool
    users: dict[str, str] = field(default_factory=dict)  # name -> password
    auth_cache_ttl_seconds: int = 60
    process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def backend_store_uri(self) -> str:
        return f"{POSTGRES}/{self.databases[0]}"

    def settings(self):  # type: ignore[no-untyped-def]
        from mlops_tracking.core.config import ServerConfig

        return ServerConfig(
            port=self.port,
            workers=2,
            backend_store_uri=self.backend_store_uri,
            auth=self.auth,
            auth_database_uri=f"{POSTGRES}/{self.databases[1]}",
            auth_cache_ttl_seconds=self.auth_cache_ttl_seconds,
            artifacts_destination=str(self.folder / "artifacts"),
            state_dir=self.folder / "server",
        )

    def plan(self):  # type: ignore[no-untyped-def]
        from mlops_tracking.server.plan import plan_server

        return plan_server(self.settings(), {**os.environ, **self.environ})

    def start(self) -> None:
        from mlops_tracking.server import process

        plan = self.plan()
        self.process = process.start(plan)
        process.wait_until_ready(plan, self.process)

    def stop(self) -> None:
        from mlops_tracking.server import process

        if self.process is not None:
            process.stop(self.process)

    def kill(self) -> None:
        """SIGKILL the server and its workers: a machine that went away."""
        if self.process is not None and self.process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def env(self, user: str | None = "admin") -> dict[str, str]:
        """A client's environment: this server as the tracking URI, ``user``'s credentials."""
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
        }
        env.update(MLFLOW_TRACKING_URI=self.uri, MLFLOW_DISABLE_TELEMETRY="true")
        if self.auth and user is not None:
            env.update(MLFLOW_TRACKING_USERNAME=user, MLFLOW_TRACKING_PASSWORD=self.users[user])
        return env

    def add_user(self, name: str) -> str:
        """Create ``name`` through the auth API (as the admin); return its password."""
        import requests

        password = secrets.token_urlsafe(12)
        response = requests.post(
            f"{self.uri}/api/2.0/mlflow/users/create",
            json={"username": name, "password": password},
            auth=("admin", self.users["admin"]),
            timeout=30,
        )
        response.raise_for_status()
        self.users[name] = password
        return password

    def grant_model(self, model: str, user: str, permission: str) -> None:
        """Give ``user`` ``permission`` (READ, EDIT, MANAGE) on a registered model, as the admin."""
        import requests

        response = requests.post(
            f"{self.uri}/api/3.0/mlflow/users/permissions/grant",
            json={
                "username": user,
                "resource_type": "registered_model",
                "resource_id": model,
                "permission": permission,
            },
            auth=("admin", self.users["admin"]),
            timeout=30,
        )
        response.raise_for_status()


@contextmanager
def running_team_server(
    folder: Path, *, auth: bool = True, auth_cache_ttl_seconds: int = 60
) -> Iterator[TeamServer]:
    """A server on two fresh PostgreSQL databases; users ``admin``, ``alice`` and ``bob``.

    ``bob`` has only the default READ permission on what others made. The databases are
    dropped when the block ends.
    """
    from mlops_tracking.server.databases import ensure_database

    name = f"mlops_test_{uuid.uuid4().hex[:10]}"
    admin_password = secrets.token_urlsafe(12)
    server = TeamServer(
        folder=folder,
        port=free_port(),
        databases=(name, f"{name}_auth"),
        environ={
            "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_urlsafe(16),
            "MLFLOW_AUTH_ADMIN_PASSWORD": admin_password,
        },
        auth=auth,
        users={"admin": admin_password} if auth else {},
        auth_cache_ttl_seconds=auth_cache_ttl_seconds,
    )
    for database in server.databases:
        ensure_database(f"{POSTGRES}/{database}", create=True)
    try:
        server.start()
        if auth:
            server.add_user("alice")
            server.add_user("bob")
        yield server
    finally:
        server.stop()
        for database in server.databases:
            _drop(database)


def _drop(database: str) -> None:
    subprocess.run(
        ["dropdb", "--if-exists", "--force", "-h", "127.0.0.1", "-U", "postgres", database],
        check=False,
        capture_output=True,
    )
