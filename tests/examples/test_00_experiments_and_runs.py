"""examples/00_experiments_and_runs.py: one experiment, single runs, a parent with children."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from snippets import run_example

if TYPE_CHECKING:
    from mlflow import MlflowClient

# Each snippet runs as a reader runs it: a new Python process that imports MLflow and
# scikit-learn and creates a store (5-15 s each), so the inner loop skips them.
pytestmark = pytest.mark.slow


EXPERIMENT = "tutorial-experiments-and-runs"


def test_snippet_logs_runs_and_a_parent_with_children_in_one_experiment(
    tmp_path: Path, client: MlflowClient
) -> None:
    output = run_example("00_experiments_and_runs", tmp_path)

    (experiment,) = client.search_experiments(filter_string=f"name = '{EXPERIMENT}'")
    assert experiment.lifecycle_stage == "active"
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    names = [run.info.run_name for run in runs]
    assert names == [
        "logreg-C0.01",
        "logreg-C1.0",
        "sweep-C",
        "sweep-C0.1",
        "sweep-C1.0",
        "sweep-C10.0",
    ]
    assert len({run.info.run_id for run in runs}) == 6  # every run has its own id

    by_name = {run.info.run_name: run for run in runs}
    parent = by_name["sweep-C"]
    children = [run for run in runs if run.data.tags.get("mlflow.parentRunId")]
    assert {run.info.run_name for run in children} == {"sweep-C0.1", "sweep-C1.0", "sweep-C10.0"}
    assert {run.data.tags["mlflow.parentRunId"] for run in children} == {parent.info.run_id}
    assert "mlflow.parentRunId" not in by_name["logreg-C0.01"].data.tags
    assert parent.data.metrics == {}  # the parent only groups: its children hold the scores

    for run in runs:
        assert run.info.status == "FINISHED"
        assert run.info.experiment_id == experiment.experiment_id
        assert 0 < run.info.start_time <= run.info.end_time
    for child in children:  # a child runs inside its parent's lifetime
        assert parent.info.start_time <= child.info.start_time
        assert child.info.end_time <= parent.info.end_time
        assert 0.9 < child.data.metrics["test_accuracy"] <= 1.0
    assert by_name["logreg-C0.01"].data.params == {"C": "0.01"}  # params are stored as text
    assert by_name["sweep-C10.0"].data.params == {"C": "10.0"}

    # the snippet's own read-back: the children ordered best first, then the UI address
    ranked = sorted(children, key=lambda run: -run.data.metrics["test_accuracy"])
    assert output.index(ranked[0].info.run_id) < output.index(ranked[-1].info.run_id)
    assert f"#/experiments/{experiment.experiment_id}/runs?workflowType=machine_learning" in output
