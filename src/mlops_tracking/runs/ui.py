"""Where the MLflow UI shows this store: the command that opens it, and the pages to visit.

MLflow 3.17's UI has two workflows, GenAI and model training, and a browser that has never
chosen one opens an experiment's link (``#/experiments/1``) on the GenAI overview ("Traces 0,
No data available"). Every link here names the model-training workflow
(``workflowType=machine_learning``), which opens the runs table, a run's page or a registered
version's page with the model-training sidebar (Runs, Models, Model registry).
"""

from __future__ import annotations

from urllib.parse import quote

from mlops_tracking.runs.store import redact, sqlite_path, tracking_uri

UI_PORT = 5000
TRAINING_VIEW = "workflowType=machine_learning"


def ui_command(experiment_id: str | None = None) -> tuple[str, str]:
    """The command that opens the MLflow UI on this store, and the URL of the experiment's runs.

    Without an experiment the URL is the list of experiments.
    """
    command, base = ui_base()
    return command, base + (runs_page(experiment_id) if experiment_id else experiments_page())


def ui_base() -> tuple[str, str]:
    """The command that opens the MLflow UI on this store, and the UI's address (ends in /)."""
    uri = tracking_uri()
    if uri.startswith(("http://", "https://")):
        return f"open {redact(uri)}", f"{redact(uri).rstrip('/')}/"
    database = sqlite_path(uri)
    store = f"sqlite:///{database}" if database is not None else redact(uri)
    command = f"mlflow ui --backend-store-uri {store} --host 127.0.0.1 --port {UI_PORT}"
    return command, f"http://127.0.0.1:{UI_PORT}/"


def experiments_page() -> str:
    """The list of experiments (relative to the UI's address)."""
    return f"#/experiments?{TRAINING_VIEW}"


def runs_page(experiment_id: str) -> str:
    """The experiment's runs table (relative to the UI's address)."""
    return f"#/experiments/{experiment_id}/runs?{TRAINING_VIEW}"


def run_page(experiment_id: str, run_id: str) -> str:
    """One run: overview (metrics with their models, params, datasets, tags), artifacts."""
    return f"#/experiments/{experiment_id}/runs/{run_id}?{TRAINING_VIEW}"


def registered_version_page(name: str, version: str) -> str:
    """One version of a registered model: description (the model card), aliases, tags."""
    return f"#/models/{quote(name, safe='')}/versions/{version}?{TRAINING_VIEW}"


def run_url(experiment_id: str, run_id: str) -> str:
    """The full address of a run's page on this store's UI."""
    return ui_base()[1] + run_page(experiment_id, run_id)


def registered_version_url(name: str, version: str) -> str:
    """The full address of a registered version's page on this store's UI."""
    return ui_base()[1] + registered_version_page(name, version)
