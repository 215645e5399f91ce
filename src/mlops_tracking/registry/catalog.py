"""The model registry: versions, aliases, version tags and the audit trail (MlflowClient).

Stages are deprecated in MLflow 3 (``transition_model_version_stage`` warns), so the lifecycle
is aliases (``models:/name@production``) plus version tags (``lifecycle``, ``promotion.*``,
``deployment.*``). The audit trail is append-only: every decision is one registered-model tag
``audit.<epoch ms>.<random>`` holding JSON, so concurrent writers never overwrite each other.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops_tracking.core.errors import RunNotFoundError, UserError
from mlops_tracking.core.promotion import TrailEntry

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

TRAIL_PREFIX = "audit."
ONNX_SUFFIX = "-onnx"  # the ONNX form is its own registered model: <name>-onnx
# A model's promotion lock is a registered model too (registry/lease.py): <name>.promotion-lock.<n>
LOCK_INFIX = ".promotion-lock."
LOCK_TAG = "mlops.lock"
LOCK_NAME = re.compile(r"^(?P<model>.+)\.promotion-lock\.(?P<generation>\d+)$")


class RegistryError(UserError):
    """A registered model, version or alias that does not exist, or a refused registry action."""


@dataclass(frozen=True)
class VersionRef:
    """One registered model version, and the alias it was reached by (if any)."""

    name: str
    version: str
    alias: str | None = None

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    def __str__(self) -> str:
        return f"{self.name}@{self.alias} (version {self.version})" if self.alias else self.uri


def client() -> MlflowClient:
    from mlflow import MlflowClient

    return MlflowClient()


def authenticated_user() -> str | None:
    """The user a tracking server authenticates these requests as, if any.

    MLflow sends MLFLOW_TRACKING_USERNAME (basic-auth) only to an http(s) store, and a request
    that succeeded was accepted under that name; a local store knows no users.
    """
    uri = client().tracking_uri
    user = os.environ.get("MLFLOW_TRACKING_USERNAME", "").strip()
    return user if user and uri.startswith(("http://", "https://")) else None


def is_lock(name: str) -> bool:
    """Whether a registered model is a promotion lock, which the project's listings hide."""
    return LOCK_NAME.match(name) is not None


# --- references -----------------------------------------------------------------------------


_REFERENCE = re.compile(r"^(?:models:/)?(?P<name>[^@/]+?)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))?$")


def resolve(reference: str) -> VersionRef:
    """Resolve ``NAME@ALIAS``, ``NAME/VERSION``, ``NAME`` (latest) or their ``models:/`` forms.

    Raises ``RegistryError`` naming what does not exist and what does.
    """
    match = _REFERENCE.match(reference.strip())
    if match is None or reference.startswith("models:/m-"):
        raise RegistryError(
            f"'{reference}' is not a registered model reference; use NAME@ALIAS, NAME/VERSION "
            "or NAME (latest version)"
        )
    name, alias, version = match["name"], match["alias"], match["version"]
    aliases = registered_aliases(name)
    if alias is not None:
        if alias not in aliases:
            known = ", ".join(f"{a} (v{v})" for a, v in sorted(aliases.items())) or "none"
            raise RegistryError(f"model '{name}' has no alias '{alias}' (aliases: {known})")
        return VersionRef(name, aliases[alias], alias)
    versions = version_numbers(name)
    if version is None:
        if not versions:
            raise RegistryError(f"model '{name}' has no versions yet")
        return VersionRef(name, versions[-1])
    if version not in versions:
        listed = ", ".join(versions) or "none"
        raise RegistryError(f"model '{name}' has no version {version} (versions: {listed})")
    return VersionRef(name, version)


