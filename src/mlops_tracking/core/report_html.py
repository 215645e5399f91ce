"""Render a ``RunReport`` as one self-contained HTML page: styles inline, images as base64.

Every value that came from a run is escaped (``html.escape``): run names, params, tags, diffs
and artifact paths are whatever their author logged.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from html import escape

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
from mlops_tracking.core.run_report import CommitDiff, RunFacts, RunReport, ValueRow, clip

DIFF_LIMIT = 200_000  # characters of one diff on the page

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1400px;
       padding: 0 1em; color: #1f2328; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .2em;
     margin-top: 2em; }
table { border-collapse: collapse; margin: .5em 0 1em; }
th, td { border: 1px solid #d0d7de; padding: .3em .6em; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
tr.differs td { background: #fff8c5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.better { color: #1a7f37; } .worse { color: #cf222e; }
code, pre { font: 12px/1.4 ui-monospace, monospace; }
pre { background: #f6f8fa; padding: .8em; overflow: auto; max-height: 40em; }
.note { color: #59636e; }
.plots { display: grid; gap: 1em; margin-bottom: 1.5em; }
.plots figure { margin: 0; border: 1px solid #d0d7de; padding: .5em; }
.plots img { max-width: 100%; height: auto; }
.plots figcaption { font-size: .9em; color: #59636e; }
"""


def e(value: object) -> str:
    return escape(str(value))


Cell = str | tuple[str, str]  # HTML, or (CSS class, HTML)


def _cell(cell: Cell) -> str:
    if isinstance(cell, tuple):
        return f'<td class="{cell[0]}">{cell[1]}</td>'
    return f"<td>{cell}</td>"


def table(head: Sequence[str], rows: Sequence[tuple[str, Sequence[Cell]]]) -> str:
    """A table; ``head`` is plain text, each row a CSS class and cells that are already HTML."""
    header = "".join(f"<th>{e(cell)}</th>" for cell in head)
    body = "".join(
        f'<tr class="{css}">' + "".join(_cell(cell) for cell in cells) + "</tr>"
        for css, cells in rows
    )
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def labels(report: RunReport) -> list[str]:
    return [run.label for run in report.runs]


def value_table(
    report: RunReport, rows: Sequence[ValueRow], first: str, missing: str = MISSING
) -> str:
    cells = [
        (
            "differs" if row.differs else "",
            [f"<code>{e(row.key)}</code>"] + [e(shown(value, missing)) for value in row.values],
        )
        for row in rows
    ]
    return table([first, *labels(report)], cells)


def runs_section(report: RunReport) -> str:
    rows = [(name, [e(value) for value in values]) for name, values in header_rows(report)]
    rows.insert(
        3,
        ("UI", [f'<a href="{e(run.url)}">{e(run.url)}</a>' for run in report.runs]),
    )
    cells = [("", [f"<b>{e(name)}</b>", *values]) for name, values in rows]
    head = ["", *(f"{run.label}{' (reference)' if i == 0 else ''}" for i, run in _each(report))]
    return "<h2>Runs</h2>" + table(head, cells)


def _each(report: RunReport) -> list[tuple[int, RunFacts]]:
    return list(enumerate(report.runs))


def params_section(report: RunReport) -> str:
    differing, partial, equal = report.params_differing, report.params_partial, report.params_equal
    parts = [
        "<h2>Parameters</h2>",
        f"<p>{len(differing)} differ, {len(equal)} are equal, {len(partial)} are in some runs "
        "only.</p>",
    ]
    if differing:
        parts.append(value_table(report, differing, "parameter"))
    if partial:
        parts += ["<h3>In some runs only</h3>", value_table(report, partial, "parameter")]
    if equal:
        items = "".join(f"<li><code>{e(row.key)}</code> = {e(row.values[0])}</li>" for row in equal)
        parts.append(
            f"<details><summary>{len(equal)} equal parameters</summary><ul>{items}</ul></details>"
        )
    return "".join(parts)


def metrics_section(report: RunReport) -> str:
    head = ["metric", f"{report.reference.label} (reference)"]
    for run in report.compared:
        head += [run.label, "delta (relative)", "better"]
    rows = []
    for row in report.metrics:
        cells: list[Cell] = [f"<code>{e(row.key)}</code>", _number_cell(row.values[0])]
        for index, value in enumerate(row.values[1:]):
            change = row.deltas[index]
            said = verdict(report, row, index)
            css = "" if change is None or change.verdict is None else change.verdict
            cells += [
                _number_cell(value),
                _number_cell(None) if change is None else ("num", e(signed(change))),
                f'<span class="{css}">{e(said)}</span>',
            ]
        rows.append(("differs" if row.differs else "", cells))
    if not rows:
        return "<h2>Metrics</h2><p>No run logged a metric.</p>"
    return "<h2>Metrics</h2>" + table(head, rows)


def _number_cell(value: float | None) -> Cell:
    return ("num", e(number(value)))


