"""Benchmarks: what full tracking costs next to MLflow autolog, and how fast the pieces are.

Run ``make bench`` (or ``.venv/bin/python benchmarks/run.py [--quick] [--reps N] [--profile]``).
Every figure is printed as a table and written to ``benchmarks/results/latest.json``.

What is measured
----------------
1. **Tracking overhead of one training run**: the ``params.yaml`` defaults (random_forest on
   breast_cancer; the table title shows the model settings), five ways:

   * ``untracked``: ``load_inputs`` + ``modelling.fit_pipeline``: load, split, fit with the
     learning history; what a plain training script does.
   * ``untracked+evaluation``: ``load_inputs`` + ``modelling.train_and_evaluate``: also the
     evaluation, plots, ONNX and skops exports our run logs, computed in memory and thrown away.
   * ``plain fit+predict+score``: ``Pipeline.fit``, ``predict`` and ``score`` on the same data and
     pipeline: exactly the work of the autolog variant, without MLflow.
   * ``ours``: ``runs.workflow.train_and_log(config)``: the fully tracked run (params, histories,
     dozens of artifact files, 4 model formats, datasets, model-linked metrics, system metrics).
   * ``autolog``: ``mlflow.sklearn.autolog()`` with its defaults (it logs a cloudpickle model
     whose pip requirements it infers in a subprocess), then the plain fit+predict+score inside
     ``mlflow.start_run()``. The unfitted pipeline of the two plain variants is built once,
     before ``autolog()``, so autolog sees exactly one ``fit``.

   Each variant runs in its own subprocess. The subprocess first imports every library any
   variant uses (so import cost is identical and excluded; it is shown as "imports"), runs the
   one-off setup (``autolog()`` itself, shown as "setup"), then times 1 cold + N warm runs. The
   cold run pays first-call costs (lazy imports inside libraries, cached git state and pip pins);
   the warm runs are what a long-lived process, such as a sweep or a notebook, sees. Before every
   run, and outside the clock, the subprocess creates a fresh temporary working directory and a
   fresh ``sqlite:////tmp/.../mlflow.db`` store (schema included: that is a once-per-store cost).
   Overheads use warm medians: ``ours - untracked`` and ``autolog - untracked``; the ratio of the
   two is the headline (project target <= 0.25). ``autolog - plain`` is shown as a check that the
   baseline matches autolog's own work. What each tracked run logged is read back from the store
   with ``MlflowClient`` so that the comparison is honest about the amount of information.

2. **Step-metric logging**: a 4-curve, 250-step history (1000 points) written to a fresh store by
   (a) our ``runs.metrics.log_history`` (batched ``log_batch``), (b) naive per-point
   ``mlflow.log_metric`` (fewer points; compare rates), (c) ``log_metric(synchronous=False)`` plus
   ``flush_async_logging``, and (d) raw ``sqlite3`` ``executemany`` into a table shaped like
   MLflow's ``metrics`` table, in one transaction: the physical floor. Points are read back to
   check they were all written; rates use the median run (the cheap methods run 3x as often
   as the ~5 s async one). Target: ours / naive >= 40x. The async path keeps MLflow's
   defaults: without ``MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS`` every point becomes its own
   ``log_batch`` on a 10-thread pool, so on SQLite it is no faster than the naive loop.

3. **CLI start-up**: ``mlops-tracking --help`` as a subprocess (target < 0.3 s), next to
   ``python -c pass`` and ``python -c "import mlflow"`` for context.

4. **Demo**: ``mlops-tracking demo --config params.yaml`` on a fresh store in a temporary
   directory, once, store creation included (target < 60 s). Skipped with ``--quick``.

How to read it
--------------
Times are wall-clock seconds on this machine; compare figures from one run with each other, not
across machines. "median" and "min" are over the warm runs. Other processes competing for the CPU
make every figure noisy: the 1-minute load average before and after is recorded (``meta``), and a
warning is printed when it is high. A ratio below 1 means our tracking adds less time than
autolog's; the "logged" table says how much more each run records. With ``--profile`` the script
also runs ``ours`` once more under cProfile and lists where the time goes.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import importlib.metadata
import json
import math
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarking import ENVIRONMENT, git_commit, table  # benchmarks/ is on sys.path

if TYPE_CHECKING:
    from mlops_tracking.core.config import Config

SCRIPT = Path(__file__).resolve()
REPO = SCRIPT.parents[1]
PARAMS = REPO / "params.yaml"
RESULTS = REPO / "benchmarks" / "results" / "latest.json"
BIN = Path(sys.executable).parent
CLI = BIN / "mlops-tracking"


FULL_REPS, QUICK_REPS = 5, 2
BUSY_LOAD_SHARE = 0.5  # warn when the 1-minute load average exceeds half the cores
HELP_REPS, IMPORT_REPS = 10, 5
WORKER_TIMEOUT = 1800.0
DEMO_TIMEOUT = 1800.0

VARIANTS = ("untracked", "untracked_eval", "plain", "ours", "autolog")
LABELS = {
    "untracked": "untracked (fit_pipeline)",
    "untracked_eval": "untracked+evaluation",
    "plain": "plain fit+predict+score",
    "ours": "ours (train_and_log)",
    "autolog": "autolog (sklearn defaults)",
}
AUTOLOG_EXPERIMENT = "autolog-breast_cancer"

# Every library any variant touches, imported before the clock starts in every worker.
PRELOAD = (
    "numpy",
    "pandas",
    "sklearn.ensemble",
    "sklearn.pipeline",
    "sklearn.metrics",
    "matplotlib.figure",
    "matplotlib.pyplot",
    "skops.io",
    "skl2onnx",
    "onnx",
    "onnxruntime",
    "mlflow",
    "mlflow.sklearn",
    "mlflow.onnx",
    "mlflow.pyfunc",
    "mlflow.models",
    "mlflow.data.pandas_dataset",
    "mlflow.store.tracking.sqlalchemy_store",
    "mlops_tracking.runs.workflow",
    "mlops_tracking.core.modelling",
    "mlops_tracking.core.evaluation",
    "mlops_tracking.core.export",
    "mlops_tracking.core.plots",
    "mlops_tracking.core.features",
    "mlops_tracking.core.training",
    "mlops_tracking.runs.recorder",
    "mlops_tracking.runs.model_formats",
    "mlops_tracking.runs.lifecycle",
    "mlops_tracking.runs.store",
)

HISTORY_KEYS = ("train_loss", "val_loss", "train_accuracy", "val_accuracy")
HISTORY_STEPS = 250
NAIVE_STEPS = 50  # 200 points: per-point logging is slow, its rate is what compares
METRIC_METHODS = ("ours", "naive", "async", "sqlite")
CHEAP_METHOD_FACTOR = 3  # ours, naive and sqlite take well under a second: repeat them 3x more
METRIC_LABELS = {
    "ours": "ours: log_history (log_batch)",
    "naive": "naive: mlflow.log_metric per point",
    "async": "async: log_metric(synchronous=False)+flush",
    "sqlite": "floor: sqlite3 executemany, 1 txn",
}

PROFILE_SCOPE = re.compile(r"mlops_tracking|mlflow|skops|matplotlib")
PROFILE_ROWS = 25

Result = dict[str, Any]


class BenchmarkError(RuntimeError):
    """A measurement could not be taken (a subprocess failed or timed out)."""


# --------------------------------------------------------------------------------------------
# Shared helpers


def _environment(tracking_uri: str) -> dict[str, str]:
    env = {**os.environ, **ENVIRONMENT, "MLFLOW_TRACKING_URI": tracking_uri}
    env.pop("MLFLOW_EXPERIMENT_NAME", None)
    env.pop("MLFLOW_EXPERIMENT_ID", None)
    return env


def _sqlite_uri(directory: Path) -> str:
    return f"sqlite:///{directory.resolve() / 'mlflow.db'}"  # sqlite:////tmp/.../mlflow.db


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def _seconds(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3f}"


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _load_average() -> float:
    return os.getloadavg()[0]


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by None, so the JSON stays standard."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


# --------------------------------------------------------------------------------------------
# Worker side: runs inside a subprocess started by the orchestrator


def _quiet() -> None:
    import logging

    warnings.simplefilter("ignore")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _preload() -> float:
    started = time.perf_counter()
    for module in PRELOAD:
        importlib.import_module(module)
    return time.perf_counter() - started


def _fresh_store(directory: Path) -> str:
    """Work in a new directory on a new sqlite store whose schema already exists."""
    import mlflow
    from mlflow import MlflowClient

    directory.mkdir(parents=True)
    os.chdir(directory)
    uri = _sqlite_uri(directory)
    os.environ["MLFLOW_TRACKING_URI"] = uri
    mlflow.set_tracking_uri(uri)
    MlflowClient(uri).search_experiments(max_results=1)  # creates the schema (not timed)
    return uri


def _template_pipeline(config: Config) -> Any:
    """The unfitted pipeline, built by the code ``modelling.fit_pipeline`` uses.

    Built once per process, before ``autolog()`` patches scikit-learn: sizing kbest fits the
    preprocessing once, which autolog would otherwise record as a second training session.
    """
    from mlops_tracking.core.modelling import unfitted_pipeline
    from mlops_tracking.core.models import family_for
    from mlops_tracking.runs.workflow import load_inputs

    inputs = load_inputs(config, PARAMS)
    return unfitted_pipeline(inputs, family_for(config.model.name, inputs.dataset.task))


def _plain_fit(config: Config, template: Any) -> None:
    """What a newcomer's script does: load the data, fit, predict, score."""
    from sklearn.base import clone

    from mlops_tracking.runs.workflow import load_inputs

    splits = load_inputs(config, PARAMS).splits
    pipeline = clone(template)
    pipeline.fit(splits.train.X, splits.train.y)
    pipeline.predict(splits.test.X)
    pipeline.score(splits.test.X, splits.test.y)


