"""Readable terminal output for runs: the runs table, parents before their children, and audits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich import box
from rich.table import Table

if TYPE_CHECKING:
    from mlops_tracking.audit.checklist import AuditReport
    from mlops_tracking.runs.recorded import RecordedRun

STATUS_STYLE = {"FINISHED": "green", "FAILED": "red", "KILLED": "yellow", "RUNNING": "cyan"}
AUDIT_STYLE = {"present": "green", "missing": "bold red", "n/a": "dim"}


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if abs(value) < 1000 else f"{value:,.1f}"


def _duration(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f}s"


def runs_table(
    rows: Sequence[RecordedRun],
    metrics: Sequence[str],
    title: str,
    audits: dict[str, AuditReport] | None = None,
    width: int | None = None,
) -> Table:
    """One row per run: name, model, status, chosen metrics, duration (and audit result).

    Given the terminal's ``width``, a table that would not fit is laid out narrow: the run id
    goes under the run's name, metric names lose their ``test_`` prefix (the title says so),
    and duration and audit (said again below the table) are left out. Rich would otherwise
    squeeze the status and metric columns to nothing.
    """
    table = _runs_table(rows, metrics, title, audits, narrow=False)
    if width is None or _needed_width(table) <= width:
        return table
    return _runs_table(rows, metrics, title, audits, narrow=True)


def _needed_width(table: Table) -> int:
    from rich.console import Console

    return Console(width=10_000).measure(table).maximum


def _runs_table(
    rows: Sequence[RecordedRun],
    metrics: Sequence[str],
    title: str,
    audits: dict[str, AuditReport] | None,
    narrow: bool,
) -> Table:
    if narrow:
        title += " · test metrics"
        audits = None
    table = Table(
        title=title,
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD if narrow else box.HEAVY_HEAD,
        show_edge=not narrow,
        collapse_padding=narrow,
    )
    table.add_column("run", no_wrap=True, overflow="ellipsis")
    table.add_column("status", no_wrap=True)
    for metric in metrics:
        header = metric.removeprefix("test_") if narrow else metric
        table.add_column(header, justify="right", no_wrap=True)
    if not narrow:
        table.add_column("duration", no_wrap=True)
    if audits is not None:
        table.add_column("audit", no_wrap=True)
    if not narrow:
        table.add_column("run id", style="dim", no_wrap=True)
    for row in rows:
        table.add_row(*_run_cells(row, metrics, audits, narrow))
    return table


def _run_cells(
    row: RecordedRun,
    metrics: Sequence[str],
    audits: dict[str, AuditReport] | None,
    narrow: bool,
) -> list[str]:
    name = f"  └ {row.run_name}" if row.parent_run_id else row.run_name
    if narrow:  # the id stays whole and copyable, on its own line
        name += f"\n[dim]{'    ' if row.parent_run_id else ''}{row.run_id}[/]"
    cells = [
        name,
        f"[{STATUS_STYLE.get(row.status, '')}]{row.status}[/]",
        *(_number(row.metrics.get(m)) for m in metrics),
    ]
    if not narrow:
        cells.append(_duration(row.duration_seconds))
    if audits is not None:
        report = audits.get(row.run_id)
        cells.append(
            "-"
            if report is None
            else "[green]pass[/]"
            if report.passed
            else f"[red]{len(report.missing)} missing[/]"
        )
    if not narrow:
        cells.append(row.run_id)
    return cells


def audit_table(report: AuditReport) -> Table:
    title = (
        f"Audit of run {report.run_name} ({report.run_id}) · {report.profile} run · "
        f"{report.task} · {report.status}"
    )
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in ("section", "item", "status", "where / what is missing"):
        table.add_column(column, overflow="fold")
    previous = ""
    for item in report.items:
        section = item.section if item.section != previous else ""
        previous = item.section
        table.add_row(
            section, item.item, f"[{AUDIT_STYLE[item.status]}]{item.status}[/]", item.location
        )
    return table


def order_runs(rows: Sequence[RecordedRun]) -> list[RecordedRun]:
    """Parents first, each followed by its children; order otherwise kept."""
    by_parent: dict[str, list[RecordedRun]] = {}
    for row in rows:
        by_parent.setdefault(row.parent_run_id, []).append(row)
    ordered: list[RecordedRun] = []
    for row in by_parent.get("", []):
        ordered.append(row)
        ordered.extend(sorted(by_parent.get(row.run_id, []), key=lambda r: r.run_name))
    seen = {row.run_id for row in ordered}
    ordered.extend(row for row in rows if row.run_id not in seen)
    return ordered
