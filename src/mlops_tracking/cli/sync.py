"""``mlops-tracking sync``: copy the spool's runs to their server, or one store into another."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlops_tracking.cli import terminal
from mlops_tracking.cli.options import DEFAULT_CONFIG, ConfigOption, load_settings

if TYPE_CHECKING:
    from mlops_tracking.core.config import Config
    from mlops_tracking.sync.transfer import RunSync, SyncSummary

app = typer.Typer()


@app.command()
def sync(
    from_: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Store to copy from (default: the spool, tracking.spool_uri / "
            "MLOPS_TRACKING_SPOOL_URI).",
        ),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="Store to copy into (default: the server each spooled run was meant for, "
            "else MLFLOW_TRACKING_URI).",
        ),
    ] = None,
    audit: Annotated[
        bool, typer.Option("--audit", help="Also audit every copied run in its new store.")
    ] = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Copy every ended run of a store (default: the offline spool) into another, once.

    Runs already copied are skipped; each copy is compared with its original (params, metric
    histories, tags, inputs, artifacts with sizes, models) and any difference is reported.
    """

    def body() -> None:
        from mlops_tracking.runs.spool import spool_uri
        from mlops_tracking.sync.transfer import sync_store

        settings = _settings(config)
        source = from_ or spool_uri(settings.tracking.spool_uri)
        console = terminal.console()
        console.print(f"Syncing runs from {source}", markup=False, soft_wrap=True)
        summary = sync_store(source, to, settings.tracking.http, _print_run)
        _print_summary(summary)
        audited = _audit(summary) if audit else True
        if not (summary.faithful and audited):
            raise typer.Exit(1)

    terminal.run_command(body)


def _settings(config_file: Path) -> Config:
    """The parameter file's settings; the defaults where there is none (sync runs anywhere)."""
    if not config_file.is_file() and config_file == DEFAULT_CONFIG:
        from mlops_tracking.core.config import Config

        return Config()
    return load_settings(config_file, None)


def _print_run(run: RunSync) -> None:
    console = terminal.console()
    line = f"  {run.action:7} {run.experiment} / {run.run_name} ({run.run_id}): {run.detail}"
    if run.action == "copied":
        line += f"; {run.metrics} metric values, {run.artifacts} artifacts, {run.models} models"
    console.print(line, markup=False, soft_wrap=True)
    for ended in run.ended:
        console.print(f"    ended the abandoned server run {ended} KILLED", markup=False)
    for difference in run.differences:
        console.print(f"    [red]differs:[/] {difference}", soft_wrap=True)


def _print_summary(summary: SyncSummary) -> None:
    console = terminal.console()
    differing = sum(bool(run.differences) for run in summary.runs)
    verdict = (
        "every copy matches its original"
        if summary.faithful
        else f"[red]{differing} copies differ from their original[/]"
    )
    console.print(
        f"Synced: {summary.count('copied')} runs copied, {summary.count('skipped')} skipped; "
        f"{summary.total('metrics')} metric values, {summary.total('artifacts')} artifacts, "
        f"{summary.total('models')} models; {verdict}."
    )


def _audit(summary: SyncSummary) -> bool:
    """Audit each copy made now in its new store; whether all pass."""
    from mlops_tracking.audit.checklist import audit_run

    console = terminal.console()
    passed = True
    for run in summary.runs:
        if run.action == "copied" and run.copy_id is not None:
            report = audit_run(run.copy_id)
            passed = passed and report.passed
            missing = "; ".join(f"{i.item} ({i.location})" for i in report.missing)
            verdict = "PASS" if report.passed else f"FAIL: {missing}"
            console.print(f"  audit {run.run_name} {run.copy_id}: {verdict}", markup=False)
    return passed
