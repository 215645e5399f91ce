"""The registry commands: register, promote, rollback, models, serve, predict, lineage.

Like every command module: parse, load config, call one function, print a result.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlops_tracking.cli import terminal
from mlops_tracking.cli.options import DEFAULT_CONFIG, ConfigOption, SetOption, load_settings

if TYPE_CHECKING:
    from rich.console import Console

    from mlops_tracking.core.config import Config, MonitoringConfig, ServingConfig
    from mlops_tracking.monitoring.serving_run import ServingMonitor
    from mlops_tracking.registry.catalog import VersionRef
    from mlops_tracking.registry.lease import Holder
    from mlops_tracking.registry.serving import Deployment

app = typer.Typer()


def registry_settings(config_file: Path, overrides: list[str] | None = None) -> Config:
    """The config for registry commands: the defaults when ``params.yaml`` is absent.

    Promotion rebuilds held-out data from the candidate run's own recorded config, so these
    commands work from any directory; only the registry section is read from the file.
    """
    from mlops_tracking.core.config import Config

    if config_file == DEFAULT_CONFIG and not config_file.exists():
        return Config().with_overrides(overrides or [])
    return load_settings(config_file, overrides)


ReferenceArgument = Annotated[
    str, typer.Argument(help="NAME@ALIAS, NAME/VERSION, NAME (latest) or a models:/ URI.")
]


def author() -> str:
    from mlops_tracking.core.environment import author

    return author()


def _waiting(holder: Holder) -> None:
    """Say why a promotion pauses: another one holds the model's lock."""
    terminal.console().print(f"Waiting for another promotion to finish: {holder.describe()} …")


def _print_notes(notes: tuple[str, ...]) -> None:
    for note in notes:
        terminal.console().print(f"[yellow]note:[/] {note}")


def _open() -> None:
    from mlops_tracking.runs.store import open_store

    open_store()


def _record_manifests(reference: str | None, run_id: str | None) -> None:
    """``register --manifest NAME/VERSION`` (and ``register`` with neither: say what to give)."""
    from mlops_tracking.core.errors import UserError
    from mlops_tracking.registry.release import record_missing_manifests

    if reference is None:
        raise UserError("give the RUN_ID to register (or --manifest NAME/VERSION)")
    if run_id is not None:
        raise UserError("--manifest records the manifest of a registered version; give no RUN_ID")
    _open()
    for recorded in record_missing_manifests(reference):
        terminal.console().print(
            f"Recorded the integrity manifest of {recorded.version}: sha256 {recorded.digest}"
        )


@app.command()
def register(
    run_id: Annotated[
        str | None, typer.Argument(help="The training run whose model to register.")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Registered model (default: the run's experiment).")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="For a run logged with plain MLflow calls: which of its models (a name or "
            "m-ID; default: the only one, else the latest)."
        ),
    ] = None,
    manifest: Annotated[
        str | None,
        typer.Option(
            "--manifest",
            metavar="NAME/VERSION",
            help="Instead of registering: record the integrity manifest of a version registered "
            "before manifests were recorded, from its files as stored now (trust on first use).",
        ),
    ] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Register a run's model with tags and a model card: the deployable pyfunc (and its ONNX
    form) of a run made here, or a LoggedModel of any other run. Each version records a SHA-256
    manifest of its files, which serve, predict, the gate and reproduce check before loading."""
    if manifest is not None or run_id is None:
        terminal.run_command(lambda: _record_manifests(manifest, run_id))
        return

    def body() -> None:
        from mlops_tracking.core.errors import UserError
        from mlops_tracking.registry.release import register_run
        from mlops_tracking.runs.ui import registered_version_url

        if name is not None and not name.strip():
            raise UserError(
                "--name is empty: give the registered model a name, or leave --name out to "
                "use registry.model_name (default: the run's experiment)"
            )
        settings = registry_settings(config)
        _open()
        done = register_run(run_id, settings.registry, name, model)
        console = terminal.console()
        if done.note:
            console.print(done.note)
        console.print(f"Registered [bold]{done.version.name}[/] version {done.version.version}")
        if done.onnx is not None:
            console.print(f"  ONNX form: {done.onnx.name} version {done.onnx.version}")
        console.print(f"  model card: run artifact {done.card_artifact} (and the description)")
        version_page = registered_version_url(done.version.name, done.version.version)
        console.print(f"  in the UI: {version_page}", soft_wrap=True)  # an address is not folded
        promote = (
            f"mlops-tracking promote {done.version.name} --to staging "
            f"--version {done.version.version}"
        )
        if done.external:  # the gate rebuilds test data from a recorded config: none here
            promote += " --force --reason TEXT  (the run was not made by mlops-tracking, so the "
            promote += "gate cannot rebuild its test data)"
        console.print(f"Next: {promote}")

    terminal.run_command(body)


@app.command()
def promote(
    name: Annotated[str, typer.Argument(help="The registered model.")],
    *,
    to: Annotated[str, typer.Option("--to", help="The alias: staging or production.")],
    version: Annotated[str | None, typer.Option(help="Version (default: latest).")] = None,
    force: Annotated[bool, typer.Option(help="Skip the gate (needs --reason).")] = False,
    reason: Annotated[str | None, typer.Option(help="Why (required with --force).")] = None,
    config: ConfigOption = DEFAULT_CONFIG,
    set_: SetOption = None,
) -> None:
    """Move an alias to a version that passes the gate; every decision is recorded."""

    def body() -> None:
        from mlops_tracking.core.errors import ConfigError
        from mlops_tracking.registry.release import promote as promote_version

        if force and not (reason or "").strip():
            raise ConfigError("--force needs --reason TEXT: a forced promotion must say why")
        settings = registry_settings(config, set_)
        _open()
        decision = promote_version(
            settings,
            name,
            to,
            version=version,
            force_reason=reason if force else None,
            by=author(),
            waiting=_waiting,
        )
        entry = decision.entry
        console = terminal.console()
        _print_notes(decision.notes)
        if decision.unchanged:
            console.print(f"{name}@{to} is already version {entry.version}; nothing to do.")
            return
        if entry.decision == "rejected":
            console.print(f"[red]rejected[/]: version {entry.version} → {to}: {entry.reason}")
            raise typer.Exit(1)
        console.print(
            f"[green]promoted[/]: {name}@{to} → version {entry.version} "
            f"(was {entry.previous or 'unset'}). {entry.reason}"
        )

    terminal.run_command(body)


@app.command()
def rollback(
    name: Annotated[str, typer.Argument(help="The registered model.")],
    to: Annotated[str, typer.Option("--to", help="The alias to roll back.")] = "production",
    reason: Annotated[str, typer.Option(help="Why (recorded in the audit trail).")] = "",
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Give an alias back to the version that held it before the current one."""

    def body() -> None:
        from mlops_tracking.registry.release import rollback as rollback_alias

        settings = registry_settings(config)
        _open()
        decision = rollback_alias(settings.registry, name, to, reason, author(), waiting=_waiting)
        _print_notes(decision.notes)
        entry = decision.entry
        terminal.console().print(
            f"[yellow]rolled back[/]: {name}@{to} → version {entry.version} (was {entry.previous})"
        )

    terminal.run_command(body)


