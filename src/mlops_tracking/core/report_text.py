"""How a report writes its values, the same in HTML, Markdown and the terminal."""

from __future__ import annotations

from datetime import UTC, datetime

from mlops_tracking.core.run_report import Delta, MetricRow, RunFacts, RunReport

MISSING = "—"


def number(value: float | None) -> str:
    if value is None:
        return MISSING
    if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-4):
        return f"{value:.4g}"
    return f"{value:.4f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:.0f}"


def signed(delta: Delta) -> str:
    relative = MISSING if delta.relative is None else f"{delta.relative:+.1%}"
    return f"{delta.absolute:+.4g} ({relative})"


def start(run: RunFacts) -> str:
    if not run.start_time:
        return MISSING
    moment = datetime.fromtimestamp(run.start_time / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(run: RunFacts) -> str:
    seconds = run.duration_seconds
    if seconds is None:
        return MISSING if run.status != "RUNNING" else "still running"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def verdict(report: RunReport, row: MetricRow, index: int) -> str:
    """Which of the reference and compared run ``index`` (0-based among the compared) is
    better by this metric, in words ("" when the metric's name gives no direction)."""
    delta = row.deltas[index]
    if delta is None or delta.verdict is None:
        return ""
    if delta.verdict == "equal":
        return "equal"
    winner = report.compared[index] if delta.verdict == "better" else report.reference
    side = "lower" if row.goal == "minimize" else "higher"
    return f"{winner.label} better ({side} is better)"


def header_rows(report: RunReport) -> list[tuple[str, list[str]]]:
    """The run header, a row per field: name, id, experiment, status, times, UI, family."""
    runs = report.runs
    return [
        ("name", [run.name or MISSING for run in runs]),
        ("run id", [run.run_id for run in runs]),
        ("experiment", [f"{run.experiment} (id {run.experiment_id})" for run in runs]),
        ("status", [run.status for run in runs]),
        ("start time", [start(run) for run in runs]),
        ("duration", [duration(run) for run in runs]),
        ("model family", [run.model_family or MISSING for run in runs]),
    ]


def shown(value: str | None, missing: str = "not logged") -> str:
    return missing if value is None else value


def short_commit(commit: str | None) -> str:
    return "not recorded" if commit is None else commit[:12]


def repeats_reference_diff(report: RunReport, run: RunFacts) -> bool:
    """Whether a compared run logged the same uncommitted diff as the reference (shown once)."""
    return (
        run is not report.reference
        and run.dirty_diff is not None
        and run.dirty_diff == report.reference.dirty_diff
    )
