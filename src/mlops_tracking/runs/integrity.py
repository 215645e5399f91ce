"""Integrity before loading: a registered version's files are checked, then loaded from the copy.

``register`` records a SHA-256 manifest of every file of the version (``record_manifest``): the
version tag ``integrity.sha256`` holds the digest of the canonical manifest, and
``integrity.manifest`` the manifest itself (version tags hold up to 100,000 characters in
MLflow 3.17, ``MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH``); a longer one is a JSON artifact of the
source run, named by ``integrity.manifest_artifact`` and proven by the digest in the tag.

``predict``, ``serve``, the promotion gate and ``reproduce`` load through ``checked_copy``: the
files are downloaded once into a private local folder, hashed and compared with the manifest,
and the model is loaded from that folder, so nothing read after the check can differ from
what was checked. A mismatch is an ``IntegrityError`` (exit 2) naming the files, raised before
any code of the model runs. The folder is removed when the block that loads from it ends (for
``serve``: when the server stops); a process that dies before that leaves it to ``atexit``.
Lives below ``registry`` and ``pipeline``, which both load models.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_tracking.core.errors import UserError
from mlops_tracking.core.export import OWN_TYPES, TRUSTED_MODULE_PREFIXES
from mlops_tracking.core.manifest import (
    ManifestFormatError,
    build_manifest,
    canonical,
    compare,
    manifest_digest,
    parse_manifest,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

DIGEST_TAG = "integrity.sha256"
MANIFEST_TAG = "integrity.manifest"
ARTIFACT_TAG = "integrity.manifest_artifact"
MANIFEST_FOLDER = "integrity"
PICKLE_VARIABLE = "MLFLOW_ALLOW_PICKLE_DESERIALIZATION"


class IntegrityError(UserError):
    """A registered version's files differ from its recorded manifest, or it has none."""


def record_command(name: str, version: str) -> str:
    return f"mlops-tracking register --manifest {name}/{version}"


# --- recording ------------------------------------------------------------------------------


def record_manifest(name: str, version: str, limit: int | None = None) -> str:
    """Hash every file of ``name`` version ``version`` as stored; record it; return the digest.

    ``limit``: the longest manifest kept in a version tag (default: MLflow's limit).
    """
    from mlflow.utils.validation import MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH

    with tempfile.TemporaryDirectory(prefix="mlops-manifest-") as scratch:
        manifest = build_manifest(download_version(name, version, Path(scratch)))
    text, digest = canonical(manifest), manifest_digest(manifest)
    tags = {DIGEST_TAG: digest}
    if len(text) <= (MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH if limit is None else limit):
        tags[MANIFEST_TAG] = text
    else:
        tags[ARTIFACT_TAG] = _log_manifest(name, version, text)
    client = _client()
    stale = {MANIFEST_TAG, ARTIFACT_TAG} - tags.keys()  # from an earlier recording
    for key in stale & client.get_model_version(name, version).tags.keys():
        client.delete_model_version_tag(name, version, key)
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    return digest


def _log_manifest(name: str, version: str, text: str) -> str:
    """The manifest as a JSON artifact of the version's source run; its artifact path."""
    run_id = _client().get_model_version(name, version).run_id
    if not run_id:
        raise IntegrityError(
            f"{name} version {version} has more files than a version tag can list and no source "
            "run to keep its manifest in"
        )
    artifact = f"{MANIFEST_FOLDER}/{name}-v{version}.json"
    _client().log_dict(run_id, json.loads(text), artifact)
    return artifact


def _client() -> MlflowClient:
    from mlflow import MlflowClient

    return MlflowClient()


def download_version(name: str, version: str, into: Path) -> Path:
    """The version's files, copied from where the registry says they are into ``into``.

    The store's own location (``get_model_version_download_uri``), not ``models:/``: MLflow
    adds a ``registered_model_meta`` file to a ``models:/`` download, and without a
    destination a local store's own folder is returned instead of a copy.
    """
    source = _client().get_model_version_download_uri(name, version)
    return _download(source, into)


def _download(source: str, into: Path) -> Path:
    import mlflow

    return Path(mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(into)))


# --- verifying ------------------------------------------------------------------------------


def recorded_manifest(version: ModelVersion) -> dict[str, str] | None:
    """The manifest recorded with ``version``, proven by its digest; None if none was recorded."""
    tags = version.tags
    name, number = version.name, str(version.version)
    digest = tags.get(DIGEST_TAG)
    if digest is None:
        return None
    text = tags.get(MANIFEST_TAG)
    if text is None and ARTIFACT_TAG in tags and version.run_id:
        text = _read_run_text(version.run_id, tags[ARTIFACT_TAG])
    if text is None:
        raise IntegrityError(
            f"{name} version {number} records the digest of a manifest ({DIGEST_TAG}) but not "
            f"the manifest; record it again with `{record_command(name, number)}` once you trust "
            "the stored files"
        )
    try:
        manifest = parse_manifest(text)
    except ManifestFormatError as error:
        raise IntegrityError(
            f"the manifest recorded with {name} version {number} is unreadable ({error}); "
            "refusing to load it"
        ) from None
    if manifest_digest(manifest) != digest:
        raise IntegrityError(
            f"the manifest recorded with {name} version {number} does not have the digest in "
            f"its {DIGEST_TAG} tag: it was changed after registration; refusing to load it"
        )
    return manifest


def _read_run_text(run_id: str, artifact: str) -> str | None:
    with tempfile.TemporaryDirectory(prefix="mlops-manifest-") as scratch:
        try:
            path = _client().download_artifacts(run_id, artifact, scratch)
        except Exception:  # missing: reported as "no manifest" by the caller
            return None
        return Path(path).read_text(encoding="utf-8")


