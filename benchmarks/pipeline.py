"""Figures for the DVC pipeline: what `dvc repro`, a no-op repro, a parameter change, the DVC
binding of a run and `reproduce` cost, in a scratch copy of the repository.

    make bench-pipeline            # or: .venv/bin/python benchmarks/pipeline.py [--reps 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarking import ENVIRONMENT, REPO, git_commit, table

BIN = Path(sys.executable).parent


def _copy_repository(target: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for name in listed:
        if (REPO / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target / name)


def _run(root: Path, env: dict[str, str], *command: str) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(
        list(command), cwd=root, env=env, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return elapsed, done.stdout


def _stage_seconds(output: str) -> list[str]:
    return re.findall(r"Running stage '(\w+)'", output)


def _binding_cost(root: Path, reps: int) -> float:
    """Median seconds of reading the DVC workspace state for a pipeline run (in process)."""
    from mlops_tracking.core.dvc_workspace import workspace_state
    from mlops_tracking.core.stage_files import split_files

    previous = Path.cwd()
    os.chdir(root)
    try:
        times = []
        for _ in range(max(reps, 5)):
            start = time.perf_counter()
            workspace_state(split_files(Path("data/features")), environ={})
            times.append(time.perf_counter() - start)
    finally:
        os.chdir(previous)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=3, help="repetitions of the quick steps")
    reps = parser.parse_args().reps
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as scratch:
        root = Path(scratch) / "repo"
        _copy_repository(root)
        env = {
            **os.environ,
            **ENVIRONMENT,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
            "DVC_NO_ANALYTICS": "1",
        }
        for command in (
            ["git", "init", "-q"],
            ["git", "add", "-A"],
            [
                "git",
                "-c",
                "user.name=bench",
                "-c",
                "user.email=bench@localhost",
                "commit",
                "-qm",
                "clone",
            ],
        ):
            _run(root, env, *command)
        dvc = str(BIN / "dvc")
        fresh, output = _run(root, env, dvc, "repro")
        ran = _stage_seconds(output)
        noop = statistics.median(_run(root, env, dvc, "repro")[0] for _ in range(reps))
        status = statistics.median(_run(root, env, dvc, "status")[0] for _ in range(reps))
        params = (root / "params.yaml").read_text()
        (root / "params.yaml").write_text(params.replace("max_depth: null", "max_depth: 6", 1))
        changed, output = _run(root, env, dvc, "repro")
        rerun = _stage_seconds(output)
        run_id = json.loads((root / "models" / "model.json").read_text())["run_id"]
        reproduce, output = _run(root, env, str(BIN / "mlops-tracking"), "reproduce", run_id)
        exact = "match exactly" in output
        push, _ = _run(root, env, dvc, "push")
        binding = _binding_cost(root, reps)

    rows = [
        [
            "dvc repro, fresh clone (4 stages, random forest 100 trees)",
            f"{fresh:.1f} s",
            ", ".join(ran),
        ],
        ["dvc repro, nothing changed (median)", f"{noop:.2f} s", "no stage runs"],
        ["dvc status (median)", f"{status:.2f} s", ""],
        [
            "dvc repro after model.random_forest.max_depth changed",
            f"{changed:.1f} s",
            ", ".join(rerun),
        ],
        ["mlops-tracking reproduce RUN_ID", f"{reproduce:.1f} s", "exact" if exact else "DIFFERS"],
        ["dvc push to the local remote", f"{push:.2f} s", ""],
        [
            "DVC binding of one run (workspace_state, in process)",
            f"{binding * 1000:.1f} ms",
            "hashes 6 files",
        ],
    ]
    print(table(f"DVC pipeline (commit {git_commit()})", ["step", "time", "notes"], rows))


if __name__ == "__main__":
    main()