def registered_aliases(name: str) -> dict[str, str]:
    """Alias -> version of a registered model; ``RegistryError`` if the model does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        model = client().get_registered_model(name)
    except MlflowException:
        known = ", ".join(model_names()) or "none yet"
        raise RegistryError(
            f"no registered model named '{name}' (registered models: {known}). Register a run "
            "with `mlops-tracking register RUN_ID`."
        ) from None
    return {alias: str(version) for alias, version in model.aliases.items()}


def aliases_by_version(name: str) -> dict[str, list[str]]:
    """Version -> the aliases it holds (sorted), read from the registered model, because
    ``search_model_versions`` leaves a version's aliases empty on SQLite stores."""
    held: dict[str, list[str]] = {}
    for alias, number in sorted(registered_aliases(name).items()):
        held.setdefault(number, []).append(alias)
    return held


def model_names() -> list[str]:
    found = client().search_registered_models(max_results=1000)
    return sorted(model.name for model in found if not is_lock(model.name))


def version_numbers(name: str) -> list[str]:
    versions = client().search_model_versions(f"name='{name}'")
    return [str(v) for v in sorted(int(version.version) for version in versions)]


def model_version(ref: VersionRef) -> ModelVersion:
    return client().get_model_version(ref.name, ref.version)


# --- registering ----------------------------------------------------------------------------


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# The model card is the run artifact model_cards/<name>-v<version>.md, and file systems cap a
# file name at 255 bytes (names are ASCII here, so characters are bytes). Room is kept for ten
# digits of version number and for the ONNX form's name, <name>-onnx.
MAX_NAME_LENGTH = 255 - len("-v.md") - 10 - len(ONNX_SUFFIX)


