"""``mlops-tracking report``: two or more runs side by side, as an HTML page and Markdown."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlops_tracking.cli import terminal

if TYPE_CHECKING:
    from rich.table import Table

    from mlops_tracking.core.run_report import MetricRow, RunReport

app = typer.Typer()

SUMMARY_ROWS = 12  # rows of each terminal table; the page has every one


@app.command()
def report(
    run_ids: Annotated[
        list[str],
        typer.Argument(metavar="RUN_ID", help="Two or more runs; the first is the reference."),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="The HTML page (default: build/reports/report-<first8>-<second8>.html).",
        ),
    ] = None,
    markdown: Annotated[
        Path | None,
        typer.Option("--markdown", help="The Markdown file (default: the page's path, .md)."),
    ] = None,
    repo: Annotated[
        Path,
        typer.Option("--repo", help="The git repository to diff the runs' commits in."),
    ] = Path(),
) -> None:
    """Compare runs: params, metric deltas, data versions, code, environment and plots side by
    side, in one self-contained HTML page and a Markdown file for a pull request."""

    def body() -> None:
        from mlops_tracking.reports.collect import check_run_ids
        from mlops_tracking.reports.writer import write_report
        from mlops_tracking.runs.store import open_store

        check_run_ids(run_ids)  # before the store is opened: a usage mistake needs no store
        open_store()
        written = write_report(run_ids, out, markdown, repo)
        console = terminal.console()
        console.print(params_table(written.report))
        console.print(metrics_table(written.report))
        console.print(f"Report: {written.html}", soft_wrap=True, markup=False)
        console.print(f"Markdown: {written.markdown}", soft_wrap=True, markup=False)

    terminal.run_command(body)


def _more(shown: int, total: int, what: str) -> str | None:
    return f"... and {total - shown} more {what} in the report" if total > shown else None


def params_table(report: RunReport) -> Table:
    from rich import box
    from rich.table import Table

    from mlops_tracking.core.report_text import MISSING

    differing, partial = report.params_differing, report.params_partial
    rows = differing + partial
    table = Table(
        title=f"Parameters: {len(differing)} differ, {len(partial)} in some runs only, "
        f"{len(report.params_equal)} equal",
        box=box.SIMPLE_HEAVY,
        title_justify="left",
    )
    table.add_column("parameter")
    for run in report.runs:
        table.add_column(run.label, overflow="fold")
    for row in rows[:SUMMARY_ROWS]:
        table.add_row(row.key, *(MISSING if value is None else value for value in row.values))
    more = _more(SUMMARY_ROWS, len(rows), "parameters")
    if more:
        table.caption = more
    return table


def metrics_table(report: RunReport) -> Table:
    """The metrics that differ, those with a known direction (losses, scores) first."""
    from rich import box
    from rich.table import Table

    from mlops_tracking.core.report_text import MISSING, number, signed

    rows = sorted((row for row in report.metrics if row.differs), key=_metric_order)
    table = Table(title="Metrics against the reference", box=box.SIMPLE_HEAVY, title_justify="left")
    table.add_column("metric", no_wrap=True)
    table.add_column(f"{report.reference.label}", justify="right")
    for run in report.compared:
        table.add_column(run.label, justify="right")
        table.add_column("delta", justify="right")
    table.add_column("better")
    for row in rows[:SUMMARY_ROWS]:
        cells = [row.key, number(row.values[0])]
        for index, value in enumerate(row.values[1:]):
            change = row.deltas[index]
            cells += [number(value), MISSING if change is None else signed(change)]
        cells.append(_better(report, row))
        table.add_row(*cells)
    more = _more(SUMMARY_ROWS, len(rows), "differing metrics")
    if more:
        table.caption = more
    return table


def _metric_order(row: MetricRow) -> tuple[int, str]:
    """Validation metrics (what models are chosen by), test metrics, other scores and losses,
    then metrics whose name gives no direction."""
    if row.goal is None:
        return 3, row.key
    rank = 0 if row.key.startswith("validation_") else 1 if row.key.startswith("test_") else 2
    return rank, row.key


def _better(report: RunReport, row: MetricRow) -> str:
    """The better run of each pair by its short id, and which way the metric points."""
    if row.goal is None:
        return ""
    winners = []
    for index, change in enumerate(row.deltas):
        if change is None or change.verdict is None:
            continue
        if change.verdict == "equal":
            winners.append("equal")
            continue
        winner = report.compared[index] if change.verdict == "better" else report.reference
        winners.append(winner.run_id[:8])
    side = "lower" if row.goal == "minimize" else "higher"
    return f"{', '.join(winners)} ({side} wins)" if winners else ""
