"""sync between two SQLite stores: a comparison (parent, children, models) read back field by
field in the copy, a second sync that adds nothing, an interrupted copy made again."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import FAST, PARAMS

MODELS = ["logistic_regression", "random_forest"]


@dataclass(frozen=True)
class Stores:
    source: str
    destination: str


@pytest.fixture(scope="module")
def _compared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding one comparison of MODELS (a parent and one child per model)."""
    import mlflow

    from conftest import _reset_mlflow
    from mlops_tracking.core.config import load_config
    from mlops_tracking.runs.comparison import compare_and_log

    folder = tmp_path_factory.mktemp("compared")
    previous = Path.cwd()
    os.chdir(folder)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
    try:
        compare_and_log(load_config(PARAMS, FAST), MODELS, PARAMS)
    finally:
        os.chdir(previous)
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        _reset_mlflow()
        mlflow.set_tracking_uri(None)
    return folder


@pytest.fixture
def stores(_compared: Path, tmp_path: Path) -> Stores:
    """This test's copy of the comparison's database (sync tags the originals) and an empty
    destination store."""
    shutil.copy(_compared / "mlflow.db", tmp_path / "source.db")
    (tmp_path / "moved").mkdir()
    return Stores(f"sqlite:///{tmp_path / 'source.db'}", f"sqlite:///{tmp_path / 'moved' / 'm.db'}")


def run_sync(source: str, destination: str) -> Any:
    from mlops_tracking.core.config import HttpConfig
    from mlops_tracking.sync.transfer import sync_store

    return sync_store(source, destination, HttpConfig(), lambda run: None)


def all_runs(uri: str) -> list[Any]:
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    return list(client.search_runs([e.experiment_id for e in client.search_experiments()]))


def the_copy(original: Any, destination: str) -> Any:
    """The destination run named by the original's ``mlops.sync.copied_to.*`` tag."""
    from mlflow import MlflowClient

    [value] = [v for k, v in original.data.tags.items() if k.startswith("mlops.sync.copied_to.")]
    return MlflowClient(destination).get_run(value.rsplit("/", 1)[-1])


def history(uri: str, run_id: str, key: str) -> list[tuple[int, int, float]]:
    from mlflow import MlflowClient

    metrics = MlflowClient(uri).get_metric_history(run_id, key)
    return sorted((m.step, m.timestamp, m.value) for m in metrics)


def files(uri: str, run_id: str, path: str | None = None) -> list[tuple[str, int | None]]:
    from mlflow import MlflowClient

    found = []
    for entry in MlflowClient(uri).list_artifacts(run_id, path):
        found += files(uri, run_id, entry.path) if entry.is_dir else [(entry.path, entry.file_size)]
    return sorted(found)


def models_of(uri: str, run: Any) -> dict[str, Any]:
    from mlflow import MlflowClient

    found = MlflowClient(uri).search_logged_models(
        [run.info.experiment_id], filter_string=f"source_run_id = '{run.info.run_id}'"
    )
    return {model.name: model for model in found}


def model_files(uri: str, model_id: str) -> list[tuple[str, int | None]]:
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    pending, found = [None], []
    while pending:
        for entry in client.list_logged_model_artifacts(model_id, pending.pop()):
            if entry.is_dir:
                pending.append(entry.path)
            else:
                found.append((entry.path, entry.file_size))
    return sorted(found)


def test_every_field_of_every_run_reads_back_from_the_copy(stores: Stores) -> None:
    summary = run_sync(stores.source, stores.destination)
    originals = all_runs(stores.source)  # read again: sync tagged them
    assert len(originals) == 3
    assert summary.count("copied") == 3
    assert summary.faithful, [run.differences for run in summary.runs]
    copies = {run.info.run_id: the_copy(run, stores.destination) for run in originals}
    for original in originals:
        copy = copies[original.info.run_id]
        assert copy.info.run_id != original.info.run_id
        for field in ("run_name", "status", "start_time", "end_time"):
            assert getattr(copy.info, field) == getattr(original.info, field), field
        assert copy.data.params == original.data.params
        parent = original.data.tags.get("mlflow.parentRunId")
        if parent is not None:
            assert copy.data.tags["mlflow.parentRunId"] == copies[parent].info.run_id
        kept = {
            key: value
            for key, value in original.data.tags.items()
            if not key.startswith("mlops.sync.") and key != "mlflow.parentRunId"
        }
        assert {k: copy.data.tags[k] for k in kept} == kept
        assert copy.data.tags["mlops.sync.source"].endswith(f"/{original.info.run_id}")
        assert set(copy.data.metrics) == set(original.data.metrics)
        for key in original.data.metrics:
            assert history(stores.destination, copy.info.run_id, key) == history(
                stores.source, original.info.run_id, key
            ), key
        assert [
            (d.dataset.digest, d.dataset.name, [(t.key, t.value) for t in d.tags])
            for d in copy.inputs.dataset_inputs
        ] == [
            (d.dataset.digest, d.dataset.name, [(t.key, t.value) for t in d.tags])
            for d in original.inputs.dataset_inputs
        ]
        assert files(stores.destination, copy.info.run_id) == files(
            stores.source, original.info.run_id
        )
        check_models(stores, original, copy)


