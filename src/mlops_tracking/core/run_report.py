"""Compare two or more runs side by side: the comparison built from plain data, no MLflow.

The first run is the reference; every other run is compared against it. The shell
(``reports/``) reads the runs into ``RunFacts`` and the diff between their commits into
``CommitDiff``; ``build_report`` pairs everything up, and ``report_html`` / ``report_markdown``
render the result.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

GIT_COMMIT_TAG = "mlflow.source.git.commit"
DVC_TAG_PREFIX = "dvc."  # the tags DvcWorkspace.tags and runs/dvc_source.py write
ENVIRONMENT_TAG_PREFIX = "env."  # core.environment.environment_tags
FAMILY_TAGS = ("model.family", "estimator_name")  # ours, then mlflow.sklearn.autolog's

Verdict = Literal["better", "worse", "equal"]


@dataclass(frozen=True)
class DatasetInput:
    """One dataset input of a run, as MLflow stores it."""

    name: str
    digest: str
    source: str
    context: str


@dataclass(frozen=True)
class RunFacts:
    """What a report shows about one run, read once from the store."""

    run_id: str
    name: str
    experiment_id: str
    experiment: str
    status: str
    start_time: int  # ms since the epoch
    end_time: int | None
    url: str
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    datasets: tuple[DatasetInput, ...] = ()
    dirty_diff: str | None = None  # artifact source/git.diff; None: not logged
    packages: dict[str, str] | None = None  # environment/pip-freeze.txt; None: not logged
    python: str | None = None  # environment/python.json's version, else the env.python tag
    plots: dict[str, bytes] = field(default_factory=dict)  # artifact path -> PNG bytes

    @property
    def label(self) -> str:
        """The run's name with its short id: names repeat (two ``mlp-wine`` runs)."""
        return f"{self.name or '(no name)'} ({self.run_id[:8]})"

    @property
    def model_family(self) -> str | None:
        return next((self.tags[key] for key in FAMILY_TAGS if self.tags.get(key)), None)

    @property
    def commit(self) -> str | None:
        return self.tags.get(GIT_COMMIT_TAG) or None

    @property
    def duration_seconds(self) -> float | None:
        return (self.end_time - self.start_time) / 1000 if self.end_time else None

    def tags_under(self, prefix: str) -> dict[str, str]:
        return {key: value for key, value in self.tags.items() if key.startswith(prefix)}


@dataclass(frozen=True)
class CommitDiff:
    """``git diff BASE HEAD`` in the local repository, or why there is none (``note``)."""

    base: str | None
    head: str | None
    text: str | None
    note: str


@dataclass(frozen=True)
class ValueRow:
    """One key and its value in each run (None: the run has no such key)."""

    key: str
    values: tuple[str | None, ...]

    @property
    def differs(self) -> bool:
        return len(set(self.values)) > 1

    @property
    def partial(self) -> bool:
        """Present in some runs only."""
        return None in self.values


@dataclass(frozen=True)
class Delta:
    """A metric of one run against the reference's: value - reference, and relative to it."""

    absolute: float
    relative: float | None  # None when the reference is 0
    verdict: Verdict | None  # this run against the reference; None: no known direction


@dataclass(frozen=True)
class MetricRow:
    key: str
    values: tuple[float | None, ...]
    goal: Literal["minimize", "maximize"] | None
    deltas: tuple[Delta | None, ...]  # one per compared run (runs[1:]); None: a value missing

    @property
    def differs(self) -> bool:
        return any(delta is None or delta.absolute != 0 for delta in self.deltas)


@dataclass(frozen=True)
class DatasetRow:
    """The dataset each run used in one role (its context, e.g. ``training``)."""

    role: str
    inputs: tuple[DatasetInput | None, ...]

    @property
    def differs(self) -> bool:
        return len({(i.name, i.digest) if i else None for i in self.inputs}) > 1


@dataclass(frozen=True)
class PlotRow:
    path: str
    images: tuple[bytes | None, ...]


@dataclass(frozen=True)
class RunReport:
    """Two or more runs compared; every tuple of values is in the order of ``runs``."""

    runs: tuple[RunFacts, ...]
    params: tuple[ValueRow, ...]
    metrics: tuple[MetricRow, ...]
    datasets: tuple[DatasetRow, ...]
    dvc: tuple[ValueRow, ...]
    commits: ValueRow
    commit_diffs: tuple[CommitDiff, ...]  # one per compared run
    python: ValueRow
    packages: tuple[ValueRow, ...]  # every package of any run that logged a pip freeze
    environment_tags: tuple[ValueRow, ...]
    plots: tuple[PlotRow, ...]

    @property
    def reference(self) -> RunFacts:
        return self.runs[0]

    @property
    def compared(self) -> tuple[RunFacts, ...]:
        return self.runs[1:]

    @property
    def params_differing(self) -> list[ValueRow]:
        return [row for row in self.params if row.differs and not row.partial]

    @property
    def params_partial(self) -> list[ValueRow]:
        return [row for row in self.params if row.partial]

    @property
    def params_equal(self) -> list[ValueRow]:
        return [row for row in self.params if not row.differs]


def value_rows(mappings: Sequence[dict[str, str]]) -> tuple[ValueRow, ...]:
    """One row per key of any mapping, sorted by key."""
    keys = sorted({key for mapping in mappings for key in mapping})
    return tuple(ValueRow(key, tuple(mapping.get(key) for mapping in mappings)) for key in keys)


