"""The integrity manifest: built, spelled and compared (pure), recorded at registration and
checked before loading (store)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from conftest import ForeignStore, RegistryStore
from mlops_tracking.core.manifest import (
    Differences,
    ManifestFormatError,
    build_manifest,
    canonical,
    compare,
    manifest_digest,
    parse_manifest,
)


def as_a_new_command() -> None:
    """Forget the checked copies this process holds, as the next command (a new process) would:
    a copy checked at registration stays the one loaded, even after the store changes."""
    from mlops_tracking.registry import predict
    from mlops_tracking.runs import scoring

    predict._load_checked.cache_clear()
    scoring._loaded.cache_clear()


# --- the manifest (pure) --------------------------------------------------------------------


def _folder(root: Path) -> Path:
    (root / "artifacts" / "code").mkdir(parents=True)
    (root / "MLmodel").write_text("flavors: {}\n")
    (root / "artifacts" / "pipeline.skops").write_bytes(b"\x00\x01\x02")
    (root / "artifacts" / "code" / "rules.py").write_text("X = 1\n")
    return root


def test_a_manifest_lists_every_file_by_relative_path_with_its_sha256(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "model")

    manifest = build_manifest(folder)

    assert list(manifest) == ["MLmodel", "artifacts/code/rules.py", "artifacts/pipeline.skops"]
    assert manifest["artifacts/pipeline.skops"] == hashlib.sha256(b"\x00\x01\x02").hexdigest()
    assert manifest["MLmodel"] == hashlib.sha256(b"flavors: {}\n").hexdigest()


def test_the_canonical_form_and_digest_do_not_depend_on_key_order() -> None:
    first = {"b": "1" * 64, "a": "2" * 64}
    second = {"a": "2" * 64, "b": "1" * 64}

    assert canonical(first) == canonical(second) == json.dumps(second, separators=(",", ":"))
    assert manifest_digest(first) == hashlib.sha256(canonical(second).encode()).hexdigest()
    assert manifest_digest(first) != manifest_digest({**first, "a": "3" * 64})


def test_compare_names_changed_missing_and_extra_files(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "model")
    recorded = build_manifest(folder)
    (folder / "MLmodel").write_text("flavors: {python_function: {}}\n")
    (folder / "artifacts" / "code" / "rules.py").unlink()
    (folder / "artifacts" / "extra.py").write_text("import os\n")

    differences = compare(recorded, build_manifest(folder))

    assert differences == Differences(
        changed=("MLmodel",), missing=("artifacts/code/rules.py",), extra=("artifacts/extra.py",)
    )
    assert differences.describe() == (
        "changed: MLmodel; missing: artifacts/code/rules.py; "
        "not in the manifest: artifacts/extra.py"
    )
    assert not compare(recorded, recorded)


def test_one_byte_changes_the_digest_of_a_file(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "model")
    recorded = build_manifest(folder)
    data = bytearray((folder / "artifacts" / "pipeline.skops").read_bytes())
    data[1] ^= 0x01
    (folder / "artifacts" / "pipeline.skops").write_bytes(bytes(data))

    assert compare(recorded, build_manifest(folder)).changed == ("artifacts/pipeline.skops",)


def test_a_long_list_of_differences_is_cut_with_a_count() -> None:
    differences = Differences(changed=tuple(f"f{i}" for i in range(8)))

    assert differences.describe(limit=3) == "changed: f0, f1, f2 and 5 more"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not JSON"),
        ("[]", "non-empty JSON object"),
        ("{}", "non-empty JSON object"),
        ('{"../MLmodel": "' + "0" * 64 + '"}', "not relative"),
        ('{"/etc/passwd": "' + "0" * 64 + '"}', "not relative"),
        ('{"MLmodel": "abc"}', "not a SHA-256"),
        ('{"MLmodel": "' + "G" * 64 + '"}', "not a SHA-256"),
    ],
)
def test_a_recorded_manifest_that_is_not_one_is_refused(text: str, message: str) -> None:
    with pytest.raises(ManifestFormatError, match=message):
        parse_manifest(text)


def test_a_canonical_manifest_reads_back_as_itself(tmp_path: Path) -> None:
    manifest = build_manifest(_folder(tmp_path / "model"))

    assert parse_manifest(canonical(manifest)) == manifest


# --- recorded at registration ---------------------------------------------------------------


def _register(registry_store: RegistryStore):  # type: ignore[no-untyped-def]
    from mlops_tracking.core.config import Config
    from mlops_tracking.registry.release import register_run

    done = register_run(registry_store.runs[0], Config().registry)
    as_a_new_command()
    return done


def _stored_files(client, name: str, version: str) -> Path:  # type: ignore[no-untyped-def]
    from urllib.parse import urlparse

    return Path(urlparse(client.get_model_version_download_uri(name, version)).path)


def test_register_records_the_manifest_of_the_version_and_of_its_onnx_twin(
    registry_store: RegistryStore, client
) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.runs.integrity import DIGEST_TAG, MANIFEST_TAG

    done = _register(registry_store)

    for ref in (done.version, done.onnx):
        assert ref is not None
        tags = client.get_model_version(ref.name, ref.version).tags
        manifest = json.loads(tags[MANIFEST_TAG])
        assert manifest == build_manifest(_stored_files(client, ref.name, ref.version))
        assert tags[DIGEST_TAG] == manifest_digest(manifest)
    pyfunc = json.loads(client.get_model_version(done.version.name, "1").tags[MANIFEST_TAG])
    assert {"MLmodel", "requirements.txt", "artifacts/metadata.json"} <= set(pyfunc)
    assert {"artifacts/pipeline.skops", "artifacts/pipeline.onnx"} <= set(pyfunc)
    assert any(path.endswith("deployable_model.py") for path in pyfunc)
    assert "registered_model_meta" not in pyfunc  # MLflow adds it to models:/ downloads only


def test_a_manifest_too_long_for_a_tag_is_a_run_artifact_proven_by_the_tag(
    registry_store: RegistryStore, client
) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.runs.integrity import (
        ARTIFACT_TAG,
        DIGEST_TAG,
        MANIFEST_TAG,
        record_manifest,
        verified_copy,
    )

    done = _register(registry_store)
    name, version = done.version.name, done.version.version

    digest = record_manifest(name, version, limit=100)

    tags = client.get_model_version(name, version).tags
    assert MANIFEST_TAG not in tags and tags[DIGEST_TAG] == digest
    assert tags[ARTIFACT_TAG] == f"integrity/{name}-v{version}.json"
    stored = client.download_artifacts(registry_store.runs[0], tags[ARTIFACT_TAG], ".")
    assert manifest_digest(json.loads(Path(stored).read_text())) == digest
    assert verified_copy(name, version).digest == digest


def test_a_verified_copy_is_a_local_copy_of_the_stored_files(
    registry_store: RegistryStore, client
) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.runs.integrity import verified_copy

    done = _register(registry_store)
    stored = _stored_files(client, done.version.name, "1")

    copy = verified_copy(done.version.name, "1")

    assert copy.path != stored and not copy.path.is_relative_to(stored)
    assert build_manifest(copy.path) == build_manifest(stored)
    assert copy.path.parent.stat().st_mode & 0o077 == 0  # private to this user


# --- checked before loading -----------------------------------------------------------------


def test_a_version_without_a_manifest_is_refused_with_how_to_record_one(
    registry_store: RegistryStore, client
) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from mlops_tracking.cli.app import app
    from mlops_tracking.registry.predict import predict_with
    from mlops_tracking.runs.integrity import DIGEST_TAG, MANIFEST_TAG, IntegrityError

    done = _register(registry_store)
    name = done.version.name
    for ref in (done.version, done.onnx):  # as registered before manifests were recorded
        assert ref is not None
        client.delete_model_version_tag(ref.name, ref.version, DIGEST_TAG)
        client.delete_model_version_tag(ref.name, ref.version, MANIFEST_TAG)

    with pytest.raises(IntegrityError, match=rf"register --manifest {name}/1"):
        predict_with(done.version, _rows())

    result = CliRunner().invoke(app, ["register", "--manifest", f"{name}/1"])
    assert result.exit_code == 0, result.output
    assert f"{name}-onnx version" in result.output or f"{name}-onnx/1" in result.output
    for ref in (done.version, done.onnx):
        assert ref is not None
        assert DIGEST_TAG in client.get_model_version(ref.name, ref.version).tags
    assert len(predict_with(done.version, _rows())) == 5
    again = CliRunner().invoke(app, ["register", "--manifest", f"{name}/1"])
    assert again.exit_code == 2 and "already has an integrity manifest" in again.output


def test_a_changed_manifest_tag_is_refused(registry_store: RegistryStore, client) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.runs.integrity import MANIFEST_TAG, IntegrityError, verified_copy

    done = _register(registry_store)
    name = done.version.name
    manifest = json.loads(client.get_model_version(name, "1").tags[MANIFEST_TAG])
    manifest["MLmodel"] = "0" * 64
    client.set_model_version_tag(name, "1", MANIFEST_TAG, canonical(manifest))

    with pytest.raises(IntegrityError, match=r"does not have the digest in its integrity.sha256"):
        verified_copy(name, "1")


def test_a_trust_list_naming_a_type_the_project_never_fits_is_refused(tmp_path: Path) -> None:
    from mlops_tracking.runs.integrity import IntegrityError, check_trust_list

    (tmp_path / "artifacts").mkdir()
    metadata = tmp_path / "artifacts" / "metadata.json"
    metadata.write_text(json.dumps({"trusted_types": ["sklearn.tree._tree.Tree"]}))
    check_trust_list(tmp_path, "m version 1")  # the types of the estimators the project fits
    metadata.write_text(json.dumps({"trusted_types": ["sklearn.tree._tree.Tree", "os.system"]}))

    with pytest.raises(IntegrityError, match=r"m version 1: .*never fits \(os.system\)"):
        check_trust_list(tmp_path, "m version 1")


def test_reproduce_says_how_the_logged_model_was_checked(
    registry_store: RegistryStore,
) -> None:
    from mlops_tracking.runs.integrity import logged_model_copy
    from mlops_tracking.runs.recorded import read_run

    run = registry_store.runs[0]
    uri = read_run(run).tags["model_uri.pyfunc"]

    with logged_model_copy(uri, run) as (source, unregistered):
        assert (source, "not registered" in unregistered) == (uri, True)
    _register(registry_store)
    with logged_model_copy(uri, run) as (source, registered):
        assert registered == "integrity: files match the manifest of breast_cancer-binary version 1"
        assert Path(source).is_dir()
    assert not Path(source).exists()  # the checked copy goes when the block ends


# --- pickle stays refused -------------------------------------------------------------------


def test_a_foreign_sklearn_model_loads_only_when_deserialisation_is_allowed(
    foreign_store: ForeignStore, monkeypatch: pytest.MonkeyPatch, client
) -> None:  # type: ignore[no-untyped-def]
    import os

    from foreign_runs import iris
    from mlops_tracking.core.config import Config
    from mlops_tracking.registry.catalog import VersionRef
    from mlops_tracking.registry.predict import predict_with
    from mlops_tracking.registry.release import register_run
    from mlops_tracking.runs.integrity import DIGEST_TAG, PICKLE_VARIABLE, IntegrityError

    monkeypatch.delenv(PICKLE_VARIABLE, raising=False)
    register_run(foreign_store.runs["example"], Config().registry, "plain")
    assert DIGEST_TAG in client.get_model_version("plain", "1").tags
    X, _ = iris()

    with pytest.raises(IntegrityError, match=rf"set {PICKLE_VARIABLE}=true"):
        predict_with(VersionRef("plain", "1"), X.head(3))
    assert PICKLE_VARIABLE not in os.environ  # the refusal is scoped to loading

    monkeypatch.setenv(PICKLE_VARIABLE, "true")
    assert len(predict_with(VersionRef("plain", "1"), X.head(3))) == 3


def _rows():  # type: ignore[no-untyped-def]
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(as_frame=True).frame.drop(columns="target").head(5)
