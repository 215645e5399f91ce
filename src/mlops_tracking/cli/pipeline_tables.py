"""Readable terminal output for the pipeline: dataset versions and a reproduction's verdict."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.table import Table

if TYPE_CHECKING:
    from mlops_tracking.pipeline.data_versions import DataVersion
    from mlops_tracking.pipeline.reproduce import Reproduction


def data_versions_table(versions: Sequence[DataVersion], path: str) -> Table:
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
