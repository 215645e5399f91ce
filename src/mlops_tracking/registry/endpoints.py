"""Talking to a model server from the outside: ports, health, an example request, a call."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from typing import Any


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
