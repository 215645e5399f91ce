"""The options the commands share, and loading the config they name."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from mlops_tracking.core.config import Config

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Parameter file to read.")]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        "-s",
        help="Override a parameter: KEY=VALUE (repeatable), "
        "e.g. --set model.name=mlp --set data.test_size=0.25.",
    ),
]
ExperimentOption = Annotated[
    str | None,
    typer.Option(
        "--experiment",
        "-e",
        help="Experiment name (default: tracking.experiment, else '<dataset>-<task>').",
    ),
]
DEFAULT_CONFIG = Path("params.yaml")


def load_settings(config_file: Path, overrides: list[str] | None) -> Config:
    """``config_file`` validated with the ``--set`` overrides applied."""
    from mlops_tracking.core.config import load_config

    return load_config(config_file, overrides or [])
