"""The package command: a registered version as a Docker build context for other platforms."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlops_tracking.cli import terminal
from mlops_tracking.cli.registry import ReferenceArgument, author

app = typer.Typer()


@app.command()
def package(
    reference: ReferenceArgument,
    out: Annotated[
        Path | None,
        typer.Option(help="Folder to write (default: build/packages/NAME-vVERSION)."),
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace a non-empty --out folder.")] = False,
) -> None:
    """Write MLflow's Dockerfile, the checked model files, pinned requirements and a manifest.

    The files are checked against the manifest recorded at registration; nothing is written
    when a file changed. No Docker engine is needed to write the folder.
    """

    def body() -> None:
        from mlops_tracking.registry.packaging import IMAGE_PORT, MANIFEST_FILE, package_version
        from mlops_tracking.runs.store import open_store

        open_store()
        done = package_version(reference, out, author(), force=force)
        console = terminal.console()
        total = sum(done.files.values())
        console.print(
            f"Packaged {done.ref} in {done.folder}: {len(done.files)} files, "
            f"{total / 1e6:.1f} MB; every model file matched the registered manifest "
            f"({done.manifest_digest[:12]}).",
            highlight=False,
        )
        for path in ("Dockerfile", "requirements.txt", MANIFEST_FILE, "README.md"):
            console.print(f"  {path:18} {done.files.get(path, 0):>9,} bytes", highlight=False)
        console.print(f"  {len(done.requirements)} pinned requirements")
        console.print("Next:")
        for command in (
            f"cd {done.folder} && sha256sum -c {MANIFEST_FILE}",
            f"docker build -t {done.image} {done.folder}",
            f"docker run --rm -p {IMAGE_PORT}:{IMAGE_PORT} {done.image}",
        ):
            console.print(f"  {command}", soft_wrap=True, markup=False, highlight=False)

    terminal.run_command(body)
