"""The monitor command: a batch of rows against a registered version's training split."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlops_tracking.cli import terminal
from mlops_tracking.cli.options import DEFAULT_CONFIG, ConfigOption, SetOption
from mlops_tracking.cli.registry import ReferenceArgument, author, registry_settings

if TYPE_CHECKING:
    from rich.table import Table

    from mlops_tracking.core.drift import DriftReport

app = typer.Typer()


@app.command()
def monitor(
    reference: ReferenceArgument,
    input_file: Annotated[Path, typer.Option("--input", "-i", help="CSV of rows to check.")],
    out: Annotated[
        Path | None,
        typer.Option(help="Where to write the HTML report (default: beside the input)."),
    ] = None,
    fail_on_drift: Annotated[
        bool, typer.Option("--fail-on-drift", help="Exit 1 when a feature drifted (for CI).")
    ] = False,
    *,
    config: ConfigOption = DEFAULT_CONFIG,
    set_: SetOption = None,
) -> None:
    """Compare a CSV with the version's training split: per-feature drift, logged as a run.

    The rows are scored as predict scores them; the drift (PSI and KS per numeric feature,
    category shift, prediction shift) goes to a drift_check run in NAME-monitoring, to an
    HTML report, and to the version's monitoring.drift tag.
    """

    def body() -> None:
        from mlops_tracking.core.errors import UserError
        from mlops_tracking.registry.drift_check import check_batch
        from mlops_tracking.runs.store import open_store
        from mlops_tracking.runs.ui import run_url

        chosen = registry_settings(config, set_)
        open_store()
        check = check_batch(
            reference, input_file, author(), chosen.monitoring, settings=chosen.serving
        )
        console = terminal.console()
        if check.report is None:
            raise UserError(check.problem)
        page = out or input_file.with_name(f"{input_file.stem}.drift.html")
        page.write_text(check.html, encoding="utf-8")
        report = check.report
        console.print(drift_table(report))
        style = "red" if report.drifted else "green"
        console.print(f"[{style}]{report.summary()}[/]", highlight=False)
        if report.unseen:
            for feature, categories in report.unseen.items():
                listed = ", ".join(f"{name!r} ({count})" for name, count in categories.items())
                console.print(f"[yellow]unseen at training[/] {feature}: {listed}", highlight=False)
        console.print(f"Report: {page}")
        console.print(f"Drift-check run ({check.page} on it):")
        console.print(f"  {run_url(check.experiment_id, check.run_id)}", soft_wrap=True)
        verdict = {"drifted": "true", "no drift": "false"}.get(report.verdict, report.verdict)
        console.print(f"Tagged {check.ref} monitoring.drift={verdict}", highlight=False)
        if fail_on_drift and report.drifted:
            raise typer.Exit(1)

    terminal.run_command(body)


def drift_table(report: DriftReport, limit: int = 15) -> Table:
    """The features, drifted first then by PSI; at most ``limit`` rows."""
    from rich.table import Table

    table = Table(title="Drift against the training split", title_justify="left")
    for column in ("feature", "kind", "PSI", "KS p", "shift (sd)", "drifted"):
        table.add_column(column, justify="left" if column in ("feature", "kind") else "right")
    ordered = sorted(report.features, key=lambda f: (not f.drifted, -f.psi))
    for feature in ordered[:limit]:
        table.add_row(
            feature.name,
            feature.kind,
            f"{feature.psi:.3f}",
            "-" if feature.ks_pvalue is None else f"{feature.ks_pvalue:.2g}",
            "-" if feature.mean_shift_std is None else f"{feature.mean_shift_std:+.2f}",
            "[red]yes[/]" if feature.drifted else "no",
        )
    if len(ordered) > limit:
        table.caption = f"{len(ordered) - limit} more features in the report"
    if report.prediction is not None:
        p = report.prediction
        table.add_row(
            "(predictions)", p.kind, f"{p.psi:.3f}", "-", "-", "[red]yes[/]" if p.drifted else "no"
        )
    return table
