"""Code tests of the run's thread count: how `auto` resolves and that OpenMP obeys it."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import fit_model
from mlops_tracking.core.threads import (
    AUTO_THREADS_MIN_ROWS,
    available_cores,
    limited_threads,
    resolve_threads,
)


def _openmp_threads() -> set[int]:
    from threadpoolctl import threadpool_info

    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "openmp"}


def test_auto_is_one_thread_below_the_threshold_and_every_core_above() -> None:
    assert resolve_threads("auto", AUTO_THREADS_MIN_ROWS - 1) == 1
    assert resolve_threads("auto", AUTO_THREADS_MIN_ROWS) == available_cores()
    assert resolve_threads(3, 10) == 3  # a number is taken as it is


def test_the_limit_holds_openmp_while_the_block_runs() -> None:
    import sklearn.ensemble  # noqa: F401  (loads scikit-learn's OpenMP runtime)

    before = _openmp_threads()
    assert before, "scikit-learn's OpenMP runtime should be loaded"
    with limited_threads(1):
        assert _openmp_threads() == {1}
    assert _openmp_threads() == before


@pytest.mark.parametrize("threads", [1, 2])
def test_boosting_fits_with_the_configured_openmp_threads(
    threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    seen: list[set[int]] = []
    original = HistGradientBoostingClassifier.fit

    def spying_fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(_openmp_threads())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(HistGradientBoostingClassifier, "fit", spying_fit)

    fit_model(
        "data.dataset=iris",
        "model.name=hist_gradient_boosting",
        "model.hist_gradient_boosting.max_iter=5",
        f"model.threads={threads}",
    )

    assert seen == [{threads}]
