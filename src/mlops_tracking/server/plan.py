"""What ``mlops-tracking server`` starts: the ``mlflow server`` command, environment, auth file.

Pure planning (no process is started, no database touched), so every refusal happens before
anything runs: a missing secret, a psycopg2 URI, a folder that cannot hold artifacts. The
secrets come from the environment only; the generated ``basic_auth.ini`` holds the auth
database URI and is written with owner-only permissions.
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_tracking.core.errors import UserError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mlops_tracking.core.config import ServerConfig

SECRET_KEY = "MLFLOW_FLASK_SERVER_SECRET_KEY"
ADMIN_PASSWORD = "MLFLOW_AUTH_ADMIN_PASSWORD"
ADMIN_USERNAME = "MLFLOW_AUTH_ADMIN_USERNAME"
BACKEND_URI = "MLFLOW_BACKEND_STORE_URI"
AUTH_DATABASE_URI = "MLOPS_AUTH_DATABASE_URI"
DEFAULT_ADMIN = "admin"


class ServerSetupError(UserError):
    """The server cannot start as configured; the message says what to set."""


@dataclass(frozen=True)
class ServerPlan:
    command: list[str]
    env: dict[str, str]
    auth_ini: str | None  # the text of basic_auth.ini, None without auth
    auth_ini_path: Path
    log_path: Path
    backend_store_uri: str
    auth_database_uri: str | None
    artifacts_destination: str
    url: str  # what clients set as MLFLOW_TRACKING_URI on this machine
    admin_username: str | None

    def ui_url(self, experiment_id: str | None = None) -> str:
        if experiment_id is None:
            return f"{self.url}/#/experiments"
        return f"{self.url}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"


def plan_server(settings: ServerConfig, environ: Mapping[str, str] | None = None) -> ServerPlan:
    """The command and environment that start ``settings``' server; refuse what cannot work."""
    environ = dict(os.environ if environ is None else environ)
    backend = environ.get(BACKEND_URI) or settings.backend_store_uri
    check_database_uri(backend, "server.backend_store_uri", BACKEND_URI)
    state = settings.state_dir.resolve()
    artifacts = _artifacts(settings.artifacts_destination)
    auth_uri = None
    if settings.auth:
        missing = [name for name in (SECRET_KEY, ADMIN_PASSWORD) if not environ.get(name)]
        if missing:
            raise ServerSetupError(
                f"the server's auth needs {' and '.join(missing)} in the environment (secrets "
                "never go in params.yaml); `make server` creates a local .server.env with "
                "random values, or set server.auth=false for a server without users"
            )
        auth_uri = environ.get(AUTH_DATABASE_URI) or settings.auth_database_uri
        check_database_uri(auth_uri, "server.auth_database_uri", AUTH_DATABASE_URI)
    host_for_clients = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    url = f"http://{host_for_clients}:{settings.port}"
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        backend,
        "--serve-artifacts",
        "--artifacts-destination",
        artifacts,
        "--host",
        settings.host,
        "--port",
        str(settings.port),
        "--workers",
        str(settings.workers),
        "--allowed-hosts",
        ",".join(settings.allowed_hosts or allowed_hosts(settings.host, settings.port)),
        "--cors-allowed-origins",
        ",".join(settings.cors_allowed_origins or own_origins(settings.host, settings.port)),
    ]
    env = {**environ, "MLFLOW_DISABLE_TELEMETRY": environ.get("MLFLOW_DISABLE_TELEMETRY", "true")}
    env.pop(BACKEND_URI, None)  # passed on the command line; one source of truth
    env.pop("MLFLOW_TRACKING_URI", None)  # the server is the store, not a client of one
    ini_path = state / "basic_auth.ini"
    ini = None
    if settings.auth:
        command += ["--app-name", "basic-auth"]
        ini = auth_ini(settings, auth_uri or "")
        env["MLFLOW_AUTH_CONFIG_PATH"] = str(ini_path)
    return ServerPlan(
        command=command,
        env=env,
        auth_ini=ini,
        auth_ini_path=ini_path,
        log_path=state / "server.log",
        backend_store_uri=backend,
        auth_database_uri=auth_uri,
        artifacts_destination=artifacts,
        url=url,
        admin_username=(environ.get(ADMIN_USERNAME) or DEFAULT_ADMIN) if settings.auth else None,
    )


def check_database_uri(uri: str, key: str, variable: str) -> None:
    """A URI SQLAlchemy 2.1 can open with the drivers in the lock, or a clear refusal."""
    scheme = uri.split("://", 1)[0] if "://" in uri else ""
    if scheme in ("postgresql", "postgresql+psycopg", "sqlite", "mysql+pymysql"):
        return
    if scheme == "postgresql+psycopg2":
        raise ServerSetupError(
            f"{key} uses psycopg2 ({redacted(uri)}), which is not installed; write "
            "postgresql://... (psycopg 3, installed with the project)"
        )
    raise ServerSetupError(
        f"{key} (or {variable}) must be a database URI such as "
        f"postgresql://USER@HOST:5432/DB, not '{redacted(uri)}'"
    )


def auth_ini(settings: ServerConfig, database_uri: str) -> str:
    """MLflow's basic-auth configuration; the admin comes from MLFLOW_AUTH_ADMIN_* variables."""
    return "\n".join(
        [
            "# Written by mlops-tracking server from params.yaml (server.*); do not edit.",
            "[mlflow]",
            f"default_permission = {settings.default_permission}",
            f"database_uri = {database_uri}",
            f"admin_username = {DEFAULT_ADMIN}",
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth",
            f"auth_cache_ttl_seconds = {settings.auth_cache_ttl_seconds}",
            "auth_cache_max_size = 10000",
            "",
        ]
    )


def allowed_hosts(host: str, port: int) -> list[str]:
    """This machine's names on ``port``: loopback always, the host's own names when it listens."""
    names = {"localhost", "127.0.0.1", "[::1]"}
    if host in ("0.0.0.0", "::"):
        names |= {socket.gethostname(), socket.getfqdn()}
    else:
        names.add(host)
    return sorted(f"{name}:{port}" for name in names)


def own_origins(host: str, port: int) -> list[str]:
    return [f"http://{name}" for name in allowed_hosts(host, port)]


def new_secrets() -> dict[str, str]:
    """Random values for a local server's secrets (``make server`` keeps them in .server.env)."""
    return {SECRET_KEY: secrets.token_urlsafe(32), ADMIN_PASSWORD: secrets.token_urlsafe(18)}


def write_env_file(path: Path, values: Mapping[str, str]) -> None:
    """``NAME=value`` lines, readable by the owner only (``set -a; . FILE`` exports them)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write("# Secrets of the local team server (mlops-tracking server). Keep private.\n")
        handle.writelines(f"{name}={value}\n" for name, value in values.items())


def write_auth_ini(plan: ServerPlan) -> None:
    if plan.auth_ini is None:
        return
    plan.auth_ini_path.parent.mkdir(parents=True, exist_ok=True)
    plan.auth_ini_path.unlink(missing_ok=True)
    descriptor = os.open(plan.auth_ini_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(plan.auth_ini)


def _artifacts(destination: str) -> str:
    if "://" in destination:
        return destination  # s3://, gs://, wasbs://, ...: the server's credentials reach it
    return str(Path(destination).expanduser().resolve())


def redacted(uri: str) -> str:
    """The URI without a password, for messages."""
    if "@" not in uri or "://" not in uri:
        return uri
    scheme, rest = uri.split("://", 1)
    credentials, place = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{place}" if ":" in credentials else uri
