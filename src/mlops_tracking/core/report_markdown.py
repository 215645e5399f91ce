"""Render a ``RunReport`` as Markdown for a pull request (GitHub-flavoured tables).

A pull request's description holds some 65,000 characters and shows no embedded images, so
diffs are shorter than on the HTML page and plots are listed, not shown: the page has them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mlops_tracking.core.report_text import (
    MISSING,
    header_rows,
    number,
    repeats_reference_diff,
    short_commit,
    shown,
    signed,
    verdict,
)
from mlops_tracking.core.run_report import CommitDiff, RunReport, ValueRow, clip

DIFF_LIMIT = 12_000  # characters of one diff


def cell(value: object) -> str:
    """A table cell: one line, pipes and HTML-significant characters escaped."""
    text = " ".join(str(value).split())
    return (
        text.replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("`", "\\`")
    )


def table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Cells of ``rows`` must come through ``cell`` already (or be made of its output)."""
    lines = ["| " + " | ".join(cell(h) for h in head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def fenced(text: str, language: str = "") -> list[str]:
    """A code block whose fence is longer than any run of backticks inside ``text``."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + language, text.rstrip("\n"), fence, ""]


def value_table(
    report: RunReport, rows: Sequence[ValueRow], first: str, missing: str = MISSING
) -> list[str]:
    body = [
        [f"**{cell(row.key)}**" if row.differs else cell(row.key)]
        + [cell(shown(value, missing)) for value in row.values]
        for row in rows
    ]
    return table([first, *(run.label for run in report.runs)], body)


def runs_part(report: RunReport) -> list[str]:
    rows = [
        [cell(name), *(cell(value) for value in values)] for name, values in header_rows(report)
    ]
    rows.insert(3, ["UI", *(f"[open]({cell(run.url)})" for run in report.runs)])
    head = ["", *(run.label for run in report.runs)]
    return ["## Runs", "", f"Reference: {cell(report.reference.label)}.", "", *table(head, rows)]


def params_part(report: RunReport) -> list[str]:
    differing, partial, equal = report.params_differing, report.params_partial, report.params_equal
    lines = [
        "## Parameters",
        "",
        f"{len(differing)} differ, {len(equal)} are equal, {len(partial)} are in some runs only.",
        "",
    ]
    if differing:
        lines += value_table(report, differing, "parameter")
    if partial:
        lines += ["In some runs only:", "", *value_table(report, partial, "parameter")]
    return lines


def metrics_part(report: RunReport) -> list[str]:
    if not report.metrics:
        return ["## Metrics", "", "No run logged a metric.", ""]
    head = ["metric", f"{report.reference.label} (reference)"]
    for run in report.compared:
        head += [run.label, "delta (relative)", "better"]
    rows = []
    for row in report.metrics:
        cells = [cell(row.key), number(row.values[0])]
        for index, value in enumerate(row.values[1:]):
            change = row.deltas[index]
            said = verdict(report, row, index)
            cells += [
                number(value),
                MISSING if change is None else cell(signed(change)),
                cell(said),
            ]
        rows.append(cells)
    return ["## Metrics", "", *table(head, rows)]


def data_part(report: RunReport) -> list[str]:
    lines = ["## Data versions", ""]
    if report.datasets:
        rows = [
            [f"**{cell(row.role)}**" if row.differs else cell(row.role)]
            + [
                MISSING if item is None else f"{cell(item.name)} (digest {cell(item.digest)})"
                for item in row.inputs
            ]
            for row in report.datasets
        ]
        lines += table(["dataset role", *(run.label for run in report.runs)], rows)
    else:
        lines += ["No run logged a dataset input.", ""]
    if report.dvc:
        lines += value_table(report, report.dvc, "DVC tag")
    else:
        lines += ["No run has DVC tags (dvc.*).", ""]
    return lines


def code_part(report: RunReport) -> list[str]:
    commits = [short_commit(value) for value in report.commits.values]
    lines = ["## Code", "", *table(["", *(r.label for r in report.runs)], [["commit", *commits]])]
    for run, diff in zip(report.compared, report.commit_diffs, strict=True):
        lines += [f"### {cell(report.reference.label)} → {cell(run.label)}", "", *_diff(diff)]
    for run in report.runs:
        if repeats_reference_diff(report, run):
            lines += [f"Uncommitted changes of {cell(run.label)}: the same as the reference's.", ""]
        elif run.dirty_diff is not None:
            text, cut = clip(run.dirty_diff, DIFF_LIMIT)
            note = f" (first {len(text):,} of {len(run.dirty_diff):,} characters)" if cut else ""
            lines += [
                f"<details><summary>Uncommitted changes of {cell(run.label)}{note}</summary>",
                "",
                *fenced(text, "diff"),
                "</details>",
                "",
            ]
    return lines


def _diff(diff: CommitDiff) -> list[str]:
    if diff.text is None:
        return [cell(diff.note), ""]
    text, cut = clip(diff.text, DIFF_LIMIT)
    note = f" Shown: the first {len(text):,} of {len(diff.text):,} characters." if cut else ""
    return [
        f"<details><summary>{cell(diff.note)}{note}</summary>",
        "",
        *fenced(text, "diff"),
        "</details>",
        "",
    ]


def environment_part(report: RunReport) -> list[str]:
    lines = ["## Environment", "", *value_table(report, [report.python], "", "not logged")]
    differing = [row for row in report.packages if row.differs]
    if report.packages:
        same = len(report.packages) - len(differing)
        lines += [f"Packages: {len(differing)} differ, {same} are the same.", ""]
        if differing:
            lines += value_table(report, differing, "package", "not logged")
    else:
        lines += ["No run logged its packages (environment/pip-freeze.txt).", ""]
    return lines


def plots_part(report: RunReport) -> list[str]:
    if not report.plots:
        return ["## Plots", "", "No run logged a PNG artifact.", ""]
    rows = [
        [cell(row.path), *("yes" if image else "not logged" for image in row.images)]
        for row in report.plots
    ]
    return [
        "## Plots",
        "",
        "Side by side in the HTML report.",
        "",
        *table(["PNG artifact", *(run.label for run in report.runs)], rows),
    ]


def render_markdown(report: RunReport, html_name: str | None = None) -> str:
    """The report as Markdown; ``html_name`` names the HTML page it goes with."""
    title = " vs ".join(run.label for run in report.runs)
    lines = [f"# Run report: {cell(title)}", ""]
    if html_name:
        lines += [f"Plots and full diffs: {cell(html_name)}.", ""]
    for part in (
        runs_part,
        params_part,
        metrics_part,
        data_part,
        code_part,
        environment_part,
        plots_part,
    ):
        lines += part(report)
    return "\n".join(lines).rstrip("\n") + "\n"
