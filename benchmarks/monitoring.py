"""What counting requests costs a served model: single-row latency with and without monitoring.

Run ``.venv/bin/python benchmarks/monitoring.py [--calls N] [--rounds R]`` (``make
bench-monitoring``; about two minutes on 2 cores). A scratch store gets one tracked run of the
``params.yaml`` defaults (random forest on breast_cancer), registered; the version is then
served twice at once by ``registry.serving`` (one uvicorn worker each): once as ``serve``
runs it (``monitoring`` from params.yaml: request log, monitoring run, a 2,000-row drift
sample) and once without monitoring. Both get the same single-row ``dataframe_records``
requests on one keep-alive connection, alternating in rounds (``--rounds``, ``--calls`` timed
requests each after 20 untimed ones) so that a busy machine slows both alike.

Printed: client-side p50 and p95 in milliseconds per round and over all rounds, and the
difference of the p50s, which is what monitoring adds to a request. The monitoring run's own
figures (the server-side latency it logged) are printed for comparison.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarking import ENVIRONMENT, table  # benchmarks/ is on sys.path

REPO = Path(__file__).resolve().parents[1]
PARAMS = REPO / "params.yaml"


def _register(scratch: Path) -> Any:
    from mlops_tracking.core.config import load_config
    from mlops_tracking.registry.catalog import VersionRef
    from mlops_tracking.registry.release import register_run
    from mlops_tracking.runs.store import open_store
    from mlops_tracking.runs.workflow import train_and_log

    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{scratch.resolve() / 'mlflow.db'}"
    open_store()
    config = load_config(PARAMS)
    version = register_run(train_and_log(config, PARAMS).run_id, config.registry).version
    return config, VersionRef(version.name, version.version)


def _bodies(count: int) -> list[bytes]:
    from sklearn.datasets import load_breast_cancer

    rows = load_breast_cancer(as_frame=True).frame.drop(columns="target").head(count)
    return [
        json.dumps({"dataframe_records": [record]}).encode()
        for record in rows.to_dict(orient="records")
    ]


def _timed(connection: http.client.HTTPConnection, bodies: list[bytes], calls: int) -> list[float]:
    headers = {"Content-Type": "application/json"}
    for number in range(20):  # warm up
        connection.request("POST", "/invocations", bodies[number % len(bodies)], headers)
        connection.getresponse().read()
    seconds = []
    for number in range(calls):
        started = time.perf_counter()
        connection.request("POST", "/invocations", bodies[number % len(bodies)], headers)
        response = connection.getresponse()
        response.read()
        seconds.append((time.perf_counter() - started) * 1000)
        assert response.status == 200, response.status
    return seconds


def _recording_cost(bodies: list[bytes], calls: int = 20_000) -> tuple[float, float]:
    """Microseconds the guard spends recording one answered single-row request, in process:
    counting only (``sample_rows: 0``) and with the drift sample (the default)."""
    from mlops_tracking.core.config import ServingConfig
    from mlops_tracking.registry.request_log import RequestLog
    from mlops_tracking.registry.scoring_app import ScoringGuard
    from mlops_tracking.registry.scoring_requests import ModelFacts, Request

    row = json.loads(bodies[0])["dataframe_records"]
    request = Request(rows=row, size=1)
    payload = json.dumps({"predictions": ["malignant"]}).encode()
    figures = []
    with tempfile.TemporaryDirectory() as folder:
        for sample_rows in (0, 2000):
            log = RequestLog(Path(folder), 60.0, sample_rows)
            guard = ScoringGuard(None, ServingConfig(), ModelFacts(list(row[0]), None, True), log)  # type: ignore[arg-type]
            started = time.perf_counter()
            for _ in range(calls):
                guard._record(200, time.perf_counter(), request, payload)
            figures.append((time.perf_counter() - started) / calls * 1e6)
    return figures[0], figures[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="timed requests per round")
    parser.add_argument("--rounds", type=int, default=4)
    options = parser.parse_args()
    os.environ.update({**ENVIRONMENT, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"})
    from mlflow import MlflowClient

    logging.getLogger("mlflow").setLevel(logging.ERROR)  # its pickle-format note on saving

    from mlops_tracking.registry.endpoints import free_port
    from mlops_tracking.registry.serving import deployment, launch

    with tempfile.TemporaryDirectory(prefix="bench-monitoring-") as folder:
        print("Training and registering the params.yaml defaults …", flush=True)
        config, ref = _register(Path(folder))
        bodies = _bodies(114)
        plain = launch(ref, "bench", port=free_port())
        watched = launch(ref, "bench", port=free_port(), monitoring=config.monitoring)
        latencies: dict[str, list[float]] = {"without monitoring": [], "with monitoring": []}
        rows = []
        with deployment(plain) as off, deployment(watched) as on:
            assert on.monitor is not None
            run_id = on.monitor.run_id
            servers = {"without monitoring": off, "with monitoring": on}
            for round_number in range(1, options.rounds + 1):
                order = list(servers) if round_number % 2 else list(reversed(servers))
                figures = {}
                for name in order:
                    # a new connection per round: uvicorn closes one idle for 5 s
                    served = servers[name]
                    connection = http.client.HTTPConnection(served.host, served.port, timeout=30)
                    got = _timed(connection, bodies, options.calls)
                    connection.close()
                    latencies[name] += got
                    figures[name] = statistics.median(got)
                rows.append(
                    [
                        f"round {round_number}",
                        f"{figures['without monitoring']:.3f}",
                        f"{figures['with monitoring']:.3f}",
                        f"{figures['with monitoring'] - figures['without monitoring']:+.3f}",
                    ]
                )
                print(f"  {' '.join(rows[-1])}", flush=True)
        p50 = {name: statistics.median(values) for name, values in latencies.items()}
        p95 = {name: statistics.quantiles(values, n=20)[18] for name, values in latencies.items()}
        rows.append(
            [
                "all rounds p50",
                f"{p50['without monitoring']:.3f}",
                f"{p50['with monitoring']:.3f}",
                f"{p50['with monitoring'] - p50['without monitoring']:+.3f}",
            ]
        )
        rows.append(
            [
                "all rounds p95",
                f"{p95['without monitoring']:.3f}",
                f"{p95['with monitoring']:.3f}",
                f"{p95['with monitoring'] - p95['without monitoring']:+.3f}",
            ]
        )
        print()
        print(
            table(
                f"Single-row latency, client side, ms ({options.calls} calls x {options.rounds})",
                ["", "without", "with", "difference"],
                rows,
            )
        )
        counting, sampling = _recording_cost(bodies)
        print(
            f"\nRecording one answered request inside the guard, in process: {counting:.1f} us "
            f"counting only, {sampling:.1f} us with the drift sample."
        )
        logged = MlflowClient().get_run(run_id).data.metrics
        print(
            f"\nThe monitoring run counted {logged['serving/requests_total']:.0f} requests; "
            f"inside the server p50 {logged['serving/latency_p50_ms_total']:.3f} ms, "
            f"p95 {logged['serving/latency_p95_ms_total']:.3f} ms."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