def _runner(variant: str, config: Config) -> Callable[[], str | None]:
    """The function one timed repetition calls; it returns the run id when a run is logged."""
    import mlflow

    from mlops_tracking.core.modelling import fit_pipeline, train_and_evaluate
    from mlops_tracking.core.models import family_for
    from mlops_tracking.runs.workflow import load_inputs, train_and_log

    def untracked() -> str | None:
        inputs = load_inputs(config, PARAMS)
        fit_pipeline(inputs, family_for(config.model.name, inputs.dataset.task))
        return None

    def untracked_eval() -> str | None:
        inputs = load_inputs(config, PARAMS)
        train_and_evaluate(inputs, family_for(config.model.name, inputs.dataset.task))
        return None

    def plain() -> str | None:
        _plain_fit(config, template)
        return None

    def ours() -> str | None:
        return str(train_and_log(config, PARAMS).run_id)

    def autolog() -> str | None:
        mlflow.set_experiment(AUTOLOG_EXPERIMENT)
        with mlflow.start_run() as run:
            _plain_fit(config, template)
        return str(run.info.run_id)

    runners: dict[str, Callable[[], str | None]] = {
        "untracked": untracked,
        "untracked_eval": untracked_eval,
        "plain": plain,
        "ours": ours,
        "autolog": autolog,
    }
    template = _template_pipeline(config) if variant in {"plain", "autolog"} else None
    if variant == "autolog":
        mlflow.sklearn.autolog()  # defaults: model + inferred pip requirements, datasets, metrics
    return runners[variant]


