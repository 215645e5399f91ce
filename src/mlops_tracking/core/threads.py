"""How many threads a training run may use, and a limit that holds OpenMP and BLAS to it.

``model.threads`` is ``auto`` or a number. ``auto`` is one thread on tables whose training split
has fewer than ``AUTO_THREADS_MIN_ROWS`` rows, and every core this process may run on above
that. On small tables, starting and synchronising threads costs more than parallel work saves,
and on a busy machine OpenMP's threads spin waiting for cores that other processes hold:
``benchmarks/threads.py`` measures histogram gradient boosting both ways (on the busy 2-core
development machine, two threads were 6-21x slower at 10,000 rows and still 9x slower at
100,000, with identical models). On a shared machine, set ``model.threads=1`` for large tables
too.

The count reaches every estimator: the random forest's ``n_jobs`` (unless
``model.random_forest.n_jobs`` sets it), and, through ``threadpool_limits``, the OpenMP loops
of histogram gradient boosting and the BLAS calls of the MLP and the linear models.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

# Below this many training rows, `auto` is one thread (see the module docstring).
AUTO_THREADS_MIN_ROWS = 100_000


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, not the machine's total)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def resolve_threads(setting: int | Literal["auto"], training_rows: int) -> int:
    """The thread count for ``setting`` on a training split of ``training_rows`` rows."""
    if setting != "auto":
        return setting
    return 1 if training_rows < AUTO_THREADS_MIN_ROWS else available_cores()


@contextmanager
def limited_threads(threads: int) -> Iterator[None]:
    """Hold OpenMP and BLAS thread pools to ``threads`` while the block runs."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads):
        yield
