"""The registry tour the demo takes: register, promote through both gates, reject a weaker
candidate, serve production for one real request (counted in its monitoring run), trace its
lineage, and check a shifted copy of the test split for drift."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_tracking.core.config import Config
    from mlops_tracking.registry.drift_check import DriftCheck
    from mlops_tracking.registry.release import Decision, Registration


@dataclass
class LifecycleTour:
    """What the demo's registry tour did: registrations, decisions, one served request."""

    name: str = ""
    registered: list[Registration] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    served: str = ""  # the endpoint that answered
    response: str = ""  # its answer to one real request
    figures: dict[str, str] = field(default_factory=dict)  # its request figures, as the tags say
    monitoring_run: tuple[str, str] = ("", "")  # (experiment id, run id) of its monitoring run
    lineage: dict[str, Any] = field(default_factory=dict)
    drift: DriftCheck | None = None  # a shifted copy of the test split against training
    shifted: str = ""  # the column moved


def lifecycle_tour(
    config: Config,
    best_run: str,
    weaker_run: str,
    by: str,
    meanwhile: Callable[[], None] | None = None,
) -> LifecycleTour:
    """Register ``best_run``, promote it to staging then production through the gates, show the
    gate rejecting ``weaker_run``, serve production for one real request, and trace its lineage.

    The model server takes seconds to boot: the weaker candidate's gate and ``meanwhile`` run
    while it does.
    """
    from mlops_tracking.registry import catalog
    from mlops_tracking.registry.endpoints import free_port, invoke
    from mlops_tracking.registry.gate import held_out_data
    from mlops_tracking.registry.lineage import lineage
    from mlops_tracking.registry.release import promote, register_run
    from mlops_tracking.registry.serving import deployment, launch, stop

    tour = LifecycleTour()
    best = register_run(best_run, config.registry)
    tour.name = name = best.version.name
    tour.registered.append(best)
    for alias in ("staging", "production"):
        tour.decisions.append(promote(config, name, alias, version=best.version.version, by=by))
    production = catalog.resolve(f"{name}@production")
    # it boots while the gate works; its requests are counted in a monitoring run
    launched = launch(production, by, port=free_port(), monitoring=config.monitoring)
    try:
        weaker = register_run(weaker_run, config.registry, name)
        tour.registered.append(weaker)
        version = weaker.version.version
        tour.decisions.append(promote(config, name, "staging", version=version, by=by))
        inputs, _ = held_out_data(production)
        if meanwhile is not None:
            meanwhile()
    except BaseException:
        stop(launched)
        raise
    with deployment(launched) as served:
        tour.served = served.endpoint
        tour.response = invoke(served.endpoint, inputs.splits.test.X.head(1))
        if served.monitor is not None:
            tour.monitoring_run = (served.monitor.experiment_id, served.monitor.run_id)
    # written by the monitoring run's last flush, once the server stopped
    tour.figures = {
        key: value
        for key, value in catalog.model_version(production).tags.items()
        if key.startswith("monitoring.")
    }
    tour.lineage = lineage(f"{name}@production")
    tour.shifted, tour.drift = _shifted_check(config, name, inputs, by)
    return tour


def _shifted_check(config: Config, name: str, inputs: Any, by: str) -> tuple[str, DriftCheck]:
    """``monitor`` on a copy of the test split with its first numeric column moved 2 sd."""
    import tempfile
    from pathlib import Path

    from mlops_tracking.core.drift import NUMERIC_KINDS, shifted_copy
    from mlops_tracking.core.modelling import raw_rows
    from mlops_tracking.registry.drift_check import check_batch

    dataset = inputs.dataset
    rows = raw_rows(inputs.splits.test.X, dataset)
    column = next(str(c) for c in rows.columns if dataset.kind(str(c)) in NUMERIC_KINDS)
    with tempfile.TemporaryDirectory(prefix="mlops-drift-") as folder:
        path = Path(folder) / "test_split_shifted.csv"
        shifted_copy(rows, column, by_std=2.0).to_csv(path, index=False)
        check = check_batch(f"{name}@production", path, by, config.monitoring)
    return column, check
