"""Rebuilding a run's inputs from its records, proven by the digests it logged."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import FAST, PARAMS, write_csv
from mlops_tracking.runs.rebuild import RebuildError, rebuild_inputs, recorded_config
from mlops_tracking.runs.recorded import read_run

# Rebuilding reads data, not models: one model format keeps the runs quick.
QUICK = [
    *FAST,
    "model.name=logistic_regression",
    "tracking.system_metrics=false",
    "tracking.model_formats=[sklearn]",
]


def _train_on_csv(folder: Path, path: str) -> str:
    from mlops_tracking.core.config import load_config
    from mlops_tracking.runs.workflow import train_and_log

    config = load_config(PARAMS, [*QUICK, f"data.path={path}", "data.target=churned"])
    return train_and_log(config, PARAMS).run_id


def _rebuild(run_id: str, scratch: Path, contexts: tuple[str, ...] = ("testing",)):  # type: ignore[no-untyped-def]
    run = read_run(run_id)
    return rebuild_inputs(run, recorded_config(run, scratch), scratch, contexts)


def test_inputs_are_rebuilt_proven_by_digest_and_refused_once_the_data_changes(
    tmp_path: Path, client
) -> None:  # type: ignore[no-untyped-def]
    data = write_csv(tmp_path / "churn.csv", rows=150)
    run_id = _train_on_csv(tmp_path, "churn.csv")  # relative: the directory the run started in
    logged = {
        next(t.value for t in item.tags if t.key == "mlflow.data.context"): item.dataset.digest
        for item in client.get_run(run_id).inputs.dataset_inputs
    }
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.chdir(elsewhere)  # the relative path now misses; the source URI the run logged does not

    config = recorded_config(read_run(run_id), tmp_path / "config")
    assert config.data.path is not None and not config.data.path.exists()
    rebuilt = _rebuild(run_id, tmp_path / "scratch")
    assert rebuilt.digests == {"testing": logged["testing"]}
    every = _rebuild(run_id, tmp_path / "scratch2", ("training", "validation", "testing"))
    assert every.digests == logged
    assert len(every.inputs.splits.test) == len(rebuilt.inputs.splits.test)

    write_csv(data, rows=150, seed=1)  # edited in place after the run
    with pytest.raises(RebuildError, match=r"the test split differs from what run .* used"):
        _rebuild(run_id, tmp_path / "scratch3")
    data.unlink()
    with pytest.raises(RebuildError, match=r"churn\.csv no longer exists .*restore it"):
        _rebuild(run_id, tmp_path / "scratch4")


def test_a_run_without_a_recorded_config_cannot_be_rebuilt(tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    bare = client.create_run(client.create_experiment("bare")).info.run_id
    with pytest.raises(RebuildError, match=r"recorded no config/resolved\.yaml"):
        recorded_config(read_run(bare), tmp_path)


def test_pipeline_data_outside_its_dvc_repository_is_refused_unless_a_config_rebuild_is_allowed(
    tmp_path: Path,
) -> None:
    """``reproduce`` needs the recorded DVC versions; the gate takes any route a digest proves."""
    from mlops_tracking.core.config import load_config
    from mlops_tracking.runs.datasets import to_mlflow_dataset
    from mlops_tracking.runs.recorded import RecordedInput, RecordedRun
    from mlops_tracking.runs.workflow import load_inputs

    config = load_config(PARAMS, QUICK)
    inputs = load_inputs(config)
    contexts = {"train": "training", "validation": "validation", "test": "testing"}
    logged = tuple(
        RecordedInput(
            name=f"breast_cancer-{split.name}",
            digest=str(to_mlflow_dataset(inputs.dataset, split).digest),
            context=contexts[split.name],
            rows=None,
            source_type="dvc",
            source={"path": f"data/features/{split.name}.csv", "md5": "0" * 32},
        )
        for split in inputs.splits
    )
    run = RecordedRun("r1", "pipeline-run", "1", "e", "FINISHED", 0, {}, {}, logged)
    assert not (tmp_path / ".dvc").exists()  # the working directory is no DVC repository

    with pytest.raises(RebuildError, match=r"trained on DVC-versioned data; run this inside"):
        rebuild_inputs(run, config, tmp_path / "strict", ("testing",))
    rebuilt = rebuild_inputs(run, config, tmp_path / "lenient", ("testing",), config_fallback=True)
    assert rebuilt.digests == {"testing": logged[2].digest}
    assert rebuilt.notes[0].startswith("data: rebuilt from the recorded config")
