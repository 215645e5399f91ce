"""The tracked-run commands: train, compare, runs, audit, and the main job (demo)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
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
from mlops_tracking.core.liveness import DEFAULT_STALE_AFTER_SECONDS

if TYPE_CHECKING:
    from mlops_tracking.audit.checklist import AuditReport
    from mlops_tracking.core.config import Config
    from mlops_tracking.runs.comparison import ComparisonOutcome
    from mlops_tracking.runs.workflow import RunOutcome

app = typer.Typer()


def _print_outcome(outcome: RunOutcome, report: AuditReport) -> None:
    from mlops_tracking.cli.run_tables import runs_table
    from mlops_tracking.core.evaluation import headline_metrics
    from mlops_tracking.runs.recorded import read_run
    from mlops_tracking.runs.ui import run_url, ui_command

    console = terminal.console()
    rows = [read_run(outcome.run_id)]
    metrics = headline_metrics(outcome.task)
    console.print(
        runs_table(
            rows,
            metrics,
            f"Experiment {outcome.experiment.name}",
            {report.run_id: report},
            width=console.width,
        )
    )
    for model_format, uri in outcome.model_uris.items():
        console.print(f"  model ({model_format}): {uri}")
    terminal.print_pickle_note(outcome.model_uris)
    command, url = ui_command(outcome.experiment.id)
    if report.passed:
        verdict = (
            f"[green]PASS[/] ({sum(i.status == 'present' for i in report.items)} items present)"
            + _flagged_note(report)
        )
    else:
        missing = "; ".join(f"{i.item} ({i.location})" for i in report.missing)
        verdict = f"[red]{len(report.missing)} required item(s) missing[/]: {missing}"
    console.print(f"\nAudit: {verdict}. Details: `mlops-tracking audit {outcome.run_id}`.")
    # soft_wrap: an address folded by Rich at the terminal's width no longer opens
    console.print(f"Open the UI: {command}", soft_wrap=True)
    console.print(f"  runs table: {url}", soft_wrap=True)
    console.print(f"  this run:   {run_url(outcome.experiment.id, outcome.run_id)}", soft_wrap=True)


def _flagged_note(report: AuditReport) -> str:
    """The warnings of a passing audit (a model that does not beat its baseline), if any."""
    if not report.flagged:
        return ""
    return " [bold yellow]with warnings[/]: " + "; ".join(
        f"{item.item}: {item.location}" for item in report.flagged
    )


@app.command()
def train(
    config: ConfigOption = DEFAULT_CONFIG,
    set_: SetOption = None,
    experiment: ExperimentOption = None,
) -> None:
    """Train the configured model and log a fully tracked run to MLflow."""

    def body() -> None:
        from mlops_tracking.audit.checklist import audit_run
        from mlops_tracking.runs.workflow import train_and_log

        def job(settings: Config) -> None:
            reap_first(settings)
            with terminal.progress(1) as progress:
                outcome = train_and_log(settings, config, experiment, progress)
            _print_outcome(outcome, audit_run(outcome.run_id))

        _or_spool(load_settings(config, set_), job)

    terminal.run_command(body)


@app.command()
def compare(
    models: Annotated[str, typer.Option(help="Comma-separated model families.")] = (
        "logistic_regression,random_forest,hist_gradient_boosting,mlp"
    ),
    config: ConfigOption = DEFAULT_CONFIG,
    set_: SetOption = None,
    experiment: ExperimentOption = None,
    *,
    seeds: Annotated[
        int | None,
        typer.Option(
            help="Train each model at N seeds (model.seed upward, the splits fixed) and rank "
            "the models by the mean; the parent run holds each metric's mean, std and 95% CI.",
            show_default=False,
        ),
    ] = None,
    vary_split: Annotated[
        bool,
        typer.Option(
            "--vary-split",
            help="With --seeds: vary data.seed with model.seed, so the spread includes the "
            "split's.",
        ),
    ] = False,
) -> None:
    """Train several model families as child runs of one parent run and rank them."""

    def body() -> None:
        from mlops_tracking.runs.comparison import compare_and_log

        def job(settings: Config) -> None:
            reap_first(settings)
            names = [name.strip() for name in models.split(",") if name.strip()]
            with terminal.progress(len(names) * (seeds or 1)) as progress:
                outcome = compare_and_log(
                    settings,
                    names,
                    config,
                    experiment,
                    progress,
                    seeds=seeds,
                    vary_split=vary_split,
                )
            _print_experiments({outcome.experiment.name: outcome.experiment.id})
            _print_seeds(outcome)
            if outcome.best is not None:
                best = outcome.best
                by = outcome.selection_metric
                if outcome.seeds:  # a model's run at its first seed: not its luckiest one
                    by = f"mean {by}; its run {best.run_name}"
                terminal.console().print(f"Best: {best.model_name} ({best.run_id}) by {by}")
            terminal.print_pickle_note(settings.tracking.model_formats)

        _or_spool(load_settings(config, set_), job)

    terminal.run_command(body)


def _print_seeds(outcome: ComparisonOutcome) -> None:
    """A seeded comparison's ranking by the mean, and what one seed cannot say."""
    from mlops_tracking.cli.run_tables import seeds_table
    from mlops_tracking.core.seeds import unmoved_by_seed

    if outcome.seeds is None or not outcome.summaries:
        return
    console = terminal.console()
    console.print(seeds_table(outcome.summaries, outcome.selection_metric, outcome.seeds))
    if outcome.seeds == 1:
        console.print(
            "One seed: no standard deviation or confidence interval (give --seeds 2 or more)."
        )
    unmoved = unmoved_by_seed(outcome.summaries, outcome.selection_metric)
    if unmoved and not outcome.vary_split:
        console.print(
            f"{', '.join(unmoved)}: the same score at every seed, their fit does not use "
            "model.seed; --vary-split also varies the split."
        )


