"""``reproduce RUN_ID``: re-train a logged run from what it recorded, and prove the result.

What the run recorded decides everything: its resolved config, its source code, the digests of
its dataset inputs and, for pipeline runs, the DVC hashes of every data file in its lineage. The
command refuses (exit 2, naming what differs) when the code or the data is not what the run
used and cannot be restored; data versioned by DVC is restored read-only from the DVC cache,
leaving the workspace alone. It then trains in a fresh run tagged ``mlops.reproduces`` and
compares every deterministic metric with the original.
"""

from __future__ import annotations

import filecmp
import math
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlops_tracking.core.config import Config, load_config
from mlops_tracking.core.errors import UserError
from mlops_tracking.core.records import TrainingInputs
from mlops_tracking.runs.recorded import (
    CONFIG_FILE,
    SOURCE_DIR,
    RecordedRun,
    download,
    read_run,
    record_reproduction,
)
from mlops_tracking.runs.workflow import ExperimentRef, Progress, SilentProgress

# Metrics that measure the machine, not the model: never expected to repeat.
MACHINE_METRICS = re.compile(r"^system/|seconds|latency")
DVC_DATA_TAG = "dvc.data."
CONTEXTS = ("training", "validation", "testing")


class ReproductionError(UserError):
    """The run cannot be re-run faithfully: its code or data differs and cannot be restored."""


@dataclass(frozen=True)
class MetricCheck:
    name: str
    original: float
    reproduced: float | None

    @property
    def difference(self) -> float:
        if self.reproduced is None:
            return math.inf
        if math.isnan(self.original) and math.isnan(self.reproduced):
            return 0.0
        return abs(self.reproduced - self.original)


@dataclass(frozen=True)
class Reproduction:
    original: RecordedRun
    run_id: str
    tolerance: float
    checks: tuple[MetricCheck, ...]
    notes: tuple[str, ...]

    def within(self, check: MetricCheck) -> bool:
        return check.difference <= self.tolerance

    @property
    def matched(self) -> bool:
        return all(self.within(check) for check in self.checks)

    @property
    def exact(self) -> bool:
        return all(check.difference == 0 for check in self.checks)

    @property
    def verdict(self) -> str:
        source = f"run {self.run_id} reproduces {self.original.run_id}"
        if self.exact:
            return f"[green]REPRODUCED[/]: {source}; all {len(self.checks)} metrics match exactly."
        if self.matched:
            worst = max(check.difference for check in self.checks)
            return (
                f"[green]REPRODUCED[/] within tolerance {self.tolerance:g}: {source}; largest "
                f"difference {worst:.3g}."
            )
        failed = [check.name for check in self.checks if not self.within(check)]
        return (
            f"[red]DIFFERS[/]: {len(failed)} metric(s) beyond tolerance {self.tolerance:g}: "
            f"{', '.join(failed[:8])}. The original run is {self.original.run_id}."
        )


def reproduce_run(
    run_id: str,
    tolerance: float = 0.0,
    progress: Progress | None = None,
    say: Callable[[str], object] = print,
) -> Reproduction:
    """Re-train ``run_id`` from its records in a new run and compare metrics with it."""
    from mlops_tracking.core.models import family_for
    from mlops_tracking.runs.workflow import train_run

    if tolerance < 0:
        raise UserError(f"--tolerance must be zero or positive, not {tolerance:g}.")
    original = read_run(run_id)
    with tempfile.TemporaryDirectory(prefix="reproduce-") as folder:
        scratch = Path(folder)
        config = _recorded_config(original, scratch)
        notes = [*_check_code(original, scratch), *_environment_notes(original)]
        inputs, data_notes = rebuild_inputs(original, config, scratch)
        notes.extend(data_notes)
        for note in notes:
            say(f"  {note}")
        family = family_for(config.model.name, inputs.dataset.task)
        (progress or SilentProgress()).step(f"re-training {family.name} on {inputs.dataset.name}")
        outcome = train_run(
            inputs,
            family,
            ExperimentRef(original.experiment_id, original.experiment),
            f"{original.run_name}-reproduction",
            extra_tags={"mlops.reproduces": run_id},
        )
    reproduced = read_run(outcome.run_id)  # compare what the store holds, not what we computed
    result = Reproduction(
        original, outcome.run_id, tolerance, compare_metrics(original, reproduced), tuple(notes)
    )
    record_reproduction(
        outcome.run_id,
        {
            "mlops.reproduction": (
                "exact" if result.exact else "within_tolerance" if result.matched else "differs"
            ),
            "mlops.reproduction.tolerance": f"{tolerance:g}",
        },
        {
            "original_run_id": run_id,
            "tolerance": tolerance,
            "notes": list(notes),
            "metrics": [
                {
                    "name": c.name,
                    "original": c.original,
                    "reproduced": c.reproduced,
                    "difference": None if math.isinf(c.difference) else c.difference,
                }
                for c in result.checks
            ],
        },
    )
    return result