# --- metrics ------------------------------------------------------------------------------------

# Suffixes of scores (higher is better): ours (core.evaluation.METRIC_NAMES) and autolog's
# ``training_*_score``. Losses and errors come from core.evaluation.metric_goal.
HIGHER_IS_BETTER = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "roc_auc_ovr",
    "average_precision",
    "r2",
    "within_10pct",
    "score",
    "_macro",
    "_weighted",
)


def metric_direction(key: str) -> Literal["minimize", "maximize"] | None:
    """Whether lower or higher is better for ``key``; None when the name does not say
    (fit time, system metrics, the trivial baseline's own scores)."""
    from mlops_tracking.core.baseline import MARGIN_METRIC
    from mlops_tracking.core.evaluation import metric_goal

    if key.startswith(("system/", "baseline_")) and key != MARGIN_METRIC:
        return None
    if metric_goal(key) == "minimize" or key.endswith("error"):
        return "minimize"
    if key == MARGIN_METRIC or key.endswith(HIGHER_IS_BETTER):
        return "maximize"
    return None


def delta(reference: float, value: float, goal: str | None) -> Delta:
    absolute = value - reference
    relative = absolute / abs(reference) if reference != 0 else None
    verdict: Verdict | None = None
    if goal is not None:
        improved = absolute < 0 if goal == "minimize" else absolute > 0
        verdict = "equal" if absolute == 0 else "better" if improved else "worse"
    return Delta(absolute, relative, verdict)


def metric_rows(runs: Sequence[RunFacts]) -> tuple[MetricRow, ...]:
    """Every metric of any run, with each compared run's delta against the reference."""
    rows = []
    for key in sorted({key for run in runs for key in run.metrics}):
        values = tuple(run.metrics.get(key) for run in runs)
        goal = metric_direction(key)
        reference = values[0]
        deltas = tuple(
            None if reference is None or value is None else delta(reference, value, goal)
            for value in values[1:]
        )
        rows.append(MetricRow(key, values, goal, deltas))
    return tuple(rows)


# --- data, environment, plots ------------------------------------------------------------------


def dataset_rows(runs: Sequence[RunFacts]) -> tuple[DatasetRow, ...]:
    """One row per role (context, else the dataset's name), in the order runs logged them."""
    roles: list[str] = []
    by_run: list[dict[str, DatasetInput]] = []
    for run in runs:
        mine = {}
        for item in run.datasets:
            role = item.context or item.name
            mine[role] = item
            if role not in roles:
                roles.append(role)
        by_run.append(mine)
    return tuple(DatasetRow(role, tuple(mine.get(role) for mine in by_run)) for role in roles)


PIP_LINE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:==|@|\s)\s*(.+?)\s*$")


def parse_pip_freeze(text: str) -> dict[str, str]:
    """``name==version`` lines (and ``name @ url``) by lower-case name; comments ignored."""
    packages = {}
    for line in text.splitlines():
        match = PIP_LINE.match(line)
        if match and not line.lstrip().startswith("#"):
            packages[match.group(1).lower().replace("_", "-")] = match.group(2)
    return packages


def package_rows(runs: Sequence[RunFacts]) -> tuple[ValueRow, ...]:
    """Each package of any run that logged its environment; runs that did not are left out of
    the comparison (their cells say "not logged", not "not installed")."""
    logged = [run.packages for run in runs if run.packages is not None]
    keys = sorted({key for packages in logged for key in packages})
    return tuple(
        ValueRow(
            key,
            tuple(
                None if run.packages is None else run.packages.get(key, "not installed")
                for run in runs
            ),
        )
        for key in keys
    )


def plot_rows(runs: Sequence[RunFacts]) -> tuple[PlotRow, ...]:
    """One row per PNG path any run logged (sorted), each run's image or None."""
    paths = sorted({path for run in runs for path in run.plots})
    return tuple(PlotRow(path, tuple(run.plots.get(path) for run in runs)) for path in paths)


def build_report(runs: Sequence[RunFacts], commit_diffs: Sequence[CommitDiff]) -> RunReport:
    """Compare ``runs`` (the first is the reference); ``commit_diffs`` has one per other run."""
    if len(runs) < 2:
        raise ValueError("a report compares at least two runs")
    return RunReport(
        runs=tuple(runs),
        params=value_rows([run.params for run in runs]),
        metrics=metric_rows(runs),
        datasets=dataset_rows(runs),
        dvc=value_rows([run.tags_under(DVC_TAG_PREFIX) for run in runs]),
        commits=ValueRow("commit", tuple(run.commit for run in runs)),
        commit_diffs=tuple(commit_diffs),
        python=ValueRow("python", tuple(run.python for run in runs)),
        packages=package_rows(runs),
        environment_tags=value_rows([run.tags_under(ENVIRONMENT_TAG_PREFIX) for run in runs]),
        plots=plot_rows(runs),
    )


def clip(text: str, limit: int) -> tuple[str, bool]:
    """``text`` cut to ``limit`` characters at a line end; whether it was cut."""
    if len(text) <= limit:
        return text, False
    cut = text.rfind("\n", 0, limit)
    return text[: cut + 1 if cut > 0 else limit], True
