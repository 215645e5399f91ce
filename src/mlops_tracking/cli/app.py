"""The ``mlops-tracking`` command line: parse, load config, call one function, print a result.

Each capability's commands live in their own module (``runs``, ``registry``, ``pipeline``) as a
Typer app merged here. Heavy libraries (MLflow, scikit-learn, matplotlib) are imported inside
the commands that need them, so ``mlops-tracking --help`` answers instantly.
"""

from __future__ import annotations

from typing import Annotated

import typer

from mlops_tracking.cli import (
    monitoring,
    packaging,
    pipeline,
    registry,
    reports,
    runs,
    server,
    sweeps,
    sync,
)
from mlops_tracking.cli.terminal import show_tracebacks

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Run, inspect and audit fully tracked MLflow experiments.",
)
commands_of_each_capability = (
    runs.app,
    sweeps.app,
    pipeline.reproduce_app,
    registry.app,
    monitoring.app,
    packaging.app,
    pipeline.app,
    reports.app,
    sync.app,
    server.app,
)
for commands in commands_of_each_capability:
    app.add_typer(commands)


@app.callback()
def _options(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks.")] = False,
) -> None:
    show_tracebacks(debug)


def main() -> None:
    app()