def _artifact_files(list_dir: Callable[[str | None], Sequence[Any]], path: str | None) -> int:
    count = 0
    for entry in list_dir(path):
        count += _artifact_files(list_dir, entry.path) if entry.is_dir else 1
    return count


def _directory_bytes(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())


def _logged_summary(run_id: str, directory: Path) -> Result:
    """Count what a run wrote, reading it back from the store."""
    from mlflow import MlflowClient

    client = MlflowClient()
    run = client.get_run(run_id)
    keys = list(run.data.metrics)
    models = [
        model
        for model in client.search_logged_models([run.info.experiment_id])
        if model.source_run_id == run_id
    ]

    def run_files(path: str | None) -> Sequence[Any]:
        return client.list_artifacts(run_id, path)

    def model_files(model_id: str) -> int:
        return _artifact_files(
            lambda path: client.list_logged_model_artifacts(model_id, path), None
        )

    return {
        "params": len(run.data.params),
        "tags": len(run.data.tags),
        "metric_keys": len(keys),
        "system_metric_keys": sum(1 for key in keys if key.startswith("system/")),
        "metric_points": sum(len(client.get_metric_history(run_id, key)) for key in keys),
        "run_artifacts": _artifact_files(run_files, None),
        "logged_models": len(models),
        "model_files": sum(model_files(str(model.model_id)) for model in models),
        "model_linked_metrics": sum(len(model.metrics or []) for model in models),
        "datasets": len(run.inputs.dataset_inputs) if run.inputs else 0,
        "bytes_written": _directory_bytes(directory),
    }


