"""Read a DVC workspace without DVC: its root, ``dvc.lock`` hashes, cache, remote and git history.

A training run is bound to the data version it used by the hashes DVC itself records. This module
reads them directly (``dvc.lock`` is YAML, a file's DVC hash is the md5 of its bytes, the cache is
content-addressed) instead of calling ``dvc``: a stage cannot call ``dvc status`` while
``dvc repro`` holds the repository lock, and importing DVC would cost every run a second.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlops_tracking.core.environment import nearest_holding

LOCK_FILE = "dvc.lock"
DATA_PREFIX = "data/"  # where the pipeline keeps data; code and params deps are not data
DATA_TAG = "dvc.data."  # run tag prefix: dvc.data.<path> holds the DVC hash of a file it used
_CHUNK = 1 << 20


@dataclass(frozen=True)
class TrackedFile:
    """A data file in the run's lineage: its hash now, and the hash DVC recorded for it."""

    path: str  # relative to the DVC root, POSIX separators, as dvc.lock writes it
    md5: str | None  # None when the file is missing
    recorded: str | None  # the md5 dvc.lock (or a .dvc file) holds, None if DVC does not track it

    @property
    def modified(self) -> bool:
        return self.md5 is not None and self.recorded is not None and self.md5 != self.recorded


@dataclass(frozen=True)
class DvcState:
    """What a run can say about the DVC workspace it ran in."""

    root: Path | None
    reason: str = ""  # why no DVC information is available
    lineage: tuple[TrackedFile, ...] = ()  # the data files the run read, and their upstream data
    modified: tuple[TrackedFile, ...] = ()  # any DVC-tracked file that differs from its record
    remote: str = "none"
    experiment: str | None = None
    stage: str | None = None
    baseline_rev: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def available(self) -> bool:
        return self.root is not None

    @property
    def clean(self) -> bool:
        return not self.modified

    def tags(self, params_digest: str) -> dict[str, str]:
        """Run tags (all strings) that bind the run to this workspace."""
        if self.root is None:
            return {"dvc.available": "false", "dvc.reason": self.reason}
        tags = {
            "dvc.available": "true",
            "dvc.workspace_clean": str(self.clean).lower(),
            "dvc.modified": ", ".join(f.path for f in self.modified) or "none",
            "dvc.remote": self.remote,
            "dvc.params_digest": params_digest,
        }
        for name, value in (
            ("dvc.experiment", self.experiment),
            ("dvc.stage", self.stage),
            ("dvc.baseline_rev", self.baseline_rev),
        ):
            if value:
                tags[name] = value
        for tracked in self.lineage:
            tags[f"{DATA_TAG}{tracked.path}"] = tracked.md5 or "missing"
        return tags


def data_hashes(tags: Mapping[str, str]) -> dict[str, str]:
    """Path -> DVC hash of every data file a run's tags say it used (``dvc.data.<path>``)."""
    return {
        key.removeprefix(DATA_TAG): md5 for key, md5 in tags.items() if key.startswith(DATA_TAG)
    }


def find_root(start: Path | None = None) -> Path | None:
    """The nearest directory at or above ``start`` (default: cwd) that holds a ``.dvc`` folder."""
    return nearest_holding(".dvc", start, Path.is_dir)


