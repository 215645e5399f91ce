"""A real model server's requests, read back from its monitoring run and the version's tags."""

from __future__ import annotations

import http.client
import json
import time
from pathlib import Path

import pytest

from conftest import RegistryStore

pytestmark = pytest.mark.slow


def _post(port: int, body: str, content_type: str = "application/json") -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("POST", "/invocations", body, {"Content-Type": content_type})
    status = connection.getresponse().status
    connection.close()
    return status


def _records(count: int) -> str:
    from sklearn.datasets import load_breast_cancer

    rows = load_breast_cancer(as_frame=True).frame.drop(columns="target").head(count)
    return json.dumps({"dataframe_records": rows.to_dict(orient="records")})


def test_a_burst_of_requests_is_counted_in_the_monitoring_run(
    registry_store: RegistryStore, client, temp_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from mlops_tracking.cli.app import app
    from mlops_tracking.core.config import Config, MonitoringConfig
    from mlops_tracking.registry.catalog import VersionRef
    from mlops_tracking.registry.endpoints import free_port
    from mlops_tracking.registry.release import register_run
    from mlops_tracking.registry.serving import deployment, launch

    version = register_run(registry_store.runs[0], Config().registry).version
    ref = VersionRef(version.name, version.version)
    every = MonitoringConfig(flush_seconds=1.0, sample_rows=50, min_rows=5)
    one, three = _records(1), _records(3)
    with deployment(launch(ref, "tester", port=free_port(), monitoring=every)) as served:
        assert served.monitor is not None
        run_id = served.monitor.run_id
        answered = [_post(served.port, one) for _ in range(25)]
        answered += [_post(served.port, three) for _ in range(5)]
        answered += [_post(served.port, '{"rows": []}') for _ in range(4)]
        answered.append(_post(served.port, "x", "text/plain"))
        assert answered == [200] * 30 + [400] * 4 + [415]
        # flushed while serving, not only at stop: the totals reach the store within seconds
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            history = client.get_metric_history(run_id, "serving/requests_total")
            if history and history[-1].value == 35:
                break
            time.sleep(0.5)
        assert history and history[-1].value == 35, history
        assert client.get_run(run_id).info.status == "RUNNING"

    run = client.get_run(run_id)
    metrics, tags = run.data.metrics, run.data.tags
    assert run.info.status == "FINISHED"
    assert metrics["serving/requests_total"] == 35
    assert metrics["serving/status_200_total"] == 30
    assert metrics["serving/status_400_total"] == 4
    assert metrics["serving/status_415_total"] == 1
    assert metrics["serving/errors_total"] == 5
    assert metrics["serving/rows_scored_total"] == 25 + 5 * 3
    p50, p95, p99 = (metrics[f"serving/latency_p{q}_ms_total"] for q in (50, 95, 99))
    assert 0 < p50 <= p95 <= p99 < 10_000  # milliseconds inside the server, per request
    # one step per flush; the windows add up to the totals
    windows = client.get_metric_history(run_id, "serving/requests")
    assert len(windows) >= 2 and sum(point.value for point in windows) == 35
    assert sorted(point.step for point in windows) == list(range(len(windows)))
    # linked to the version and its training run
    assert (
        run.info.experiment_id
        == client.get_experiment_by_name(f"{ref.name}-monitoring").experiment_id
    )
    assert tags["mlops.run_type"] == "serving"
    assert tags["monitoring.model_version"] == ref.version
    assert tags["monitoring.source_run_id"] == registry_store.runs[0]
    assert tags["mlflow.user"] == "tester"
    version_tags = client.get_model_version(ref.name, ref.version).tags
    assert version_tags["monitoring.run_id"] == run_id
    assert version_tags["monitoring.requests"] == "35"
    assert version_tags["monitoring.errors"] == "5"
    assert float(version_tags["monitoring.latency_p50_ms"]) == pytest.approx(p50, abs=0.01)
    # `models NAME` shows the latest figures
    result = CliRunner().invoke(app, ["models", ref.name])
    assert result.exit_code == 0, result.output
    words = " ".join(result.output.replace("│", " ").split())
    assert f"{ref.version} 35 5 {version_tags['monitoring.latency_p50_ms']}" in words
    # the scored rows were compared with training: 25 copies of one row are not its split
    assert metrics["drift/rows"] >= 5 and metrics["drift/features_drifted"] >= 1
    assert version_tags["monitoring.drift"] == "true"
    assert version_tags["monitoring.drift_run_id"] == run_id
    pages = {a.path for a in client.list_artifacts(run_id, "monitoring")}
    assert "monitoring/drift_report.html" in pages
    # the workers' request logs are removed with the server
    assert not [path for path in temp_dir.iterdir() if path.name.startswith("mlops-requests-")]
