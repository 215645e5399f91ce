"""Benchmark: trials per minute of the same Optuna study, untracked and tracked, on 1 and 2 workers.

Run ``make bench-sweep`` (or ``.venv/bin/python benchmarks/sweep.py [--trials N] [--model M]``).
Results are printed and written to ``benchmarks/results/sweep.json``.

What is measured
----------------
The study: ``--model`` (random_forest by default) on breast_cancer with the search space of
``params.yaml``, the TPE sampler (seed 42) and the median pruner, ``--trials`` trials.

* **untracked**: Optuna alone, in this process, with its in-memory storage, on the project's
  own trial work (draw, fit with the pruner watching the curve at the same steps, score the
  validation split) and no MLflow call: what the search costs without tracking or a shared
  study. The same sampler seed gives the same draws as the tracked sweep.
* **tracked, 1 worker**: ``sweep_and_log`` with ``sweep.workers=1`` (each trial a light child
  run: create, one batch, end) on a fresh local sqlite store and journal file.
* **tracked, 2 workers**: the same with two spawned worker processes (each loads the data and
  its libraries: a fixed start-up cost the figure includes).

"steady" counts the trials started once every worker had started its first one, over the time
from then to the last trial's end: the rate with the spawned worker's start-up left out.

Trials per minute is the trial phase's wall time (``trials_seconds`` on the parent run: from the
first worker starting to the last one ending), so the parent's set-up and its plots are not in
it; the full run of the best trial is timed apart (``full_run_seconds``), and so is the whole
command. Targets (issue): tracked >= 0.75x untracked; 2 workers >= 1.6x one, on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarking import ENVIRONMENT, git_commit, table  # benchmarks/ is on sys.path

REPO = Path(__file__).resolve().parents[1]
PARAMS = REPO / "params.yaml"
RESULTS = REPO / "benchmarks" / "results" / "sweep.json"


def _config(model: str, trials: int, *overrides: str) -> Any:
    from mlops_tracking.core.config import load_config

    return load_config(
        PARAMS,
        [
            f"model.name={model}",
            f"sweep.trials={trials}",
            "tracking.system_metrics=false",
            *overrides,
        ],
    )


def untracked(model: str, trials: int) -> dict[str, float]:
    """The same study with Optuna alone: the trial work with no MLflow call."""
    import optuna

    from mlops_tracking.core.evaluation import compute_metrics, predict, selection_rule
    from mlops_tracking.core.modelling import fit_pipeline
    from mlops_tracking.core.models import family_for
    from mlops_tracking.core.search_space import PRUNABLE_HISTORIES, suggest
    from mlops_tracking.runs.workflow import load_inputs
    from mlops_tracking.sweeps.study import pruner, quiet_optuna, sampler
    from mlops_tracking.sweeps.trial import CurveWatch

    quiet_optuna()
    config = _config(model, trials)
    inputs = load_inputs(config)
    family = family_for(model, inputs.dataset.task)
    metric, goal = selection_rule(config.evaluation, inputs.dataset.task)
    schema = type(getattr(config.model, model))

    def objective(trial: optuna.Trial) -> float:
        from dataclasses import replace

        values = suggest(trial, config.sweep.space[model], schema)
        trial_inputs = replace(inputs, config=config.with_hyperparameters(model, values))

        prune = family.history in PRUNABLE_HISTORIES
        watch = CurveWatch(trial, family.history, goal, prune=prune)
        pipeline, _ = fit_pipeline(trial_inputs, family, watch)
        scores = compute_metrics(
            predict(pipeline, inputs.splits.validation, inputs.dataset.is_classification),
            inputs.dataset.task,
            len(inputs.dataset.labels),
        )
        return scores[metric.removeprefix("validation_")]

    study = optuna.create_study(
        direction=goal, sampler=sampler(config.sweep, 0), pruner=pruner(config.sweep)
    )
    started = time.perf_counter()
    study.optimize(objective, n_trials=trials)
    seconds = time.perf_counter() - started
    return _figures(study.trials, seconds)


def _figures(trials: list[Any], seconds: float) -> dict[str, float]:
    states = [trial.state.name for trial in trials]
    return {
        "trials": float(len(trials)),
        "pruned": float(states.count("PRUNED")),
        "seconds": seconds,
        "trials_per_minute": 60 * len(trials) / seconds,
        "steady_trials_per_minute": steady_rate(trials),
    }


def steady_rate(trials: list[Any]) -> float:
    """Trials per minute once every worker has started its first trial (start-up left out)."""
    workers: dict[str, Any] = {}
    for trial in trials:
        worker = trial.user_attrs.get("worker", "here")
        workers[worker] = min(workers.get(worker, trial.datetime_start), trial.datetime_start)
    joined = max(workers.values())
    later = [t for t in trials if t.datetime_start >= joined and t.datetime_complete]
    end = max(t.datetime_complete for t in later)
    seconds = (end - joined).total_seconds()
    return 60 * len(later) / seconds if seconds > 0 else float("nan")


def tracked(model: str, trials: int, workers: int, retrain: bool) -> dict[str, float]:
    """``sweep_and_log`` on a fresh local store; the parent run's own timing read back."""
    from mlflow import MlflowClient

    from mlops_tracking.sweeps.sweep import sweep_and_log

    folder = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    os.chdir(folder)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
    config = _config(
        model, trials, f"sweep.workers={workers}", f"sweep.retrain_best={str(retrain).lower()}"
    )
    started = time.perf_counter()
    outcome = sweep_and_log(config)
    command = time.perf_counter() - started
    metrics = MlflowClient().get_run(outcome.parent_run_id).data.metrics
    from mlops_tracking.sweeps.study import load_study

    study = load_study(outcome.place, config.sweep)
    ours = [t for t in study.trials if t.user_attrs.get("parent_run_id") == outcome.parent_run_id]
    figures = {
        "trials": float(len(outcome.trials)),
        "pruned": metrics["trials_pruned"],
        "seconds": metrics["trials_seconds"],
        "trials_per_minute": metrics["trials_per_minute"],
        "command_seconds": command,
        "steady_trials_per_minute": steady_rate(ours),
    }
    if retrain:
        figures["full_run_seconds"] = metrics["full_run_seconds"]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--model", default="random_forest")
    args = parser.parse_args()
    from mlops_tracking.cli.terminal import quiet_libraries

    quiet_libraries()
    print(f"{args.trials} trials of {args.model} on breast_cancer, TPE seed 42, median pruner")
    results = {"untracked": untracked(args.model, args.trials)}
    print("  untracked done", flush=True)
    results["tracked, 1 worker"] = tracked(args.model, args.trials, 1, retrain=True)
    print("  tracked (1 worker) done", flush=True)
    results["tracked, 2 workers"] = tracked(args.model, args.trials, 2, retrain=False)
    base = results["untracked"]["trials_per_minute"]
    one = results["tracked, 1 worker"]["trials_per_minute"]
    steady_one = results["tracked, 1 worker"]["steady_trials_per_minute"]
    rows = [
        [
            name,
            f"{figures['trials']:.0f} ({figures['pruned']:.0f} pruned)",
            f"{figures['seconds']:.1f}",
            f"{figures['trials_per_minute']:.1f}",
            f"{figures['trials_per_minute'] / base:.2f}x",
            f"{figures['trials_per_minute'] / one:.2f}x",
            f"{figures['steady_trials_per_minute']:.1f}",
            f"{figures['steady_trials_per_minute'] / steady_one:.2f}x",
        ]
        for name, figures in results.items()
    ]
    print(
        table(
            "Trials per minute (trial phase wall time)",
            [
                "study",
                "trials",
                "seconds",
                "trials/min",
                "vs untracked",
                "vs 1 worker",
                "steady/min",
                "vs 1 worker",
            ],
            rows,
        )
    )
    full = results["tracked, 1 worker"]["full_run_seconds"]
    print(f"\nThe best trial's full run (every model format, audited data): {full:.1f} s")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {"environment": ENVIRONMENT, "commit": git_commit(), "args": vars(args), **results},
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"written to {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    sys.exit(main())
