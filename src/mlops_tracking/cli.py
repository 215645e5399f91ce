"""The ``mlops-tracking`` command line: parse, load config, call one function, print a result.

Heavy libraries (MLflow, scikit-learn, matplotlib) are imported inside the commands that need
them, so ``mlops-tracking --help`` answers instantly.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress as RichProgress

    from mlops_tracking.config import Config
    from mlops_tracking.tracking.audit import AuditReport
    from mlops_tracking.workflows import RunOutcome

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Run, inspect and audit fully tracked MLflow experiments.",
)

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Parameter file to read.")]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        "-s",
        help="Override a parameter: KEY=VALUE (repeatable), "
        "e.g. --set model.name=mlp --set data.test_size=0.25.",
    ),
]
ExperimentOption = Annotated[
    str | None,
    typer.Option(
        "--experiment",
        "-e",
        help="Experiment name (default: tracking.experiment, else '<dataset>-<task>').",
    ),
]
DEFAULT_CONFIG = Path("params.yaml")


def _console() -> Console:
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        # Logs and CI output are read later in wide viewers; Rich's 80-column default would
        # fold run ids and metric names.
        console = Console(highlight=False, width=150)
    return console


def _quiet_libraries() -> None:
    """Keep MLflow's INFO chatter (schema creation, system-metrics threads) off the terminal."""
    import logging
    import warnings

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    # MLflow (re)configures its logger at import from MLFLOW_LOGGING_LEVEL, default INFO.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("mlflow.sklearn").addFilter(_OnceFilter())
    # MLflow 3.17 calls pandas APIs that pandas 3.1 deprecates; nothing a user can act on.
    warnings.filterwarnings("ignore", module=r"mlflow\..*", category=FutureWarning)
    warnings.filterwarnings("ignore", message=r".*Pandas4Warning.*")
    try:
        from pandas.errors import Pandas4Warning

        warnings.filterwarnings("ignore", category=Pandas4Warning)
    except ImportError:
        pass


class _OnceFilter:
    """Let each distinct log message through once (MLflow repeats its pickle warning per model)."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def filter(self, record: object) -> bool:
        message = str(getattr(record, "msg", ""))
        if message in self.seen:
            return False
        self.seen.add(message)
        return True


@contextmanager
def _progress(total: int) -> Iterator[_BarProgress]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=_console(), transient=False) as bar:
        progress = _BarProgress(bar, total)
        yield progress
        progress.finish()


class _BarProgress:
    """Adapts a Rich progress bar to the workflows' Progress protocol."""

    def __init__(self, bar: RichProgress, total: int) -> None:
        self.bar = bar
        self.task = bar.add_task("starting", total=total)
        self.started = False

    def begin(self, total: int) -> None:
        self.bar.update(self.task, total=total)

    def step(self, description: str) -> None:
        if self.started:
            self.bar.advance(self.task)
        self.started = True
        self.bar.update(self.task, description=description)

    def finish(self) -> None:
        total = self.bar.tasks[0].total or 0
        self.bar.update(self.task, completed=total, description="done")


def _load(config_file: Path, overrides: list[str] | None) -> Config:
    from mlops_tracking.config import load_config

    return load_config(config_file, overrides or [])


def _run_command(body: Callable[[], None]) -> None:
    """Run a command body; known failures become a short message and an exit code."""
    from mlops_tracking.errors import IncompleteError, UserError
    from mlops_tracking.tracking.lifecycle import RunInterrupted

    _quiet_libraries()
    console = _console()
    try:
        body()
    except UserError as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(error.exit_code) from None
    except IncompleteError as error:
        console.print(f"[red]incomplete:[/] {error}")
        raise typer.Exit(error.exit_code) from None
    except (KeyboardInterrupt, RunInterrupted) as interrupt:
        reason = interrupt if isinstance(interrupt, RunInterrupted) else "interrupted by SIGINT"
        console.print(f"[yellow]{reason}: the active run was marked KILLED.[/]")
        raise typer.Exit(getattr(interrupt, "exit_code", 130)) from None


def _print_outcome(outcome: RunOutcome, report: AuditReport) -> None:
    from mlops_tracking.reporting import runs_table
    from mlops_tracking.tracking.queries import list_runs, ui_command

    console = _console()
    rows = [row for row in list_runs(outcome.experiment.name) if row.run_id == outcome.run_id]
    metrics = _headline(outcome.task)
    console.print(
        runs_table(rows, metrics, f"Experiment {outcome.experiment.name}", {report.run_id: report})
    )
    for model_format, uri in outcome.model_uris.items():
        console.print(f"  model ({model_format}): {uri}")
    command, url = ui_command(outcome.experiment.id)
    console.print(f"\nAudit: run `mlops-tracking audit {outcome.run_id}` for the checklist.")
    console.print(f"Open the UI: {command}  then visit {url}")


