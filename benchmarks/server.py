"""Team-server benchmark: train and compare on a local SQLite store vs a real MLflow server.

Run ``.venv/bin/python benchmarks/server.py [--repeats N] [--keep]`` (``make bench-server``,
about ten minutes on 2 cores). It needs PostgreSQL on 127.0.0.1:5432 (trust auth, user
postgres) and exits 2 with a message when ``pg_isready -h 127.0.0.1`` fails. Every figure is
printed as a table and written to ``benchmarks/results/server.json``.

What is measured
----------------
Two commands, each a CLI subprocess in its own scratch directory: ``mlops-tracking train`` on
the ``params.yaml`` defaults (random_forest, 100 trees, breast_cancer) and ``mlops-tracking
compare --models logistic_regression,random_forest`` (a parent run and two children). Each runs
against three stores, one after the other:

1. local: ``sqlite:///.../mlflow.db``, the single-user default;
2. server: ``tests/team_server.py``'s server (what ``mlops-tracking server`` starts: PostgreSQL,
   proxied artifacts, basic-auth on PostgreSQL, two workers), as the user alice, with the
   auth cache at 60 s (the default);
3. the same with ``auth_cache_ttl_seconds = 0``: every request's password is hashed again.

``tests/request_counter.py`` runs each command and counts, from inside its process, every HTTP
request it sends (``requests``' ``HTTPAdapter.send``), by endpoint kind. "Seconds" is the
command alone, timed inside that process: Python's start-up and the CLI's imports (the same for
every store) are excluded. Each store gets one untimed train first (it creates the experiment
and warms the server's workers), then ``--repeats`` timed runs of each command; the median is
reported, and "x local" is a median over the local median. Client and server share the
machine's cores, so the server's own work counts in the client's seconds, as it would for one
person on a laptop; the 1-minute load average before and after is recorded.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarking import ENVIRONMENT, REPO, git_commit, table  # benchmarks/ is on sys.path

TESTS = REPO / "tests"
sys.path.insert(0, str(TESTS))

from request_counter import read_count  # noqa: E402  (tests/ holds the shared counter)
from team_server import postgres_running, running_team_server  # noqa: E402

PARAMS = REPO / "params.yaml"
RESULTS = REPO / "benchmarks" / "results" / "server.json"
COUNTER = TESTS / "request_counter.py"
REPEATS = 3
COMMANDS = {
    "train": ["train"],
    "compare": ["compare", "--models", "logistic_regression,random_forest"],
}
STORES = ("local", "server, auth cache 60 s", "server, auth cache 0 s")
PATIENT = ["--set", "tracking.offline=off", "--set", "tracking.http.timeout_seconds=60"]
TARGET_REQUESTS = 80  # issue 13: one train against the server
TARGET_RATIO = 1.3  # and its run time at most this many times the local one

Result = dict[str, Any]


@dataclass
class Measured:
    """Every timed run of one command against one store."""

    seconds: list[float] = field(default_factory=list)
    totals: list[int] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)  # of the last run

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def as_dict(self) -> Result:
        return {
            "seconds": self.seconds,
            "median_seconds": self.median,
            "requests": self.totals,
            "requests_by_kind_last_run": dict(self.kinds.most_common()),
        }


def _run(command: list[str], env: dict[str, str], folder: Path, experiment: str) -> Measured:
    """One CLI command through the request counter; its seconds, request total and kinds."""
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"requests-{time.monotonic_ns()}.json"
    argv = [sys.executable, str(COUNTER), str(out), *command, "--config", str(PARAMS)]
    completed = subprocess.run(
        # a cold server's first answer may take seconds on a busy machine: waited for (60 s),
        # and one that never comes fails the benchmark instead of spooling the run (offline off)
        [*argv, "--experiment", experiment, *PATIENT],
        capture_output=True,
        text=True,
        env={**env, "MLOPS_TRACKING_SPOOL_URI": f"sqlite:///{folder / 'spool.db'}"},
        cwd=folder,
        timeout=1800,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"`mlops-tracking {' '.join(command)}` exited {completed.returncode}:\n"
            f"{completed.stdout}{completed.stderr}"
        )
    log, seconds = read_count(out)
    return Measured([seconds], [log.total], log.by_kind())


def _measure_store(env: dict[str, str], folder: Path, repeats: int) -> dict[str, Measured]:
    """One untimed train, then ``repeats`` timed runs of each command (interleaved)."""
    experiment = f"bench-server-{folder.name}"
    _run(COMMANDS["train"], env, folder, experiment)
    measured = {name: Measured() for name in COMMANDS}
    for _ in range(repeats):
        for name, command in COMMANDS.items():
            run = _run(command, env, folder, experiment)
            measured[name].seconds += run.seconds
            measured[name].totals += run.totals
            measured[name].kinds = run.kinds
    return measured


def _local_env(folder: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
    }
    folder.mkdir(parents=True, exist_ok=True)
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
    return env


@contextmanager
def _store(name: str, scratch: Path) -> Iterator[dict[str, str]]:
    """The client environment for one store; a server lives as long as the block."""
    folder = scratch / name.replace(", ", "-").replace(" ", "_")
    if name == "local":
        yield _local_env(folder)
        return
    ttl = 0 if name.endswith("0 s") else 60
    with running_team_server(folder, auth_cache_ttl_seconds=ttl) as server:
        yield server.env("alice")


def _measure(scratch: Path, repeats: int) -> dict[str, dict[str, Measured]]:
    results: dict[str, dict[str, Measured]] = {}
    for name in STORES:
        print(f"measuring: {name} ...", flush=True)
        with _store(name, scratch) as env:
            results[name] = _measure_store(env, scratch / f"runs-{len(results)}", repeats)
    return results


def _kinds_table(results: dict[str, dict[str, Measured]]) -> str:
    columns = [(store, command) for store in STORES[1:] for command in COMMANDS]
    kinds = sorted(
        {kind for store, command in columns for kind in results[store][command].kinds},
        key=lambda kind: -results[STORES[1]]["train"].kinds[kind],
    )
    rows = [
        [kind, *(str(results[store][command].kinds[kind]) for store, command in columns)]
        for kind in kinds
    ]
    totals = [str(results[store][command].kinds.total()) for store, command in columns]
    headers = [
        "Endpoint",
        *(f"{command} ({store.removeprefix('server, ')})" for store, command in columns),
    ]
    title = "HTTP requests by endpoint (the last timed run of each)"
    return table(title, headers, [*rows, ["total", *totals]])


def _times_table(results: dict[str, dict[str, Measured]]) -> str:
    rows = []
    for command in COMMANDS:
        local = results["local"][command].median
        for store in STORES:
            measured = results[store][command]
            rows.append(
                [
                    f"{command}: {store}",
                    f"{measured.median:.2f} s",
                    f"{min(measured.seconds):.2f}-{max(measured.seconds):.2f} s",
                    f"{measured.median / local:.2f}x",
                    "/".join(str(total) for total in measured.totals),
                ]
            )
    headers = ["Command: store", "Median", "Range", "x local", "Requests per run"]
    return table("Wall time of the command (its process's start-up excluded)", headers, rows)


def _verdict(results: dict[str, dict[str, Measured]]) -> list[str]:
    train = results[STORES[1]]["train"]
    ratio = train.median / results["local"]["train"].median
    requests = max(train.totals)
    return [
        f"one train against the server: at most {requests} HTTP requests "
        f"(target <= ~{TARGET_REQUESTS}): {'met' if requests <= TARGET_REQUESTS else 'missed'}",
        f"its run time: {ratio:.2f}x local (target <= {TARGET_RATIO}x): "
        f"{'met' if ratio <= TARGET_RATIO else 'missed'}",
    ]


def _metadata(repeats: int) -> Result:
    packages = ("mlflow", "scikit-learn", "psycopg", "sqlalchemy")
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "repeats": repeats,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "git": git_commit(),
        "load_average_start": os.getloadavg()[0],
        "versions": {name: importlib.metadata.version(name) for name in packages},
    }


def main(argv: Sequence[str] | None = None) -> int:
    for key, value in ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=REPEATS, help="timed runs per command")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args(argv)
    if not postgres_running():
        print(
            "benchmarks/server.py needs PostgreSQL on 127.0.0.1:5432 (trust auth, user postgres): "
            "`pg_isready -h 127.0.0.1` finds none. Start it (.ci/run does where it is installed) "
            "and run `make bench-server` again."
        )
        return 2
    meta = _metadata(args.repeats)
    scratch = Path(tempfile.mkdtemp(prefix="mlops-bench-server-"))
    print(f"Server benchmark, scratch directory {scratch}")
    try:
        results = _measure(scratch, args.repeats)
    finally:
        if args.keep:
            print(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    meta["load_average_end"] = os.getloadavg()[0]
    verdict = _verdict(results)
    print(_kinds_table(results))
    print(_times_table(results))
    print(f"\nLoad average {meta['load_average_start']:.2f} -> {meta['load_average_end']:.2f}")
    print("\n".join(verdict))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "meta": meta,
        "verdict": verdict,
        "results": {
            store: {command: measured.as_dict() for command, measured in by_command.items()}
            for store, by_command in results.items()
        },
    }
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")
    print(f"written to {RESULTS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