@dataclass(frozen=True)
class VerifiedCopy:
    """A local copy of a version's files that matched its manifest; load the model from here."""

    path: Path
    name: str
    version: str
    digest: str

    def __str__(self) -> str:
        return str(self.path)

    @property
    def folder(self) -> Path:
        """The private folder that holds the copy (what ``remove`` deletes)."""
        return self.path.parent

    def remove(self) -> None:
        """Delete the copy; a model loaded from it stays loaded (it is read into memory)."""
        shutil.rmtree(self.folder, ignore_errors=True)


def verified_copy(name: str, version: str) -> VerifiedCopy:
    """Download ``name`` version ``version`` once, check every file, return the checked copy.

    The copy lives in a private temporary folder (mode 0700) until the caller ``remove``s it
    (``checked_copy`` does) or, failing that, until the process exits. A version registered
    before manifests were recorded is refused: loading it would run code nobody vouched for;
    the message tells how to record one.
    """
    found = _client().get_model_version(name, version)
    manifest = recorded_manifest(found)
    if manifest is None:
        raise IntegrityError(
            f"{name} version {version} has no integrity manifest (it was registered before "
            "register recorded one), so its files cannot be checked before its code runs. If "
            "you trust the artifact store as it is now, record one: "
            f"`{record_command(name, version)}`"
        )
    folder = _private_folder()
    try:
        local = download_version(name, version, folder)
        check_files(local, manifest, f"{name} version {version}")
        check_trust_list(local, f"{name} version {version}")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return VerifiedCopy(local, name, version, found.tags[DIGEST_TAG])


@contextmanager
def checked_copy(name: str, version: str) -> Iterator[VerifiedCopy]:
    """``verified_copy`` for the length of the block: load from it inside, it is gone after."""
    copy = verified_copy(name, version)
    try:
        yield copy
    finally:
        copy.remove()


def check_files(folder: Path, manifest: dict[str, str], what: str) -> None:
    """``IntegrityError`` naming each changed, missing or extra file of ``folder``."""
    differences = compare(manifest, build_manifest(folder))
    if differences:
        raise IntegrityError(
            f"{what} differs from the manifest recorded when it was registered "
            f"({differences.describe()}); refusing to load it. The artifact store was changed "
            "or corrupted after registration: restore the files from a backup, or register the "
            "run again"
        )


def check_trust_list(folder: Path, what: str) -> None:
    """The skops types a deployable model trusts must be ones this project fits.

    ``metadata.json`` (covered by the manifest) lists them; a list naming anything outside
    scikit-learn, NumPy, SciPy and the project's own transformers is refused, even if it was
    registered that way.
    """
    metadata = folder / "artifacts" / "metadata.json"
    if not metadata.is_file():
        return  # not a deployable model of this project
    try:
        trusted = json.loads(metadata.read_text(encoding="utf-8")).get("trusted_types", [])
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        raise IntegrityError(f"{what}: artifacts/metadata.json is not readable JSON") from None
    foreign = [
        name
        for name in trusted
        if not (
            isinstance(name, str)
            and (name.startswith(TRUSTED_MODULE_PREFIXES) or name in OWN_TYPES)
        )
    ]
    if foreign:
        raise IntegrityError(
            f"{what}: artifacts/metadata.json trusts types this project never fits "
            f"({', '.join(map(str, foreign[:5]))}); refusing to load it"
        )


def _private_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="mlops-verified-"))
    atexit.register(shutil.rmtree, folder, True)  # in case the process ends before the block
    return folder


# --- a run's logged model (reproduce) -------------------------------------------------------


@contextmanager
def logged_model_copy(model_uri: str, run_id: str) -> Iterator[tuple[str, str]]:
    """What to load for a run's logged model ``models:/m-…``, and a note on how it was checked.

    A registered model is checked against the manifest of its latest version that has one and
    loaded from the checked copy, which is removed when the block ends; one that is not
    registered has no manifest and is loaded as stored (the note says so).
    """
    model_id = model_uri.removeprefix("models:/")
    versions = [
        version
        for version in _client().search_model_versions(f"run_id = '{run_id}'")
        # MLflow 3.17's search leaves model_id empty on SQLite stores; the source names it
        if model_id in {version.model_id, (version.source or "").removeprefix("models:/")}
    ]
    if not versions:
        yield (
            model_uri,
            (
                "integrity: the logged model is not registered, so no manifest vouches for its "
                "files; it was loaded as stored"
            ),
        )
        return
    latest = max(versions, key=lambda version: int(version.version))
    with checked_copy(latest.name, str(latest.version)) as copy:
        yield (
            str(copy),
            (f"integrity: files match the manifest of {latest.name} version {latest.version}"),
        )


# --- pickle ---------------------------------------------------------------------------------


def pickle_setting() -> str:
    """``MLFLOW_ALLOW_PICKLE_DESERIALIZATION`` for a command that loads registered models.

    MLflow 3.17 allows pickle (and skops) deserialisation by default; these commands refuse it
    unless the user set the variable to ``true`` themselves. The project's deployable pyfunc
    needs neither: its skops pipeline is read by its own code with a checked trust list.
    """
    return "true" if os.environ.get(PICKLE_VARIABLE, "").strip().lower() == "true" else "false"


@contextmanager
def pickle_refused() -> Iterator[None]:
    """Load inside this block: MLflow refuses pickle and skops flavors unless the user allowed
    them (``pickle_setting``)."""
    saved = os.environ.get(PICKLE_VARIABLE)
    os.environ[PICKLE_VARIABLE] = pickle_setting()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(PICKLE_VARIABLE, None)
        else:
            os.environ[PICKLE_VARIABLE] = saved
