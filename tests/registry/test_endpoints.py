"""Where a served version is recorded to be, and what another machine says about it."""

from __future__ import annotations

import socket

import pytest

from mlops_tracking.registry import endpoints
from mlops_tracking.registry.endpoints import (
    MACHINE_VARIABLE,
    is_loopback,
    local_url,
    public_endpoint,
    reach,
    shown_status,
    this_machine,
)


def test_the_recorded_endpoint_is_the_public_url_then_the_host_name_then_the_bound_address() -> (
    None
):
    assert public_endpoint("127.0.0.1", 5001, "http://scorer.team:5001") == (
        "http://scorer.team:5001/invocations"
    )
    assert public_endpoint("0.0.0.0", 5001, "https://gw.team/models/x/") == (
        "https://gw.team/models/x/invocations"
    )
    host = socket.gethostname()
    assert public_endpoint("0.0.0.0", 5001) == f"http://{host}:5001/invocations"
    assert public_endpoint("127.0.0.1", 5001) == "http://127.0.0.1:5001/invocations"
    assert local_url("0.0.0.0", 5001) == "http://127.0.0.1:5001"
    assert local_url("10.0.0.5", 5001) == "http://10.0.0.5:5001"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.1.2.3", True), ("localhost", True), ("::1", True),
     ("[::1]", True), ("10.0.0.5", False), ("scorer.team", False), ("", False)],
)  # fmt: skip
def test_loopback_addresses_are_told_apart(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_the_machine_is_the_host_name_unless_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MACHINE_VARIABLE, raising=False)
    assert this_machine() == socket.gethostname()
    monkeypatch.setenv(MACHINE_VARIABLE, "scorer-7")
    assert this_machine() == "scorer-7"


def _serving(endpoint: str, machine: str | None) -> dict[str, str]:
    tags = {"deployment.status": "serving", "deployment.endpoint": endpoint}
    return tags | ({"deployment.machine": machine} if machine else {})


def test_another_machines_loopback_is_unknown_and_never_probed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    probed: list[str] = []
    monkeypatch.setattr(endpoints, "answering", lambda url, timeout=0.5: probed.append(url))
    monkeypatch.setenv(MACHINE_VARIABLE, "laptop")

    found = reach(_serving("http://127.0.0.1:5001/invocations", "scorer-7"))

    assert found.state == "unknown"
    assert found.why == "served on scorer-7 at 127.0.0.1, which only scorer-7 can reach"
    status, why = shown_status(_serving("http://localhost:5001/invocations", "scorer-7"))
    assert status == "unknown"
    assert why.startswith("served on scorer-7 at localhost, which only scorer-7 can reach; ask")
    assert probed == []


@pytest.mark.parametrize(
    ("endpoint", "machine"),
    [
        ("http://127.0.0.1:5001/invocations", "laptop"),  # this machine's own loopback
        ("http://127.0.0.1:5001/invocations", None),  # recorded before machines were
        ("http://scorer.team:5001/invocations", "scorer-7"),  # a name others can reach
    ],
)
def test_a_reachable_endpoint_is_probed(
    monkeypatch: pytest.MonkeyPatch, endpoint: str, machine: str | None
) -> None:
    probed: list[str] = []

    def answering(url: str, timeout: float = 0.5) -> bool:
        probed.append(url)
        return False

    monkeypatch.setattr(endpoints, "answering", answering)
    monkeypatch.setenv(MACHINE_VARIABLE, "laptop")

    status, why = shown_status(_serving(endpoint, machine))
    assert (status, why) == (
        "serving? (not answering)",
        f"{endpoint} does not answer /ping from here",
    )
    assert probed == [endpoint]


def test_a_status_other_than_serving_is_shown_as_recorded() -> None:
    assert shown_status({"deployment.status": "stopped"}) == ("stopped", "")


def test_a_public_url_must_be_http() -> None:
    from mlops_tracking.core.config import Config
    from mlops_tracking.core.errors import ConfigError

    config = Config().with_overrides(["serving.public_url=http://scorer.team:5001/"])
    assert config.serving.public_url == "http://scorer.team:5001"
    with pytest.raises(ConfigError, match=r"serving.public_url must be an http:// or https://"):
        Config().with_overrides(["serving.public_url=scorer.team:5001"])
