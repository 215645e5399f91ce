"""Run a tutorial snippet from ``examples/`` as a reader would, against this test's own store.

Each snippet is a plain script: ``python examples/NAME.py`` in a fresh working directory, with
``MLFLOW_TRACKING_URI`` pointing at the test's sqlite store (the snippets themselves name no
store: MLflow 3's default, ``sqlite:///mlflow.db`` in the working directory, is what a reader
gets). The test then reads the store back with ``MlflowClient``; what the snippet printed is
never the evidence.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO

EXAMPLES = REPO / "examples"


def run_example(name: str, cwd: Path, timeout: int = 240) -> str:
    """Run ``examples/NAME.py`` in ``cwd`` on the current store; return its output, or fail."""
    script = EXAMPLES / f"{name}.py"
    assert script.is_file(), f"no snippet {script}"
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"{script.name} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout
