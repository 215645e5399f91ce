"""Open the tracking store: resolve its URI, create it once, and find or create experiments."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from mlops_tracking.core.errors import StoreError
from mlops_tracking.runs.http_errors import classify, describe, redact

if TYPE_CHECKING:
    from mlops_tracking.core.config import HttpConfig

__all__ = ["redact"]  # kept here for the modules that import it from the store

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` when set, else ``sqlite:///mlflow.db`` in the working directory.

    The ``./mlruns`` file store is refused by MLflow since 3.13 and is never used here.
    """
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, or None for any other store."""
    parsed = urlparse(uri)
    if parsed.scheme != "sqlite":
        return None
    # sqlite:///relative.db -> path "/relative.db"; sqlite:////abs.db -> "//abs.db"
    raw = uri[len("sqlite:///") :]
    return Path(raw) if raw else None


@contextmanager
def exclusive(lock_path: Path) -> Iterator[None]:
    """An exclusive lock between processes (POSIX ``flock``; no lock where it is missing)."""
    try:
        import fcntl
    except ImportError:  # Windows: MLflow's own retries are all there is
        yield
        return
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def artifact_root(uri: str) -> Path | None:
    """Where a local store keeps artifacts: ``mlruns/`` next to its database file.

    MLflow's default is ``./mlruns`` relative to whichever directory first opened the store,
    which scatters artifacts when commands run from different places. Servers decide their own.
    """
    database = sqlite_path(uri)
    return None if database is None else database.resolve().parent / "mlruns"


def open_store(uri: str | None = None, http: HttpConfig | None = None) -> str:
    """Point MLflow at the store, make sure it answers (and has a schema); return the URI.

    ``http`` (default: ``tracking.http``'s defaults) sets MLflow's HTTP retries and timeouts:
    this first request gives up after about 15 s, later ones ride out an outage window
    (``runs/http_settings.py``). A store that cannot be reached raises ``StoreError`` saying
    why (refused, unreachable, timeout, 401, 403).

    Several processes opening a *fresh* SQLite file at once race in MLflow's schema creation
    (``table already exists`` / ``duplicate column``), so the first opening happens under an
    exclusive file lock next to the database. Servers handle their own concurrency.
    """
    import mlflow
    from mlflow import MlflowClient

    from mlops_tracking.core.config import HttpConfig
    from mlops_tracking.runs import http_settings

    uri = uri or tracking_uri()
    http = http or HttpConfig()
    mlflow.set_tracking_uri(uri)
    database = sqlite_path(uri)
    http_settings.apply(http, "open")
    try:
        if database is None:
            MlflowClient(uri).search_experiments(max_results=1)
        else:
            database.parent.mkdir(parents=True, exist_ok=True)
            with exclusive(database.with_name(database.name + ".lock")):
                MlflowClient(uri).search_experiments(max_results=1)
    except Exception as error:  # MlflowException, OSError, requests' connection errors, ...
        raise StoreError(_cannot_open(uri, error)) from None
    http_settings.apply(http, "run")
    return uri


def store_problem(error: BaseException, subject: str | None = None) -> str | None:
    """What went wrong reaching the current tracking server, in words; None for other errors.

    ``subject`` names what was accessed ("experiment 'wine-multiclass'") when it is known.
    """
    uri = tracking_uri()
    problem = classify(error, uri) if _is_server(uri) else None
    return None if problem is None else describe(problem, subject)


def _is_server(uri: str) -> bool:
    return urlparse(uri).scheme in ("http", "https")


def _cannot_open(uri: str, error: BaseException) -> str:
    problem = classify(error, uri) if _is_server(uri) else None
    if problem is not None:
        return f"cannot open the tracking store {redact(uri)}: {describe(problem, name_uri=False)}"
    reason = redact(str(error).splitlines()[0][:300]) if str(error) else type(error).__name__
    return (
        f"cannot open the tracking store {redact(uri)}: {reason}. Check "
        "MLFLOW_TRACKING_URI (and that the server is running)."
    )


def ensure_experiment(name: str, tags: dict[str, str] | None = None) -> str:
    """Return the id of experiment ``name``, creating it (with ``tags``) if needed."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    try:
        experiment = client.get_experiment_by_name(name)
    except MlflowException as error:
        raise StoreError(store_problem(error, f"experiment '{name}'") or str(error)) from None
    if experiment is None:
        root = artifact_root(client.tracking_uri)
        location = (root / _slug(name)).as_uri() if root is not None else None
        try:
            return str(client.create_experiment(name, artifact_location=location, tags=tags))
        except MlflowException as error:
            problem = store_problem(error, f"experiment '{name}'")
            if problem is not None:
                raise StoreError(f"cannot create experiment '{name}': {problem}") from None
            # Another process created it between our lookup and create: use theirs.
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise StoreError(f"cannot create experiment '{name}': {error}") from None
    if experiment.lifecycle_stage == "deleted":
        raise StoreError(
            f"experiment '{name}' (id {experiment.experiment_id}) is deleted. Restore it with "
            f"`mlflow experiments restore --experiment-id {experiment.experiment_id}` or pick "
            "another name with --experiment."
        )
    return str(experiment.experiment_id)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "experiment"
