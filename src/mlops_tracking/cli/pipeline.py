"""The DVC pipeline's stage commands, ``data versions`` and ``reproduce``.

``dvc.yaml`` runs ``mlops-tracking pipeline prepare|featurize|train|evaluate``; each stage reads
``params.yaml`` (the file DVC tracks the parameters of) and writes only its declared outputs.
``app`` holds the ``pipeline`` and ``data`` command groups, ``reproduce_app`` the top-level
``reproduce`` command.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlops_tracking.cli import terminal
from mlops_tracking.cli.options import DEFAULT_CONFIG, ConfigOption, SetOption, load_settings

if TYPE_CHECKING:
    from mlops_tracking.pipeline.stages import StageOutput

pipeline_app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode=None,
    help="The DVC pipeline's stages (run them with `dvc repro`, which calls these).",
)
data_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="Data versions (DVC) and the runs using them."
)
app = typer.Typer()
app.add_typer(pipeline_app, name="pipeline")
app.add_typer(data_app, name="data")
reproduce_app = typer.Typer()

RawOption = Annotated[Path, typer.Option("--raw", help="Raw data folder.")]
FeaturesOption = Annotated[Path, typer.Option("--features", help="Featurized splits folder.")]
ModelsOption = Annotated[Path, typer.Option("--models", help="Model output folder.")]
ReportsOption = Annotated[Path, typer.Option("--reports", help="Metrics and plots folder.")]


def _print_stage(output: StageOutput) -> None:
    console = terminal.console()
    console.print(output.summary)
    for path in output.files:
        console.print(f"  wrote {path}")


@pipeline_app.command("prepare")
def prepare_stage(
    config: ConfigOption = DEFAULT_CONFIG,
    set_: SetOption = None,
    raw: RawOption = Path("data/raw"),
) -> None:
    """Materialise the configured dataset (or CSV) under data/raw/: the immutable raw data."""

    def body() -> None:
        from mlops_tracking.pipeline.stages import prepare

        _print_stage(prepare(load_settings(config, set_).data, raw))

    terminal.run_command(body)


@pipeline_app.command("featurize")
def featurize_stage(
    config: ConfigOption = DEFAULT_CONFIG,
    set_: SetOption = None,
    raw: RawOption = Path("data/raw"),
    features: FeaturesOption = Path("data/features"),
) -> None:
    """Clean and split the raw table into train, validation and test CSVs."""

    def body() -> None:
        from mlops_tracking.pipeline.stages import featurize

        _print_stage(featurize(load_settings(config, set_).data, raw, features))

    terminal.run_command(body)


@pipeline_app.command("train")
def train_stage(
    config: ConfigOption = DEFAULT_CONFIG,
    set_: SetOption = None,
    features: FeaturesOption = Path("data/features"),
    models: ModelsOption = Path("models"),
) -> None:
    """Train on the featurized splits as a fully tracked MLflow run bound to the DVC versions."""

    def body() -> None:
        from mlops_tracking.pipeline.stages import train
        from mlops_tracking.runs.ui import run_url, ui_command

        settings = load_settings(config, set_)
        with terminal.progress(1) as progress:
            outcome, output = train(settings, config, features, models, progress)
        _print_stage(output)
        command, url = ui_command(outcome.experiment.id)
        page = run_url(outcome.experiment.id, outcome.run_id)
        console = terminal.console()
        console.print(
            f"MLflow run {outcome.run_id} in {outcome.experiment.name}: {page}", soft_wrap=True
        )
        console.print(f"Open the UI: {command}", soft_wrap=True)
        console.print(f"  runs table: {url}", soft_wrap=True)
        terminal.print_pickle_note(settings.tracking.model_formats)

    terminal.run_command(body)


@pipeline_app.command("evaluate")
def evaluate_stage(
    config: ConfigOption = DEFAULT_CONFIG,
    features: FeaturesOption = Path("data/features"),
    models: ModelsOption = Path("models"),
    reports: ReportsOption = Path("reports"),
) -> None:
    """Score the model file on the test split; write DVC metrics (with the run id) and plots."""

    def body() -> None:
        from mlops_tracking.pipeline.stages import evaluate

        bins = load_settings(config, None).evaluation.calibration_bins
        _print_stage(evaluate(models, features, reports, bins))

    terminal.run_command(body)


@data_app.command("versions")
def data_versions(
    path: Annotated[
        str, typer.Option(help="The DVC-versioned file whose versions to list.")
    ] = "data/raw/dataset.csv",
) -> None:
    """List dataset versions (digest, DVC hash, rows, first seen) and the runs that used each."""

    def body() -> None:
        from mlops_tracking.cli.pipeline_tables import data_versions_table
        from mlops_tracking.pipeline.data_versions import dataset_versions
        from mlops_tracking.runs.store import open_store

        open_store()
        terminal.console().print(data_versions_table(dataset_versions(path), path))

    terminal.run_command(body)


@reproduce_app.command()
def reproduce(
    run_id: Annotated[str, typer.Argument(help="The run to reproduce.")],
    tolerance: Annotated[
        float,
        typer.Option(help="Largest absolute metric difference accepted (0: exact match)."),
    ] = 0.0,
) -> None:
    """Re-train a logged run from its recorded config, data version and code; compare metrics.

    Refuses (exit 2) when the data or code it used differs and cannot be restored; exits 1 when
    a metric differs by more than the tolerance.
    """

    def body() -> None:
        from mlops_tracking.cli.pipeline_tables import reproduction_table
        from mlops_tracking.pipeline.reproduce import reproduce_run
        from mlops_tracking.runs.store import open_store

        open_store()
        console = terminal.console()
        with terminal.progress(1) as progress:
            outcome = reproduce_run(run_id, tolerance, progress, console.print)
        console.print(reproduction_table(outcome))
        console.print(outcome.verdict)
        if not outcome.matched:
            raise typer.Exit(1)

    terminal.run_command(body)
