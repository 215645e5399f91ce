"""What task a recorded run was: the one it declared, else the one its metric names imply.

Runs made by this project declare it (tag ``task``: binary, multiclass or regression). A run
made with plain MLflow calls usually does not, so ``audit``, ``runs`` and ``lineage`` all read
its metric names the same way, here: one rule, so they never disagree about a run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# The names regression metrics go by in this project (test_rmse), in MLflow's autolog and
# evaluate (training_mean_squared_error, r2_score) and in hand-written runs (rmse, mae, mse).
REGRESSION_METRIC = re.compile(
    r"rmse|mean_absolute_error|mean_squared_error|(^|_)(mae|mse|mape|r2)(_|$)"
)


def recorded_task(declared: str | None, metric_names: Iterable[str]) -> str:
    """``declared`` when set; else ``regression`` if a metric is named like one, else
    ``classification`` (which of binary or multiclass cannot be told from names alone)."""
    if declared:
        return declared
    names = (name for name in metric_names if not name.startswith("system/"))
    if any(REGRESSION_METRIC.search(name) for name in names):
        return "regression"
    return "classification"
