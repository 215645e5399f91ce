"""``reproduce``: re-train from what a run recorded, refuse when that cannot be faithful."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import FAST, PARAMS, StoredRun, cli, write_csv
from mlops_tracking.pipeline.reproduce import (
    MetricCheck,
    Reproduction,
    ReproductionError,
    code_differences,
    reproduce_run,
)

QUICK = [*FAST, "model.name=logistic_regression", "tracking.system_metrics=false"]


def _train(*overrides: str) -> str:
    from mlops_tracking.core.config import load_config
    from mlops_tracking.runs.workflow import train_and_log

    return train_and_log(load_config(PARAMS, [*QUICK, *overrides]), PARAMS).run_id


def test_an_unchanged_run_reproduces_exactly_and_the_store_says_so(client) -> None:  # type: ignore[no-untyped-def]
    original = _train()
    result = reproduce_run(original, say=lambda _: None)

    assert result.exact and result.matched
    assert {check.name for check in result.checks} >= {"test_log_loss", "validation_roc_auc"}
    assert not any("seconds" in c.name or c.name.startswith("system/") for c in result.checks)
    # read back: the new run's metrics equal the original's, and it says what it reproduces
    before, after = client.get_run(original), client.get_run(result.run_id)
    for check in result.checks:
        assert after.data.metrics[check.name] == before.data.metrics[check.name]
    assert after.data.tags["mlops.reproduces"] == original
    assert after.data.tags["mlops.reproduction"] == "exact"
    assert result.model is not None and result.model.agreed
    assert after.data.tags["mlops.reproduction.logged_model"] == "agrees"
    assert after.info.experiment_id == before.info.experiment_id
    assert after.info.run_name == f"{before.info.run_name}-reproduction"
    assert after.inputs.dataset_inputs[0].dataset.digest in {
        item.dataset.digest for item in before.inputs.dataset_inputs
    }
    saved = json.loads(
        Path(client.download_artifacts(result.run_id, "reproduction/comparison.json")).read_text()
    )
    assert saved["original_run_id"] == original
    assert {m["name"] for m in saved["metrics"]} == {c.name for c in result.checks}
    # trained outside a DVC repository: recorded as such, not an error
    assert before.data.tags["dvc.available"] == "false"
    assert "no .dvc folder" in before.data.tags["dvc.reason"]


def test_the_logged_model_of_a_table_with_integer_columns_scores_the_rebuilt_split(
    tmp_path: Path, client
) -> None:  # type: ignore[no-untyped-def]
    # `visits` is an integer column (long in the signature, float64 in the rebuilt split) and
    # `plan` a category with gaps: the logged model reads them through its own input rules
    data = write_csv(tmp_path / "churn.csv", rows=150)
    original = _train(f"data.path={data}", "data.target=churned", "tracking.model_formats=[pyfunc]")
    said: list[str] = []

    result = reproduce_run(original, say=said.append)

    assert result.model is not None
    assert (result.model.rows, result.model.agreeing) == (30, 30)
    assert result.model.largest_difference < 1e-5  # the ONNX engine computes in float32
    assert any("the logged deployable model gives the recorded test predictions" in s for s in said)
    saved = json.loads(
        Path(client.download_artifacts(result.run_id, "reproduction/comparison.json")).read_text()
    )
    assert saved["logged_model"]["agreeing"] == 30
    assert client.get_run(result.run_id).data.tags["mlops.reproduction.logged_model"] == "agrees"


def test_changed_csv_data_is_refused_naming_the_split_and_file(tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    from conftest import count_runs

    data = write_csv(tmp_path / "churn.csv", rows=150)
    original = _train(f"data.path={data}", "data.target=churned")
    write_csv(data, rows=150, seed=1)  # the file is edited in place after the run
    runs = count_runs()
    with pytest.raises(ReproductionError) as refused:
        reproduce_run(original, say=lambda _: None)
    message = str(refused.value)
    assert "the train split differs" in message
    assert str(data) in message
    assert "Restore that data version" in message
    assert count_runs() == runs  # refused before any run was created


def _edited_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the package source that the current checkout claims to be, to edit."""
    from mlops_tracking.core import environment

    edited = tmp_path / "edited"
    shutil.copytree(environment.package_source_dir(), edited)
    monkeypatch.setattr(environment, "package_source_dir", lambda: edited)
    return edited