@app.command()
def models(
    name: Annotated[str | None, typer.Argument(help="A registered model to detail.")] = None,
) -> None:
    """List registered models, or one model's versions, aliases, status and audit trail."""

    def body() -> None:
        from mlops_tracking.cli.registry_tables import (
            model_versions_table,
            models_table,
            serving_table,
            trail_table,
        )
        from mlops_tracking.core.evaluation import headline_metrics
        from mlops_tracking.registry import catalog
        from mlops_tracking.registry.endpoints import shown_status

        _open()
        console = terminal.console()
        if name is None:
            summaries = catalog.model_summaries()
            if not summaries:
                console.print("No registered models yet: `mlops-tracking register RUN_ID`.")
                return
            console.print(models_table(summaries))
            return
        rows = catalog.version_rows(name)
        notes = []
        for row in rows:  # a server killed with SIGKILL could not record that it stopped
            if "deployment.status" in row["tags"]:
                status, why = shown_status(row["tags"])
                row["tags"]["deployment.status"] = status
                notes += [f"version {row['version']}: deployment {status}: {why}"] if why else []
        task = next((row["tags"].get("task") for row in rows if row["tags"].get("task")), "")
        console.print(model_versions_table(name, rows, headline_metrics(task or "binary")))
        for note in notes:
            console.print(note, markup=False, highlight=False)
        if (watched := serving_table(name, rows)) is not None:
            console.print(watched)
        console.print(trail_table(name, catalog.read_trail(name)))

    terminal.run_command(body)


def print_command(console: Console, command: str) -> None:
    """Print a shell command as it is: Rich's wrapping would break it into several commands."""
    console.print(f"  {command}", soft_wrap=True, markup=False, highlight=False)


