"""Store errors in words: refused, unreachable, timeout, 5xx, 401 and 403 told apart.

The 401/403 cases use a tiny HTTP server in a thread that answers as MLflow's basic-auth app
does (plain-text bodies), so MLflow's own client raises the exceptions being classified.
"""

from __future__ import annotations

import socket

import pytest

from fake_server import answering, closed_port
from mlops_tracking.core.config import HttpConfig
from mlops_tracking.core.errors import StoreError
from mlops_tracking.runs.http_errors import classify, describe, is_outage

QUICK = HttpConfig(timeout_seconds=1, max_retries=0, backoff_factor=0, backoff_jitter=0)


@pytest.fixture(autouse=True)
def restore_http_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests set MLflow's HTTP variables (through open_store): undo that afterwards."""
    from mlops_tracking.runs import http_settings

    for name in http_settings.VARIABLES:
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setattr(http_settings, "_applied", {})


AUTH_BODY = "You are not authenticated. Please see https://www.mlflow.org/docs/latest/auth/"


def test_401_names_the_credential_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_tracking.runs.store import open_store

    with answering({"/experiments/search": (401, AUTH_BODY)}) as url:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        with pytest.raises(StoreError, match=r"HTTP 401.*MLFLOW_TRACKING_USERNAME") as raised:
            open_store(http=QUICK)
    message = str(raised.value)
    assert "MLFLOW_TRACKING_PASSWORD" in message
    assert "MLFLOW_TRACKING_TOKEN" in message
    assert url in message


def test_403_names_the_experiment(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_tracking.runs.store import ensure_experiment, open_store

    with answering({"/experiments/get-by-name": (403, "Permission denied")}) as url:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        open_store(http=QUICK)  # searching is allowed
        with pytest.raises(StoreError, match=r"HTTP 403\) to read the experiment on experiment"):
            ensure_experiment("team-secret")
        with pytest.raises(StoreError, match="'team-secret'"):
            ensure_experiment("team-secret")


def test_403_on_creating_a_run_says_which_action() -> None:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    forbidding = answering({"/runs/create": (403, "Permission denied")})
    with forbidding as url, pytest.raises(MlflowException) as raised:
        MlflowClient(url).create_run("0")
    problem = classify(raised.value, url)
    assert problem is not None
    assert problem.kind == "forbidden"
    assert not problem.outage
    assert "to create a run" in describe(problem)


def test_a_closed_port_is_refused_quickly(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_tracking.runs.store import open_store

    url = closed_port()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    with pytest.raises(StoreError, match=r"refused the connection: is it running\?") as raised:
        open_store(http=QUICK)
    assert url in str(raised.value)


def test_an_unknown_host_is_unreachable() -> None:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from mlops_tracking.runs import http_settings

    http_settings.apply(QUICK, "open")
    uri = "http://no-such-host.invalid:5000"
    with pytest.raises(MlflowException) as raised:
        MlflowClient(uri).search_experiments(max_results=1)
    problem = classify(raised.value, uri)
    assert problem is not None
    assert problem.kind == "unreachable"
    assert is_outage(raised.value)
    assert "check the host in MLFLOW_TRACKING_URI" in describe(problem)


def test_a_server_that_never_answers_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_tracking.runs.store import open_store

    with socket.socket() as silent:  # accepts connections (the kernel's backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        with pytest.raises(StoreError, match=r"did not answer in time.*timeout_seconds"):
            open_store(http=QUICK)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("[Errno 111] Connection refused", "refused"),
        ("Read timed out. (read timeout=4)", "timeout"),
        ("Failed to resolve 'tracking.example'", "unreachable"),
        ("Max retries exceeded ... too many 503 error responses", "unavailable"),
        ("[Errno 113] No route to host", "unreachable"),
    ],
)
def test_transport_failures_wrapped_by_mlflow(text: str, kind: str) -> None:
    from mlflow.exceptions import MlflowException

    error = MlflowException(f"API request to http://h:5000/api/2.0/mlflow/runs/get failed: {text}")
    problem = classify(error, "http://h:5000")
    assert problem is not None
    assert problem.kind == kind
    assert problem.endpoint == "/api/2.0/mlflow/runs/get"
    assert problem.outage


def test_other_errors_are_not_store_problems() -> None:
    from mlflow.exceptions import MlflowException

    assert classify(ValueError("Connection refused by the model"), "http://h") is None
    assert classify(MlflowException("Run 'x' not found"), "http://h") is None
    assert classify(KeyError("timeout"), "sqlite:///mlflow.db") is None
    assert classify(OSError(28, "No space left on device"), "http://h") is None


def test_a_local_store_has_no_server_problems(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_tracking.runs.store import store_problem

    refused = ConnectionRefusedError(111, "Connection refused")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db")
    assert store_problem(refused) is None
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking:5000")
    assert "refused the connection" in str(store_problem(refused))


def test_the_message_never_shows_a_password() -> None:
    from mlflow.exceptions import MlflowException

    uri = "http://alice:s3cret@tracking:5000"
    problem = classify(MlflowException("API request to x failed: Connection refused"), uri)
    assert problem is not None
    assert "s3cret" not in describe(problem)
    assert "alice:***@tracking" in describe(problem)
