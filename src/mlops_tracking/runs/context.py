"""Run context: the tags that say who ran what where, and the files that make a run repeatable.

MLflow records the entry script's name and, when it can find one, the git commit. It does not
record whether the work tree was dirty, the diff, the code itself, the notebook, the Python
environment or the lock file; this module adds them.
"""

from __future__ import annotations

from pathlib import Path

from mlops_tracking.core.environment import (
    GitState,
    entry_point,
    environment_tags,
    installed_packages,
    lock_file,
    notebook_path,
    package_source_dir,
    python_details,
)
from mlops_tracking.runs.artifacts import ArtifactStage
from mlops_tracking.runs.recorded import SOURCE_ARCHIVE

# MLflow's own tag keys (mlflow.utils.mlflow_tags), spelled out to keep this module import-light.
GIT_COMMIT = "mlflow.source.git.commit"
GIT_BRANCH = "mlflow.source.git.branch"
GIT_REPO_URL = "mlflow.source.git.repoURL"
NOTE = "mlflow.note.content"
SOURCE_NAME = "mlflow.source.name"
SOURCE_TYPE = "mlflow.source.type"


def run_tags(git: GitState | None, base: dict[str, str]) -> dict[str, str]:
    """``base`` plus environment, entry point and git tags, ready for ``start_run(tags=...)``."""
    tags = {**environment_tags(), **base}
    command, _ = entry_point()
    tags["mlops.command"] = command[:500]
    notebook = notebook_path()
    if notebook is not None:
        # MLflow finds a notebook only through VS Code, IPYNB_FILE or a Jupyter server it can
        # query; otherwise it names ipykernel's launcher script as the run's source.
        tags.update({SOURCE_NAME: str(notebook), SOURCE_TYPE: "NOTEBOOK"})
    if git is None:
        tags["git.available"] = "false"
        return tags
    tags.update(
        {
            "git.available": "true",
            GIT_COMMIT: git.commit,
            GIT_BRANCH: git.branch,
            "git.dirty": str(git.dirty).lower(),
            "git.untracked_files": str(len(git.untracked)),
        }
    )
    if git.remote_url:
        tags[GIT_REPO_URL] = git.remote_url
    return tags


def stage_source(stage: ArtifactStage, git: GitState | None) -> None:
    """Copy the code that ran: package source, entry script, notebook and uncommitted diff.

    The package source (some 90 modules) is one zip archive, ``source/mlops_tracking.zip``:
    against a server with proxied artifacts each file is an HTTP upload of its own, and the
    package is read back whole (``reproduce`` compares it with the checkout).
    """
    stage.archive(SOURCE_ARCHIVE, package_source_dir())
    command, script = entry_point()
    stage.text("source/command.txt", command + "\n")
    notebook = notebook_path()
    if notebook is not None:  # the notebook is the code that ran, not the kernel's launcher
        stage.copy(f"source/notebook/{notebook.name}", notebook)
    elif script is not None and _is_text(script):
        stage.copy(f"source/entry_point/{script.name}", script)
    if git is not None and git.dirty:
        stage.text("source/git.diff", git.diff or "(only untracked files changed)\n")
        if git.untracked:
            stage.text("source/untracked_files.txt", "\n".join(git.untracked) + "\n")


def stage_environment(stage: ArtifactStage) -> None:
    """Record the exact environment: every installed package, Python, and the lock file."""
    stage.text("environment/pip-freeze.txt", "\n".join(installed_packages()) + "\n")
    stage.json("environment/python.json", python_details())
    lock = lock_file()
    if lock is not None:
        stage.copy("environment/requirements.lock", lock)


def _is_text(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return b"\0" not in handle.read(4096)
    except OSError:
        return False
