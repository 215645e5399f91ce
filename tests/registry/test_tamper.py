"""A tampered artifact store: one byte changed in any file of a registered version makes
predict, serve and the gate refuse, naming the file, and no code of the changed file runs.

Each test works on its own copy of the registry template's whole folder (database and
artifacts, with the paths the database records rewritten), so a tampered file never reaches
another test.
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest

from conftest import RegistryStore

NAME = "breast_cancer-binary"


def as_a_new_command() -> None:
    """Forget the checked copies this process holds, as the next command (a new process) would:
    a copy checked at registration stays the one loaded, even after the store changes."""
    from mlops_tracking.registry import predict
    from mlops_tracking.runs import scoring

    predict._load_checked.cache_clear()
    scoring._loaded.cache_clear()


def copy_store(template: Path, target: Path) -> str:
    """Copy a store folder (sqlite database and artifacts) and point its recorded paths at the
    copy; return the copy's tracking URI."""
    shutil.copytree(template, target)
    database = sqlite3.connect(target / "mlflow.db")
    try:
        tables = [
            row[0] for row in database.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        for table in tables:
            for column in database.execute(f'PRAGMA table_info("{table}")').fetchall():
                if column[2].upper().startswith(("VARCHAR", "TEXT")):
                    database.execute(
                        f'UPDATE "{table}" SET "{column[1]}" = replace("{column[1]}", ?, ?)',
                        (f"{template}/", f"{target}/"),
                    )
        database.commit()
    finally:
        database.close()
    return f"sqlite:///{target / 'mlflow.db'}"


@dataclass(frozen=True)
class Registered:
    pyfunc: Path  # the stored files of NAME version 1
    onnx: Path  # the stored files of NAME-onnx version 1
    rows: Path  # a CSV of raw rows to predict


@pytest.fixture
def registered(
    _registry_template: tuple[Path, list[str]],
    registry_store: RegistryStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Registered:
    """The best registry run registered (with its ONNX twin) in this test's copy of the store."""
    import mlflow
    from sklearn.datasets import load_breast_cancer

    from mlops_tracking.core.config import Config
    from mlops_tracking.registry.release import register_run

    template, _ = _registry_template
    uri = copy_store(template, tmp_path / "store")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    done = register_run(registry_store.runs[0], Config().registry)
    assert done.onnx is not None
    as_a_new_command()
    rows = tmp_path / "rows.csv"
    load_breast_cancer(as_frame=True).frame.drop(columns="target").head(8).to_csv(rows, index=False)
    folders = [_stored(ref.name, ref.version) for ref in (done.version, done.onnx)]
    for folder in folders:  # the copy, never the shared template
        assert folder.is_relative_to(tmp_path / "store")
    return Registered(folders[0], folders[1], rows)


def _stored(name: str, version: str) -> Path:
    from mlflow import MlflowClient

    return Path(urlparse(MlflowClient().get_model_version_download_uri(name, version)).path)


def _flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _code_file(folder: Path) -> Path:
    (code,) = list(folder.rglob("deployable_model.py"))
    return code


# (which version, the file's path in it): every kind of file of a registered deployable model
TAMPERED = [
    ("pyfunc", "MLmodel"),
    ("pyfunc", "deployable_model.py"),
    ("pyfunc", "artifacts/pipeline.skops"),
    ("pyfunc", "artifacts/metadata.json"),
    ("pyfunc", "artifacts/pipeline.onnx"),
    ("pyfunc", "artifacts/model_input.py"),
    ("pyfunc", "requirements.txt"),
    ("onnx", "model.onnx"),
    ("onnx", "MLmodel"),
]


def _tamper(registered: Registered, which: str, file: str) -> str:
    """Change one byte of ``file``; return its path relative to the version's folder."""
    folder = registered.pyfunc if which == "pyfunc" else registered.onnx
    path = _code_file(folder) if file == "deployable_model.py" else folder / file
    assert path.is_file(), sorted(p.name for p in folder.rglob("*"))
    _flip_one_byte(path)
    return path.relative_to(folder).as_posix()


@pytest.mark.parametrize(("which", "file"), TAMPERED)
def test_predict_serve_and_the_gate_refuse_a_changed_file_naming_it(
    registered: Registered, which: str, file: str
) -> None:
    from mlflow import MlflowClient

    from mlops_tracking.core.config import Config
    from mlops_tracking.registry.catalog import RegistryError, VersionRef, read_trail
    from mlops_tracking.registry.endpoints import free_port
    from mlops_tracking.registry.predict import batch_predict
    from mlops_tracking.registry.release import promote
    from mlops_tracking.registry.serving import launch
    from mlops_tracking.runs.integrity import IntegrityError

    changed = _tamper(registered, which, file)
    named = rf"version 1 differs from the manifest .*changed: {changed}\b"
    engine = "pyfunc" if which == "pyfunc" else "onnx"

    with pytest.raises(IntegrityError, match=named):
        batch_predict(f"{NAME}/1", registered.rows, None, engine, "tester")
    with pytest.raises(IntegrityError, match=named):
        launch(VersionRef(NAME, "1"), "tester", port=free_port(), engine=engine)
    with pytest.raises(RegistryError, match=rf"the gate refuses .*{named}"):
        promote(Config(), NAME, "staging", version="1", by="tester")

    client = MlflowClient()  # of this test's copy of the store
    assert client.get_experiment_by_name(f"{NAME}-inference") is None  # nothing was predicted
    tags = client.get_model_version(NAME, "1").tags
    assert tags["deployment.status"] == "failed"  # the refused start is recorded; none started
    assert changed in tags["deployment.reason"]
    assert dict(client.get_registered_model(NAME).aliases) == {}
    trail = read_trail(NAME)
    assert [entry.decision for entry in trail if entry.action == "deploy"] == ["failed"]
    (entry,) = [entry for entry in trail if entry.action != "deploy"]
    assert entry.decision == "rejected" and changed in entry.reason


def test_no_code_of_a_changed_model_file_runs(registered: Registered, tmp_path: Path) -> None:
    """A line appended to the stored deployable_model.py would write a marker when loaded."""
    import mlflow

    from mlops_tracking.core.config import Config
    from mlops_tracking.registry.catalog import RegistryError, VersionRef
    from mlops_tracking.registry.endpoints import free_port
    from mlops_tracking.registry.predict import batch_predict
    from mlops_tracking.registry.release import promote
    from mlops_tracking.registry.serving import launch
    from mlops_tracking.runs.integrity import IntegrityError

    marker = tmp_path / "the-changed-code-ran"
    code = _code_file(registered.pyfunc)
    with code.open("a", encoding="utf-8") as stream:
        stream.write(f"\nimport pathlib; pathlib.Path({str(marker)!r}).write_text('ran')\n")

    with pytest.raises(IntegrityError, match=r"changed: .*deployable_model\.py"):
        batch_predict(f"{NAME}/1", registered.rows, None, "pyfunc", "tester")
    with pytest.raises(IntegrityError, match=r"deployable_model\.py"):
        launch(VersionRef(NAME, "1"), "tester", port=free_port())
    with pytest.raises(RegistryError, match=r"deployable_model\.py"):
        promote(Config(), NAME, "staging", version="1", by="tester")
    assert not marker.exists()

    mlflow.pyfunc.load_model(str(registered.pyfunc))  # loading unchecked runs it: the line works
    assert marker.read_text() == "ran"


def test_a_removed_or_added_file_is_named(registered: Registered) -> None:
    from mlops_tracking.registry.predict import batch_predict
    from mlops_tracking.runs.integrity import IntegrityError

    (registered.pyfunc / "artifacts" / "model_input.py").unlink()
    (registered.pyfunc / "artifacts" / "sitecustomize.py").write_text("import os\n")

    with pytest.raises(
        IntegrityError,
        match=r"missing: artifacts/model_input\.py; not in the manifest: artifacts/sitecustomize",
    ):
        batch_predict(f"{NAME}/1", registered.rows, None, "pyfunc", "tester")


def test_an_intact_version_is_predicted_from_the_checked_copy(registered: Registered) -> None:
    import pandas as pd
    from mlflow import MlflowClient

    from mlops_tracking.registry.predict import batch_predict

    done = batch_predict(f"{NAME}/1", registered.rows, None, "onnx", "tester")

    assert len(pd.read_csv(done.output)) == 8
    assert MlflowClient().get_run(done.run_id).info.status == "FINISHED"


def test_the_cli_exits_2_naming_the_file(registered: Registered) -> None:
    from typer.testing import CliRunner

    from mlops_tracking.cli.app import app

    _tamper(registered, "pyfunc", "artifacts/pipeline.skops")
    runner = CliRunner()

    predicted = runner.invoke(app, ["predict", f"{NAME}/1", "--input", str(registered.rows)])
    served = runner.invoke(app, ["serve", f"{NAME}/1", "--port", "5999"])

    for result in (predicted, served):
        assert result.exit_code == 2, result.output
        assert "changed: artifacts/pipeline.skops" in " ".join(result.output.split())
        assert "Traceback" not in result.output


def test_reproduce_refuses_a_changed_registered_model(
    registered: Registered, registry_store: RegistryStore
) -> None:
    from mlops_tracking.runs.integrity import IntegrityError, logged_model_copy
    from mlops_tracking.runs.recorded import read_run

    run = registry_store.runs[0]
    _tamper(registered, "pyfunc", "artifacts/metadata.json")

    with (
        pytest.raises(IntegrityError, match=r"changed: artifacts/metadata\.json"),
        logged_model_copy(read_run(run).tags["model_uri.pyfunc"], run),
    ):
        pytest.fail("a changed model must not be handed out")


@pytest.mark.slow
def test_the_predict_command_refuses_appended_code_without_running_it(
    registered: Registered, tmp_path: Path
) -> None:
    """The attack as an operator tried it: a line appended to the stored model code."""
    import os

    from conftest import cli

    marker = tmp_path / "the-changed-code-ran"
    with _code_file(registered.pyfunc).open("a", encoding="utf-8") as stream:
        stream.write(f"\nimport pathlib; pathlib.Path({str(marker)!r}).write_text('ran')\n")

    result = cli("predict", f"{NAME}/1", "--input", str(registered.rows), env=dict(os.environ))

    assert result.returncode == 2, result.stdout + result.stderr
    assert "deployable_model.py" in " ".join(result.stdout.split())
    assert "Traceback" not in result.stdout + result.stderr
    assert not marker.exists()
