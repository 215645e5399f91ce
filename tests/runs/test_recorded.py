"""Reading runs back: what the store holds, as one ``RecordedRun`` every capability reads."""

from __future__ import annotations

import pytest

from conftest import StoredRun
from mlops_tracking.core.errors import RunNotFoundError
from mlops_tracking.runs.recorded import fetch_run, read_run, runs_with_inputs, search_runs


def test_a_run_reads_back_as_the_store_holds_it(binary_run: StoredRun, client) -> None:  # type: ignore[no-untyped-def]
    stored = client.get_run(binary_run.run_id)
    run = read_run(binary_run.run_id)

    assert (run.run_id, run.run_name, run.status) == (
        stored.info.run_id,
        stored.info.run_name,
        "FINISHED",
    )
    assert run.experiment == client.get_experiment(stored.info.experiment_id).name
    assert run.tags == stored.data.tags and run.params == stored.data.params
    assert run.metrics == stored.data.metrics
    assert (run.start_time, run.end_time) == (stored.info.start_time, stored.info.end_time)
    assert run.duration_seconds == (stored.info.end_time - stored.info.start_time) / 1000
    assert run.task == "binary" and run.parent_run_id == ""
    logged = {
        next(t.value for t in item.tags if t.key == "mlflow.data.context"): item
        for item in stored.inputs.dataset_inputs
    }
    assert (
        {item.context for item in run.inputs}
        == set(logged)
        == {
            "training",
            "validation",
            "testing",
        }
    )
    training = run.input("training")
    assert training is not None
    assert training.digest == logged["training"].dataset.digest
    assert training.source_text == logged["training"].dataset.source
    assert training.rows == int(next(t.value for t in logged["training"].tags if t.key == "rows"))


def test_an_unknown_run_says_so_and_how_to_list_runs(binary_run: StoredRun) -> None:
    with pytest.raises(RunNotFoundError, match=r"no run 'nope' in the tracking store sqlite:///"):
        read_run("nope")
    with pytest.raises(RunNotFoundError, match=r"list runs with `mlops-tracking runs`"):
        fetch_run("nope")


def test_search_runs_by_experiment_newest_or_oldest_first(client) -> None:  # type: ignore[no-untyped-def]
    first = client.create_experiment("first")
    second = client.create_experiment("second")
    older = client.create_run(first, start_time=1_000).info.run_id
    newer = client.create_run(first, start_time=2_000).info.run_id
    other = client.create_run(second, start_time=3_000).info.run_id

    assert [run.run_id for run in search_runs("first")] == [newer, older]
    assert [run.run_id for run in search_runs("first", order="oldest")] == [older, newer]
    assert [run.run_id for run in search_runs()] == [other, newer, older]
    assert {run.experiment for run in search_runs()} == {"first", "second"}
    assert runs_with_inputs() == []  # none logged a dataset
    with pytest.raises(RunNotFoundError, match=r"no experiment named 'third'. Experiments: "):
        search_runs("third")
