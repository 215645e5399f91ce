"""Every command against a real team server: PostgreSQL, proxied artifacts, basic-auth.

One user (alice) works through the whole project as a teammate would, each command a
subprocess with only the server's URL and her credentials; what they wrote is read back.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import FAST, PARAMS, cli, sets
from mlops_tracking.registry.endpoints import free_port
from team_server import TeamServer, requires_postgres

pytestmark = [pytest.mark.slow, requires_postgres, pytest.mark.timeout(1800)]


def _fast_params(folder: Path) -> Path:
    """params.yaml with the test suite's small models (``demo`` takes no --set)."""
    tree = yaml.safe_load(PARAMS.read_text())
    for override in FAST:
        key, value = override.split("=", 1)
        *parents, leaf = key.split(".")
        node = tree
        for parent in parents:
            node = node[parent]
        node[leaf] = yaml.safe_load(value)
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(tree, sort_keys=False))
    return path


def test_every_command_works_against_the_team_server(
    team_server: TeamServer, tmp_path: Path
) -> None:
    import requests
    from mlflow import MlflowClient

    env = team_server.env("alice")
    params = str(_fast_params(tmp_path))

    def run(*args: str, code: int = 0) -> str:
        done = cli(*args, env=env, cwd=tmp_path, timeout=900)
        assert done.returncode == code, f"{' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
        return str(done.stdout)

    demo = run("demo", "--config", params)
    assert "FAIL" not in demo
    trained = run("train", "--config", params, "--experiment", "team", *sets("data.seed=7"))
    first = re.findall(r"[0-9a-f]{32}", trained)[0]
    assert "Audit: PASS" in trained
    assert "PASS" in run("audit", first)
    compared = run(
        "compare",
        "--config",
        params,
        "--experiment",
        "team-compare",
        "--models",
        "logistic_regression,random_forest",
    )
    assert "Best:" in compared
    assert "team" in run("runs")
    assert "Registered team version 1" in run("register", first, "--config", params)
    # the same run again: a version that ties with the first (no second training needed)
    assert "Registered team version 2" in run("register", first, "--config", params)
    assert "promoted: team@staging → version 1" in run(
        "promote", "team", "--to", "staging", "--version", "1", "--config", params
    )
    run(
        "promote",
        "team",
        "--to",
        "staging",
        "--version",
        "2",
        "--force",
        "--reason",
        "same data, same seed: a tie",
        "--config",
        params,
    )
    assert "version 1" in run("rollback", "team", "--to", "staging", "--config", params)
    assert "team" in run("models")
    assert "Audit trail of team" in run("models", "team")
    lineage = run("lineage", "team@staging")
    assert first in lineage
    run("data", "versions")
    assert "REPRODUCED" in run("reproduce", first)

    rows = tmp_path / "rows.csv"
    from sklearn.datasets import load_breast_cancer

    table = load_breast_cancer(as_frame=True).frame.drop(columns="target").head(5)
    table.to_csv(rows, index=False)
    predicted = run("predict", "team@staging", "--input", str(rows), "--config", params)
    assert "Wrote 5 predictions" in predicted
    assert (tmp_path / "rows.predictions.csv").exists()

    port = free_port()
    served = subprocess.Popen(
        [sys.executable, "-m", "mlops_tracking", "serve", "team@staging", "--port", str(port),
         "--config", params],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        answer = None
        body = {"dataframe_split": json.loads(table.head(2).to_json(orient="split", index=False))}
        while time.monotonic() < deadline and served.poll() is None:
            try:
                answer = requests.post(
                    f"http://127.0.0.1:{port}/invocations", json=body, timeout=10
                )
                break
            except requests.ConnectionError:
                time.sleep(0.5)
        assert answer is not None, "serve never answered"
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["predictions"]) == 2
    finally:
        served.send_signal(signal.SIGTERM)
        output, _ = served.communicate(timeout=120)
    assert "recorded as stopped" in output, output

    import os

    os.environ.update(MLFLOW_TRACKING_USERNAME="alice")
    os.environ.update(MLFLOW_TRACKING_PASSWORD=team_server.users["alice"])
    try:
        client = MlflowClient(team_server.uri)
        version = client.get_model_version_by_alias("team", "staging")
        tags = version.tags
        run_ = client.get_run(first)
        artifacts = {item.path for item in client.list_artifacts(first)}
    finally:
        os.environ.pop("MLFLOW_TRACKING_USERNAME")
        os.environ.pop("MLFLOW_TRACKING_PASSWORD")
    assert version.version == "1"
    assert tags["deployment.status"] == "stopped"
    assert run_.info.status == "FINISHED"
    assert {"config", "plots", "error"} & artifacts, artifacts
    stored = list((team_server.folder / "artifacts").rglob("MLmodel"))
    assert stored, "models are stored behind the server, in its artifacts destination"