def _worker_overhead(variant: str, reps: int) -> Result:
    from mlops_tracking.core.config import load_config

    import_seconds = _preload()
    config = load_config(PARAMS, [])
    base = Path.cwd()
    started = time.perf_counter()
    run = _runner(variant, config)
    setup_seconds = time.perf_counter() - started
    times: list[float] = []
    run_id: str | None = None
    for rep in range(reps + 1):
        _fresh_store(base / f"rep-{rep}")
        gc.collect()
        started = time.perf_counter()
        run_id = run()
        times.append(time.perf_counter() - started)
    logged = _logged_summary(run_id, base / f"rep-{reps}") if run_id else None
    return {
        "variant": variant,
        "model": config.model.name,
        "dataset": config.data.dataset,
        "hyperparameters": config.model.hyperparameters(),
        "import_seconds": import_seconds,
        "setup_seconds": setup_seconds,
        "cold_seconds": times[0],
        "warm_seconds": times[1:],
        "logged": logged,
    }


def _synthetic_history(steps: int) -> dict[str, list[float]]:
    return {
        "train_loss": [1.0 / (1 + 0.05 * s) for s in range(1, steps + 1)],
        "val_loss": [1.1 / (1 + 0.04 * s) + 0.01 for s in range(1, steps + 1)],
        "train_accuracy": [1 - 0.5 / (1 + 0.05 * s) for s in range(1, steps + 1)],
        "val_accuracy": [1 - 0.55 / (1 + 0.04 * s) for s in range(1, steps + 1)],
    }


def _points(series: dict[str, list[float]], steps: int) -> list[tuple[str, float, int]]:
    return [(key, values[i], i + 1) for key, values in series.items() for i in range(steps)]


def _stored_points(run_id: str) -> int:
    from mlflow import MlflowClient

    client = MlflowClient()
    return sum(len(client.get_metric_history(run_id, key)) for key in HISTORY_KEYS)


def _time_mlflow_method(method: str, series: dict[str, list[float]]) -> tuple[float, int, int]:
    """(seconds, points sent, points read back) for one MLflow logging method."""
    import mlflow

    from mlops_tracking.core.training import History
    from mlops_tracking.runs.metrics import log_history

    with mlflow.start_run() as run:
        run_id = str(run.info.run_id)
        if method == "ours":
            history = History("step", list(range(1, HISTORY_STEPS + 1)), series)
            started = time.perf_counter()
            sent = log_history(run_id, history)
        else:
            points = _points(series, NAIVE_STEPS if method == "naive" else HISTORY_STEPS)
            asynchronous = method == "async"
            started = time.perf_counter()
            for key, value, step in points:
                mlflow.log_metric(key, value, step=step, synchronous=not asynchronous)
            if asynchronous:
                mlflow.flush_async_logging()
            sent = len(points)
        seconds = time.perf_counter() - started
    return seconds, sent, _stored_points(run_id)


def _time_sqlite_floor(directory: Path, series: dict[str, list[float]]) -> tuple[float, int, int]:
    """Insert the same points into a plain table shaped like MLflow's ``metrics`` table."""
    now = int(time.time() * 1000)
    rows = [(key, value, now, step, "run") for key, value, step in _points(series, HISTORY_STEPS)]
    connection = sqlite3.connect(directory / "floor.db")
    connection.execute(
        "CREATE TABLE metrics (key TEXT NOT NULL, value REAL NOT NULL, timestamp INTEGER NOT NULL,"
        " step INTEGER NOT NULL, run_uuid TEXT NOT NULL,"
        " PRIMARY KEY (key, timestamp, step, run_uuid, value))"
    )
    connection.commit()
    started = time.perf_counter()
    with connection:  # one transaction, committed on exit
        connection.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?)", rows)
    seconds = time.perf_counter() - started
    stored = int(connection.execute("SELECT COUNT(*) FROM metrics").fetchone()[0])
    connection.close()
    return seconds, len(rows), stored


def _worker_metrics(reps: int) -> Result:
    import_seconds = _preload()
    series = _synthetic_history(HISTORY_STEPS)
    base = Path.cwd()
    runs: dict[str, list[dict[str, float]]] = {method: [] for method in METRIC_METHODS}
    for rep in range(reps * CHEAP_METHOD_FACTOR):
        for method in METRIC_METHODS:
            if method == "async" and rep >= reps:
                continue  # ~5 s per repetition: the slow path gets the base count
            directory = base / f"rep-{rep}-{method}"
            _fresh_store(directory)
            gc.collect()
            if method == "sqlite":
                seconds, sent, stored = _time_sqlite_floor(directory, series)
            else:
                seconds, sent, stored = _time_mlflow_method(method, series)
            runs[method].append({"seconds": seconds, "points": sent, "stored": stored})
    return {"import_seconds": import_seconds, "runs": runs}