def compare_metrics(original: RecordedRun, reproduced: RecordedRun) -> tuple[MetricCheck, ...]:
    """Every metric of the original that does not measure the machine, paired with the new one."""
    return tuple(
        MetricCheck(name, value, reproduced.metrics.get(name))
        for name, value in sorted(original.metrics.items())
        if not MACHINE_METRICS.search(name)
    )


def _recorded_config(run: RecordedRun, scratch: Path) -> Config:
    kind = run.tags.get("mlops.run_type", "training")
    if kind != "training":
        child = " (to reproduce a comparison, reproduce one of its child runs)"
        raise ReproductionError(
            f"run {run.run_id} is a {kind} run; only training runs can be re-trained"
            + (child if kind == "comparison" else "")
            + "."
        )
    path = download(run.run_id, CONFIG_FILE, scratch / "config")
    if path is None:
        raise ReproductionError(
            f"run {run.run_id} recorded no {CONFIG_FILE}, so the config it ran with is unknown; "
            "only runs made by `mlops-tracking train`, `compare` or the pipeline can be reproduced."
        )
    if run.input("training") is None:
        raise ReproductionError(
            f"run {run.run_id} logged no training dataset, so the data it used is unknown."
        )
    return load_config(path)


def _check_code(run: RecordedRun, scratch: Path) -> list[str]:
    """Refuse when the package source differs from the code the run logged."""
    from mlops_tracking.core.environment import package_source_dir

    logged = download(run.run_id, SOURCE_DIR, scratch / "source")
    commit = run.tags.get("mlflow.source.git.commit", "")
    if logged is None:
        raise ReproductionError(
            f"run {run.run_id} logged no source code ({SOURCE_DIR}), so the code it ran cannot "
            "be compared with this checkout."
        )
    changed = code_differences(logged, package_source_dir())
    if changed:
        at = f" (git commit {commit[:12]})" if commit else ""
        raise ReproductionError(
            f"the code differs from what run {run.run_id} ran{at}: {', '.join(changed[:10])}"
            + (f" (+{len(changed) - 10} more)" if len(changed) > 10 else "")
            + (
                f". Check out that commit (`git checkout {commit[:12]}`) and reproduce again."
                if commit
                else "."
            )
        )
    from mlops_tracking.core.environment import code_version

    current = code_version()
    if commit and current is not None and current.commit != commit:
        return [
            f"code: identical source, although git HEAD is {current.commit[:12]} "
            f"(the run's commit is {commit[:12]})"
        ]
    return ["code: identical to the source the run logged"]


def code_differences(logged: Path, current: Path) -> list[str]:
    """Python files that differ, were added or were removed between two package trees."""

    def files(root: Path) -> set[str]:
        return {p.relative_to(root).as_posix() for p in root.rglob("*.py")}

    before, after = files(logged), files(current)
    changed = [
        name
        for name in sorted(before & after)
        if not filecmp.cmp(logged / name, current / name, shallow=False)
    ]
    return [
        *(f"{name} (changed)" for name in changed),
        *(f"{name} (added)" for name in sorted(after - before)),
        *(f"{name} (removed)" for name in sorted(before - after)),
    ]


def _environment_notes(run: RecordedRun) -> list[str]:
    from mlops_tracking.core.environment import KEY_PACKAGES, package_version

    moved = [
        f"{name} {run.tags[f'env.{name}']} → {package_version(name)}"
        for name in KEY_PACKAGES
        if f"env.{name}" in run.tags and run.tags[f"env.{name}"] != package_version(name)
    ]
    if moved:
        return [f"environment: package versions differ ({'; '.join(moved)}); results may too"]
    return []


