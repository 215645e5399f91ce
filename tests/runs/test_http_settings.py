"""tracking.http -> MLflow's HTTP variables: phases, the outage window, the user's values."""

from __future__ import annotations

import os

import pytest

from mlops_tracking.core.config import HttpConfig
from mlops_tracking.runs import http_settings
from mlops_tracking.runs.http_settings import (
    BACKOFF_FACTOR,
    BACKOFF_JITTER,
    MAX_RETRIES,
    TIMEOUT,
    VARIABLES,
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No MLflow HTTP variable set, and no memory of values applied by earlier tests."""
    for name in VARIABLES:
        monkeypatch.setenv(name, "")  # so that teardown restores the variable's absence too
        monkeypatch.delenv(name)
    monkeypatch.setattr(http_settings, "_applied", {})
    monkeypatch.setattr(http_settings, "_outage_values", {})


def test_backoff_follows_urllib3() -> None:
    # urllib3 2.x sleeps 0 before the first retry, then factor * 2**(n-1), capped at 120 s
    assert http_settings.backoff_seconds(0, 2) == 0
    assert http_settings.backoff_seconds(1, 2) == 0
    assert http_settings.backoff_seconds(2, 2) == 4
    assert http_settings.backoff_seconds(3, 1) == 2 + 4
    # MLflow's defaults (7 retries, factor 2): the ~4 minutes an unreachable server used to cost
    assert http_settings.backoff_seconds(7, 2) == 4 + 8 + 16 + 32 + 64 + 120


@pytest.mark.parametrize(
    ("window", "factor", "retries"),
    [(0, 1, 0), (2, 1, 2), (120, 1, 7), (30, 2, 5), (10_000, 1, 10), (60, 0, 10)],
)
def test_run_retries_span_the_outage_window(window: float, factor: int, retries: int) -> None:
    found = http_settings.retries_spanning(window, factor)
    assert found == retries
    if retries < http_settings.MLFLOW_RETRY_LIMIT:
        assert http_settings.backoff_seconds(found, factor) >= window
        assert found == 0 or http_settings.backoff_seconds(found - 1, factor) < window


def test_phases_map_to_mlflow_variables() -> None:
    http = HttpConfig(timeout_seconds=3, max_retries=1, backoff_factor=2, backoff_jitter=0.25)
    opening = http_settings.environment(http, "open")
    assert opening == {TIMEOUT: "3", MAX_RETRIES: "1", BACKOFF_FACTOR: "2", BACKOFF_JITTER: "0.25"}
    running = http_settings.environment(http, "run")
    assert running[MAX_RETRIES] == str(http_settings.retries_spanning(120, 2))
    assert running[TIMEOUT] == "30"  # run_timeout_seconds: a busy server is not cut short
    outage = http_settings.environment(http, "outage")
    assert (outage[MAX_RETRIES], outage[TIMEOUT]) == ("0", "3")


def test_defaults_fail_an_unreachable_store_within_about_15_seconds() -> None:
    http = HttpConfig()
    refused = http_settings.longest_wait(http, "open")
    silent = http_settings.longest_wait(http, "open", answers=True)
    assert refused < 5
    assert 10 <= silent <= 16
    assert http_settings.longest_wait(http, "run") >= http.outage_window_seconds


def test_apply_sets_the_variables_mlflow_reads() -> None:
    from mlflow.environment_variables import (
        MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR,
        MLFLOW_HTTP_REQUEST_MAX_RETRIES,
        MLFLOW_HTTP_REQUEST_TIMEOUT,
    )

    http = HttpConfig(timeout_seconds=7, max_retries=3, backoff_factor=1)
    http_settings.apply(http, "open")
    assert MLFLOW_HTTP_REQUEST_TIMEOUT.get() == 7
    assert MLFLOW_HTTP_REQUEST_MAX_RETRIES.get() == 3
    assert MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR.get() == 1
    http_settings.apply(http, "run")
    assert MLFLOW_HTTP_REQUEST_MAX_RETRIES.get() == 7
    assert MLFLOW_HTTP_REQUEST_TIMEOUT.get() == 30
    http_settings.give_up_retrying()
    assert MLFLOW_HTTP_REQUEST_MAX_RETRIES.get() == 0
    assert MLFLOW_HTTP_REQUEST_TIMEOUT.get() == 7  # the short timeout again


def test_the_users_own_variables_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MAX_RETRIES, "5")
    monkeypatch.setenv(TIMEOUT, "60")
    in_force = http_settings.apply(HttpConfig(), "open")
    assert in_force[MAX_RETRIES] == "5"
    assert in_force[TIMEOUT] == "60"
    assert os.environ[BACKOFF_FACTOR] == "1"  # not set by the user: the config's value
    http_settings.give_up_retrying()
    assert os.environ[MAX_RETRIES] == "5"
    assert http_settings.user_set(MAX_RETRIES)
    assert not http_settings.user_set(BACKOFF_FACTOR)


def test_a_value_applied_earlier_is_not_taken_for_the_users() -> None:
    http_settings.apply(HttpConfig(max_retries=4), "open")
    http_settings.apply(HttpConfig(max_retries=1), "open")
    assert os.environ[MAX_RETRIES] == "1"


def test_an_outage_stops_the_retries_and_other_errors_do_not() -> None:
    from mlflow.exceptions import MlflowException

    http_settings.apply(HttpConfig(), "run")
    with pytest.raises(ValueError, match="a bug"), http_settings.stop_retrying_after_outage():
        raise ValueError("a bug")
    assert os.environ[MAX_RETRIES] == "7"
    refused = MlflowException(
        "API request to http://127.0.0.1:9/api/2.0/mlflow/runs/log-batch failed with exception "
        "HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded ([Errno 111] "
        "Connection refused)"
    )
    with (
        pytest.raises(MlflowException, match="refused"),
        http_settings.stop_retrying_after_outage(),
    ):
        raise refused
    assert os.environ[MAX_RETRIES] == "0"


def test_an_unclosed_run_keeps_the_original_error_with_the_reap_note() -> None:
    from mlflow.exceptions import MlflowException

    error = RuntimeError("training failed")
    ended = "MLflow run abc ended FAILED."
    error.add_note(ended)
    with http_settings.unclosed_run("abc", error, ended):
        raise MlflowException("API request to http://h/api failed with exception Read timed out")
    assert ended not in error.__notes__
    assert "runs --reap" in error.__notes__[-1]
    assert "could not be closed" in error.__notes__[-1]
    closing = http_settings.unclosed_run("abc", None, ended)
    with pytest.raises(MlflowException, match="denied") as raised, closing:
        raise MlflowException("denied", error_code="PERMISSION_DENIED")
    assert not getattr(raised.value, "__notes__", [])  # not an outage: unchanged


def test_a_clean_run_the_store_cannot_close_raises_with_the_reap_note() -> None:
    from mlflow.exceptions import MlflowException

    closing = http_settings.unclosed_run("abc", None, "MLflow run abc ended FINISHED.")
    with pytest.raises(MlflowException, match="Connection refused") as raised, closing:
        raise MlflowException(
            "API request to http://127.0.0.1:9/api/2.0/mlflow/runs/update failed with "
            "exception ... [Errno 111] Connection refused"
        )
    assert raised.value.__notes__ == [http_settings.unclosed_note("abc")]
