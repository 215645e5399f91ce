"""The main job: a binary comparison, a multiclass run and a regression run, then the registry.

The comparison's best model then takes the registry tour (``registry/tour.py``): it is promoted
to staging and production through the gates, a weaker candidate is registered and rejected, and
production is served for one real request and its lineage traced. Every run is audited. All
data ships with scikit-learn: nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_tracking.core.config import Config
from mlops_tracking.runs.comparison import compare_and_log
from mlops_tracking.runs.workflow import Progress, RunOutcome, SilentProgress, train_and_log

if TYPE_CHECKING:
    from mlops_tracking.audit.checklist import AuditReport
    from mlops_tracking.registry.tour import LifecycleTour
    from mlops_tracking.runs.comparison import ComparisonOutcome

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
    tour: LifecycleTour | None = None

    @property
    def all_passed(self) -> bool:
        return bool(self.audits) and all(report.passed for report in self.audits.values())


def planned_steps() -> int:
    """Trainings, the registry tour and the final audit, for a progress bar."""
    return len(BINARY_MODELS) + len(SINGLE_RUNS) + 2


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
    from mlops_tracking.audit.checklist import audit_run

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
    report.step("registry: register, promote, reject, serve")

    def audit_every_run() -> None:  # done while the model server boots
        report.step("auditing every run")
        outcome.audits = {run_id: audit_run(run_id) for run_id in run_ids}

    outcome.tour = _tour(config, comparison, audit_every_run)
    if not outcome.audits:
        audit_every_run()
    return outcome


def _tour(
    config: Config, comparison: ComparisonOutcome, meanwhile: Callable[[], None]
) -> LifecycleTour | None:
    """The registry tour on the comparison: its best model, and its worst as the weaker one."""
    from mlops_tracking.core.environment import author
    from mlops_tracking.core.evaluation import metric_goal
    from mlops_tracking.core.promotion import gate_metric
    from mlops_tracking.registry.tour import lifecycle_tour

    if comparison.best is None or len(comparison.children) < 2:
        return None
    best = comparison.best
    metric = f"test_{gate_metric(config.registry.metric, best.task)}"
    others = [child for child in comparison.children if child.run_id != best.run_id]
    sign = 1 if metric_goal(metric) == "maximize" else -1
    weaker = min(others, key=lambda child: sign * child.metrics[metric])  # the worst score
    by = author(config.tracking.author)
    return lifecycle_tour(config, best.run_id, weaker.run_id, by, meanwhile)
