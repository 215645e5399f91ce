"""A study as tables and pictures: the trials table and Optuna's four plots of a sweep.

Optuna's matplotlib plots are marked experimental and warn so on every call; the warning is
Optuna's note about its own API, not something a user can act on, so it is silenced here (and
only here), as is matplotlib's note that it widened an axis on which every trial has one
value. A plot that cannot be drawn (importances need two finished trials that differ) is
left out with the reason, never a crash after the trials ran.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    import optuna
    from matplotlib.figure import Figure

STATES = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running"}

PLOTS = {
    "plots/sweep_history.png": "plot_optimization_history",
    "plots/sweep_importances.png": "plot_param_importances",
    "plots/sweep_parallel_coordinate.png": "plot_parallel_coordinate",
    "plots/sweep_slice.png": "plot_slice",
}


def trials_table(trials: Sequence[optuna.trial.FrozenTrial], metric: str) -> pd.DataFrame:
    """One row per trial: number, state, the metric, seconds, where it ran, its run, its draw."""
    rows = []
    for trial in trials:
        drawn = trial.user_attrs.get("hyperparameters", {})
        seconds = (
            (trial.datetime_complete - trial.datetime_start).total_seconds()
            if trial.datetime_complete and trial.datetime_start
            else None
        )
        rows.append(
            {
                "trial": trial.number,
                "state": state_name(trial),
                metric: trial.value,
                "seconds": seconds,
                "pruned_at_step": max(trial.intermediate_values)
                if trial.state.name == "PRUNED" and trial.intermediate_values
                else None,
                "worker": trial.user_attrs.get("worker"),
                "run_id": trial.user_attrs.get("mlflow_run_id"),
                "parent_run_id": trial.user_attrs.get("parent_run_id"),
                **{f"param.{key}": _cell(value) for key, value in sorted(drawn.items())},
                "error": trial.user_attrs.get("error"),
            }
        )
    return pd.DataFrame(rows)


def state_name(trial: optuna.trial.FrozenTrial) -> str:
    """complete, pruned, failed, running or waiting."""
    return STATES.get(trial.state.name, trial.state.name.lower())


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, list | tuple) else value


def study_figures(study: optuna.Study) -> tuple[dict[str, Figure], dict[str, str]]:
    """Optuna's plots of ``study`` as matplotlib figures, and why any plot was left out."""
    import matplotlib

    matplotlib.use("Agg")
    from optuna.exceptions import ExperimentalWarning
    from optuna.visualization import matplotlib as optuna_plots

    figures: dict[str, Figure] = {}
    skipped: dict[str, str] = {}
    for path, name in PLOTS.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ExperimentalWarning)
                # matplotlib widens an axis whose trials all share one value, and says so
                warnings.simplefilter("ignore", UserWarning)
                drawn = getattr(optuna_plots, name)(study)
        except Exception as error:  # a study too small or too uniform for this plot
            skipped[path] = f"{type(error).__name__}: {error}"
            continue
        axes = drawn.ravel()[0] if hasattr(drawn, "ravel") else drawn
        figure = axes.figure
        figure.set_size_inches(max(8.0, figure.get_figwidth()), 5.0)
        figures[path] = figure
    return figures, skipped