def file_md5(path: Path) -> str | None:
    """DVC's hash of a file (DVC 3: the md5 of its bytes), or None if it does not exist."""
    if not path.is_file():
        return None
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def params_digest(params: Mapping[str, str]) -> str:
    """A stable digest of the parameters a run used (sorted keys, canonical JSON)."""
    text = json.dumps(dict(params), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def read_lock(root: Path, text: str | None = None) -> dict[str, Any]:
    """``dvc.lock`` as a mapping (empty when there is none yet)."""
    if text is None:
        lock = root / LOCK_FILE
        if not lock.is_file():
            return {}
        text = lock.read_text()
    loaded = yaml.safe_load(text) or {}
    stages = loaded.get("stages", {}) if isinstance(loaded, dict) else {}
    return stages if isinstance(stages, dict) else {}


def recorded_hashes(root: Path, skip_stage: str | None = None) -> dict[str, str]:
    """Every file hash DVC records: stage outputs in ``dvc.lock`` and ``.dvc`` files.

    Directory outputs (``.dir`` hashes) are left out; this project's pipeline writes files.
    """
    hashes: dict[str, str] = {}
    for name, stage in read_lock(root).items():
        if name == skip_stage:
            continue  # DVC removes a stage's outputs before running it
        hashes.update(_file_hashes(stage.get("outs", [])))
    for tracked in _dvc_files(root):
        content = yaml.safe_load(tracked.read_text()) or {}
        for entry in _file_hashes(content.get("outs", [])).items():
            relative = (tracked.parent / entry[0]).relative_to(root).as_posix()
            hashes[relative] = entry[1]
    return hashes


def lineage(root: Path, paths: Iterable[str]) -> list[str]:
    """``paths`` and every data file upstream of them in ``dvc.lock``, in pipeline order."""
    stages = read_lock(root)
    producer = {
        out["path"]: name for name, stage in stages.items() for out in stage.get("outs", [])
    }
    seen: list[str] = []
    pending = list(paths)
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.append(path)
        stage = stages.get(producer.get(path, ""), {})
        pending.extend(
            _file_hashes(
                dep
                for dep in stage.get("deps", [])
                if str(dep.get("path", "")).startswith(DATA_PREFIX)
            )
        )
    return sorted(seen)


def workspace_state(
    data_files: Iterable[Path] = (),
    start: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> DvcState:
    """Describe the DVC workspace around ``start`` for a run that reads ``data_files``."""
    env = os.environ if environ is None else environ
    root = find_root(start)
    if root is None:
        where = (start or Path.cwd()).resolve()
        return DvcState(None, reason=f"not a DVC repository (no .dvc folder at or above {where})")
    stage = env.get("DVC_STAGE") or None
    recorded = recorded_hashes(root, skip_stage=stage)
    read = [_relative(root, path) for path in data_files]
    files = [
        TrackedFile(path, file_md5(root / path), recorded.get(path))
        for path in lineage(root, [path for path in read if path is not None])
    ]
    modified = [
        tracked
        for tracked in (TrackedFile(p, file_md5(root / p), h) for p, h in sorted(recorded.items()))
        if tracked.modified
    ]
    listed = {tracked.path for tracked in modified}
    modified.extend(t for t in _stale_inputs(root, [f.path for f in files]) if t.path not in listed)
    return DvcState(
        root=root,
        lineage=tuple(files),
        modified=tuple(modified),
        remote=default_remote(root),
        experiment=env.get("DVC_EXP_NAME") or None,
        stage=stage,
        baseline_rev=env.get("DVC_EXP_BASELINE_REV") or None,
    )


def _stale_inputs(root: Path, paths: list[str]) -> list[TrackedFile]:
    """Data a lineage file was built from that has changed since (the pipeline is stale)."""
    stages = read_lock(root)
    producer = {
        out["path"]: name for name, stage in stages.items() for out in stage.get("outs", [])
    }
    stale: dict[str, TrackedFile] = {}
    for path in paths:
        stage = stages.get(producer.get(path, ""), {})
        for dep, md5 in _file_hashes(stage.get("deps", [])).items():
            tracked = TrackedFile(dep, file_md5(root / dep), md5)
            if dep.startswith(DATA_PREFIX) and tracked.modified:
                stale[dep] = tracked
    return [stale[path] for path in sorted(stale)]


def committed_revision(root: Path, path: str, md5: str) -> str:
    """HEAD's commit if its ``dvc.lock`` records ``md5`` for ``path``, else ``uncommitted``.

    A run is recorded before its ``dvc.lock`` is committed, so HEAD only names the data version
    when the lock at HEAD already holds it (a re-run, or a run outside ``dvc repro``).
    """
    head = (_git(root, "rev-parse", "HEAD") or "").strip()
    text = _git(root, "show", f"HEAD:./{LOCK_FILE}") if head else None
    if head and text is not None and _output_hash(read_lock(root, text), path) == md5:
        return head
    return "uncommitted"


def repository(root: Path) -> str:
    """Where the DVC repository can be fetched from: its git remote, else its folder."""
    remote = (_git(root, "config", "--get", "remote.origin.url") or "").strip()
    return remote or str(root)


def default_remote(root: Path) -> str:
    """The default remote as ``name url`` (local config wins), or ``none``."""
    settings = configparser.ConfigParser(interpolation=None)
    settings.read([root / ".dvc" / "config", root / ".dvc" / "config.local"])
    name = settings.get("core", "remote", fallback="")
    if not name:
        return "none"
    url = settings.get(f"'remote \"{name}\"'", "url", fallback="")
    if not url:
        return f"{name} (no url)"
    if "://" not in url and not Path(url).is_absolute():
        url = str((root / ".dvc" / url).resolve())  # DVC resolves relative to .dvc/
    return f"{name} {url}"


def cache_file(root: Path, md5: str) -> Path:
    """Where DVC's content-addressed cache keeps a file with this hash."""
    settings = configparser.ConfigParser(interpolation=None)
    settings.read([root / ".dvc" / "config", root / ".dvc" / "config.local"])
    configured = settings.get("cache", "dir", fallback="")
    base = (root / ".dvc" / configured).resolve() if configured else root / ".dvc" / "cache"
    return base / "files" / "md5" / md5[:2] / md5[2:]


@dataclass(frozen=True)
class LockVersion:
    """One committed (or working) state of ``dvc.lock``: when, and which hash a file had."""

    revision: str  # a git commit, or "workspace"
    date: str
    md5: str


def lock_history(root: Path, path: str) -> list[LockVersion]:
    """Each hash ``dvc.lock`` gave ``path`` in git history (oldest first), then the workspace."""
    versions: list[LockVersion] = []
    log = _git(root, "log", "--reverse", "--format=%H %cI", "--", LOCK_FILE) or ""
    for line in log.splitlines():
        revision, date = line.split(" ", 1)
        text = _git(root, "show", f"{revision}:./{LOCK_FILE}")
        md5 = _output_hash(read_lock(root, text or ""), path)
        if md5 is not None:
            versions.append(LockVersion(revision, date, md5))
    current = _output_hash(read_lock(root), path)
    if current is not None and all(v.md5 != current for v in versions):
        versions.append(LockVersion("workspace", "", current))
    return versions


def _output_hash(stages: Mapping[str, Any], path: str) -> str | None:
    for stage in stages.values():
        md5 = _file_hashes(stage.get("outs", [])).get(path)
        if md5 is not None:
            return md5
    return None


def _file_hashes(entries: Iterable[Any]) -> dict[str, str]:
    hashes: dict[str, str] = {}
    for entry in entries:
        if isinstance(entry, dict) and entry.get("md5") and entry.get("path"):
            md5 = str(entry["md5"])
            if not md5.endswith(".dir"):
                hashes[str(entry["path"])] = md5
    return hashes


def _dvc_files(root: Path) -> list[Path]:
    """``.dvc`` files git knows of (committed or not yet added), honouring ``.gitignore``."""
    listed = _git(root, "ls-files", "--cached", "--others", "--exclude-standard", "*.dvc") or ""
    return sorted(root / line for line in set(listed.splitlines()) if line)


def _relative(root: Path, path: Path) -> str | None:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return None  # outside the repository: not part of its data


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None
