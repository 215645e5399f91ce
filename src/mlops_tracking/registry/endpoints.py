"""Talking to a model server from the outside: ports, health, an example request, a call.

Where a server is, as recorded: its endpoint is the address others reach it at
(``serving.public_url``; else ``http://HOSTNAME:PORT`` when it is bound to every interface;
else the bound address) and ``deployment.machine`` names the machine it runs on
(``MLOPS_MACHINE``, default the host name). A loopback endpoint recorded on another machine
is that machine's loopback: it is reported as unknown, never probed from here.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

MACHINE_VARIABLE = "MLOPS_MACHINE"  # names this machine in deployment records
EVERY_INTERFACE = {"0.0.0.0", "::", ""}  # the addresses that mean "all of them"


def this_machine() -> str:
    """The name deployments started here record (``MLOPS_MACHINE``, else the host name)."""
    return os.environ.get(MACHINE_VARIABLE, "").strip() or socket.gethostname()


def is_loopback(host: str) -> bool:
    """Whether ``host`` is an address only the machine itself can reach (127.x, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def public_endpoint(host: str, port: int, public_url: str | None = None) -> str:
    """The ``…/invocations`` URL to record for a server bound to ``host``:``port``."""
    if public_url:
        return f"{public_url.rstrip('/')}/invocations"
    if host in EVERY_INTERFACE:
        host = socket.gethostname()  # the name other machines know it by, not 0.0.0.0
    return f"http://{host}:{port}/invocations"


def local_url(host: str, port: int) -> str:
    """Where this machine reaches a server it bound to ``host``:``port`` (health checks)."""
    return f"http://{'127.0.0.1' if host in EVERY_INTERFACE else host}:{port}"


@dataclass(frozen=True)
class Reach:
    """What probing a recorded endpoint from here says; ``why`` explains an ``unknown``."""

    state: Literal["answering", "not answering", "unknown"]
    why: str = ""


def reach(tags: dict[str, str], timeout: float = 0.5) -> Reach:
    """Probe the endpoint a version's deployment tags record, unless it is not reachable here.

    A loopback endpoint recorded by another machine (``deployment.machine``) is that
    machine's own address: probing it would ask this machine, so the answer is ``unknown``.
    A record without a machine (made before machines were recorded) is probed as it is.
    """
    endpoint = tags.get("deployment.endpoint", "")
    machine = tags.get("deployment.machine", "")
    host = urlsplit(endpoint).hostname or ""
    if machine and machine != this_machine() and is_loopback(host):
        return Reach("unknown", f"served on {machine} at {host}, which only {machine} can reach")
    return Reach("answering" if answering(endpoint, timeout) else "not answering")


def shown_status(tags: dict[str, str]) -> tuple[str, str]:
    """A version's ``deployment.status`` as ``models`` shows it, and a note when it is unsure.

    A server killed with SIGKILL could not record that it stopped, so ``serving`` is shown
    only while the endpoint answers; one that cannot be probed from here is ``unknown`` and
    the note says why and what to do.
    """
    status = tags.get("deployment.status", "-")
    if status != "serving":
        return status, ""
    found = reach(tags)
    if found.state == "unknown":
        return "unknown", (
            f"{found.why}; ask there, or serve it with serving.public_url set (or serving.host "
            "0.0.0.0) so other machines can reach it"
        )
    if found.state == "answering":
        return status, ""
    endpoint = tags.get("deployment.endpoint", "")
    return "serving? (not answering)", f"{endpoint} does not answer /ping from here"


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def example_request(model_uri: str, endpoint: str, engine: str = "pyfunc") -> str:
    """A curl command that sends the served model's input example to ``endpoint``.

    One argument per line with backslash continuations, each argument quoted for a POSIX shell
    (a category value may hold a quote). Print it unwrapped (``soft_wrap``): a newline inserted
    inside a line would end the command there.
    """
    import json
    import shlex

    from mlflow.models import Model

    try:
        example: Any = Model.load(model_uri).load_input_example()
    except Exception:  # an example is a convenience; an empty one still shows the call
        example = None
    if engine == "onnx":  # a float32 matrix, columns in training order
        rows = [] if example is None else example[:1].tolist()
        body = json.dumps({"inputs": rows})
    else:
        record = {} if example is None else example.head(1).to_dict(orient="records")[0]
        body = json.dumps({"dataframe_records": [record]}, default=str)
    arguments = (
        f"curl -s {shlex.quote(endpoint)}",
        f"-H {shlex.quote('Content-Type: application/json')}",
        f"-d {shlex.quote(body)}",
    )
    return " \\\n  ".join(arguments)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def invoke(endpoint: str, rows: Any, timeout: float = 30) -> str:
    """POST ``rows`` (a DataFrame) to the endpoint; return the JSON answer as text."""
    import json

    body = json.dumps({"dataframe_split": rows.to_dict(orient="split")}).encode()
    request = urllib.request.Request(
        endpoint, data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return str(response.read().decode())


def answering(endpoint: str, timeout: float = 0.5) -> bool:
    """Whether the server behind ``endpoint`` (…/invocations) answers ``/ping`` right now."""
    try:
        ping = endpoint.rsplit("/", 1)[0] + "/ping"
        with urllib.request.urlopen(ping, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False
