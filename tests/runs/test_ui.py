"""The UI addresses this project prints: MLflow 3.17's model-training pages, never GenAI's.

A real browser opens them in tests/ui/test_browser.py; these check the addresses themselves.
"""

from __future__ import annotations

import pytest

from mlops_tracking.runs.ui import registered_version_url, run_url, ui_command


def test_a_local_store_prints_the_command_and_the_runs_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////data/team/mlflow.db")

    command, url = ui_command("7")

    assert command == (
        "mlflow ui --backend-store-uri sqlite:////data/team/mlflow.db --host 127.0.0.1 --port 5000"
    )
    assert url == "http://127.0.0.1:5000/#/experiments/7/runs?workflowType=machine_learning"


def test_a_server_store_is_opened_where_it_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://bob:secret@tracking:8080/")

    command, url = ui_command("3")

    assert command == "open http://bob:***@tracking:8080/"
    assert url == "http://bob:***@tracking:8080/#/experiments/3/runs?workflowType=machine_learning"
    assert "secret" not in command + url


def test_without_an_experiment_the_list_of_experiments_opens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db")

    assert ui_command()[1] == "http://127.0.0.1:5000/#/experiments?workflowType=machine_learning"


def test_run_and_version_pages_name_the_training_workflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5055")

    assert run_url("2", "abc123") == (
        "http://127.0.0.1:5055/#/experiments/2/runs/abc123?workflowType=machine_learning"
    )
    # a registered model's name may hold characters a URL path cannot
    assert registered_version_url("churn model", "4") == (
        "http://127.0.0.1:5055/#/models/churn%20model/versions/4?workflowType=machine_learning"
    )
