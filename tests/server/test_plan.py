"""``mlops-tracking server``'s plan: refusals before anything starts, and what it would run."""

from __future__ import annotations

import stat
import subprocess
import uuid
from pathlib import Path

import pytest

from mlops_tracking.core.config import ServerConfig
from mlops_tracking.server.databases import ensure_database
from mlops_tracking.server.plan import (
    ServerSetupError,
    new_secrets,
    plan_server,
    write_env_file,
)
from team_server import POSTGRES, requires_postgres

SECRETS = new_secrets()


def _settings(tmp_path: Path, **changes: object) -> ServerConfig:
    base = {"artifacts_destination": str(tmp_path / "artifacts"), "state_dir": tmp_path / "state"}
    return ServerConfig.model_validate({**base, **changes})


def test_auth_without_its_secrets_is_refused_naming_both(tmp_path: Path) -> None:
    with pytest.raises(ServerSetupError) as refused:
        plan_server(_settings(tmp_path), {})
    message = str(refused.value)
    assert "MLFLOW_FLASK_SERVER_SECRET_KEY and MLFLOW_AUTH_ADMIN_PASSWORD" in message
    assert "make server" in message


def test_one_missing_secret_is_named_alone(tmp_path: Path) -> None:
    only_key = {"MLFLOW_FLASK_SERVER_SECRET_KEY": "k"}
    with pytest.raises(ServerSetupError, match="needs MLFLOW_AUTH_ADMIN_PASSWORD in"):
        plan_server(_settings(tmp_path), only_key)


def test_the_plan_serves_artifacts_with_auth_and_its_cache(tmp_path: Path) -> None:
    plan = plan_server(_settings(tmp_path, port=5123), SECRETS)
    command = plan.command
    assert command[1:4] == ["-m", "mlflow", "server"]
    assert command[command.index("--backend-store-uri") + 1] == ServerConfig().backend_store_uri
    assert "--serve-artifacts" in command
    assert command[command.index("--artifacts-destination") + 1] == str(tmp_path / "artifacts")
    assert command[command.index("--app-name") + 1] == "basic-auth"
    hosts = command[command.index("--allowed-hosts") + 1].split(",")
    assert {"127.0.0.1:5123", "localhost:5123"} <= set(hosts)
    origins = command[command.index("--cors-allowed-origins") + 1].split(",")
    assert "http://localhost:5123" in origins
    assert plan.env["MLFLOW_AUTH_CONFIG_PATH"] == str(tmp_path / "state" / "basic_auth.ini")
    assert "MLFLOW_TRACKING_URI" not in plan.env
    assert plan.auth_ini is not None
    assert "auth_cache_ttl_seconds = 60" in plan.auth_ini
    assert f"database_uri = {ServerConfig().auth_database_uri}" in plan.auth_ini
    assert plan.url == "http://127.0.0.1:5123"
    assert plan.ui_url("3").endswith("/#/experiments/3/runs?workflowType=machine_learning")


def test_configured_hosts_and_origins_replace_the_defaults(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        host="0.0.0.0",
        allowed_hosts=["mlflow.team.example"],
        cors_allowed_origins=["https://notebooks.team.example"],
    )
    plan = plan_server(settings, SECRETS)
    assert plan.command[plan.command.index("--allowed-hosts") + 1] == "mlflow.team.example"
    origins = plan.command[plan.command.index("--cors-allowed-origins") + 1]
    assert origins == "https://notebooks.team.example"
    assert plan.url == "http://127.0.0.1:5050"  # a client on this machine


def test_without_auth_no_secrets_are_needed(tmp_path: Path) -> None:
    plan = plan_server(_settings(tmp_path, auth=False), {})
    assert "--app-name" not in plan.command
    assert plan.auth_ini is None
    assert plan.admin_username is None


def test_the_environment_uri_wins_and_its_password_stays_out_of_messages(tmp_path: Path) -> None:
    secret_uri = "postgresql://team:hunter2@db.internal:5432/mlflow"
    plan = plan_server(_settings(tmp_path), {**SECRETS, "MLFLOW_BACKEND_STORE_URI": secret_uri})
    assert plan.command[plan.command.index("--backend-store-uri") + 1] == secret_uri
    assert "MLFLOW_BACKEND_STORE_URI" not in plan.env
    psycopg2 = "postgresql+psycopg2://team:hunter2@db.internal/mlflow"
    with pytest.raises(ServerSetupError, match="psycopg 3") as refused:
        plan_server(_settings(tmp_path), {**SECRETS, "MLFLOW_BACKEND_STORE_URI": psycopg2})
    assert "hunter2" not in str(refused.value)
    assert "team:***@db.internal" in str(refused.value)


@pytest.mark.parametrize("uri", ["./mlruns", "file:///tmp/store", "http://other:5000"])
def test_a_store_that_is_not_a_database_is_refused(tmp_path: Path, uri: str) -> None:
    with pytest.raises(ServerSetupError, match="must be a database URI"):
        plan_server(_settings(tmp_path, backend_store_uri=uri), SECRETS)


def test_new_secrets_are_random_and_readable_by_the_owner_only(tmp_path: Path) -> None:
    path = tmp_path / ".server.env"
    write_env_file(path, new_secrets())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    values = dict(line.split("=", 1) for line in lines)
    assert set(values) == {"MLFLOW_FLASK_SERVER_SECRET_KEY", "MLFLOW_AUTH_ADMIN_PASSWORD"}
    assert all(len(value) >= 20 for value in values.values())
    assert new_secrets() != new_secrets()
    with pytest.raises(FileExistsError):
        write_env_file(path, new_secrets())


@requires_postgres
def test_a_missing_database_is_created_once(tmp_path: Path) -> None:
    name = f"mlops_test_{uuid.uuid4().hex[:10]}"
    uri = f"{POSTGRES}/{name}"
    try:
        with pytest.raises(ServerSetupError, match=f"database '{name}' does not exist"):
            ensure_database(uri, create=False)
        assert ensure_database(uri, create=True) is True
        assert ensure_database(uri, create=True) is False
    finally:
        subprocess.run(
            ["dropdb", "--if-exists", "-h", "127.0.0.1", "-U", "postgres", name], check=False
        )


def test_a_postgresql_that_is_not_there_is_named() -> None:
    with pytest.raises(ServerSetupError, match=r"PostgreSQL at 127.0.0.1:9 cannot be reached"):
        ensure_database("postgresql://postgres@127.0.0.1:9/mlflow", create=True)


def test_other_databases_are_left_to_mlflow() -> None:
    assert ensure_database("sqlite:///x.db", create=True) is False
