"""Reading a DVC workspace without DVC: hashes, lineage, cleanliness, remote, cache, history."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
import yaml

from mlops_tracking.core.dvc_workspace import (
    cache_file,
    default_remote,
    file_md5,
    find_root,
    lineage,
    lock_history,
    params_digest,
    recorded_hashes,
    workspace_state,
)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _out(path: str, text: str) -> dict[str, object]:
    return {"path": path, "hash": "md5", "md5": _md5(text), "size": len(text)}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A DVC workspace shaped like ours: raw -> features -> model, as dvc.lock records it."""
    (tmp_path / ".dvc").mkdir()
    files = {
        "data/raw/dataset.csv": "a,b\n1,2\n",
        "data/features/train.csv": "a,b\n1,2\n",
        "models/model.skops": "model",
    }
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    lock = {
        "schema": "2.0",
        "stages": {
            "prepare": {
                "deps": [{"path": "data/external", "md5": "0" * 32 + ".dir"}],
                "outs": [_out("data/raw/dataset.csv", files["data/raw/dataset.csv"])],
            },
            "featurize": {
                "deps": [
                    _out("data/raw/dataset.csv", files["data/raw/dataset.csv"]),
                    _out("src/mlops_tracking/data.py", "code"),
                ],
                "outs": [_out("data/features/train.csv", files["data/features/train.csv"])],
            },
            "train": {
                "deps": [_out("data/features/train.csv", files["data/features/train.csv"])],
                "outs": [_out("models/model.skops", files["models/model.skops"])],
            },
        },
    }
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    return tmp_path


def test_a_file_hash_is_the_md5_dvc_3_records(tmp_path: Path) -> None:
    path = tmp_path / "table.csv"
    path.write_bytes(b"a,b\r\n1,2\r\n")  # DVC 3 hashes bytes as they are (no dos2unix)
    assert file_md5(path) == hashlib.md5(b"a,b\r\n1,2\r\n").hexdigest()
    assert file_md5(tmp_path / "missing.csv") is None


def test_the_root_is_found_from_a_subfolder_and_not_outside(repo: Path, tmp_path: Path) -> None:
    assert find_root(repo / "data" / "raw") == repo.resolve()
    outside = tmp_path.parent / f"{tmp_path.name}-elsewhere"
    outside.mkdir()
    assert find_root(outside) is None


def test_lineage_walks_upstream_data_only(repo: Path) -> None:
    # the code dep and the directory dep (data/external) are not data files of the run
    assert lineage(repo, ["data/features/train.csv"]) == [
        "data/features/train.csv",
        "data/raw/dataset.csv",
    ]


def test_a_clean_workspace_binds_the_run_to_the_dvc_lock_hashes(repo: Path) -> None:
    state = workspace_state(
        [repo / "data/features/train.csv"],
        start=repo,
        environ={"DVC_STAGE": "train", "DVC_EXP_NAME": "bold-owl", "DVC_EXP_BASELINE_REV": "abc"},
    )
    tags = state.tags(params_digest({"model.name": "mlp"}))
    lock = recorded_hashes(repo)
    assert tags["dvc.available"] == "true"
    assert tags["dvc.workspace_clean"] == "true"
    assert tags["dvc.modified"] == "none"
    assert tags["dvc.experiment"] == "bold-owl"
    assert tags["dvc.stage"] == "train"
    assert tags["dvc.baseline_rev"] == "abc"
    assert tags["dvc.data.data/features/train.csv"] == lock["data/features/train.csv"]
    assert tags["dvc.data.data/raw/dataset.csv"] == lock["data/raw/dataset.csv"]
    assert len(tags["dvc.params_digest"]) == 64


def test_a_hand_edited_file_makes_the_workspace_dirty_and_is_named(repo: Path) -> None:
    (repo / "data/raw/dataset.csv").write_text("a,b\n1,3\n")
    state = workspace_state([repo / "data/features/train.csv"], start=repo, environ={})
    assert not state.clean
    assert [tracked.path for tracked in state.modified] == ["data/raw/dataset.csv"]
    assert state.tags("d")["dvc.modified"] == "data/raw/dataset.csv"


