"""package: MLflow's Dockerfile and the version's files, checked against its manifest."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from conftest import RegistryStore

pytestmark = pytest.mark.slow


def _cli(*args: str) -> tuple[int, str]:
    from typer.testing import CliRunner

    from mlops_tracking.cli.app import app

    result = CliRunner().invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())


def test_package_writes_a_build_context_that_matches_the_registered_manifest(
    registry_store: RegistryStore, client, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.core.config import Config
    from mlops_tracking.core.manifest import file_digest
    from mlops_tracking.registry.release import register_run
    from mlops_tracking.runs.integrity import recorded_manifest

    version = register_run(registry_store.runs[0], Config().registry).version
    reference = f"{version.name}/{version.version}"
    out = tmp_path / "package"
    code, output = _cli("package", reference, "--out", str(out))
    assert code == 0, output
    assert "every model file matched the registered manifest" in output
    dockerfile = (out / "Dockerfile").read_text(encoding="utf-8")
    assert "COPY model_dir/artifacts /opt/ml/model" in dockerfile
    assert "mlflow==3.17.2" in dockerfile and "_serve('local')" in dockerfile
    # every packaged file, as the manifest file lists it, is the file registered
    recorded = recorded_manifest(client.get_model_version(version.name, version.version))
    assert recorded
    listed = {}
    for line in (out / "MANIFEST.sha256").read_text(encoding="utf-8").splitlines():
        digest, path = line.split("  ", 1)
        assert file_digest(out / path) == digest
        listed[path.removeprefix("model_dir/artifacts/")] = digest
    assert listed == recorded
    requirements = (out / "requirements.txt").read_text(encoding="utf-8").split()
    pins = dict(line.split("==") for line in requirements)
    assert len(pins) == len(requirements)  # all exact
    for package in ("mlflow", "scikit-learn", "pandas"):
        assert pins[package] == importlib.metadata.version(package)
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "sha256sum -c MANIFEST.sha256" in readme and "docker build" in readme
    tags = client.get_model_version(version.name, version.version).tags
    assert len(tags["package.sha256"]) == 64 and "package.written_at" in tags
    # a second package into the same folder is refused without --force
    code, output = _cli("package", reference, "--out", str(out))
    assert code == 2 and "--force" in output
    assert _cli("package", reference, "--out", str(out), "--force")[0] == 0


def test_a_changed_store_file_or_a_bad_reference_writes_nothing(
    registry_store: RegistryStore, client, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.core.config import Config
    from mlops_tracking.registry.release import register_run

    version = register_run(registry_store.runs[0], Config().registry).version
    source = Path(
        client.get_model_version_download_uri(version.name, version.version).removeprefix("file://")
    )
    changed = source / "python_env.yaml"
    original = changed.read_bytes()  # the template's artifacts are shared: put it back after
    changed.write_text("python: 3.11\n# changed\n", encoding="utf-8")
    out = tmp_path / "package"
    try:
        code, output = _cli("package", f"{version.name}/{version.version}", "--out", str(out))
    finally:
        changed.write_bytes(original)
    assert code == 2 and "python_env.yaml" in output, output
    code, output = _cli("package", "nope/1", "--out", str(out))
    assert code == 2 and "no registered model named 'nope'" in output
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".package")] == []
