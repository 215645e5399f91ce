"""Snippet 06 records the code that ran: source tags, the script itself, the packages."""

from __future__ import annotations

import importlib.metadata
import subprocess
from pathlib import Path

import pytest

from snippets import EXAMPLES, run_example

# Each snippet runs as a reader runs it: a new Python process that imports MLflow and
# scikit-learn and creates a store (5-15 s each), so the inner loop skips them.
pytestmark = pytest.mark.slow


SCRIPT = EXAMPLES / "06_source_code.py"


def _head() -> str | None:
    """HEAD of the repository holding the snippet, as git sees it (None without git)."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=EXAMPLES,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()


def test_source_tags_script_and_requirements(tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    import mlflow

    output = run_example("06_source_code", tmp_path)

    experiment = client.get_experiment_by_name("tutorial-source-code")
    (run,) = client.search_runs([experiment.experiment_id])
    tags = run.data.tags
    assert run.info.run_id in output
    assert tags["mlflow.source.name"].endswith("06_source_code.py")
    assert tags["mlflow.source.type"] == "LOCAL"
    head = _head()
    if head is None:  # a copy outside git: no commit is claimed
        assert "mlflow.source.git.commit" not in tags
        assert "git.dirty" not in tags
    else:
        assert tags["mlflow.source.git.commit"] == head
        assert tags["git.dirty"] in {"true", "false"}
        logged = {entry.path for entry in client.list_artifacts(run.info.run_id, "source")}
        assert ("source/git.diff" in logged) == (tags["git.dirty"] == "true")

    script = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="source/06_source_code.py"
    )
    assert Path(script).read_text(encoding="utf-8") == SCRIPT.read_text(encoding="utf-8")

    requirements = mlflow.artifacts.load_text(
        f"{run.info.artifact_uri}/environment/pip-freeze.txt"
    ).splitlines()
    assert f"mlflow=={importlib.metadata.version('mlflow')}" in requirements
    assert f"scikit-learn=={importlib.metadata.version('scikit-learn')}" in requirements
    assert requirements == sorted(requirements)
