"""Write a run report: read the runs, diff their commits, render HTML and Markdown."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mlops_tracking.core.report_html import render_html
from mlops_tracking.core.report_markdown import render_markdown
from mlops_tracking.core.run_report import RunReport, build_report
from mlops_tracking.reports.collect import check_run_ids, read_runs
from mlops_tracking.reports.commits import commit_diff

REPORTS_DIR = Path("build/reports")


@dataclass(frozen=True)
class WrittenReport:
    report: RunReport
    html: Path
    markdown: Path


def default_path(run_ids: Sequence[str]) -> Path:
    """``build/reports/report-<first8>-<second8>.html``."""
    first, second = check_run_ids(run_ids)[:2]
    return REPORTS_DIR / f"report-{first[:8]}-{second[:8]}.html"


def compare_runs(run_ids: Sequence[str], repository: Path) -> RunReport:
    """The runs compared, the first the reference; commits diffed in ``repository``."""
    runs = read_runs(run_ids)
    reference = runs[0]
    diffs = [commit_diff(repository, reference.commit, run.commit) for run in runs[1:]]
    return build_report(runs, diffs)


def write_report(
    run_ids: Sequence[str],
    html: Path | None = None,
    markdown: Path | None = None,
    repository: Path = Path(),
) -> WrittenReport:
    """Compare the runs and write the page and the Markdown; nothing is written when a run id
    is unknown (``RunNotFoundError``) or fewer than two are given (``ReportError``)."""
    html = html or default_path(run_ids)
    markdown = markdown or html.with_suffix(".md")
    report = compare_runs(run_ids, repository)
    for path in (html, markdown):
        path.parent.mkdir(parents=True, exist_ok=True)
    html.write_text(render_html(report), encoding="utf-8")
    markdown.write_text(render_markdown(report, html.name), encoding="utf-8")
    return WrittenReport(report, html, markdown)
