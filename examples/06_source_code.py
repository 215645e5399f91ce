"""Source code: record which code ran, at which git commit, with which packages."""

import importlib.metadata
import subprocess
from pathlib import Path

import mlflow

SCRIPT = Path(__file__).resolve()


def git(*args: str) -> str | None:
    """Run git next to this script; None without git or outside a repository."""
    try:
        done = subprocess.run(
            ["git", *args], cwd=SCRIPT.parent, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()


mlflow.set_experiment("tutorial-source-code")

with mlflow.start_run(run_name="source-code") as run:
    # MLflow has already tagged the run with mlflow.source.name (this script) and
    # mlflow.source.type (LOCAL), and, when the script sits in a git work tree,
    # mlflow.source.git.commit, .branch and .repoURL. It records no uncommitted edits.
    commit = git("rev-parse", "HEAD")
    if commit is not None:
        dirty = bool(git("status", "--porcelain"))
        mlflow.set_tags(
            {
                "mlflow.source.git.commit": commit,  # the same SHA, even without GitPython
                "git.dirty": str(dirty).lower(),
            }
        )
        if dirty:  # keep the uncommitted edits themselves
            mlflow.log_text(git("diff", "HEAD") or "", "source/git.diff")

    # MLflow stores the script's name, not its content: upload the script itself.
    mlflow.log_artifact(str(SCRIPT), artifact_path="source")

    # Dependencies: the exact version of every installed package, like `pip freeze`.
    packages = sorted(
        f"{dist.metadata['Name']}=={dist.version}"
        for dist in importlib.metadata.distributions()
        if dist.metadata["Name"]
    )
    mlflow.log_text("\n".join(packages) + "\n", "environment/pip-freeze.txt")

print(f"run {run.info.run_id}: commit {commit or 'none (not in git)'}, {len(packages)} packages")
