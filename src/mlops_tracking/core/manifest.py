"""SHA-256 manifests of a model's files: build one, spell it canonically, compare two.

A manifest maps every file of a model folder (its path relative to the folder, with ``/``) to
the SHA-256 of its bytes. ``register`` records one with each version; the loaders compare the
files they downloaded with it before anything in them runs (``runs/integrity.py``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

_CHUNK = 1 << 20
# Written by MLflow itself into a registered version's folder whenever ``models:/NAME/V`` is
# loaded (on a local store: into the store's own copy): two lines naming the model and version,
# read as YAML, never executed. A file of that name that is not in the manifest is not a change.
MLFLOW_BOOKKEEPING = frozenset({"registered_model_meta"})


class ManifestFormatError(ValueError):
    """A recorded manifest that is not a JSON object of relative paths to SHA-256 digests."""


def file_digest(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in chunks (an ONNX graph may be large)."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def build_manifest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (recursively) -> its SHA-256, sorted by relative path.

    A symbolic link is hashed as the file it points to; a link to a folder is listed as the
    files under it, so whatever a loader would read is covered.
    """
    files = sorted(path for path in folder.rglob("*") if path.is_file())
    return {path.relative_to(folder).as_posix(): file_digest(path) for path in files}


def canonical(manifest: dict[str, str]) -> str:
    """One spelling per manifest (sorted keys, no spaces), so its digest is well defined."""
    return json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def manifest_digest(manifest: dict[str, str]) -> str:
    """The SHA-256 of the canonical manifest."""
    return hashlib.sha256(canonical(manifest).encode("ascii")).hexdigest()


def parse_manifest(text: str) -> dict[str, str]:
    """A recorded manifest read back; ``ManifestFormatError`` if it is not one."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ManifestFormatError(f"not JSON ({error.msg})") from None
    if not isinstance(value, dict) or not value:
        raise ManifestFormatError("not a non-empty JSON object of paths to digests")
    for path, digest in value.items():
        parts = path.split("/")
        if path.startswith("/") or ".." in parts or "" in parts:
            raise ManifestFormatError(f"path {path!r} is not relative to the model folder")
        if not (isinstance(digest, str) and len(digest) == 64 and _hexadecimal(digest)):
            raise ManifestFormatError(f"the digest of {path!r} is not a SHA-256")
    return dict(value)


def _hexadecimal(text: str) -> bool:
    return all(character in "0123456789abcdef" for character in text)


@dataclass(frozen=True)
class Differences:
    """How a folder's files differ from a recorded manifest (empty: they agree)."""

    changed: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.changed or self.missing or self.extra)

    def describe(self, limit: int = 5) -> str:
        """E.g. "changed: MLmodel; missing: artifacts/pipeline.skops", at most ``limit`` each."""
        parts = []
        for kind, paths in (("changed", self.changed), ("missing", self.missing)):
            if paths:
                parts.append(f"{kind}: {_listed(paths, limit)}")
        if self.extra:
            parts.append(f"not in the manifest: {_listed(self.extra, limit)}")
        return "; ".join(parts)


def _listed(paths: tuple[str, ...], limit: int) -> str:
    shown = ", ".join(paths[:limit])
    return shown if len(paths) <= limit else f"{shown} and {len(paths) - limit} more"


def compare(recorded: dict[str, str], found: dict[str, str]) -> Differences:
    """The files whose digest differs, the recorded files absent, and the unrecorded ones."""
    return Differences(
        changed=tuple(sorted(p for p in recorded.keys() & found.keys() if recorded[p] != found[p])),
        missing=tuple(sorted(recorded.keys() - found.keys())),
        extra=tuple(sorted(found.keys() - recorded.keys() - MLFLOW_BOOKKEEPING)),
    )