@app.command()
def serve(
    reference: ReferenceArgument,
    port: Annotated[int, typer.Option(help="Port on serving.host (127.0.0.1).")] = 5001,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes.")] = 1,
    engine: Annotated[
        str,
        typer.Option(
            help="pyfunc: raw named columns in, label names out. onnx: the registered ONNX "
            "twin, float32 rows in training column order in, label codes out (fastest)."
        ),
    ] = "pyfunc",
    *,
    config: ConfigOption = DEFAULT_CONFIG,
    set_: SetOption = None,
) -> None:
    """Serve a version until Ctrl-C, recording its deployment status and endpoint.

    It binds serving.host (127.0.0.1: this machine only) and records serving.public_url as
    its endpoint when set. Requests are checked by the serving section of the config.
    """

    def body() -> None:
        from mlops_tracking.registry.catalog import model_version, resolve
        from mlops_tracking.registry.serving import SERVE_SIGNALS, ServingError, deployment
        from mlops_tracking.runs.interrupts import RunInterrupted, stop_signals_raise

        chosen = registry_settings(config, set_)
        settings, monitoring = chosen.serving, chosen.monitoring
        _open()
        ref = resolve(reference)
        console = terminal.console()
        console.print(f"Starting the model server for {ref} …")
        try:
            with stop_signals_raise(SERVE_SIGNALS):  # SIGHUP too: the terminal closed
                started, example = _launch(
                    ref, port, workers, engine, settings, monitoring=monitoring
                )
                with deployment(started) as up:
                    console.print(
                        f"[green]serving[/] {ref} ({up.model_uri}) at {up.endpoint}  "
                        "(Ctrl-C stops it)"
                    )
                    if up.monitor is not None:
                        _print_monitoring(console, up.monitor, monitoring)
                    console.print("Try:")
                    print_command(console, example)
                    labels = model_version(ref).tags.get("labels")
                    if engine == "onnx" and labels:
                        console.print(f"Label codes: {labels} (code i is the i-th name)")
                    up.process.wait()
        except (KeyboardInterrupt, RunInterrupted) as stop:
            # Stopping is how a server's life ends: the status is recorded, exit 0.
            console.print(f"Stopped ({stop or 'interrupted'}); {ref} is recorded as stopped.")
            return
        raise ServingError(f"the model server for {ref} exited on its own; status: failed")

    terminal.run_command(body)


def _print_monitoring(console: Console, monitor: ServingMonitor, every: MonitoringConfig) -> None:
    from mlops_tracking.runs.ui import run_url

    console.print(
        f"Request figures go to the monitoring run every {every.flush_seconds:g} s and at stop:"
    )
    print_command(console, run_url(monitor.experiment_id, monitor.run_id))


def _launch(
    ref: VersionRef,
    port: int,
    workers: int,
    engine: str,
    settings: ServingConfig,
    *,
    monitoring: MonitoringConfig | None = None,
) -> tuple[Deployment, str]:
    """Start the server, and prepare the example request while it boots."""
    from mlops_tracking.registry.endpoints import example_request
    from mlops_tracking.registry.serving import launch, stop

    started = launch(
        ref,
        author(),
        port=port,
        workers=workers,
        engine=engine,
        settings=settings,
        monitoring=monitoring,
    )
    try:
        return started, example_request(str(started.copy), started.endpoint, engine)
    except BaseException:
        stop(started)
        raise


@app.command()
def predict(
    reference: ReferenceArgument,
    input_file: Annotated[Path, typer.Option("--input", "-i", help="CSV of rows to score.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="CSV to write (default: beside input).")
    ] = None,
    engine: Annotated[str, typer.Option(help="pyfunc (deployable model) or onnx.")] = "pyfunc",
    *,
    config: ConfigOption = DEFAULT_CONFIG,
    set_: SetOption = None,
) -> None:
    """Score a CSV with a registered version; the inference is logged as its own run.

    Rows are checked by the serving section of the config, as serve checks requests.
    """

    def body() -> None:
        from mlops_tracking.core.model_input import UNSEEN_COLUMN
        from mlops_tracking.registry.drift_check import record_drift
        from mlops_tracking.registry.predict import batch_predict

        chosen = registry_settings(config, set_)
        _open()
        done = batch_predict(
            reference, input_file, output, engine, author(), settings=chosen.serving
        )
        console = terminal.console()
        console.print(
            f"Wrote {done.rows} predictions by {done.ref} ({engine}, {done.seconds:.3f} s) to "
            f"{done.output}\nInference run: {done.run_id}"
        )
        if done.scored is not None:
            title = f"Drift of {input_file.name}"
            drift = record_drift(
                done.ref,
                done.scored.rows,
                done.scored.outputs,
                done.run_id,
                chosen.monitoring,
                title=title,
            )
            if drift.report is None:
                console.print(f"[yellow]note:[/] no drift check: {drift.problem}")
            else:
                style = "red" if drift.report.drifted else "green"
                console.print(
                    f"[{style}]{drift.report.summary()}[/] (artifact {drift.page} of the run)",
                    highlight=False,
                )
        for note in done.notes:
            console.print(f"[yellow]note:[/] {note}")
        if done.unseen is not None and done.unseen.rows:
            console.print(f"[yellow]warning:[/] {done.unseen.describe()}.")
            console.print(f"  (column {UNSEEN_COLUMN} of the predictions names them per row)")

    terminal.run_command(body)


@app.command()
def lineage(
    reference: ReferenceArgument,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Trace a version back to its run, params, metrics, datasets, commit and environment."""

    def body() -> None:
        from mlops_tracking.cli.registry_tables import lineage_lines
        from mlops_tracking.core.model_card import key_metrics
        from mlops_tracking.registry.lineage import lineage as trace

        _open()
        found = trace(reference)
        if as_json:
            sys.stdout.write(json.dumps(found, indent=2, default=str) + "\n")
            return
        console = terminal.console()
        for line in lineage_lines(found, key_metrics(found["metrics"], found["run"]["task"])):
            console.print(line, soft_wrap=True)

    terminal.run_command(body)
