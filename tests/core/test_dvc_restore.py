"""Bringing back the data versions a run recorded, from DVC's cache, leaving the workspace."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from mlops_tracking.core.dvc_restore import restore_versions
from mlops_tracking.core.dvc_workspace import cache_file, data_hashes

FEATURES = Path("data/features")
ORIGINAL = {"data/raw/dataset.csv": "raw v1\n", "data/features/train.csv": "train v1\n"}


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A DVC root whose workspace and cache hold the version a run recorded."""
    root = tmp_path / "repo"
    (root / ".dvc").mkdir(parents=True)
    for path, text in ORIGINAL.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
        cached = cache_file(root, _md5(text))
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text(text)
    return root


def _recorded() -> dict[str, str]:
    return {path: _md5(text) for path, text in ORIGINAL.items()}


def test_an_unchanged_workspace_is_used_as_it_is(repo: Path, tmp_path: Path) -> None:
    restored = restore_versions(repo, _recorded(), FEATURES, tmp_path / "scratch")
    assert restored.folder == repo / FEATURES
    assert restored.lost == ()
    assert restored.notes == (
        "data: every file training reads matches the hashes the run recorded",
    )


def test_a_changed_file_comes_back_from_the_cache_and_the_workspace_is_untouched(
    repo: Path, tmp_path: Path
) -> None:
    (repo / "data/features/train.csv").write_text("train v2\n")
    restored = restore_versions(repo, _recorded(), FEATURES, tmp_path / "scratch")
    assert restored.folder == tmp_path / "scratch" / "features"
    assert (restored.folder / "train.csv").read_text() == "train v1\n"
    assert (repo / "data/features/train.csv").read_text() == "train v2\n"
    assert any("restored md5" in note and "train.csv" in note for note in restored.notes)


def test_a_changed_file_missing_from_the_cache_is_lost_only_if_training_reads_it(
    repo: Path, tmp_path: Path
) -> None:
    for path, text in ORIGINAL.items():
        cache_file(repo, _md5(text)).unlink()
        (repo / path).write_text(text.replace("v1", "v2"))
    restored = restore_versions(repo, _recorded(), FEATURES, tmp_path / "scratch")
    (lost,) = restored.lost
    used = _recorded()["data/features/train.csv"]
    assert lost.startswith(f"data/features/train.csv (the run used md5 {used}, now ")
    assert any("data/raw/dataset.csv (not read by training) differs" in n for n in restored.notes)


def test_data_hashes_reads_the_dvc_data_tags_only() -> None:
    tags = {"dvc.data.data/raw/dataset.csv": "abc", "dvc.remote": "local", "task": "binary"}
    assert data_hashes(tags) == {"data/raw/dataset.csv": "abc"}
