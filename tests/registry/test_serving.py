"""A real `mlflow models serve` subprocess: answers, refusals, and the status it leaves behind."""

from __future__ import annotations

import http.client
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import RegistryStore
from mlops_tracking.core.manifest import build_manifest

pytestmark = pytest.mark.slow


def _registered(store: RegistryStore, alias: str = "staging"):  # type: ignore[no-untyped-def]
    from mlops_tracking.core.config import Config
    from mlops_tracking.registry.catalog import resolve
    from mlops_tracking.registry.release import promote, register_run

    version = register_run(store.runs[0], Config().registry).version.version
    promote(Config(), "breast_cancer-binary", alias, version=version, by="tester")
    return resolve(f"breast_cancer-binary@{alias}")


def _rows(count: int = 3) -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(as_frame=True).frame.drop(columns="target").head(count)


def _post(endpoint: str, body: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    host, port = endpoint.removeprefix("http://").split("/")[0].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.request("POST", "/invocations", body, {"Content-Type": "application/json"})
    response = connection.getresponse()
    payload = response.read().decode()
    connection.close()
    return response.status, json.loads(payload)


def _tags(client, ref) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return dict(client.get_model_version(ref.name, ref.version).tags)


def _models_output(name: str) -> str:
    from typer.testing import CliRunner

    from mlops_tracking.cli.app import app

    result = CliRunner().invoke(app, ["models", name])
    assert result.exit_code == 0, result.output
    # the table's cells as words: column rules dropped, whitespace collapsed
    return " ".join(result.output.replace("│", " ").replace("┃", " ").split())


def _left_behind(folder: Path) -> list[Path]:
    """What the project left in a temporary folder: a library of the server process keeps a
    hidden ``.ses`` session file there, and the project never writes hidden files."""
    return [path for path in folder.iterdir() if not path.name.startswith(".")]


def test_a_served_version_answers_like_in_process_and_refuses_bad_requests(
    registry_store: RegistryStore, client, monkeypatch: pytest.MonkeyPatch, temp_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    import mlflow

    from mlops_tracking.registry.catalog import read_trail
    from mlops_tracking.registry.endpoints import MACHINE_VARIABLE, free_port
    from mlops_tracking.registry.serving import ServingError, deployment, launch

    ref = _registered(registry_store)
    rows = _rows()
    expected = mlflow.pyfunc.load_model(ref.uri).predict(rows)
    # a shell where the environment is not activated: its bin is not on PATH
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.delenv(MACHINE_VARIABLE, raising=False)

    with deployment(launch(ref, "tester", port=free_port())) as served:
        tags = _tags(client, ref)
        assert tags["deployment.status"] == "serving"
        assert tags["deployment.endpoint"] == served.endpoint == f"{served.url}/invocations"
        assert tags["deployment.machine"] == socket.gethostname()
        # the registry's URI, not the checked copy the server loaded from
        assert tags["deployment.model_uri"] == served.model_uri == ref.uri
        assert tags["deployment.started_at"]
        # the checked copy lives in the temporary directory while the server runs
        assert served.copy.folder.parent == temp_dir and served.copy.path.is_dir()

        status, answer = _post(
            served.endpoint, json.dumps({"dataframe_split": rows.to_dict(orient="split")})
        )
        assert status == 200
        served_frame = pd.DataFrame(answer["predictions"])
        assert list(served_frame["label"]) == list(expected["label"])
        proba = [c for c in expected.columns if c.startswith("proba_")]
        np.testing.assert_allclose(served_frame[proba], expected[proba], atol=1e-9)

        missing = rows.drop(columns=["mean radius"]).to_dict(orient="split")
        wrong = rows.astype(object)
        wrong.loc[wrong.index[0], "mean texture"] = "abc"
        for body, hint in (
            (json.dumps({"dataframe_split": missing}), "mean radius"),
            (json.dumps({"dataframe_split": wrong.to_dict(orient="split")}), "mean texture"),
            ("{not json", "JSON"),
        ):
            status, error = _post(served.endpoint, body)
            assert status == 400, error
            assert hint in error["message"]
        # a second server on the same port is refused without touching the live status
        with (
            pytest.raises(ServingError, match="already in use"),
            deployment(launch(ref, "tester", port=served.port)),
        ):
            pytest.fail("a second server must not start")
        assert _tags(client, ref)["deployment.status"] == "serving"
        # still serving after the refusals
        status, _ = _post(
            served.endpoint, json.dumps({"dataframe_records": rows.head(1).to_dict("records")})
        )
        assert status == 200
        # `models` here probes the endpoint; on another machine it is that machine's loopback
        here = _models_output(ref.name)
        assert f"{ref.version} staging staging serving" in here, here
        monkeypatch.setenv(MACHINE_VARIABLE, "another-machine")
        elsewhere = _models_output(ref.name)
        monkeypatch.delenv(MACHINE_VARIABLE)
        assert f"{ref.version} staging staging unknown" in elsewhere, elsewhere
        host = socket.gethostname()
        assert f"deployment unknown: served on {host} at 127.0.0.1, which only {host}" in elsewhere

    tags = _tags(client, ref)
    assert tags["deployment.status"] == "stopped"
    assert tags["deployment.stopped_at"] >= tags["deployment.started_at"]
    deploys = [entry.decision for entry in read_trail(ref.name) if entry.action == "deploy"]
    assert deploys == ["serving", "failed", "stopped"]  # the refused second server is in the trail
    assert _left_behind(temp_dir) == []  # no model copy (nor log) left behind


def test_a_port_in_use_fails_clearly_and_records_failed(
    registry_store: RegistryStore, client, temp_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.registry.serving import ServingError, deployment, launch

    ref = _registered(registry_store)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        refused = pytest.raises(ServingError, match=f"port {port} on 127.0.0.1 is already in use")
        with refused, deployment(launch(ref, "tester", port=port)):
            pytest.fail("the server must not start")

    tags = _tags(client, ref)
    assert tags["deployment.status"] == "failed"
    assert "already in use" in tags["deployment.reason"]
    assert tags["deployment.model_uri"] == ref.uri
    assert _left_behind(temp_dir) == []  # the checked copy went with the refusal


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_the_serve_command_stops_on_a_signal_and_records_stopped(
    registry_store: RegistryStore, client, stop: signal.Signals, temp_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    """SIGTERM (a scheduler) and SIGHUP (the terminal closed) both stop it cleanly, exit 0."""
    from mlops_tracking.registry.endpoints import free_port

    ref = _registered(registry_store, "staging")
    port = free_port()
    # as from `.venv/bin/mlops-tracking`, in a narrow terminal
    env = {**os.environ, "PATH": "/usr/bin:/bin", "COLUMNS": "60"}
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "mlops_tracking", "serve", "breast_cancer-binary@staging"),
            *("--port", str(port)),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    assert server.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(server.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    endpoint = f"http://127.0.0.1:{port}/invocations"
    try:
        deadline = time.monotonic() + 120
        # serving is recorded just before the endpoint is printed: wait for both
        while _tags(client, ref).get("deployment.status") != "serving" or not any(
            "curl -s" in line for line in lines
        ):
            assert server.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "the server did not start in 120 s"
            time.sleep(0.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=10) as ping:
            assert ping.status == 200
        server.send_signal(stop)
        server.wait(timeout=60)
        reader.join(timeout=10)
        output = "".join(lines)
    finally:
        if server.poll() is None:
            server.kill()
        server.stdout.close()
    assert server.returncode == 0, output
    assert endpoint in output
    # the example request, unwrapped at 60 columns: joined at its backslashes, one command
    example = output.split("Try:\n", 1)[1].split("\n")[:3]
    argv = shlex.split("\n".join(example).replace("\\\n", ""))
    assert argv[:3] == ["curl", "-s", endpoint] and argv[-2] == "-d"
    assert "dataframe_records" in json.loads(argv[-1])
    assert _tags(client, ref)["deployment.status"] == "stopped"
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2)
    assert _left_behind(temp_dir) == []  # the command's TMPDIR: no model copy left behind


def test_the_onnx_engine_serves_the_twin_with_scikit_learns_labels(
    registry_store: RegistryStore, client
) -> None:  # type: ignore[no-untyped-def]
    """`serve --engine onnx`: float32 rows in, scikit-learn's label codes out; status recorded."""
    import mlflow

    from mlops_tracking.registry.endpoints import example_request, free_port
    from mlops_tracking.registry.serving import deployment, launch

    ref = _registered(registry_store)
    twin = _tags(client, ref)["onnx.version"]
    rows = _rows(20)
    pipeline = mlflow.pyfunc.load_model(ref.uri).unwrap_python_model().pipeline
    labels = json.loads(_tags(client, ref)["labels"])

    with deployment(launch(ref, "tester", port=free_port(), engine="onnx")) as served:
        # the server loads a local copy of the twin's files, checked against its manifest
        twin_manifest = client.get_model_version("breast_cancer-binary-onnx", twin).tags
        assert build_manifest(served.copy.path) == json.loads(twin_manifest["integrity.manifest"])
        assert '{"inputs": [[' in example_request(str(served.copy), served.endpoint, "onnx")
        status, answer = _post(
            served.endpoint, json.dumps({"inputs": rows.to_numpy(dtype=np.float32).tolist()})
        )
        tags = _tags(client, ref)
        assert (tags["deployment.status"], tags["deployment.engine"]) == ("serving", "onnx")
        # what it serves, as the registry names it: the twin's URI
        assert tags["deployment.model_uri"] == f"models:/breast_cancer-binary-onnx/{twin}"

    assert status == 200, answer
    codes = np.asarray(answer["predictions"]["label"]).ravel()
    assert list(codes) == list(pipeline.predict(rows))
    assert [labels[code] for code in codes] == list(
        mlflow.pyfunc.load_model(ref.uri).predict(rows)["label"]
    )
    assert _tags(client, ref)["deployment.status"] == "stopped"
