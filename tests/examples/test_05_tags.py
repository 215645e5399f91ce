"""examples/05_tags.py: run tags, the description, environment tags and an experiment tag."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

from snippets import run_example

# Each snippet runs as a reader runs it: a new Python process that imports MLflow and
# scikit-learn and creates a store (5-15 s each), so the inner loop skips them.
pytestmark = pytest.mark.slow


def test_tags_snippet_sets_run_environment_and_experiment_tags(tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    output = run_example("05_tags", tmp_path)

    experiment = client.get_experiment_by_name("tutorial-tags")
    assert experiment.tags["team"] == "tutorial"
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_id in output
    assert "1 random_forest run(s)" in output
    tags = run.data.tags
    assert tags["author"]
    assert tags["model.family"] == "random_forest"
    assert tags["task"] == "classification"
    assert tags["dataset"] == "breast_cancer"
    assert tags["mlflow.note.content"].startswith("Random forest on **breast_cancer**")
    assert tags["env.python"] == platform.python_version()
    assert tags["env.os"].startswith(platform.system())
    assert int(tags["env.cpu_count"]) >= 1
    assert tags["env.gpu"] in {"nvidia", "none"}
    assert tags["env.cloud_provider"] in {"aws", "gcp", "azure", "none"}
    assert tags["env.scikit-learn"]
    assert tags["review"] == "pending"
    # MLflow's own tags are there too: the run name and the script that started it
    assert tags["mlflow.runName"] == "random-forest-tagged"
    assert tags["mlflow.source.name"].endswith("05_tags.py")
    found = client.search_runs([experiment.experiment_id], "tags.review = 'pending'")
    assert [r.info.run_id for r in found] == [run.info.run_id]
