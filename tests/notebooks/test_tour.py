"""The notebook tour runs top to bottom in a real kernel, and its store holds what it logged.

The kernel is the one a reader gets from the project's environment: ``python3``, ipykernel's
own kernel, which jupyter_client starts with this interpreter (``sys.executable``), so no
``jupyter kernelspec install`` is needed. No Jupyter server runs under nbclient, so the test
sets what Jupyter Server sets in a kernel's environment, ``JPY_SESSION_NAME`` (the notebook's
path): that is how the project finds the notebook to copy into its run.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO

NOTEBOOK = REPO / "notebooks" / "tour.ipynb"
TOUR_RUN = "sgd-breast_cancer"
REGISTERED = "tutorial-tour-classifier"


def _execute(notebook: Path, scratch: Path) -> Any:
    """Run every cell of ``notebook`` in a fresh kernel started in the notebook's folder.

    ``TMPDIR`` makes the tour's temporary store land in ``scratch``; the tour picks its store
    itself, so the test's own ``MLFLOW_TRACKING_URI`` is not passed on.
    """
    import nbformat
    from nbclient import NotebookClient

    env = {
        **{key: value for key, value in os.environ.items() if key != "MLFLOW_TRACKING_URI"},
        "TMPDIR": str(scratch),
        "JPY_SESSION_NAME": str(notebook),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PYTHONWARNINGS": "ignore",
    }
    document = nbformat.read(notebook, as_version=4)
    client = NotebookClient(
        document,
        kernel_name="python3",
        timeout=240,
        resources={"metadata": {"path": str(notebook.parent)}},
    )
    return client.execute(env=env)


def _outputs_text(cell: Any) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if "text" in output:
            parts.append(output["text"])
        parts.extend(str(value) for value in output.get("data", {}).values())
    return "\n".join(parts)


@pytest.fixture(scope="module")
def executed_tour(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """The executed notebook and the tour's store (one execution for this module's tests)."""
    scratch = tmp_path_factory.mktemp("tour")
    before = sorted(path.name for path in NOTEBOOK.parent.iterdir())
    executed = _execute(NOTEBOOK, scratch)
    after = sorted(path.name for path in NOTEBOOK.parent.iterdir())
    assert after == before, "the tour wrote into notebooks/"
    stores = list(scratch.glob("mlflow-tour-*/mlflow.db"))
    assert len(stores) == 1, f"expected one tour store under {scratch}, found {stores}"
    return executed, stores[0]


@pytest.fixture
def tour_store(executed_tour: tuple[Any, Path], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, str]:
    import mlflow

    executed, database = executed_tour
    uri = f"sqlite:///{database}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    return executed, uri


@pytest.mark.slow
def test_the_tour_run_holds_every_item_it_logs(tour_store: tuple[Any, str]) -> None:
    from mlflow import MlflowClient
    from mlflow.models import get_model_info

    _, uri = tour_store
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("tutorial-tour")
    assert experiment is not None
    assert (
        Path(experiment.artifact_location.removeprefix("file://")).parent
        == Path(uri.removeprefix("sqlite:///")).parent
    )
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == TOUR_RUN
    assert run.info.status == "FINISHED"
    # 1 metrics: a curve with one point per epoch, and final scores
    history = client.get_metric_history(run.info.run_id, "val_loss")
    assert [point.step for point in history] == list(range(1, 21))
    assert len(client.get_metric_history(run.info.run_id, "train_loss")) == 20
    assert run.data.metrics["test_roc_auc"] > 0.95
    # 2 parameters, 5 tags, 6 source
    assert run.data.params["model.epochs"] == "20"
    assert run.data.params["features.scaling"] == "standard"
    assert run.data.tags["model.family"] == "sgd"
    assert run.data.tags["mlflow.note.content"].startswith("Logistic regression by SGD")
    assert run.data.tags["mlflow.source.type"] == "NOTEBOOK"
    assert len(run.data.tags["mlflow.source.git.commit"]) == 40
    # 3 artifacts, 7 outputs, 8 custom objects
    files = {item.path for item in client.list_artifacts(run.info.run_id)}
    assert {"confusion_matrix.png", "predictions", "objects", "model"} <= files
    table = client.load_table(experiment.experiment_id, "predictions/test_predictions.json")
    assert list(table.columns) == ["id", "truth", "prediction", "probability"]
    assert len(table) == 114
    mapping = json.loads(
        Path(client.download_artifacts(run.info.run_id, "objects/label_mapping.json")).read_text()
    )
    assert mapping["0"] == "malignant"
    assert "test_confident_share" in run.data.metrics
    # 7 inputs: three splits with their roles
    contexts = {
        dataset_input.dataset.name: dataset_input.tags[0].value
        for dataset_input in run.inputs.dataset_inputs
    }
    assert contexts == {
        "breast_cancer-train": "training",
        "breast_cancer-validation": "validation",
        "breast_cancer-test": "testing",
    }
    # 4 models: a LoggedModel of this run, with the sklearn flavor and a signature
    (model,) = client.search_logged_models([experiment.experiment_id])
    assert model.name == "sgd-sklearn"
    assert model.source_run_id == run.info.run_id
    assert str(model.status) == "READY"
    info = get_model_info(model.model_uri)
    assert {"sklearn", "python_function"} <= set(info.flavors)
    assert info.signature is not None
    # 9 registry: version 1 under its alias
    version = client.get_model_version_by_alias(REGISTERED, "champion")
    assert str(version.version) == "1"
    assert version.source == model.model_uri  # models:/m-...: the LoggedModel itself
    assert version.run_id == run.info.run_id


@pytest.mark.slow
def test_the_project_run_from_the_notebook_holds_the_notebook_and_passes_its_audit(
    tour_store: tuple[Any, str],
) -> None:
    from mlflow import MlflowClient

    from mlops_tracking.audit.checklist import audit_run

    executed, uri = tour_store
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("breast_cancer-binary")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.tags["mlflow.source.type"] == "NOTEBOOK"
    # the run names its notebook as its source (the UI's Source field), not ipykernel's launcher
    assert run.data.tags["mlflow.source.name"] == str(NOTEBOOK)
    artifacts = [item.path for item in client.list_artifacts(run.info.run_id, "source")]
    assert "source/entry_point" not in artifacts
    copied = client.download_artifacts(run.info.run_id, "source/notebook/tour.ipynb")
    assert Path(copied).read_bytes() == NOTEBOOK.read_bytes()
    python = json.loads(
        Path(client.download_artifacts(run.info.run_id, "environment/python.json")).read_text()
    )
    assert python["executable"] == sys.executable  # the kernel ran the project's interpreter

    report = audit_run(run.info.run_id)
    notebook = next(item for item in report.items if item.item == "Notebook")
    assert notebook.status == "present"
    assert "source/notebook/tour.ipynb" in notebook.location
    assert report.passed, [item for item in report.items if item.failed]
    (audit_cell,) = [cell for cell in executed.cells if "audit_run(" in cell.source]
    printed = _outputs_text(audit_cell)
    assert "Notebook: present" in printed
    assert "Audit: PASS" in printed


def test_the_committed_notebook_has_no_outputs() -> None:
    import nbformat

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code, "the tour has no code cells"
    assert all(cell.outputs == [] for cell in code)
    assert all(cell.execution_count is None for cell in code)
    assert notebook.metadata.kernelspec.name == "python3"
