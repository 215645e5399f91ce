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
import json
import math
import re
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_tracking.core.config import Config
from mlops_tracking.core.errors import UserError
from mlops_tracking.runs.rebuild import RebuildError, rebuild_inputs, recorded_config
from mlops_tracking.runs.recorded import (
    SOURCE_DIR,
    RecordedRun,
    download,
    download_source,
    read_run,
)
from mlops_tracking.runs.workflow import ExperimentRef, Progress, SilentProgress

if TYPE_CHECKING:
    from mlops_tracking.core.records import TrainingInputs

# Metrics that measure the machine, not the model: never expected to repeat.
MACHINE_METRICS = re.compile(r"^system/|seconds|latency")


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
class ModelCheck:
    """The original run's logged deployable model, scored again on the rebuilt test rows."""

    rows: int
    agreeing: int  # rows whose label (or value, within ONNX_VALUE_TOLERANCE) is the recorded one
    largest_difference: float  # in a class probability, or in a predicted value
    integrity: str = ""  # how its files were checked before it was loaded (runs/integrity.py)

    @property
    def agreed(self) -> bool:
        return self.agreeing == self.rows

    def note(self) -> str:
        verdict = "gives" if self.agreed else "no longer gives"
        checked = f"; {self.integrity}" if self.integrity else ""
        return (
            f"model: the logged deployable model {verdict} the recorded test predictions "
            f"({self.agreeing}/{self.rows} rows agree; largest difference "
            f"{self.largest_difference:.2g}){checked}"
        )


# The deployable model may run ONNX (float32), which training accepted only when it gave
# scikit-learn's labels on every test row, or values within 0.1 % of the largest.
ONNX_VALUE_TOLERANCE = 1e-3


