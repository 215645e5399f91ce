"""examples/03_artifacts.py: figures, text, a source file and folders of files on the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from snippets import run_example

# Each snippet runs as a reader runs it: a new Python process that imports MLflow and
# scikit-learn and creates a store (5-15 s each), so the inner loop skips them.
pytestmark = pytest.mark.slow


PNG = b"\x89PNG\r\n\x1a\n"


def _files(client, run_id: str, path: str | None = None) -> list[str]:  # type: ignore[no-untyped-def]
    found = []
    for entry in client.list_artifacts(run_id, path):
        found += _files(client, run_id, entry.path) if entry.is_dir else [entry.path]
    return found


def test_artifacts_snippet_logs_plots_text_and_files(tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    import mlflow
    import pandas as pd

    output = run_example("03_artifacts", tmp_path)

    experiment = client.get_experiment_by_name("tutorial-artifacts")
    (run,) = client.search_runs([experiment.experiment_id])
    run_id = run.info.run_id
    assert run_id in output
    assert sorted(_files(client, run_id)) == [
        "data/test.csv",
        "data/train.csv",
        "environment/pip-freeze.txt",
        "model/report.txt",
        "model/summary.json",
        "plots/confusion_matrix.png",
        "plots/roc_curve.png",
        "source/03_artifacts.py",
    ]
    downloaded = Path(
        mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=str(tmp_path / "downloaded"))
    )
    for plot in ("confusion_matrix", "roc_curve"):
        assert (downloaded / "plots" / f"{plot}.png").read_bytes().startswith(PNG)
    summary = json.loads((downloaded / "model" / "summary.json").read_text())
    assert summary == {"estimator": "RandomForestClassifier", "trees": 50}
    assert "precision" in (downloaded / "model" / "report.txt").read_text()
    freeze = (downloaded / "environment" / "pip-freeze.txt").read_text().splitlines()
    assert f"mlflow=={mlflow.__version__}" in freeze
    train = pd.read_csv(downloaded / "data" / "train.csv")
    test = pd.read_csv(downloaded / "data" / "test.csv")
    assert (len(train), len(test)) == (426, 143)  # breast_cancer's 569 rows, split 75/25
    assert "target" in test.columns
    assert "log_figure" in (downloaded / "source" / "03_artifacts.py").read_text()