def rebuild_inputs(
    run: RecordedRun, config: Config, scratch: Path
) -> tuple[TrainingInputs, list[str]]:
    """The run's training data, proven identical to what it logged (or refused)."""
    from mlops_tracking.runs.workflow import prepare, prepare_from_pipeline

    notes: list[str] = []
    training = run.input("training")
    assert training is not None
    if training.source_type == "dvc":
        features_dir, notes = _restore_pipeline_data(run, scratch)
        inputs = prepare_from_pipeline(config, None, features_dir)
    else:
        inputs = prepare(_with_reachable_csv(config, training.source))
    _check_digests(run, inputs)
    notes.append(
        f"data: every split matches the digest the run logged ({training.digest} for training)"
    )
    return inputs, notes


def _with_reachable_csv(config: Config, source: dict[str, str]) -> Config:
    # a relative data.path means the directory the run started in; the source URI is absolute
    if config.data.path is not None and not config.data.path.exists():
        recorded = Path(str(source.get("uri", "")))
        if recorded.is_file():
            return config.with_overrides([f"data.path={recorded}"])
        raise ReproductionError(
            f"the run's data file {config.data.path} no longer exists (nor at {recorded}); "
            "restore it to reproduce the run."
        )
    return config


def _restore_pipeline_data(run: RecordedRun, scratch: Path) -> tuple[Path, list[str]]:
    """Check every DVC-versioned file of the run's lineage; restore changed ones from the cache."""
    from mlops_tracking.core.dvc_workspace import cache_file, file_md5, find_root

    root = find_root()
    if root is None:
        raise ReproductionError(
            f"run {run.run_id} trained on DVC-versioned data; run `reproduce` inside that DVC "
            "repository (no .dvc folder here or above)."
        )
    recorded = {
        key.removeprefix(DVC_DATA_TAG): md5
        for key, md5 in run.tags.items()
        if key.startswith(DVC_DATA_TAG)
    }
    training = run.input("training")
    assert training is not None
    features = Path(str(training.source.get("path", ""))).parent
    restored = scratch / "features"
    restored.mkdir()
    notes: list[str] = []
    lost: list[str] = []
    for path, md5 in sorted(recorded.items()):
        current = file_md5(root / path)
        source = root / path
        if current != md5:
            cached = cache_file(root, md5)
            if not cached.is_file():
                now = "missing" if current is None else f"now {current}"
                if Path(path).parent != features:  # upstream of what training reads
                    notes.append(f"data: {path} (not read by training) differs: md5 {md5}, {now}")
                    continue
                lost.append(f"{path} (the run used md5 {md5}, {now})")
                continue
            source = cached
            notes.append(
                f"data: {path} differs in the workspace; restored md5 {md5} from the DVC cache"
            )
        if Path(path).parent == features:
            shutil.copyfile(source, restored / Path(path).name)
    if lost:
        hint = (
            "`dvc pull` (from a checkout whose dvc.lock records those hashes; "
            "`mlops-tracking data versions` lists the commits)"
        )
        raise ReproductionError(
            "the data differs from what run "
            f"{run.run_id} used and that version is not in the DVC cache: {'; '.join(lost)}. "
            f"Fetch it with {hint}, then reproduce again."
        )
    if not any("restored" in note for note in notes):
        notes.append("data: every file training reads matches the hashes the run recorded")
        return root / features, notes  # nothing restored: train from the workspace, bound to DVC
    return restored, notes


def _check_digests(run: RecordedRun, inputs: TrainingInputs) -> None:
    from mlops_tracking.runs.datasets import to_mlflow_dataset

    for split, context in zip(inputs.splits, CONTEXTS, strict=True):
        logged = run.input(context)
        if logged is None:
            continue
        digest = to_mlflow_dataset(inputs.dataset, split).digest
        if digest != logged.digest:
            where = logged.source.get("path") or logged.source.get("uri") or inputs.dataset.source
            raise ReproductionError(
                f"the {split.name} split differs from what run {run.run_id} used: it logged "
                f"{logged.name} with digest {logged.digest}, the data now gives {digest} "
                f"(source: {where}). Restore that data version and reproduce again."
            )
