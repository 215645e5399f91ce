"""Where the MLflow UI shows this store: the command that opens it, and the URL to visit."""

from __future__ import annotations

from mlops_tracking.runs.store import redact, sqlite_path, tracking_uri


def ui_command(experiment_id: str | None = None) -> tuple[str, str]:
    """The command that opens the MLflow UI on this store, and the URL to visit."""
    uri = tracking_uri()
    suffix = f"#/experiments/{experiment_id}" if experiment_id else ""
    if uri.startswith(("http://", "https://")):
        return f"open {redact(uri)}", f"{redact(uri).rstrip('/')}/{suffix}"
    database = sqlite_path(uri)
    store = f"sqlite:///{database}" if database is not None else redact(uri)
    command = f"mlflow ui --backend-store-uri {store} --host 127.0.0.1 --port 5000"
    return command, f"http://127.0.0.1:5000/{suffix}"