def check_name(name: str) -> str:
    """A name to register a run under: addressable, and short enough for its model card.

    Checked before anything is registered: a name that failed later (on the model card's file
    name) would leave versions behind.
    """
    _check_addressable(name)
    if LOCK_INFIX in name:
        raise RegistryError(
            f"'{name}' cannot be a registered model name here: '{LOCK_INFIX}' marks the "
            "promotion locks mlops-tracking keeps in the registry"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise RegistryError(
            f"'{name[:40]}…' ({len(name)} characters) is too long for a registered model name: "
            f"use at most {MAX_NAME_LENGTH} (its model card is the file "
            f"model_cards/<name>-v<version>.md, and a file name has at most 255 bytes)"
        )
    return name


def _check_addressable(name: str) -> str:
    """A registered model name that ``NAME@ALIAS`` and ``NAME/VERSION`` can address."""
    if not _NAME.match(name):
        raise RegistryError(
            f"'{name}' cannot be a registered model name here: use letters, digits, '_', '-' "
            "and '.', starting with a letter or digit ('@', '/' and ':' would make "
            "NAME@ALIAS and NAME/VERSION ambiguous)"
        )
    return name


def register(model_uri: str, name: str, run_id: str, tags: dict[str, str]) -> VersionRef:
    """Register a LoggedModel (``models:/m-…``) as a new version of ``name`` with ``tags``.

    The client calls are used rather than ``mlflow.register_model``, which prints to stderr;
    like it, the LoggedModel's ``mlflow.modelVersions`` tag gains the version, which is how the
    UI links a logged model to its registered versions. The version records the SHA-256
    manifest of its files as stored (``runs/integrity.py``), which every loader checks.
    """
    import json

    from mlflow.exceptions import MlflowException

    from mlops_tracking.runs.integrity import record_manifest

    registry = client()
    try:
        registry.create_registered_model(_check_addressable(name))
    except MlflowException as error:
        if error.error_code not in {"RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"}:
            raise
    model_id = model_uri.removeprefix("models:/")
    version = registry.create_model_version(
        name, model_uri, run_id=run_id, tags=tags, model_id=model_id
    )
    listed = registry.get_logged_model(model_id).tags.get("mlflow.modelVersions")
    versions = [*json.loads(listed or "[]"), {"name": name, "version": str(version.version)}]
    registry.set_logged_model_tags(model_id, {"mlflow.modelVersions": json.dumps(versions)})
    record_manifest(name, str(version.version))
    return VersionRef(name, str(version.version))


def set_version_tags(ref: VersionRef, tags: dict[str, str]) -> None:
    registry = client()
    for key, value in tags.items():
        registry.set_model_version_tag(ref.name, ref.version, key, value)


def describe_version(ref: VersionRef, description: str) -> None:
    client().update_model_version(ref.name, ref.version, description=description)


def move_alias(name: str, alias: str, version: str) -> None:
    client().set_registered_model_alias(name, alias, version)


def restore_alias(name: str, alias: str, version: str | None) -> None:
    """Put ``alias`` back on ``version`` (or remove it when nobody held it)."""
    if version is None:
        client().delete_registered_model_alias(name, alias)
    else:
        client().set_registered_model_alias(name, alias, version)


# --- the audit trail ------------------------------------------------------------------------


def append_trail(name: str, entry: TrailEntry) -> None:
    """Append ``entry`` to the model's trail: a fresh tag key, so no write overwrites another."""
    key = f"{TRAIL_PREFIX}{time.time_ns() // 1_000_000:013d}.{secrets.token_hex(3)}"
    client().set_registered_model_tag(name, key, entry.to_json())


def read_trail(name: str) -> list[TrailEntry]:
    """The model's audit trail, oldest first."""
    tags = client().get_registered_model(name).tags
    keys = sorted(key for key in tags if key.startswith(TRAIL_PREFIX))
    return [TrailEntry.from_json(tags[key]) for key in keys]


def check_can_edit(name: str) -> None:
    """Fail now, before a gate runs for seconds, if this user may not change model ``name``.

    Deleting a registered-model tag needs the same basic-auth permission as moving an alias
    (EDIT on the model; creating a lock model needs only an account), and deleting a tag that
    does not exist changes nothing, so it is a write probe that leaves no trace.
    """
    from mlflow.exceptions import MlflowException

    try:
        client().delete_registered_model_tag(name, "mlops.edit-probe")
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            registered_aliases(name)  # names the models that do exist
        if error.error_code != "PERMISSION_DENIED":
            raise
        who = authenticated_user() or "this client"
        raise RegistryError(
            f"{who} may not change the registered model '{name}' on {client().tracking_uri}: "
            "moving its aliases needs EDIT permission on it. Ask its owner or an admin to grant "
            f"it (MLflow's basic-auth: create_registered_model_permission('{name}', "
            f"'{who}', 'EDIT')); nothing was changed."
        ) from None


# --- reading --------------------------------------------------------------------------------


def version_rows(name: str) -> list[dict[str, Any]]:
    """Every version of ``name``: number, run, tags, aliases, source-run metrics, created."""
    registry = client()
    held = aliases_by_version(name)
    rows = []
    for version in registry.search_model_versions(f"name='{name}'"):
        metrics = _run_metrics(version.run_id)
        rows.append(
            {
                "version": str(version.version),
                "run_id": version.run_id or "",
                "created": version.creation_timestamp,
                "aliases": held.get(str(version.version), []),
                "tags": dict(version.tags),
                "metrics": metrics,
            }
        )
    return sorted(rows, key=lambda row: int(row["version"]))


def _run_metrics(run_id: str | None) -> dict[str, float]:
    from mlops_tracking.runs.recorded import fetch_run

    if not run_id:
        return {}
    try:
        return dict(fetch_run(run_id).data.metrics)
    except RunNotFoundError:  # the source run was deleted from the store
        return {}


def model_summaries() -> list[dict[str, Any]]:
    """Every registered model: name, version count, aliases, versions currently serving."""
    registry = client()
    summaries = []
    for model in registry.search_registered_models(max_results=1000):
        if is_lock(model.name):
            continue
        versions = registry.search_model_versions(f"name='{model.name}'")
        serving = [
            f"v{v.version}" for v in versions if v.tags.get("deployment.status") == "serving"
        ]
        summaries.append(
            {
                "name": model.name,
                "versions": len(versions),
                "aliases": {alias: str(version) for alias, version in model.aliases.items()},
                "serving": ", ".join(serving) or "-",
            }
        )
    return sorted(summaries, key=lambda summary: str(summary["name"]))
