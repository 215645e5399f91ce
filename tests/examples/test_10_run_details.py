"""Snippet 10: run ids, names, experiment, times, statuses and a parent with nested children."""

from __future__ import annotations

from pathlib import Path

import pytest

from snippets import run_example

# Each snippet runs as a reader runs it: a new Python process that imports MLflow and
# scikit-learn and creates a store (5-15 s each), so the inner loop skips them.
pytestmark = pytest.mark.slow


def test_parent_children_statuses_and_times(tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    output = run_example("10_run_details", tmp_path)

    experiment = client.get_experiment_by_name("tutorial-run-details")
    assert experiment.experiment_id != "0"
    runs = {
        r.info.run_name: r
        for r in client.search_runs([experiment.experiment_id], order_by=["start_time ASC"])
    }
    assert list(runs) == ["depth-sweep", "depth-2", "depth-4", "depth-invalid"]
    parent = runs["depth-sweep"]
    assert "mlflow.parentRunId" not in parent.data.tags
    assert parent.info.status == "FINISHED"
    for name in ("depth-2", "depth-4", "depth-invalid"):
        child = runs[name]
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert parent.info.start_time <= child.info.start_time
        assert child.info.end_time <= parent.info.end_time
        assert child.info.run_id in output
    assert runs["depth-2"].info.status == runs["depth-4"].info.status == "FINISHED"
    assert runs["depth-invalid"].info.status == "FAILED"
    assert "cv_accuracy" not in runs["depth-invalid"].data.metrics
    assert runs["depth-4"].data.metrics["cv_accuracy"] > 0.8
    assert runs["depth-2"].data.params == {"max_depth": "2"}
    for run in runs.values():
        info = run.info
        assert len(info.run_id) == 32
        assert info.start_time <= info.end_time
        assert info.experiment_id == experiment.experiment_id
    assert output.count("experiment tutorial-run-details") == 4
    assert "FAILED" in output