def data_section(report: RunReport) -> str:
    parts = ["<h2>Data versions</h2><h3>Dataset inputs</h3>"]
    if report.datasets:
        rows = [
            (
                "differs" if row.differs else "",
                [f"<b>{e(row.role)}</b>"]
                + [
                    e(MISSING)
                    if item is None
                    else f"{e(item.name)}<br>digest <code>{e(item.digest)}</code><br>"
                    f"<span class='note'>{e(item.source)}</span>"
                    for item in row.inputs
                ],
            )
            for row in report.datasets
        ]
        parts.append(table(["role (context)", *labels(report)], rows))
    else:
        parts.append("<p>No run logged a dataset input.</p>")
    parts.append("<h3>DVC</h3>")
    if report.dvc:
        parts.append(value_table(report, report.dvc, "tag"))
    else:
        parts.append("<p>No run has DVC tags (dvc.*): none was made in a DVC workspace.</p>")
    return "".join(parts)


def code_section(report: RunReport) -> str:
    commits = (
        "differs" if report.commits.differs else "",
        [
            "<b>commit</b>",
            *(f"<code>{e(short_commit(value))}</code>" for value in report.commits.values),
        ],
    )
    parts = ["<h2>Code</h2>", table(["", *labels(report)], [commits])]
    for run, diff in zip(report.compared, report.commit_diffs, strict=True):
        parts.append(f"<h3>Commits of {e(report.reference.label)} → {e(run.label)}</h3>")
        parts.append(_diff_block(diff))
    parts.append("<h3>Uncommitted changes each run logged (source/git.diff)</h3>")
    for run in report.runs:
        if run.dirty_diff is None:
            parts.append(
                f"<p>{e(run.label)}: none logged (a clean work tree, or not recorded).</p>"
            )
            continue
        if repeats_reference_diff(report, run):
            parts.append(f"<p>{e(run.label)}: the same diff as the reference.</p>")
            continue
        text, cut = clip(run.dirty_diff, DIFF_LIMIT)
        note = f" (first {len(text):,} of {len(run.dirty_diff):,} characters)" if cut else ""
        parts.append(
            f"<details><summary>{e(run.label)}: {run.dirty_diff.count(chr(10)):,} lines{note}"
            f"</summary><pre>{e(text)}</pre></details>"
        )
    return "".join(parts)


def _diff_block(diff: CommitDiff) -> str:
    if diff.text is None:
        return f'<p class="note">{e(diff.note)}</p>'
    text, cut = clip(diff.text, DIFF_LIMIT)
    note = f" Shown: the first {len(text):,} of {len(diff.text):,} characters." if cut else ""
    return f'<p class="note">{e(diff.note)}{e(note)}</p><pre>{e(text)}</pre>'


def environment_section(report: RunReport) -> str:
    parts = ["<h2>Environment</h2>", value_table(report, [report.python], "", "not logged")]
    differing = [row for row in report.packages if row.differs]
    if report.packages:
        equal = len(report.packages) - len(differing)
        parts.append(
            f"<p>Packages (environment/pip-freeze.txt): {len(differing)} differ, {equal} are the "
            "same.</p>"
        )
        if differing:
            parts.append(value_table(report, differing, "package", "not logged"))
    else:
        parts.append("<p>No run logged its packages (environment/pip-freeze.txt).</p>")
    tags = [row for row in report.environment_tags if row.differs]
    if tags:
        parts += [
            "<h3>Machine and software tags that differ (env.*)</h3>",
            value_table(report, tags, "tag"),
        ]
    return "".join(parts)


def plots_section(report: RunReport) -> str:
    if not report.plots:
        return "<h2>Plots</h2><p>No run logged a PNG artifact.</p>"
    columns = f"grid-template-columns: repeat({len(report.runs)}, minmax(0, 1fr))"
    parts = ["<h2>Plots</h2>"]
    for row in report.plots:
        figures = "".join(
            f"<figure><figcaption>{e(run.label)}</figcaption>"
            + (
                f'<img alt="{e(row.path)} of {e(run.label)}" '
                f'src="data:image/png;base64,{base64.b64encode(image).decode("ascii")}">'
                if image is not None
                else '<p class="note">not logged by this run</p>'
            )
            + "</figure>"
            for run, image in zip(report.runs, row.images, strict=True)
        )
        parts.append(
            f'<h3><code>{e(row.path)}</code></h3><div class="plots" '
            f'style="{columns}">{figures}</div>'
        )
    return "".join(parts)


def render_html(report: RunReport) -> str:
    """The whole page."""
    title = "Run report: " + " vs ".join(run.label for run in report.runs)
    sections = (
        runs_section,
        params_section,
        metrics_section,
        data_section,
        code_section,
        environment_section,
        plots_section,
    )
    body = "\n".join(section(report) for section in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{e(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{e(title)}</h1><p class='note'>The first run is the reference: deltas are each "
        f"run's value minus the reference's.</p>\n{body}\n</body></html>\n"
    )