def _headline(task: str) -> list[str]:
    from mlops_tracking.evaluation import headline_metrics

    return headline_metrics(task)


@app.command()
def train(
    config: ConfigOption = DEFAULT_CONFIG,
    set_: SetOption = None,
    experiment: ExperimentOption = None,
) -> None:
    """Train the configured model and log a fully tracked run to MLflow."""

    def body() -> None:
        from mlops_tracking.tracking.audit import audit_run
        from mlops_tracking.workflows import train_and_log

        settings = _load(config, set_)
        with _progress(1) as progress:
            outcome = train_and_log(settings, config, experiment, progress)
        _print_outcome(outcome, audit_run(outcome.run_id))

    _run_command(body)


@app.command()
def compare(
    models: Annotated[str, typer.Option(help="Comma-separated model families.")] = (
        "logistic_regression,random_forest,hist_gradient_boosting,mlp"
    ),
    config: ConfigOption = DEFAULT_CONFIG,
    set_: SetOption = None,
    experiment: ExperimentOption = None,
) -> None:
    """Train several model families as child runs of one parent run and rank them."""

    def body() -> None:
        from mlops_tracking.comparison import compare_and_log

        settings = _load(config, set_)
        names = [name.strip() for name in models.split(",") if name.strip()]
        with _progress(len(names)) as progress:
            outcome = compare_and_log(settings, names, config, experiment, progress)
        _print_experiments({outcome.experiment.name: outcome.experiment.id})
        if outcome.best is not None:
            _console().print(
                f"Best: {outcome.best.model_name} ({outcome.best.run_id}) by "
                f"{settings.evaluation.selection_metric}"
            )

    _run_command(body)


@app.command()
def runs(
    experiment: ExperimentOption = None,
    limit: Annotated[int, typer.Option(help="Most recent runs to show.")] = 50,
) -> None:
    """List runs: name, model, status, key metrics and duration."""

    def body() -> None:
        from mlops_tracking.tracking.queries import list_runs
        from mlops_tracking.tracking.store import open_store

        open_store()
        rows = list_runs(experiment, max_results=limit)
        if not rows:
            _console().print("No runs yet. Start one with `mlops-tracking train`.")
            return
        experiments = {row.experiment: row.experiment_id for row in rows}
        _print_experiments(experiments, limit=limit)

    _run_command(body)


def _print_experiments(
    experiments: dict[str, str], audits: dict[str, AuditReport] | None = None, limit: int = 100
) -> None:
    from mlops_tracking.reporting import order_runs, runs_table
    from mlops_tracking.tracking.queries import list_runs, ui_command

    console = _console()
    for name in experiments:
        rows = order_runs(list_runs(name, max_results=limit))
        task = next((row.task for row in rows if row.task), "binary")
        console.print(runs_table(rows, _headline(task), f"Experiment {name} ({task})", audits))
    command, url = ui_command(next(iter(experiments.values()), None))
    console.print(f"\nOpen the MLflow UI: {command}\n                   then visit {url}")


@app.command()
def audit(
    run_id: Annotated[str, typer.Argument(help="The run to audit.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Check a run against the outline, reading only the tracking store (exit 1 if incomplete)."""

    def body() -> None:
        from mlops_tracking.reporting import audit_table
        from mlops_tracking.tracking.audit import audit_run
        from mlops_tracking.tracking.store import open_store

        open_store()
        report = audit_run(run_id)
        if as_json:
            sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
        else:
            console = _console()
            console.print(audit_table(report))
            verdict = (
                "[green]PASS[/]"
                if report.passed
                else (f"[red]FAIL[/]: {len(report.missing)} required item(s) missing")
            )
            console.print(verdict)
        if not report.passed:
            raise typer.Exit(1)

    _run_command(body)


@app.command()
def demo(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Run the main job: binary comparison, multiclass and regression runs, all audited."""

    def body() -> None:
        from mlops_tracking.demo import planned_steps, run_demo

        settings = _load(config, None)
        with _progress(planned_steps()) as progress:
            outcome = run_demo(settings, config, progress)
        _print_experiments(outcome.experiments, outcome.audits)
        console = _console()
        for name, best in outcome.best.items():
            console.print(f"Best in {name}: {best.model_name} ({best.run_id})")
        passed = sum(report.passed for report in outcome.audits.values())
        console.print(f"Audit: {passed}/{len(outcome.audits)} runs pass every outline item.")
        if not outcome.all_passed:
            for report in outcome.audits.values():
                for item in report.missing:
                    console.print(f"  {report.run_name}: missing {item.item} ({item.location})")
            raise typer.Exit(1)

    _run_command(body)


def main() -> None:
    app()
