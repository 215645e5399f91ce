"""Readable terminal output: Rich tables for runs, audits and demo summaries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.table import Table

if TYPE_CHECKING:
    from mlops_tracking.audit.checklist import AuditReport
    from mlops_tracking.pipeline.data_versions import DataVersion
    from mlops_tracking.pipeline.reproduce import Reproduction
    from mlops_tracking.runs.queries import RunRow

STATUS_STYLE = {"FINISHED": "green", "FAILED": "red", "KILLED": "yellow", "RUNNING": "cyan"}
AUDIT_STYLE = {"present": "green", "missing": "bold red", "n/a": "dim"}


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if abs(value) < 1000 else f"{value:,.1f}"


def _duration(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f}s"


def runs_table(
    rows: Sequence[RunRow],
    metrics: Sequence[str],
    title: str,
    audits: dict[str, AuditReport] | None = None,
) -> Table:
    """One row per run: name, model, status, chosen metrics, duration (and audit result)."""
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("run", no_wrap=True, overflow="ellipsis")
    for column in ("status", *metrics, "duration"):
        table.add_column(column, justify="right" if column in metrics else "left")
    if audits is not None:
        table.add_column("audit")
    table.add_column("run id", style="dim", no_wrap=True)
    for row in rows:
        name = f"  └ {row.run_name}" if row.parent_run_id else row.run_name
        cells = [
            name,
            f"[{STATUS_STYLE.get(row.status, '')}]{row.status}[/]",
            *(_number(row.metrics.get(m)) for m in metrics),
            _duration(row.duration_seconds),
        ]
        if audits is not None:
            report = audits.get(row.run_id)
            cells.append(
                "-"
                if report is None
                else "[green]pass[/]"
                if report.passed
                else f"[red]{len(report.missing)} missing[/]"
            )
        table.add_row(*cells, row.run_id)
    return table


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


def order_runs(rows: Sequence[RunRow]) -> list[RunRow]:
    """Parents first, each followed by its children; order otherwise kept."""
    by_parent: dict[str, list[RunRow]] = {}
    for row in rows:
        by_parent.setdefault(row.parent_run_id, []).append(row)
    ordered: list[RunRow] = []
    for row in by_parent.get("", []):
        ordered.append(row)
        ordered.extend(sorted(by_parent.get(row.run_id, []), key=lambda r: r.run_name))
    seen = {row.run_id for row in ordered}
    ordered.extend(row for row in rows if row.run_id not in seen)
    return ordered


def versions_table(versions: Sequence[DataVersion], path: str) -> Table:
    """One row per dataset version: digest, DVC hash, rows, first seen, commits and runs."""
    table = Table(
        title=f"Dataset versions (DVC hashes of {path})", title_justify="left", header_style="bold"
    )
    for column in ("dataset", "digest", "DVC md5", "rows", "first seen", "in dvc.lock at", "runs"):
        table.add_column(column, overflow="fold")
    for version in versions:
        table.add_row(
            version.dataset,
            version.digest,
            (version.dvc_md5 or "not recorded")[:12],
            "-" if version.rows is None else str(version.rows),
            version.first_seen,
            ", ".join(version.revisions) or "-",
            "\n".join(version.runs) or "none",
        )
    if not versions:
        table.caption = "No runs have logged datasets yet, and dvc.lock records none."
    return table


def reproduction_table(outcome: Reproduction) -> Table:
    """Metric by metric: the original run, the reproduction and their difference."""
    table = Table(
        title=f"Reproduction of {outcome.original.run_name} ({outcome.original.run_id}) "
        f"as {outcome.run_id}",
        title_justify="left",
        header_style="bold",
    )
    for column in ("metric", "original", "reproduced", "difference", ""):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for check in outcome.checks:
        within = outcome.within(check)
        table.add_row(
            check.name,
            repr(check.original),
            "missing" if check.reproduced is None else repr(check.reproduced),
            f"{check.difference:.3g}",
            "[green]✓[/]" if within else "[red]✗[/]",
        )
    return table