@app.command()
def runs(
    experiment: ExperimentOption = None,
    limit: Annotated[int, typer.Option(help="Most recent runs to show.")] = 50,
    reap: Annotated[
        bool,
        typer.Option(
            "--reap",
            help="First end stale runs (RUNNING, but their process is gone or silent for "
            "tracking.stale_after_seconds) KILLED, and fail their PENDING models.",
        ),
    ] = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """List runs: name, model, status (stale when a RUNNING run's process is gone), key
    metrics and duration."""

    def body() -> None:
        from mlops_tracking.runs.recorded import search_runs
        from mlops_tracking.runs.store import open_store

        stale_after = _stale_after(config)
        open_store()
        if reap:
            _print_reaped(stale_after, announce_none=True)
        rows = search_runs(experiment, max_results=limit)
        if not rows:
            terminal.console().print("No runs yet. Start one with `mlops-tracking train`.")
            return
        experiments = {row.experiment: row.experiment_id for row in rows}
        _print_experiments(experiments, limit=limit, stale_after=stale_after)

    terminal.run_command(body)


def _stale_after(config_file: Path) -> float:
    """``tracking.stale_after_seconds`` of the parameter file, when there is one."""
    if not config_file.is_file() and config_file == DEFAULT_CONFIG:
        return DEFAULT_STALE_AFTER_SECONDS  # `runs` works from any folder
    return load_settings(config_file, None).tracking.stale_after_seconds


def _or_spool(settings: Config, job: Callable[[Config], None]) -> None:
    """Run ``job``; when the tracking server cannot be reached, say so and run it into the
    spool instead (``tracking.offline: auto``, ``runs/spool.py``)."""
    from mlops_tracking.runs.spool import HandOff, run_or_spool

    def announce(hand_off: HandOff) -> None:
        terminal.console().print(hand_off.message(), style="yellow", markup=False, soft_wrap=True)

    run_or_spool(settings, job, announce)


def reap_first(settings: Config) -> None:
    """End stale runs before a new one starts (``tracking.reap_stale_runs``)."""
    if settings.tracking.reap_stale_runs:
        from mlops_tracking.runs.store import open_store

        open_store()
        _print_reaped(settings.tracking.stale_after_seconds)


def _print_reaped(stale_after: float, announce_none: bool = False) -> None:
    from mlops_tracking.runs.reaper import reap

    console = terminal.console()
    ended = reap(stale_after)
    for run in ended:
        models = f"; {len(run.failed_models)} PENDING model(s) FAILED" if run.failed_models else ""
        console.print(
            f"[yellow]Ended stale run[/] {run.run_name} ({run.run_id}) KILLED: {run.reason}{models}"
        )
    if announce_none and not ended:
        console.print("No stale runs.")


def _print_experiments(
    experiments: dict[str, str],
    audits: dict[str, AuditReport] | None = None,
    limit: int = 100,
    stale_after: float = DEFAULT_STALE_AFTER_SECONDS,
) -> None:
    from mlops_tracking.cli.run_tables import experiment_task, order_runs, runs_table, table_metrics
    from mlops_tracking.core.evaluation import headline_metrics
    from mlops_tracking.runs.recorded import search_runs
    from mlops_tracking.runs.ui import ui_command

    console = terminal.console()
    for name in experiments:
        rows = order_runs(search_runs(name, max_results=limit))
        task = experiment_task(rows)
        metrics = table_metrics(rows, headline_metrics(task))
        title = f"Experiment {name} ({task})"
        table = runs_table(
            rows, metrics, title, audits, width=console.width, stale_after_seconds=stale_after
        )
        console.print(table)
    command, url = ui_command(next(iter(experiments.values()), None))
    console.print(f"\nOpen the MLflow UI: {command}", soft_wrap=True)
    console.print(f"  runs table: {url}", soft_wrap=True)


@app.command()
def audit(
    run_id: Annotated[str, typer.Argument(help="The run to audit.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Check a run against the outline, reading only the tracking store (exit 1 if incomplete)."""

    def body() -> None:
        from mlops_tracking.audit.checklist import audit_run
        from mlops_tracking.cli.run_tables import audit_table
        from mlops_tracking.runs.store import open_store

        open_store()
        report = audit_run(run_id)
        if as_json:
            sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
        else:
            console = terminal.console()
            console.print(audit_table(report))
            verdict = (
                "[green]PASS[/]" + _flagged_note(report)
                if report.passed
                else (f"[red]FAIL[/]: {len(report.missing)} required item(s) missing")
            )
            if report.deleted:
                verdict += f" (the run is deleted: `mlflow runs restore --run-id {run_id}`)"
            console.print(verdict)
        if not report.passed:
            raise typer.Exit(1)

    terminal.run_command(body)


@app.command()
def demo(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Run the main job: a comparison, two more runs, all audited, then the registry tour."""

    def body() -> None:
        _or_spool(load_settings(config, None), demo_job)

    def demo_job(settings: Config) -> None:
        from mlops_tracking.demo import planned_steps, run_demo

        reap_first(settings)
        with terminal.progress(planned_steps()) as progress:
            outcome = run_demo(settings, config, progress)
        _print_experiments(outcome.experiments, outcome.audits)
        console = terminal.console()
        for name, best in outcome.best.items():
            console.print(
                f"Best in {name}: {best.model_name} ({best.run_id})"
                + (f" by {outcome.selection_metric}" if name in outcome.compared else "")
            )
        if outcome.tour is not None:
            from mlops_tracking.cli.registry_tables import print_tour

            print_tour(terminal.console(), outcome.tour)
        terminal.print_pickle_note(settings.tracking.model_formats)
        passed = sum(report.passed for report in outcome.audits.values())
        console.print(f"Audit: {passed}/{len(outcome.audits)} runs pass every outline item.")
        for report in outcome.audits.values():
            for item in report.flagged:
                console.print(f"  {report.run_name}: [yellow]warning[/] {item.location}")
        if not outcome.all_passed:
            for report in outcome.audits.values():
                for item in report.missing:
                    console.print(f"  {report.run_name}: missing {item.item} ({item.location})")
            raise typer.Exit(1)

    terminal.run_command(body)
