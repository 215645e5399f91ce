"""Open the tracking store: resolve its URI, create it once, and find or create experiments."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from mlops_tracking.core.errors import StoreError

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


def redact(uri: str) -> str:
    """The URI with any password replaced, safe to print or log."""
    return re.sub(r"(//[^:/@]+:)[^@/]+@", r"\1***@", uri)


def artifact_root(uri: str) -> Path | None:
    """Where a local store keeps artifacts: ``mlruns/`` next to its database file.

    MLflow's default is ``./mlruns`` relative to whichever directory first opened the store,
    which scatters artifacts when commands run from different places. Servers decide their own.
    """
    database = sqlite_path(uri)
    return None if database is None else database.resolve().parent / "mlruns"


def open_store(uri: str | None = None) -> str:
    """Point MLflow at the store, make sure it answers (and has a schema); return the URI.

    Several processes opening a *fresh* SQLite file at once race in MLflow's schema creation
    (``table already exists`` / ``duplicate column``), so the first opening happens under an
    exclusive file lock next to the database. Servers handle their own concurrency.
    """
    import mlflow
    from mlflow import MlflowClient

    uri = uri or tracking_uri()
    mlflow.set_tracking_uri(uri)
    database = sqlite_path(uri)
    try:
        if database is None:
            MlflowClient(uri).search_experiments(max_results=1)
            return uri
        database.parent.mkdir(parents=True, exist_ok=True)
        with exclusive(database.with_name(database.name + ".lock")):
            MlflowClient(uri).search_experiments(max_results=1)
    except Exception as error:  # MlflowException, OSError, requests' connection errors, ...
        reason = redact(str(error).splitlines()[0][:300]) if str(error) else type(error).__name__
        raise StoreError(
            f"cannot open the tracking store {redact(uri)}: {reason}. Check "
            "MLFLOW_TRACKING_URI (and that the server is running)."
        ) from None
    return uri


def ensure_experiment(name: str, tags: dict[str, str] | None = None) -> str:
    """Return the id of experiment ``name``, creating it (with ``tags``) if needed."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        root = artifact_root(client.tracking_uri)
        location = (root / _slug(name)).as_uri() if root is not None else None
        try:
            return str(client.create_experiment(name, artifact_location=location, tags=tags))
        except MlflowException as error:
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
