"""Readable terminal output for runs: the runs table, parents before their children, and audits."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich import box
from rich.table import Table

from mlops_tracking.core.liveness import DEFAULT_STALE_AFTER_SECONDS, staleness

if TYPE_CHECKING:
    from mlops_tracking.audit.checklist import AuditReport
    from mlops_tracking.core.seeds import ModelSeeds
    from mlops_tracking.runs.recorded import RecordedRun

STATUS_STYLE = {"FINISHED": "green", "FAILED": "red", "KILLED": "yellow", "RUNNING": "cyan"}
AUDIT_STYLE = {"present": "green", "missing": "bold red", "n/a": "dim", "flagged": "bold yellow"}


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if abs(value) < 1000 else f"{value:,.1f}"


def _duration(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f}s"


def baseline_cell(row: RecordedRun) -> str:
    """Whether the run's model beats its trivial baseline, with the margin (``-``: not recorded)."""
    from mlops_tracking.core.baseline import BEATEN_TAG, MARGIN_METRIC

    verdict, margin = row.tags.get(BEATEN_TAG), row.metrics.get(MARGIN_METRIC)
    if verdict not in {"true", "false"}:
        return "-"
    shown = "" if margin is None else f" {margin:+.3f}"
    return f"[green]yes{shown}[/]" if verdict == "true" else f"[bold red]NO{shown}[/]"


def _audit_cell(report: AuditReport | None) -> str:
    if report is None:
        return "-"
    if not report.passed:
        return f"[red]{len(report.missing)} missing[/]"
    if report.flagged:
        return f"[yellow]pass, {len(report.flagged)} flagged[/]"
    return "[green]pass[/]"


def runs_table(
    rows: Sequence[RecordedRun],
    metrics: Sequence[str],
    title: str,
    audits: dict[str, AuditReport] | None = None,
    width: int | None = None,
    *,
    stale_after_seconds: float = DEFAULT_STALE_AFTER_SECONDS,
) -> Table:
    """One row per run: name, status, chosen metrics, whether it beats its baseline, duration
    (and audit result). A RUNNING run whose heartbeat stopped shows as ``RUNNING · stale``.

    Given the terminal's ``width``, a table that would not fit is laid out narrow: the run id
    goes under the run's name and the baseline verdict under its status, metric names lose
    their ``test_`` prefix (the title says so), and duration and audit (said again below the
    table) are left out. Rich would otherwise squeeze the status and metric columns to nothing.
    """
    stale = {row.run_id for row in rows if _stale(row, stale_after_seconds)}
    table = _runs_table(rows, metrics, title, audits, stale=stale, narrow=False)
    if width is None or _needed_width(table) <= width:
        return table
    return _runs_table(rows, metrics, title, audits, stale=stale, narrow=True)


def _stale(row: RecordedRun, stale_after_seconds: float) -> bool:
    return row.status == "RUNNING" and staleness(row.tags, stale_after_seconds) is not None


def _needed_width(table: Table) -> int:
    from rich.console import Console

    return Console(width=10_000).measure(table).maximum


def _runs_table(
    rows: Sequence[RecordedRun],
    metrics: Sequence[str],
    title: str,
    audits: dict[str, AuditReport] | None,
    *,
    stale: set[str],
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
    table.add_column("status\nbaseline" if narrow else "status", no_wrap=True)
    for metric in metrics:
        header = metric.removeprefix("test_") if narrow else metric
        table.add_column(header, justify="right", no_wrap=True)
    if not narrow:
        table.add_column("beats baseline", no_wrap=True)  # on the selection metric, with margin
        table.add_column("duration", no_wrap=True)
    if audits is not None:
        table.add_column("audit", no_wrap=True)
    if not narrow:
        table.add_column("run id", style="dim", no_wrap=True)
    for row in rows:
        table.add_row(*_run_cells(row, metrics, audits, narrow, row.run_id in stale))
    return table


def _run_cells(
    row: RecordedRun,
    metrics: Sequence[str],
    audits: dict[str, AuditReport] | None,
    narrow: bool,
    stale: bool = False,
) -> list[str]:
    name = f"  └ {row.run_name}" if row.parent_run_id else row.run_name
    status = f"[{STATUS_STYLE.get(row.status, '')}]{row.status}[/]"
    if stale:  # its process is gone or silent: `runs --reap` ends it KILLED
        status = f"[bold red]{row.status} · stale[/]"
    if narrow:  # the id stays whole and copyable, on its own line
        name += f"\n[dim]{'  ' if row.parent_run_id else ''}{row.run_id}[/]"
        status += f"\n{baseline_cell(row)}"
    cells = [name, status, *(_number(row.metrics.get(m)) for m in metrics)]
    if not narrow:
        cells += [baseline_cell(row), _duration(row.duration_seconds)]
    if audits is not None:
        cells.append(_audit_cell(audits.get(row.run_id)))
    if not narrow:
        cells.append(row.run_id)
    return cells


def experiment_task(rows: Sequence[RecordedRun]) -> str:
    """The task of an experiment's runs: one a run declared, else what their metrics imply (the
    rule ``audit`` applies to one run)."""
    from mlops_tracking.core.tasks import recorded_task

    if rows and all(row.tags.get("mlops.run_type") == "inference" for row in rows):
        return "inference"  # `predict` batches: no task of their own
    declared = next((row.tags["task"] for row in rows if row.tags.get("task")), None)
    return recorded_task(declared, {name for row in rows for name in row.metrics})


def table_metrics(
    rows: Sequence[RecordedRun], headline: Sequence[str], limit: int = 3
) -> list[str]:
    """``headline`` when the runs logged any of them; else the metrics they logged most often
    (runs made with plain MLflow calls name theirs freely: rmse, training_accuracy_score)."""
    if any(name in row.metrics for row in rows for name in headline):
        return list(headline)
    counts = Counter(name for row in rows for name in row.metrics if not name.startswith("system/"))
    return sorted(counts, key=lambda name: (-counts[name], name))[:limit]


def audit_table(report: AuditReport) -> Table:
    status = f"{report.status} · [bold red]DELETED[/]" if report.deleted else report.status
    title = (
        f"Audit of run {report.run_name} ({report.run_id}) · {report.profile} run · "
        f"{report.task} · {status}"
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


def seeds_table(summaries: Sequence[ModelSeeds], metric: str, seeds: int) -> Table:
    """One row per model of a seeded comparison, best first: the selection metric's mean ±
    standard deviation and 95% confidence interval, and how many seeds finished."""
    table = Table(title=f"{metric} over {seeds} seed(s), best first", box=box.SIMPLE_HEAD)
    table.add_column("model")
    table.add_column("mean ± std", justify="right")
    table.add_column("95% CI", justify="right")
    table.add_column("seeds", justify="right")
    for summary in summaries:
        values = summary.spreads[metric]
        std = "" if values.std is None else f" ± {values.std:.4f}"
        interval = (
            "-"
            if values.ci95_low is None or values.ci95_high is None
            else f"[{values.ci95_low:.4f}, {values.ci95_high:.4f}]"
        )
        finished = "" if values.n == seeds else f" of {seeds}"
        table.add_row(summary.model, f"{values.mean:.4f}{std}", interval, f"{values.n}{finished}")
    return table
