"""The sweep command: an Optuna study over the configured model family, tracked in MLflow."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mlops_tracking.cli import terminal
from mlops_tracking.cli.options import (
    DEFAULT_CONFIG,
    ConfigOption,
    ExperimentOption,
    SetOption,
    load_settings,
)

if TYPE_CHECKING:
    from mlops_tracking.sweeps.sweep import SweepOutcome

app = typer.Typer()
TRIALS_SHOWN = 10


@app.command()
def sweep(
    *,
    trials: Annotated[
        int | None, typer.Option(help="Trials to run (default: sweep.trials).")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Worker processes sharing the study (default: sweep.workers)."),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(help="Start no trial after this many seconds (default: none)."),
    ] = None,
    study: Annotated[
        str | None,
        typer.Option(
            help="Optuna study name (default: <experiment>-<model>); an existing study resumes, "
            "and workers on other machines join it."
        ),
    ] = None,
    config: ConfigOption = DEFAULT_CONFIG,
    set_: SetOption = None,
    experiment: ExperimentOption = None,
) -> None:
    """Search model.name's hyperparameters (sweep.space) with Optuna: one parent run, a light
    child run per trial, and the best trial trained again as a full run ready for register."""

    def body() -> None:
        from mlops_tracking.cli.runs import reap_first
        from mlops_tracking.sweeps.sweep import sweep_and_log

        chosen = {"trials": trials, "workers": workers, "timeout_seconds": timeout, "study": study}
        overrides = [f"sweep.{key}={value}" for key, value in chosen.items() if value is not None]
        settings = load_settings(config, [*(set_ or []), *overrides])
        reap_first(settings)
        total = settings.sweep.trials + (1 if settings.sweep.retrain_best else 0)
        with terminal.progress(total) as progress:
            outcome = sweep_and_log(
                settings, config, experiment, progress, prepare=terminal.quiet_libraries
            )
        _print_sweep(outcome)

    terminal.run_command(body)


def _print_sweep(outcome: SweepOutcome) -> None:
    from rich.table import Table

    from mlops_tracking.audit.checklist import audit_run
    from mlops_tracking.runs.ui import run_url, ui_command
    from mlops_tracking.sweeps.trial import sampled_text

    console = terminal.console()
    reverse = outcome.goal == "maximize"
    ranked = sorted(
        (t for t in outcome.trials if t.state == "complete" and t.value is not None),
        key=lambda t: t.value if t.value is not None else 0.0,
        reverse=reverse,
    )
    table = Table(
        title=f"Study {outcome.place.name}: the best {min(TRIALS_SHOWN, len(ranked))} of "
        f"{len(outcome.trials)} trials by {outcome.metric}",
        title_justify="left",
    )
    for column in ("trial", outcome.metric, "hyperparameters", "run"):
        table.add_column(column, overflow="fold")
    for trial in ranked[:TRIALS_SHOWN]:
        value = f"{trial.value:.4f}" if trial.value is not None else ""
        table.add_row(str(trial.number), value, sampled_text(trial.hyperparameters), trial.run_id)
    console.print(table)
    minutes = outcome.seconds / 60
    console.print(
        f"{outcome.count('complete')} complete, {outcome.count('pruned')} pruned, "
        f"{outcome.count('failed')} failed in {outcome.seconds:.1f} s "
        f"({len(outcome.trials) / minutes if minutes else 0:.1f} trials/min, "
        f"{len(outcome.workers)} worker(s))"
        + (
            f"; the study held {outcome.earlier_trials} earlier trials"
            if outcome.earlier_trials
            else ""
        )
    )
    for trial in outcome.trials:
        if trial.state == "failed":
            console.print(
                f"  trial {trial.number} failed: {trial.error or 'no error recorded'} "
                f"(run {trial.run_id})",
                style="yellow",
                markup=False,
            )
    console.print(f"Study storage: {outcome.place.shown}", soft_wrap=True, markup=False)
    best, run = outcome.best, outcome.best_run
    if best is not None:
        console.print(
            f"Best trial {best.number}: {outcome.metric}={best.value:.4f} "
            f"({sampled_text(best.hyperparameters)})",
            markup=False,
        )
    if run is not None:
        report = audit_run(run.run_id)
        verdict = "[green]PASS[/]" if report.passed else f"[red]{len(report.missing)} missing[/]"
        console.print(f"Full run of the best trial: {run.run_id} (audit {verdict})")
        console.print(f"  register it: mlops-tracking register {run.run_id}", soft_wrap=True)
    command, url = ui_command(outcome.experiment.id)
    console.print(f"Open the UI: {command}", soft_wrap=True)
    console.print(f"  runs table: {url}", soft_wrap=True)
    console.print(
        f"  the sweep:  {run_url(outcome.experiment.id, outcome.parent_run_id)}", soft_wrap=True
    )
