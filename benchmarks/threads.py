"""Benchmark: histogram gradient boosting with its threads pinned to one vs every core.

Run ``make bench-threads`` (or ``.venv/bin/python benchmarks/threads.py [--rows N] [--reps N]
[--busy N]``). Results are printed and written to ``benchmarks/results/threads.json``.

What is measured
----------------
A synthetic binary table (``--rows`` rows, 20 numeric features, 5 of them informative; written
to a temporary CSV) is trained through the project's own path, ``modelling.fit_pipeline``, with
``model.name=hist_gradient_boosting`` and the ``params.yaml`` hyperparameters (200 iterations),
once with ``model.threads=1`` and once with ``model.threads=<every core>``. The "fit" column is
the estimator's ``fit`` alone (``FitResult.fit_seconds``); "fit + history" adds preprocessing
and the staged predictions that trace the learning curves, i.e. all the thread-limited work of
a run before evaluation.

Each setting is timed ``--reps`` times (median shown) in two conditions: as the machine is, and
with ``--busy`` processes spinning ``while True: pass`` in the background (one by default: on a
two-core machine, the other core is taken, as on a laptop running a test suite, or a CI runner
shared with another job). The busy processes are started by this script and stopped by their
process id when it is done. The validation log loss of both settings is printed: threads change
the time, not the model.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarking import ENVIRONMENT, git_commit, table  # benchmarks/ is on sys.path

REPO = Path(__file__).resolve().parents[1]
PARAMS = REPO / "params.yaml"
RESULTS = REPO / "benchmarks" / "results" / "threads.json"


def _write_table(path: Path, rows: int) -> Path:
    import pandas as pd
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=rows, n_features=20, n_informative=5, flip_y=0.05, random_state=0
    )
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    frame["label"] = ["yes" if value else "no" for value in y]
    frame.to_csv(path, index=False)
    return path


def _fit_once(csv: Path, threads: int) -> dict[str, float]:
    from sklearn.metrics import log_loss

    from mlops_tracking.core.config import load_config
    from mlops_tracking.core.modelling import fit_pipeline
    from mlops_tracking.core.models import family_for
    from mlops_tracking.runs.workflow import load_inputs

    config = load_config(
        PARAMS,
        [
            f"data.path={csv}",
            "data.target=label",
            "model.name=hist_gradient_boosting",
            f"model.threads={threads}",
        ],
    )
    inputs = load_inputs(config)
    family = family_for("hist_gradient_boosting", inputs.dataset.task)
    started = time.perf_counter()
    pipeline, fit = fit_pipeline(inputs, family)
    total = time.perf_counter() - started
    validation = inputs.splits.validation
    loss = log_loss(validation.y, pipeline.predict_proba(validation.X))
    return {"fit": fit.fit_seconds, "total": total, "validation_log_loss": float(loss)}


def _measure(csv: Path, threads: int, reps: int) -> dict[str, Any]:
    runs = [_fit_once(csv, threads) for _ in range(reps)]
    return {
        "threads": threads,
        "fit_median": statistics.median(r["fit"] for r in runs),
        "total_median": statistics.median(r["total"] for r in runs),
        "fit_all": [r["fit"] for r in runs],
        "validation_log_loss": runs[0]["validation_log_loss"],
    }


@contextmanager
def _busy(processes: int) -> Iterator[None]:
    """``processes`` busy loops in the background while the block runs, stopped by pid."""
    spinners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)
    ]
    try:
        time.sleep(1.0 if spinners else 0.0)  # let the scheduler see them
        yield
    finally:
        for spinner in spinners:
            spinner.terminate()
        for spinner in spinners:
            spinner.wait(timeout=10)


def _conditions(busy: int) -> list[tuple[str, int]]:
    return [("as is", 0), (f"{busy} busy loop(s)", busy)] if busy else [("as is", 0)]


def run(rows: int, reps: int, busy: int) -> dict[str, Any]:
    from mlops_tracking.core.threads import available_cores

    cores = available_cores()
    settings = sorted({1, cores})
    results: dict[str, Any] = {
        "commit": git_commit(),
        "rows": rows,
        "reps": reps,
        "cores": cores,
        "load_average_before": os.getloadavg()[0],
        "conditions": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-threads-") as scratch:
        csv = _write_table(Path(scratch) / "synthetic.csv", rows)
        _fit_once(csv, 1)  # warm-up: imports and first-call costs, outside the clock
        for label, processes in _conditions(busy):
            with _busy(processes):
                results["conditions"][label] = [_measure(csv, n, reps) for n in settings]
    results["load_average_after"] = os.getloadavg()[0]
    return results


def report(results: dict[str, Any]) -> str:
    rows: list[list[str]] = []
    for label, measured in results["conditions"].items():
        single = measured[0]["fit_median"]
        for entry in measured:
            rows.append(
                [
                    label,
                    str(entry["threads"]),
                    f"{entry['fit_median']:.2f} s",
                    f"{entry['total_median']:.2f} s",
                    f"{entry['fit_median'] / single:.2f}x",
                    f"{entry['validation_log_loss']:.6f}",
                ]
            )
    title = (
        f"HGB fit time, {results['rows']} rows x 20 features, 200 iterations, "
        f"{results['cores']} cores, median of {results['reps']} (commit {results['commit']}; "
        f"load {results['load_average_before']:.2f} -> {results['load_average_after']:.2f})"
    )
    headers = ["condition", "threads", "fit", "fit + history", "vs 1 thread", "val log loss"]
    return table(title, headers, rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=10_000, help="rows of the synthetic table")
    parser.add_argument("--reps", type=int, default=3, help="timed fits per setting")
    parser.add_argument("--busy", type=int, default=1, help="busy loops for the loaded run")
    args = parser.parse_args(argv)
    os.environ.update(ENVIRONMENT)
    results = run(args.rows, args.reps, args.busy)
    print(report(results))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(f"\nwritten to {RESULTS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
