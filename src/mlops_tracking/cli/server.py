"""``mlops-tracking server``: a team's tracking server (PostgreSQL, proxied artifacts, auth)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlops_tracking.cli import terminal
from mlops_tracking.cli.options import DEFAULT_CONFIG, ConfigOption, SetOption, load_settings

if TYPE_CHECKING:
    from mlops_tracking.core.config import Config
    from mlops_tracking.server.plan import ServerPlan

app = typer.Typer()


@app.command("server")
def server(
    config: ConfigOption = DEFAULT_CONFIG,
    set_: SetOption = None,
    new_secrets: Annotated[
        Path | None,
        typer.Option(
            "--new-secrets",
            help="Write random MLFLOW_FLASK_SERVER_SECRET_KEY and MLFLOW_AUTH_ADMIN_PASSWORD "
            "to this file (owner-only) and exit; `make server` does it once into .server.env.",
        ),
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Check the settings and databases, print, do not start.")
    ] = False,
) -> None:
    """Start MLflow's tracking server for a team: PostgreSQL, proxied artifacts, basic-auth.

    Settings are `server.*` in params.yaml; secrets come from the environment only. Runs in the
    foreground until Ctrl-C; its log is server.state_dir/server.log.
    """

    def body() -> None:
        from mlops_tracking.server.plan import ServerSetupError, write_env_file
        from mlops_tracking.server.plan import new_secrets as random_secrets

        if new_secrets is not None:
            if new_secrets.exists():
                raise ServerSetupError(f"{new_secrets} exists; remove it to make new secrets")
            write_env_file(new_secrets, random_secrets())
            terminal.console().print(
                f"Wrote new server secrets to {new_secrets} (readable by you only); the admin "
                "user's password is its MLFLOW_AUTH_ADMIN_PASSWORD.",
                soft_wrap=True,
            )
            return
        _serve(load_settings(config, set_), check)

    terminal.run_command(body)


def _serve(settings: Config, check: bool) -> None:
    import time

    from mlops_tracking.runs.interrupts import RunInterrupted, stop_signals_raise
    from mlops_tracking.server import process
    from mlops_tracking.server.databases import ensure_database
    from mlops_tracking.server.plan import ServerSetupError, plan_server

    server = settings.server
    plan = plan_server(server)
    console = terminal.console()
    for uri in filter(None, (plan.backend_store_uri, plan.auth_database_uri)):
        if ensure_database(uri, server.create_databases):
            console.print(f"Created database {uri.rsplit('/', 1)[-1]}", soft_wrap=True)
    if check:
        console.print(f"The server can start: {' '.join(plan.command)}", soft_wrap=True)
        return
    with stop_signals_raise():
        running = process.start(plan)
        try:
            _print_ready(plan, process.wait_until_ready(plan, running))
            while running.poll() is None:
                time.sleep(0.5)
        except (KeyboardInterrupt, RunInterrupted):
            process.stop(running)
            console.print("Server stopped.")
            return
        finally:
            process.stop(running)
    raise ServerSetupError(
        f"mlflow server stopped on its own (exit code {running.returncode}); its log "
        f"{plan.log_path} ends with:\n{process.log_tail(plan)}"
    )


def _print_ready(plan: ServerPlan, seconds: float) -> None:
    from mlops_tracking.server.plan import redacted

    console = terminal.console()
    console.print(f"MLflow tracking server ready in {seconds:.1f} s at {plan.url}", soft_wrap=True)
    console.print(f"  store:     {redacted(plan.backend_store_uri)}", soft_wrap=True)
    console.print(f"  artifacts: {plan.artifacts_destination} (proxied by the server)")
    if plan.admin_username:
        console.print(
            f"  auth:      basic-auth, users in {redacted(plan.auth_database_uri or '')}; "
            f"admin user '{plan.admin_username}'",
            soft_wrap=True,
        )
    console.print(f"  UI:        {plan.ui_url()}", soft_wrap=True)
    console.print(f"  log:       {plan.log_path}", soft_wrap=True)
    console.print("Connect a client (another terminal, or a teammate's machine):")
    console.print(f"  export MLFLOW_TRACKING_URI={plan.url}", soft_wrap=True)
    if plan.admin_username:
        console.print(
            "  export MLFLOW_TRACKING_USERNAME=<user> MLFLOW_TRACKING_PASSWORD=<password>"
        )
    console.print("Stop with Ctrl-C.")