def _worker_profile() -> Result:
    """Profile one warm ``ours`` run (after a warm-up run on another fresh store)."""
    import cProfile
    import pstats

    from mlops_tracking.core.config import load_config

    _preload()
    config = load_config(PARAMS, [])
    run = _runner("ours", config)
    _fresh_store(Path.cwd() / "warm-up")
    run()
    _fresh_store(Path.cwd() / "profiled")
    gc.collect()
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.runcall(run)
    wall = time.perf_counter() - started
    stats = pstats.Stats(profiler)
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = vars(stats)["stats"]
    rows: list[Result] = [
        {
            "function": f"{_short_path(file)}:{line}({name})",
            "calls": calls,
            "tottime": tottime,
            "cumtime": cumtime,
        }
        for (file, line, name), (_, calls, tottime, cumtime, _callers) in raw.items()
    ]
    scoped = [row for row in rows if PROFILE_SCOPE.search(row["function"])]
    return {
        "wall_seconds": wall,
        "cumulative": sorted(scoped, key=lambda row: -row["cumtime"])[:PROFILE_ROWS],
        "self": sorted(rows, key=lambda row: -row["tottime"])[:PROFILE_ROWS],
    }


def _short_path(file: str) -> str:
    for marker in ("site-packages/", "src/", "lib/python"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


def _run_worker(name: str, reps: int, output: Path) -> None:
    _quiet()
    if name == "metrics":
        result = _worker_metrics(reps)
    elif name == "profile":
        result = _worker_profile()
    else:
        result = _worker_overhead(name, reps)
    output.write_text(json.dumps(result, indent=2), encoding="utf-8")


# --------------------------------------------------------------------------------------------
# Orchestrator side


def _spawn_worker(name: str, reps: int, workdir: Path) -> Result:
    """Run one worker subprocess in ``workdir`` and return the JSON it wrote."""
    workdir.mkdir(parents=True)
    output = workdir / "result.json"
    command = [sys.executable, str(SCRIPT), "--worker", name, "--reps", str(reps)]
    completed = subprocess.run(
        [*command, "--output", str(output)],
        cwd=workdir,
        env=_environment(_sqlite_uri(workdir)),
        capture_output=True,
        text=True,
        timeout=WORKER_TIMEOUT,
        check=False,
    )
    if completed.returncode != 0 or not output.is_file():
        tail = "\n".join(completed.stderr.strip().splitlines()[-25:])
        raise BenchmarkError(f"worker {name} exited {completed.returncode}:\n{tail}")
    result: Result = json.loads(output.read_text(encoding="utf-8"))
    return result


def _time_command(
    command: Sequence[str], reps: int, workdir: Path, timeout: float = 120.0
) -> tuple[list[float], subprocess.CompletedProcess[str]]:
    """Wall seconds of ``reps`` runs of ``command`` (each must succeed) and the last result."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = _environment(_sqlite_uri(workdir))
    times: list[float] = []
    completed: subprocess.CompletedProcess[str] | None = None
    for _ in range(reps):
        started = time.perf_counter()
        completed = subprocess.run(
            list(command),
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        times.append(time.perf_counter() - started)
        if completed.returncode != 0:
            tail = "\n".join((completed.stdout + completed.stderr).strip().splitlines()[-25:])
            raise BenchmarkError(f"{' '.join(command)} exited {completed.returncode}:\n{tail}")
    assert completed is not None
    return times, completed


def _overhead_ratio(variants: dict[str, Result], field: str) -> float:
    """(ours - untracked) / (autolog - untracked) for one statistic of the run times."""
    base = variants["untracked"][field]
    autolog = variants["autolog"][field] - base
    return (variants["ours"][field] - base) / autolog if autolog > 0 else math.inf


def _bench_overhead(reps: int, scratch: Path) -> Result:
    variants: dict[str, Result] = {}
    for variant in VARIANTS:
        print(f"  timing {LABELS[variant]} (1 cold + {reps} warm runs) ...", flush=True)
        load = _load_average()
        variants[variant] = _spawn_worker(variant, reps, scratch / f"overhead-{variant}")
        variants[variant]["load_average_before"] = load
    for result in variants.values():
        warm = result["warm_seconds"]
        result["warm_median"] = _median(warm)
        result["warm_min"] = min(warm)
    median = {name: v["warm_median"] for name, v in variants.items()}
    summary = {
        "ours_overhead": median["ours"] - median["untracked"],
        "ours_evaluation_compute": median["untracked_eval"] - median["untracked"],
        "ours_logging_only": median["ours"] - median["untracked_eval"],
        "autolog_overhead": median["autolog"] - median["untracked"],
        "autolog_overhead_vs_plain": median["autolog"] - median["plain"],
        "ratio": _overhead_ratio(variants, "warm_median"),
        "ratio_min": _overhead_ratio(variants, "warm_min"),
        "ratio_cold": _overhead_ratio(variants, "cold_seconds"),
        "target_ratio": 0.25,
    }
    summary["ratio_met"] = summary["ratio"] <= summary["target_ratio"]
    return {"reps": reps, "variants": variants, "summary": summary}


LOGGED_ROWS = (
    ("params", "params"),
    ("tags", "tags"),
    ("metric keys", "metric_keys"),
    ("  of which system/ (CPU, memory...)", "system_metric_keys"),
    ("metric points (histories included)", "metric_points"),
    ("run artifact files", "run_artifacts"),
    ("logged models", "logged_models"),
    ("files in logged models", "model_files"),
    ("metrics linked to logged models", "model_linked_metrics"),
    ("dataset inputs", "datasets"),
    ("MB written (store + artifacts)", "bytes_written"),
)


def _print_overhead(result: Result) -> None:
    variants, summary = result["variants"], result["summary"]
    base = variants["untracked"]["warm_median"]
    rows = [
        [
            LABELS[name],
            _seconds(v["import_seconds"]),
            _seconds(v["setup_seconds"]),
            _seconds(v["cold_seconds"]),
            _seconds(v["warm_median"]),
            _seconds(v["warm_min"]),
            "-" if name == "untracked" else f"{v['warm_median'] - base:+.3f}",
            f"{v['load_average_before']:.2f}",
        ]
        for name, v in variants.items()
    ]
    headers = ["variant", "imports", "setup", "cold", "median", "min", "vs untracked", "load"]
    ours = variants["ours"]
    settings = ", ".join(f"{k}={v}" for k, v in ours["hyperparameters"].items() if v is not None)
    title = (
        f"1. One training run, {ours['model']} ({settings}) on {ours['dataset']}: wall seconds\n"
        f"   1 cold + {result['reps']} warm runs per variant, each on a fresh store"
    )
    print(table(title, headers, rows))
    print(
        "load: 1-minute load average as the variant started; the previous worker adds about 1, "
        f"more than that on {os.cpu_count()} cores means other processes competed for the CPU."
    )
    overhead_rows = [
        ["ours - untracked", _seconds(summary["ours_overhead"])],
        [
            "  of which evaluation, plots, exports (computed)",
            _seconds(summary["ours_evaluation_compute"]),
        ],
        ["  of which logging to the store", _seconds(summary["ours_logging_only"])],
        ["autolog - untracked", _seconds(summary["autolog_overhead"])],
        [
            "autolog - plain fit+predict+score (check)",
            _seconds(summary["autolog_overhead_vs_plain"]),
        ],
        ["ratio ours/autolog overhead, warm medians", f"{summary['ratio']:.2f}"],
        ["ratio ours/autolog overhead, warm minimums", f"{summary['ratio_min']:.2f}"],
        ["ratio ours/autolog overhead, cold runs", f"{summary['ratio_cold']:.2f}"],
        [
            f"target: median ratio <= {summary['target_ratio']}",
            _verdict(bool(summary["ratio_met"])),
        ],
    ]
    print(table("1b. Tracking overhead (warm medians, seconds)", ["", "value"], overhead_rows))
    logged = [variants["ours"]["logged"], variants["autolog"]["logged"]]
    rows = [
        [
            label,
            *(
                f"{counts[key] / 2**20:.1f}" if key == "bytes_written" else str(counts[key])
                for counts in logged
            ),
        ]
        for label, key in LOGGED_ROWS
    ]
    headers = ["last warm run, read back with MlflowClient", "ours", "autolog"]
    print(table("1c. What one run logged", headers, rows))


def _bench_metrics(reps: int, scratch: Path) -> Result:
    print(
        f"  timing step-metric logging ({reps}-{reps * CHEAP_METHOD_FACTOR} runs per method) ...",
        flush=True,
    )
    result = _spawn_worker("metrics", reps, scratch / "metrics")
    summary: dict[str, Result] = {}
    for method, runs in result["runs"].items():
        seconds = [run["seconds"] for run in runs]
        points = int(runs[0]["points"])
        summary[method] = {
            "runs": len(runs),
            "points": points,
            "stored": min(int(run["stored"]) for run in runs),
            "median_seconds": _median(seconds),
            "min_seconds": min(seconds),
            "points_per_second": points / _median(seconds),
        }
    naive_rate = summary["naive"]["points_per_second"]
    for method in summary.values():
        method["vs_naive"] = method["points_per_second"] / naive_rate
    ratio = summary["ours"]["vs_naive"]
    return {
        "reps": reps,
        "methods": summary,
        "ours_vs_naive": ratio,
        "ours_vs_naive_min": (summary["ours"]["points"] / summary["ours"]["min_seconds"])
        / (summary["naive"]["points"] / summary["naive"]["min_seconds"]),
        "target": 40.0,
        "met": ratio >= 40.0,
        "raw": result["runs"],
    }


def _print_metrics(result: Result) -> None:
    rows = [
        [
            METRIC_LABELS[name],
            str(m["runs"]),
            str(m["points"]),
            str(m["stored"]),
            _seconds(m["median_seconds"]),
            _seconds(m["min_seconds"]),
            f"{m['points_per_second']:,.0f}",
            f"{m['vs_naive']:,.1f}x",
        ]
        for name, m in result["methods"].items()
    ]
    headers = ["method", "runs", "points", "read back", "median s", "min s", "points/s", "vs naive"]
    title = (
        f"2. Step-metric logging: {len(HISTORY_KEYS)} curves x {HISTORY_STEPS} steps, "
        "a fresh sqlite store per run"
    )
    print(table(title, headers, rows))
    print(
        f"ours / naive = {result['ours_vs_naive']:.1f}x by median rate "
        f"(target >= {result['target']:.0f}x: {_verdict(bool(result['met']))}); "
        f"{result['ours_vs_naive_min']:.1f}x by best rate"
    )


def _bench_cli(scratch: Path, import_reps: int) -> Result:
    print("  timing CLI start-up ...", flush=True)
    python = sys.executable
    commands = {
        "mlops-tracking --help": ([str(CLI), "--help"], HELP_REPS),
        "python -c pass": ([python, "-c", "pass"], import_reps),
        "python -c 'import mlflow'": ([python, "-c", "import mlflow"], import_reps),
    }
    timings: dict[str, Result] = {}
    for label, (command, reps) in commands.items():
        times, _ = _time_command(command, reps, scratch / "cli")
        timings[label] = {
            "reps": reps,
            "median_seconds": _median(times),
            "min_seconds": min(times),
            "seconds": times,
        }
    median = timings["mlops-tracking --help"]["median_seconds"]
    return {"commands": timings, "target": 0.3, "met": median < 0.3}


def _print_cli(result: Result) -> None:
    rows = [
        [label, str(t["reps"]), _seconds(t["median_seconds"]), _seconds(t["min_seconds"])]
        for label, t in result["commands"].items()
    ]
    print(
        table(
            "3. CLI start-up, wall seconds per process", ["command", "runs", "median", "min"], rows
        )
    )
    print(f"--help median < {result['target']} s: {_verdict(bool(result['met']))}")


def _bench_demo(scratch: Path) -> Result:
    print("  timing mlops-tracking demo (one run, fresh store) ...", flush=True)
    workdir = scratch / "demo"
    command = [str(CLI), "demo", "--config", str(PARAMS)]
    times, completed = _time_command(command, 1, workdir, timeout=DEMO_TIMEOUT)
    match = re.search(r"Audit: (\d+)/(\d+) runs pass", completed.stdout)
    return {
        "seconds": times[0],
        "audit_passed": int(match.group(1)) if match else None,
        "audit_runs": int(match.group(2)) if match else None,
        "target": 60.0,
        "met": times[0] < 60.0,
    }


def _print_demo(result: Result) -> None:
    audit = f"{result['audit_passed']}/{result['audit_runs']} runs pass"
    rows = [["mlops-tracking demo", _seconds(result["seconds"]), audit]]
    print(table("4. Demo on a fresh store, wall seconds", ["command", "seconds", "audit"], rows))
    print(f"demo < {result['target']:.0f} s: {_verdict(bool(result['met']))}")


def _print_profile(result: Result) -> None:
    def rows(entries: list[Result]) -> list[list[str]]:
        return [
            [e["function"][:95], str(e["calls"]), f"{e['cumtime']:.3f}", f"{e['tottime']:.3f}"]
            for e in entries
        ]

    headers = ["function", "calls", "cumulative s", "self s"]
    wall = result["wall_seconds"]
    print(
        table(
            f"Profile of one warm 'ours' run ({wall:.2f} s under cProfile): top cumulative, "
            "mlops_tracking/mlflow/skops/matplotlib",
            headers,
            rows(result["cumulative"]),
        )
    )
    print(table("Profile: top self time, any module", headers, rows(result["self"])))


def _metadata(quick: bool, reps: int) -> Result:
    def version(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "reps": reps,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "git": git_commit(),
        "load_average_start": _load_average(),
        "versions": {name: version(name) for name in ("mlflow", "scikit-learn", "skops")},
    }


def _targets(results: Result) -> list[list[str]]:
    """One row per target: what was measured and whether it meets the target."""

    def row(key: str, label: str, measured: Callable[[Result], str], met: str) -> list[str]:
        result = results.get(key)
        if result is None:
            return [label, "skipped", "-"]
        if "error" in result:
            return [label, "failed", "ERROR"]
        return [label, measured(result), _verdict(bool(_lookup(result, met)))]

    return [
        row(
            "tracking_overhead",
            "overhead ratio ours/autolog <= 0.25",
            lambda r: f"{r['summary']['ratio']:.2f}",
            "summary.ratio_met",
        ),
        row(
            "step_metrics",
            "step metrics ours/naive >= 40x",
            lambda r: f"{r['ours_vs_naive']:.1f}x",
            "met",
        ),
        row(
            "cli_startup",
            "mlops-tracking --help < 0.3 s",
            lambda r: _seconds(r["commands"]["mlops-tracking --help"]["median_seconds"]),
            "met",
        ),
        row("demo", "demo < 60 s", lambda r: _seconds(r["seconds"]), "met"),
    ]


def _lookup(result: Result, dotted: str) -> Any:
    value: Any = result
    for key in dotted.split("."):
        value = value[key]
    return value


def _run_benchmarks(args: argparse.Namespace, reps: int, scratch: Path, results: Result) -> int:
    """Run each selected benchmark; a failing one is recorded and the others still run."""
    benchmarks: list[tuple[str, Callable[[], Result], Callable[[Result], None]]] = [
        ("tracking_overhead", lambda: _bench_overhead(reps, scratch), _print_overhead),
        ("step_metrics", lambda: _bench_metrics(reps, scratch), _print_metrics),
        (
            "cli_startup",
            lambda: _bench_cli(scratch, 3 if args.quick else IMPORT_REPS),
            _print_cli,
        ),
    ]
    if not args.quick:
        benchmarks.append(("demo", lambda: _bench_demo(scratch), _print_demo))
    if args.profile:
        benchmarks.append(
            ("profile", lambda: _spawn_worker("profile", 1, scratch / "profile"), _print_profile)
        )
    failures = 0
    for key, bench, show in benchmarks:
        try:
            results[key] = bench()
        except (BenchmarkError, subprocess.TimeoutExpired) as error:
            print(f"benchmark {key} failed: {error}", file=sys.stderr)
            results[key] = {"error": str(error)}
            failures += 1
            continue
        show(results[key])
    return failures


def _orchestrate(args: argparse.Namespace) -> int:
    os.environ.update(ENVIRONMENT)
    reps = args.reps or (QUICK_REPS if args.quick else FULL_REPS)
    scratch = Path(tempfile.mkdtemp(prefix="mlops-bench-"))
    results: Result = {"meta": _metadata(args.quick, reps)}
    print(f"Benchmarks ({'quick' if args.quick else 'full'}), scratch directory {scratch}")
    if results["meta"]["load_average_start"] > (os.cpu_count() or 1) * BUSY_LOAD_SHARE:
        print(
            f"warning: load average {results['meta']['load_average_start']:.2f} on "
            f"{os.cpu_count()} cores: other processes compete for the CPU, figures will be noisy"
        )
    try:
        failures = _run_benchmarks(args, reps, scratch, results)
    finally:
        if args.keep:
            print(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    results["meta"]["load_average_end"] = _load_average()
    print(table("Targets", ["target", "measured", "verdict"], _targets(results)))
    load = (
        f"{results['meta']['load_average_start']:.2f} -> {results['meta']['load_average_end']:.2f}"
    )
    print(f"1-minute load average, start -> end: {load} ({os.cpu_count()} cores)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(_finite(results), indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {RESULTS.relative_to(REPO)}")
    return 1 if failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, no demo")
    parser.add_argument("--reps", type=int, default=0, help="warm repetitions per variant")
    parser.add_argument("--profile", action="store_true", help="also cProfile one 'ours' run")
    parser.add_argument("--keep", action="store_true", help="keep the scratch stores")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.reps < 0:
        parser.error("--reps cannot be negative")
    if args.worker:
        _run_worker(args.worker, args.reps, args.output)
        return 0
    return _orchestrate(args)


if __name__ == "__main__":
    sys.exit(main())