def test_changed_code_is_refused_naming_the_files(
    binary_run: StoredRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = binary_run.run_id  # the code check comes first: no run is trained
    edited = _edited_source(tmp_path, monkeypatch)
    (edited / "core" / "training.py").write_text("# changed\n")
    with pytest.raises(
        ReproductionError, match=r"the code differs .*core/training\.py \(changed\)"
    ):
        reproduce_run(original, say=lambda _: None)


def test_a_run_logged_before_a_module_moved_is_refused_naming_the_move(
    binary_run: StoredRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = binary_run.run_id
    edited = _edited_source(tmp_path, monkeypatch)
    (edited / "registry" / "gate.py").rename(edited / "core" / "gate.py")
    with pytest.raises(ReproductionError) as refused:
        reproduce_run(original, say=lambda _: None)
    message = str(refused.value)
    assert "registry/gate.py (moved to core/gate.py)" in message
    assert "reorganised since that run (1 module moved)" in message
    assert "(added)" not in message and "(removed)" not in message


def test_code_differences_names_moved_files_by_their_unique_name(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    for root, folder in ((old, old), (new, new / "registry")):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "gate.py").write_text("x = 1\n")
        (root / "a").mkdir()
        (root / "a" / "__init__.py").write_text("")
    (new / "b").mkdir()
    (new / "b" / "__init__.py").write_text("")  # a second __init__.py: not a move of a/
    assert code_differences(old, new) == [
        "gate.py (moved to registry/gate.py)",
        "b/__init__.py (added)",
    ]


def test_code_differences_names_changed_added_and_removed_files(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    for root in (old, new):
        (root / "pkg").mkdir(parents=True)
        (root / "pkg" / "same.py").write_text("x = 1\n")
    (old / "pkg" / "edit.py").write_text("a\n")
    (new / "pkg" / "edit.py").write_text("b\n")
    (old / "gone.py").write_text("")
    (new / "extra.py").write_text("")
    (new / "notes.txt").write_text("not code")
    assert code_differences(old, new) == [
        "pkg/edit.py (changed)",
        "extra.py (added)",
        "gone.py (removed)",
    ]


def _result(*checks: MetricCheck, tolerance: float = 0.0) -> Reproduction:
    from mlops_tracking.runs.recorded import RecordedRun

    original = RecordedRun("r0", "name", "1", "exp", "FINISHED", 0, {}, {}, ())
    return Reproduction(original, "r1", tolerance, checks, ())


def test_the_verdict_follows_the_tolerance() -> None:
    exact = _result(MetricCheck("test_f1", 0.9, 0.9))
    assert exact.exact and exact.matched and "match exactly" in exact.verdict
    close = _result(MetricCheck("test_f1", 0.9, 0.9 + 1e-12), tolerance=1e-9)
    assert close.matched and not close.exact and "within tolerance" in close.verdict
    far = _result(MetricCheck("test_f1", 0.9, 0.91), tolerance=1e-9)
    assert not far.matched and "DIFFERS" in far.verdict and "test_f1" in far.verdict
    lost = _result(MetricCheck("test_f1", 0.9, None), tolerance=1.0)
    assert not lost.matched
    nan = _result(MetricCheck("test_roc_auc", float("nan"), float("nan")))
    assert nan.exact


@pytest.mark.slow
def test_reproduce_exits_2_for_an_unknown_run_or_one_without_records(client) -> None:  # type: ignore[no-untyped-def]
    unknown = cli("reproduce", "0123456789abcdef0123456789abcdef")
    assert unknown.returncode == 2
    assert "no run '0123456789abcdef0123456789abcdef'" in unknown.stdout

    experiment = client.create_experiment("bare")
    bare = client.create_run(experiment).info.run_id
    client.set_terminated(bare)
    missing = cli("reproduce", bare)
    assert missing.returncode == 2
    assert "recorded no config/resolved.yaml" in missing.stdout

    parent = client.create_run(experiment, tags={"mlops.run_type": "comparison"}).info.run_id
    client.set_terminated(parent)
    comparison = cli("reproduce", parent, env={**os.environ, "COLUMNS": "1000"})
    assert comparison.returncode == 2
    assert "is a comparison run" in comparison.stdout
    assert "reproduce one of its child runs" in comparison.stdout