@dataclass(frozen=True)
class Reproduction:
    original: RecordedRun
    run_id: str
    tolerance: float
    checks: tuple[MetricCheck, ...]
    notes: tuple[str, ...]
    model: ModelCheck | None = None  # None: the run logged no deployable model to score

    def within(self, check: MetricCheck) -> bool:
        return check.difference <= self.tolerance

    @property
    def matched(self) -> bool:
        model_agreed = self.model is None or self.model.agreed
        return model_agreed and all(self.within(check) for check in self.checks)

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
        if self.model is not None and not self.model.agreed:
            failed.insert(0, "the logged model's test predictions")
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
        try:
            rebuilt = rebuild_inputs(original, config, scratch)
        except RebuildError as error:
            raise ReproductionError(str(error)) from None
        inputs = rebuilt.inputs
        notes.extend(rebuilt.notes)
        model = check_logged_model(original, inputs, scratch)
        if model is not None:
            notes.append(model.note())
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
        original,
        outcome.run_id,
        tolerance,
        compare_metrics(original, reproduced),
        tuple(notes),
        model,
    )
    record_reproduction(
        outcome.run_id,
        {
            "mlops.reproduction": (
                "exact" if result.exact else "within_tolerance" if result.matched else "differs"
            ),
            "mlops.reproduction.tolerance": f"{tolerance:g}",
            "mlops.reproduction.logged_model": (
                "n/a" if model is None else "agrees" if model.agreed else "differs"
            ),
        },
        {
            "original_run_id": run_id,
            "tolerance": tolerance,
            "notes": list(notes),
            "logged_model": None if model is None else asdict(model),
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


def check_logged_model(
    original: RecordedRun, inputs: TrainingInputs, scratch: Path
) -> ModelCheck | None:
    """Score the run's logged deployable model on the rebuilt test split, as ``predict`` would.

    The rows go through the model's own input rules (``runs/scoring.py``), then the outputs are
    compared with the test predictions the run recorded. A registered model is loaded from a
    copy checked against its version's manifest (a changed file is an ``IntegrityError``); an
    unregistered one as stored, and the note says so. None when the run logged no deployable
    model or no predictions.
    """
    from dataclasses import replace

    from mlops_tracking.runs.integrity import logged_model_copy
    from mlops_tracking.runs.recorder import PREDICTIONS_TABLE

    uri = original.tags.get("model_uri.pyfunc")
    table = download(original.run_id, PREDICTIONS_TABLE, scratch / "predictions")
    if uri is None or table is None:
        return None
    with logged_model_copy(uri, original.run_id) as (source, integrity):
        return replace(_agreement(source, uri, _read_table(table), inputs), integrity=integrity)


def _agreement(source: str, uri: str, recorded: Any, inputs: TrainingInputs) -> ModelCheck:
    """How many rebuilt test rows the model loaded from ``source`` scores as recorded."""
    from mlops_tracking.runs.scoring import load_deployable, score_rows

    split = inputs.splits.test
    outputs = score_rows(load_deployable(source), split.X, f"the rebuilt test split of {uri}")
    if list(recorded["id"]) != list(split.X.index.astype(str)):
        return ModelCheck(len(split), 0, math.inf)
    if "label" not in outputs:  # regression
        differences = (outputs["prediction"] - recorded["prediction"].to_numpy()).abs()
        scale = max(float(recorded["prediction"].abs().max()), 1.0)
        agreeing = int((differences <= ONNX_VALUE_TOLERANCE * scale).sum())
        return ModelCheck(len(split), agreeing, float(differences.max()))
    proba = [column for column in recorded.columns if column.startswith("proba_")]
    agreeing = int((outputs["label"].to_numpy() == recorded["prediction"].to_numpy()).sum())
    largest = float(abs(outputs[proba].to_numpy() - recorded[proba].to_numpy()).max())
    return ModelCheck(len(split), agreeing, largest)


def _read_table(path: Path) -> Any:
    """A table logged with ``mlflow.log_table`` (JSON: columns and data)."""
    import pandas as pd

    content = json.loads(path.read_text(encoding="utf-8"))
    return pd.DataFrame(content["data"], columns=content["columns"])


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
    try:
        return recorded_config(run, scratch)
    except RebuildError as error:
        raise ReproductionError(str(error)) from None


def _check_code(run: RecordedRun, scratch: Path) -> list[str]:
    """Refuse when the package source differs from the code the run logged."""
    from mlops_tracking.core.environment import code_version, package_source_dir

    logged = download_source(run.run_id, scratch / "source")
    commit = run.tags.get("mlflow.source.git.commit", "")
    if logged is None:
        raise ReproductionError(
            f"run {run.run_id} logged no source code ({SOURCE_DIR}), so the code it ran cannot "
            "be compared with this checkout."
        )
    changed = code_differences(logged, package_source_dir())
    if changed:
        raise ReproductionError(_code_refusal(run.run_id, commit, changed))
    current = code_version()
    if commit and current is not None and current.commit != commit:
        return [
            f"code: identical source, although git HEAD is {current.commit[:12]} "
            f"(the run's commit is {commit[:12]})"
        ]
    return ["code: identical to the source the run logged"]


def _code_refusal(run_id: str, commit: str, changed: list[str]) -> str:
    at = f" (git commit {commit[:12]})" if commit else ""
    message = f"the code differs from what run {run_id} ran{at}: {', '.join(changed[:10])}"
    if len(changed) > 10:
        message += f" (+{len(changed) - 10} more)"
    moved = sum("(moved to " in difference for difference in changed)
    if moved:
        message += (
            f". The package has been reorganised since that run ({moved} "
            f"module{'s' if moved != 1 else ''} moved), so "
            "its code cannot run from this checkout"
        )
    if commit:
        return (
            message + f". Check out that commit (`git checkout {commit[:12]}`) and reproduce again."
        )
    return message + "."


def code_differences(logged: Path, current: Path) -> list[str]:
    """Python files that differ, moved, were added or were removed between two package trees.

    A file removed in one place and added under the same name in exactly one other is a move.
    """

    def files(root: Path) -> set[str]:
        return {p.relative_to(root).as_posix() for p in root.rglob("*.py")}

    before, after = files(logged), files(current)
    changed = [
        name
        for name in sorted(before & after)
        if not filecmp.cmp(logged / name, current / name, shallow=False)
    ]
    added, removed = sorted(after - before), sorted(before - after)
    moved = {}
    for old in removed:
        same_name = [new for new in added if Path(new).name == Path(old).name]
        if len(same_name) == 1 and sum(Path(o).name == Path(old).name for o in removed) == 1:
            moved[old] = same_name[0]
    return [
        *(f"{name} (changed)" for name in changed),
        *(f"{old} (moved to {new})" for old, new in moved.items()),
        *(f"{name} (added)" for name in added if name not in moved.values()),
        *(f"{name} (removed)" for name in removed if name not in moved),
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


def record_reproduction(run_id: str, tags: dict[str, str], comparison: dict[str, Any]) -> None:
    """Write the verdict of a reproduction on the run that re-trained."""
    from mlops_tracking.runs.artifacts import log_run_text
    from mlops_tracking.runs.metrics import set_tags

    set_tags(run_id, tags)
    log_run_text(run_id, json.dumps(comparison, indent=2) + "\n", "reproduction/comparison.json")
