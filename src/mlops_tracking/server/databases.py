"""The server's PostgreSQL databases: reachable, and created when they do not exist yet.

MLflow creates its tables itself (and upgrades them); it does not create the database. A
PostgreSQL that is down or refuses the role is reported here, before ``mlflow server`` starts
and prints a page of SQLAlchemy traceback.
"""

from __future__ import annotations

from typing import Any

from mlops_tracking.server.plan import ServerSetupError, redacted


def ensure_database(uri: str, create: bool) -> bool:
    """Make sure the database of a ``postgresql://`` URI exists; True when it was created.

    Other URIs (sqlite, mysql) are left to MLflow. Connects to the server's ``postgres``
    database with the URI's own role, host and password.
    """
    from sqlalchemy.engine import make_url

    url = make_url(uri)
    if not url.drivername.startswith("postgresql") or not url.database:
        return False
    import psycopg
    from psycopg import sql

    place = f"{url.host or 'localhost'}:{url.port or 5432}"
    params: dict[str, Any] = {
        "host": url.host or "localhost",
        "port": url.port or 5432,
        "user": url.username,
        "password": url.password,
        "dbname": "postgres",
        "connect_timeout": 5,
        "autocommit": True,  # CREATE DATABASE cannot run inside a transaction
    }
    try:
        with psycopg.connect(**{k: v for k, v in params.items() if v is not None}) as connection:
            found = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (url.database,)
            ).fetchone()
            if found:
                return False
            if not create:
                raise ServerSetupError(
                    f"database '{url.database}' does not exist on PostgreSQL at {place}; "
                    f"create it (createdb {url.database}) or set server.create_databases=true"
                )
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(url.database)))
            return True
    except psycopg.OperationalError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ServerSetupError(
            f"PostgreSQL at {place} cannot be reached for {redacted(uri)}: {first}. Start it "
            "(e.g. `service postgresql start`) or point server.backend_store_uri elsewhere"
        ) from None
