"""The main job: one binary comparison, one multiclass run and one regression run, audited.

All three use datasets that scikit-learn ships, so the demo never downloads anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_tracking.comparison import compare_and_log
from mlops_tracking.config import Config
from mlops_tracking.workflows import Progress, RunOutcome, SilentProgress, train_and_log

if TYPE_CHECKING:
    from mlops_tracking.tracking.audit import AuditReport

BINARY_MODELS = ("logistic_regression", "random_forest", "hist_gradient_boosting", "mlp")
SINGLE_RUNS = (("wine", "hist_gradient_boosting"), ("diabetes", "random_forest"))


@dataclass
class DemoOutcome:
    """The experiments the demo wrote to, their best runs, and the audit of every run."""

    experiments: dict[str, str] = field(default_factory=dict)  # name -> id
    best: dict[str, RunOutcome] = field(default_factory=dict)  # experiment name -> best run
    audits: dict[str, AuditReport] = field(default_factory=dict)  # run id -> report
    compared: set[str] = field(default_factory=set)  # experiments holding a comparison
    selection_metric: str = ""

    @property
    def all_passed(self) -> bool:
        return bool(self.audits) and all(report.passed for report in self.audits.values())


def planned_steps() -> int:
    """Trainings plus the final audit, for a progress bar."""
    return len(BINARY_MODELS) + len(SINGLE_RUNS) + 1


def _on(config: Config, dataset: str, model: str) -> Config:
    return config.with_overrides(
        [
            f"data.dataset={dataset}",
            "data.path=null",
            "data.target=null",
            "data.task=auto",
            f"model.name={model}",
        ]
    )


def run_demo(
    config: Config, config_file: Path | None = None, progress: Progress | None = None
) -> DemoOutcome:
    """Run the demo on the current store and audit every run it created."""
    from mlops_tracking.tracking.audit import audit_run

    report = progress or SilentProgress()
    report.begin(planned_steps())
    outcome = DemoOutcome()
    run_ids: list[str] = []
    comparison = compare_and_log(
        _on(config, "breast_cancer", BINARY_MODELS[0]), BINARY_MODELS, config_file, progress=report
    )
    outcome.experiments[comparison.experiment.name] = comparison.experiment.id
    outcome.compared.add(comparison.experiment.name)
    outcome.selection_metric = comparison.selection_metric
    if comparison.best is not None:
        outcome.best[comparison.experiment.name] = comparison.best
    run_ids += [comparison.parent_run_id, *(child.run_id for child in comparison.children)]
    for dataset, model in SINGLE_RUNS:
        run = train_and_log(_on(config, dataset, model), config_file, progress=report)
        outcome.experiments[run.experiment.name] = run.experiment.id
        outcome.best[run.experiment.name] = run
        run_ids.append(run.run_id)
    report.step("auditing every run")
    outcome.audits = {run_id: audit_run(run_id) for run_id in run_ids}
    return outcome