def check_models(stores: Stores, original: Any, copy: Any) -> None:
    before, after = models_of(stores.source, original), models_of(stores.destination, copy)
    assert set(after) == set(before)
    assert sorted(o.model_id for o in copy.outputs.model_outputs) == sorted(
        m.model_id for m in after.values()
    )
    for name, model in before.items():
        copied = after[name]
        assert copied.model_id != model.model_id
        assert (copied.model_type, str(copied.status)) == (model.model_type, str(model.status))
        assert copied.params == model.params
        assert {k: v for k, v in copied.tags.items() if k != "mlops.sync.source"} == model.tags
        assert model_files(stores.destination, copied.model_id) == model_files(
            stores.source, model.model_id
        )
        linked = sorted(
            (m.key, m.step, m.value, m.dataset_name, m.dataset_digest, m.model_id, m.run_id)
            for m in copied.metrics
        )
        assert linked == sorted(
            (
                m.key,
                m.step,
                m.value,
                m.dataset_name,
                m.dataset_digest,
                copied.model_id,
                copy.info.run_id,
            )
            for m in model.metrics
        )


def test_the_copies_pass_the_audit_in_their_new_store(
    stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    from mlops_tracking.audit.checklist import audit_run

    summary = run_sync(stores.source, stores.destination)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", stores.destination)
    mlflow.set_tracking_uri(stores.destination)
    for run in summary.runs:
        report = audit_run(run.copy_id)
        assert report.passed, [(i.item, i.location) for i in report.missing]


def test_a_second_sync_adds_nothing(stores: Stores) -> None:
    from mlflow import MlflowClient

    first = run_sync(stores.source, stores.destination)
    client = MlflowClient(stores.destination)
    experiments = [e.experiment_id for e in client.search_experiments()]
    before = (
        sorted(run.info.run_id for run in all_runs(stores.destination)),
        sorted(m.model_id for m in client.search_logged_models(experiments)),
        len(client.search_experiments()),
    )
    second = run_sync(stores.source, stores.destination)
    after = (
        sorted(run.info.run_id for run in all_runs(stores.destination)),
        sorted(m.model_id for m in client.search_logged_models(experiments)),
        len(client.search_experiments()),
    )
    assert after == before
    assert (second.count("copied"), second.count("skipped")) == (0, 3)
    assert {run.copy_id for run in second.runs} == {run.copy_id for run in first.runs}


def test_a_copy_interrupted_halfway_is_made_again(stores: Stores) -> None:
    from mlflow import MlflowClient

    from mlops_tracking.sync.id_map import store_id

    child = next(r for r in all_runs(stores.source) if "mlflow.parentRunId" in r.data.tags)
    destination = MlflowClient(stores.destination)
    experiment = MlflowClient(stores.source).get_experiment(child.info.experiment_id)
    target = destination.create_experiment(experiment.name)
    partial = destination.create_run(
        target, tags={"mlops.sync.source": f"{store_id(stores.source)}/{child.info.run_id}"}
    ).info.run_id  # left RUNNING: as if sync died before the end
    summary = run_sync(stores.source, stores.destination)
    assert summary.count("copied") == 3
    assert destination.get_run(partial).info.lifecycle_stage == "deleted"
    copy = the_copy(MlflowClient(stores.source).get_run(child.info.run_id), stores.destination)
    assert copy.info.run_id != partial
    assert copy.info.status == "FINISHED"


def test_the_check_names_what_a_copy_lacks(stores: Stores) -> None:
    from mlflow import MlflowClient

    from mlops_tracking.sync.check import differences
    from mlops_tracking.sync.id_map import IdMap
    from mlops_tracking.sync.replay import Stores as Clients

    summary = run_sync(stores.source, stores.destination)
    run = summary.runs[0]
    source, destination = MlflowClient(stores.source), MlflowClient(stores.destination)
    destination.log_param(run.copy_id, "extra", "1")
    destination.log_metric(
        run.copy_id, next(iter(source.get_run(run.run_id).data.metrics)), 0.5, step=99
    )
    found = differences(
        Clients(
            source,
            destination,
            IdMap("a", "b", runs={r.run_id: r.copy_id or "" for r in summary.runs}),
        ),
        source.get_run(run.run_id),
        destination.get_run(run.copy_id),
    )
    assert any(text.startswith("param extra: not in the original") for text in found), found
    assert any(text.startswith("metric ") and "in the copy" in text for text in found), found