def test_the_running_stage_outputs_do_not_count_as_modified(repo: Path) -> None:
    # DVC deletes a stage's outputs before running it: a missing or half-written model is normal
    (repo / "models/model.skops").write_text("being written")
    assert not workspace_state([], start=repo, environ={}).clean
    assert workspace_state([], start=repo, environ={"DVC_STAGE": "train"}).clean


def test_dvc_files_are_tracked_files_too(repo: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    (repo / "data/external").mkdir(parents=True)
    (repo / "data/external/churn.csv").write_text("x\n1\n")
    (repo / "data/external/churn.csv.dvc").write_text(
        yaml.safe_dump({"outs": [_out("churn.csv", "x\n1\n")]})
    )
    assert recorded_hashes(repo)["data/external/churn.csv"] == _md5("x\n1\n")
    (repo / "data/external/churn.csv").write_text("x\n2\n")
    state = workspace_state([repo / "data/external/churn.csv"], start=repo, environ={})
    assert [tracked.path for tracked in state.modified] == ["data/external/churn.csv"]


def test_outside_a_dvc_repository_the_run_says_why_there_is_no_dvc_information(
    tmp_path: Path,
) -> None:
    state = workspace_state([], start=tmp_path, environ={})
    assert not state.available
    tags = state.tags("d")
    assert tags["dvc.available"] == "false"
    assert "no .dvc folder" in tags["dvc.reason"]
    assert not any(key.startswith("dvc.data.") for key in tags)


def test_the_default_remote_resolves_relative_urls_from_the_dvc_folder(repo: Path) -> None:
    assert default_remote(repo) == "none"
    (repo / ".dvc" / "config").write_text(
        "[core]\n    remote = local\n['remote \"local\"']\n    url = ../.dvc-remote\n"
    )
    assert default_remote(repo) == f"local {(repo / '.dvc-remote').resolve()}"
    (repo / ".dvc" / "config.local").write_text(
        "['remote \"local\"']\n    url = s3://bucket/project\n"
    )
    assert default_remote(repo) == "local s3://bucket/project"


def test_the_cache_is_content_addressed(repo: Path) -> None:
    md5 = _md5("hello")
    assert cache_file(repo, md5) == repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]


def test_params_digest_ignores_key_order_and_sees_values() -> None:
    assert params_digest({"a": "1", "b": "2"}) == params_digest({"b": "2", "a": "1"})
    assert params_digest({"a": "1"}) != params_digest({"a": "2"})


def test_lock_history_lists_each_committed_version_then_the_workspace(repo: Path) -> None:
    def commit(message: str) -> None:
        subprocess.run(["git", "add", "dvc.lock"], cwd=repo, check=True)
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message],
            cwd=repo,
            check=True,
        )

    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    commit("v1")
    first = recorded_hashes(repo)["data/raw/dataset.csv"]
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    lock["stages"]["prepare"]["outs"] = [_out("data/raw/dataset.csv", "v2")]
    (repo / "dvc.lock").write_text(yaml.safe_dump(lock))
    commit("v2")
    lock["stages"]["prepare"]["outs"] = [_out("data/raw/dataset.csv", "v3")]
    (repo / "dvc.lock").write_text(yaml.safe_dump(lock))
    versions = lock_history(repo, "data/raw/dataset.csv")
    assert [v.md5 for v in versions] == [first, _md5("v2"), _md5("v3")]
    assert versions[-1].revision == "workspace"
    assert all(len(v.revision) == 40 for v in versions[:2])


def test_a_stale_pipeline_is_not_clean(repo: Path) -> None:
    # prepare re-ran (its dvc.lock entry matches the new raw data) but featurize did not: the
    # features on disk were built from the old raw data
    (repo / "data/raw/dataset.csv").write_text("a,b\n5,6\n")
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    lock["stages"]["prepare"]["outs"] = [_out("data/raw/dataset.csv", "a,b\n5,6\n")]
    (repo / "dvc.lock").write_text(yaml.safe_dump(lock))
    state = workspace_state([repo / "data/features/train.csv"], start=repo, environ={})
    assert not state.clean
    assert [tracked.path for tracked in state.modified] == ["data/raw/dataset.csv"]
