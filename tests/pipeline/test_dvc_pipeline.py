"""End to end, in a temporary copy of the repository: `dvc repro`, experiments, data versions,
push and pull, and `reproduce`, each checked against dvc.lock and the MLflow store."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import REPO

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def _files_of(repo: Path) -> list[str]:
    """The repository's files as a clone has them (tracked, plus new files not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    # a developer's own pipeline results are not part of a fresh clone
    local = ("dvc.lock", "reports/")
    return [name for name in listed if (repo / name).is_file() and not name.startswith(local)]


class Workspace:
    """A copy of the repository with its own git history, store and DVC cache."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
            "DVC_NO_ANALYTICS": "1",
            "COLUMNS": "1000",  # one message, one line
            "GIT_AUTHOR_NAME": "Pipeline Test",
            "GIT_AUTHOR_EMAIL": "pipeline@example.com",
            "GIT_COMMITTER_NAME": "Pipeline Test",
            "GIT_COMMITTER_EMAIL": "pipeline@example.com",
        }
        self.env.pop("DVC_STAGE", None)

    def run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            list(command),
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"{command} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
            )
        return done

    def dvc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(str(BIN / "dvc"), *args, check=check)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(str(BIN / "mlops-tracking"), *args, check=check)

    def lock(self) -> dict[str, Any]:
        return dict(yaml.safe_load((self.root / "dvc.lock").read_text())["stages"])

    def out_md5(self, path: str) -> str:
        for stage in self.lock().values():
            for out in stage.get("outs", []):
                if out["path"] == path:
                    return str(out["md5"])
        raise KeyError(path)

    def run_id(self) -> str:
        return str(json.loads((self.root / "models" / "model.json").read_text())["run_id"])

    def set_params(self, **values: Any) -> None:
        path = self.root / "params.yaml"
        params = yaml.safe_load(path.read_text())
        for key, value in values.items():
            *parents, leaf = key.split("__")
            node = params
            for part in parents:
                node = node[part]
            node[leaf] = value
        path.write_text(yaml.safe_dump(params, sort_keys=False))

    def client(self) -> Any:
        from mlflow import MlflowClient

        return MlflowClient(self.env["MLFLOW_TRACKING_URI"])

    def runs(self) -> list[Any]:
        client = self.client()
        experiments = [e.experiment_id for e in client.search_experiments()]
        return list(client.search_runs(experiments, order_by=["attributes.start_time ASC"]))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    root = tmp_path_factory.mktemp("pipeline") / "repo"
    for name in _files_of(REPO):
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    space = Workspace(root)
    # small, quick models: the pipeline's behaviour does not depend on the model's size
    space.set_params(
        model__random_forest__n_estimators=20,
        tracking__system_metrics=False,
        tracking__model_formats=["sklearn"],
    )
    space.run("git", "init", "-q")
    space.run("git", "add", "-A")
    space.run("git", "commit", "-qm", "the project, as cloned")
    first = space.dvc("repro")
    assert "Running stage 'train'" in first.stdout
    yield space


def test_a_pipeline_run_is_bound_to_the_hashes_in_dvc_lock(workspace: Workspace) -> None:
    from mlops_tracking.core.config import load_config
    from mlops_tracking.core.dvc_workspace import params_digest

    run = workspace.client().get_run(workspace.run_id())
    tags = run.data.tags
    bound = {k.removeprefix("dvc.data."): v for k, v in tags.items() if k.startswith("dvc.data.")}
    train_deps = {d["path"]: d["md5"] for d in workspace.lock()["train"]["deps"]}
    assert bound == {
        "data/features/train.csv": train_deps["data/features/train.csv"],
        "data/features/validation.csv": train_deps["data/features/validation.csv"],
        "data/features/test.csv": train_deps["data/features/test.csv"],
        "data/features/dataset.json": train_deps["data/features/dataset.json"],
        "data/raw/dataset.csv": workspace.out_md5("data/raw/dataset.csv"),
        "data/raw/dataset.json": workspace.out_md5("data/raw/dataset.json"),
    }
    assert tags["dvc.available"] == "true"
    assert tags["dvc.workspace_clean"] == "true"
    assert tags["dvc.stage"] == "train"
    assert tags["dvc.remote"] == f"local {workspace.root / '.dvc-remote'}"
    # the digest of the configured parameters, as the run's own resolved config gives them
    resolved = workspace.client().download_artifacts(run.info.run_id, "config/resolved.yaml")
    assert tags["dvc.params_digest"] == params_digest(load_config(Path(resolved)).run_params())
    sources = {
        item.dataset.name: (item.dataset.source_type, json.loads(item.dataset.source))
        for item in run.inputs.dataset_inputs
    }
    kind, source = sources["breast_cancer-train"]
    assert kind == "dvc"
    assert source["path"] == "data/features/train.csv"
    # dvc.lock is not committed yet: HEAD does not name this data version, so it is not claimed
    assert source["rev"] == "uncommitted"
    assert source["md5"] == train_deps["data/features/train.csv"]
    # MLflow -> DVC: the pipeline's metrics file names the run, with the metrics it logged
    metrics = json.loads((workspace.root / "reports" / "metrics.json").read_text())
    assert metrics["mlflow_run_id"] == run.info.run_id
    assert metrics["test_log_loss"] == run.data.metrics["test_log_loss"]
    shown = workspace.dvc("metrics", "show").stdout
    assert run.info.run_id in shown


def test_a_second_repro_does_nothing(workspace: Workspace) -> None:
    before = len(workspace.runs())
    again = workspace.dvc("repro")
    assert "Data and pipelines are up to date" in again.stdout
    assert "Running stage" not in again.stdout
    assert len(workspace.runs()) == before


def test_a_parameter_change_reruns_only_the_stages_that_read_it(workspace: Workspace) -> None:
    before = len(workspace.runs())
    workspace.set_params(model__random_forest__max_depth=4)
    changed = workspace.dvc("repro").stdout
    assert "Stage 'prepare' didn't change, skipping" in changed
    assert "Stage 'featurize' didn't change, skipping" in changed
    assert "Running stage 'train'" in changed
    assert "Running stage 'evaluate'" in changed
    runs = workspace.runs()
    assert len(runs) == before + 1
    assert runs[-1].data.params["model.max_depth"] == "4"
    dag = workspace.dvc("dag").stdout
    assert all(stage in dag for stage in ("prepare", "featurize", "train", "evaluate"))


def test_an_experiment_on_another_data_version_is_a_tagged_run(workspace: Workspace) -> None:
    workspace.run("git", "add", "-A")
    workspace.run("git", "commit", "-qm", "depth 4, with its dvc.lock")
    full = workspace.runs()[-1]
    from mlops_tracking.core.dvc_workspace import committed_revision

    head = workspace.run("git", "rev-parse", "HEAD").stdout.strip()
    md5 = full.data.tags["dvc.data.data/features/train.csv"]
    assert committed_revision(workspace.root, "data/features/train.csv", md5) == head
    workspace.dvc("exp", "run", "-n", "first-extract", "-S", "data.rows=455")
    extract = workspace.runs()[-1]
    assert extract.data.tags["dvc.experiment"] == "first-extract"
    assert extract.data.params["data.rows"] == "455"
    digests = {
        run.info.run_id: {i.dataset.name: i.dataset.digest for i in run.inputs.dataset_inputs}
        for run in (full, extract)
    }
    assert (
        digests[full.info.run_id]["breast_cancer-train"]
        != (digests[extract.info.run_id]["breast_cancer-train"])
    )
    raw = "dvc.data.data/raw/dataset.csv"
    assert full.data.tags[raw] != extract.data.tags[raw]
    assert "first-extract" in workspace.dvc("exp", "show", "--no-pager", "--csv").stdout

    listed = workspace.cli("data", "versions").stdout
    assert full.data.tags[raw][:12] in listed and extract.data.tags[raw][:12] in listed
    assert extract.info.run_id in listed and "455" in listed


def test_reproduce_matches_a_pipeline_run_exactly(workspace: Workspace) -> None:
    original = workspace.run_id()
    done = workspace.cli("reproduce", original)
    assert "REPRODUCED" in done.stdout and "match exactly" in done.stdout
    latest = workspace.runs()[-1]
    assert latest.data.tags["mlops.reproduces"] == original
    assert latest.data.tags["mlops.reproduction"] == "exact"


def test_hand_edited_data_is_detected_recorded_and_refused(workspace: Workspace) -> None:
    original = workspace.run_id()
    raw = workspace.root / "data" / "raw" / "dataset.csv"
    lines = raw.read_text().splitlines()
    lines[1] = lines[1][:-1] + ("1" if lines[1].endswith("0") else "0")  # one label "corrected"
    raw.write_text("\n".join(lines) + "\n")
    assert "data/raw/dataset.csv" in workspace.dvc("status").stdout  # DVC sees it

    # a run started on the edited workspace says so
    workspace.cli("pipeline", "train")
    dirty = workspace.client().get_run(workspace.run_id()).data.tags
    assert dirty["dvc.workspace_clean"] == "false"
    assert dirty["dvc.modified"] == "data/raw/dataset.csv"

    # a split the original run trained on is edited too, and its version is gone from the
    # cache: it cannot be restored
    from mlops_tracking.core.dvc_workspace import cache_file

    train = workspace.root / "data" / "features" / "train.csv"
    train.write_text(train.read_text().replace(",0\n", ",1\n", 1))
    recorded = workspace.client().get_run(original).data.tags["dvc.data.data/features/train.csv"]
    cache_file(workspace.root, recorded).unlink()
    refused = workspace.cli("reproduce", original, check=False)
    assert refused.returncode == 2
    assert "data/features/train.csv (the run used md5" in refused.stdout
    assert "not in the DVC cache" in refused.stdout


def test_push_and_pull_share_data_through_the_local_remote(workspace: Workspace) -> None:
    workspace.dvc("repro")  # prepare rebuilds the raw data the last test edited
    pushed = workspace.dvc("push")
    assert "pushed" in pushed.stdout
    train = workspace.root / "data" / "features" / "train.csv"
    md5 = workspace.out_md5("data/features/train.csv")
    train.unlink()
    shutil.rmtree(workspace.root / ".dvc" / "cache")
    workspace.dvc("pull")
    from mlops_tracking.core.dvc_workspace import file_md5

    assert file_md5(train) == md5
