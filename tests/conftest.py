"""Every test gets its own tracking store and working directory; MLflow state is reset after.

Shared training runs (expensive) are made once per session in their own store and exposed
through fixtures that point MLflow at that store for the duration of a test.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
PARAMS = REPO / "params.yaml"

# Small but real models: enough to exercise every code path in seconds.
FAST = [
    "model.random_forest.n_estimators=25",
    "model.hist_gradient_boosting.max_iter=25",
    "model.mlp.max_epochs=15",
    "evaluation.permutation_repeats=2",
    "tracking.system_metrics_interval=0.5",
]


def pytest_configure(config: pytest.Config) -> None:
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    os.environ["MLFLOW_LOGGING_LEVEL"] = "WARNING"


def sets(*overrides: str) -> list[str]:
    """``--set`` arguments for each ``KEY=VALUE``."""
    return [arg for override in overrides for arg in ("--set", override)]


def train_command(*overrides: str) -> list[str]:
    """The argv of ``mlops-tracking train`` on params.yaml, run as a module in a subprocess."""
    return [
        sys.executable,
        "-m",
        "mlops_tracking",
        "train",
        "--config",
        str(PARAMS),
        *sets(*overrides),
    ]


def _point_mlflow_at(uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)


def _reset_mlflow() -> None:
    """End runs and forget the active experiment, as MLflow's own test suite does."""
    import mlflow
    import mlflow.tracking.fluent

    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.tracking.fluent._active_experiment_id = None
    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)  # mlflow.set_experiment exports it
    mlflow.set_tracking_uri(None)


@pytest.fixture(autouse=True, scope="session")
def terminal_width_of_a_log() -> Iterator[None]:
    """Output is laid out as for a log (150 columns), whatever terminal runs the tests.

    A developer's exported COLUMNS would otherwise fold messages and table cells that tests
    read; a test about narrow terminals sets COLUMNS itself.
    """
    saved = {name: os.environ.pop(name) for name in ("COLUMNS", "LINES") if name in os.environ}
    yield
    os.environ.update(saved)


@pytest.fixture(autouse=True)
def isolated_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh sqlite store and working directory (artifacts land in tmp_path/mlruns)."""
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    # a run handed off to the offline spool (runs/spool.py) stays in the test's folder
    monkeypatch.setenv("MLOPS_TRACKING_SPOOL_URI", f"sqlite:///{tmp_path / 'spool' / 'mlflow.db'}")
    yield uri
    if "mlflow" in sys.modules:  # pure-function tests never import it; don't pay ~3 s for it
        _reset_mlflow()


@pytest.fixture
def fast_config():  # type: ignore[no-untyped-def]
    from mlops_tracking.core.config import load_config

    return load_config(PARAMS, FAST)


@dataclass(frozen=True)
class StoredRun:
    """A run trained once per session, in its own store."""

    uri: str
    run_id: str
    outcome: object


def _train_in_store(directory: Path, overrides: list[str]) -> StoredRun:
    import mlflow

    from mlops_tracking.core.config import load_config
    from mlops_tracking.runs.workflow import train_and_log

    previous = Path.cwd()
    os.chdir(directory)
    uri = f"sqlite:///{directory / 'mlflow.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = uri
    try:
        outcome = train_and_log(load_config(PARAMS, [*FAST, *overrides]), PARAMS)
    finally:
        os.chdir(previous)
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        _reset_mlflow()
        mlflow.set_tracking_uri(None)
    return StoredRun(uri, outcome.run_id, outcome)


@pytest.fixture(scope="session")
def _binary_store(tmp_path_factory: pytest.TempPathFactory) -> StoredRun:
    return _train_in_store(
        tmp_path_factory.mktemp("binary"),
        ["data.dataset=breast_cancer", "model.name=hist_gradient_boosting"],
    )


@pytest.fixture(scope="session")
def _multiclass_store(tmp_path_factory: pytest.TempPathFactory) -> StoredRun:
    return _train_in_store(
        tmp_path_factory.mktemp("multiclass"), ["data.dataset=wine", "model.name=mlp"]
    )


@pytest.fixture(scope="session")
def _regression_store(tmp_path_factory: pytest.TempPathFactory) -> StoredRun:
    return _train_in_store(
        tmp_path_factory.mktemp("regression"), ["data.dataset=diabetes", "model.name=random_forest"]
    )


@pytest.fixture
def binary_run(_binary_store: StoredRun, monkeypatch: pytest.MonkeyPatch) -> StoredRun:
    _point_mlflow_at(_binary_store.uri, monkeypatch)
    return _binary_store


@pytest.fixture
def multiclass_run(_multiclass_store: StoredRun, monkeypatch: pytest.MonkeyPatch) -> StoredRun:
    _point_mlflow_at(_multiclass_store.uri, monkeypatch)
    return _multiclass_store


@pytest.fixture
def regression_run(_regression_store: StoredRun, monkeypatch: pytest.MonkeyPatch) -> StoredRun:
    _point_mlflow_at(_regression_store.uri, monkeypatch)
    return _regression_store


@pytest.fixture(params=["binary", "multiclass", "regression"])
def any_run(request: pytest.FixtureRequest) -> StoredRun:
    run: StoredRun = request.getfixturevalue(f"{request.param}_run")
    return run


@pytest.fixture
def client():  # type: ignore[no-untyped-def]
    from mlflow import MlflowClient

    return MlflowClient()


def count_runs() -> int:
    """Runs in the current store, across experiments (0 when the store is empty or absent)."""
    from mlflow import MlflowClient

    client = MlflowClient()
    experiments = [e.experiment_id for e in client.search_experiments()]
    return len(client.search_runs(experiments)) if experiments else 0


def write_csv(path: Path, rows: int = 120, seed: int = 0) -> Path:
    """A tidy table with numeric, categorical, missing values, an id column and a text target."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    size = rng.normal(50, 10, rows)
    colour = rng.choice(["red", "green", "blue"], rows)
    score = size / 10 + (colour == "red") * 3 + rng.normal(0, 1, rows)
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i:05d}" for i in range(rows)],
            "size": size.round(2),
            "visits": rng.integers(0, 20, rows),
            "colour": colour,
            "plan": rng.choice(["basic", "pro", None], rows),
            "churned": np.where(score > np.median(score), "yes", "no"),
        }
    )
    frame.loc[::9, "size"] = np.nan
    frame.to_csv(path, index=False)
    return path


@dataclass(frozen=True)
class Fitted:
    """A pipeline trained through the production path, without tracking."""

    inputs: Any
    family: Any
    pipeline: Any
    fit: Any

    @property
    def config(self) -> Any:
        return self.inputs.config

    @property
    def dataset(self) -> Any:
        return self.inputs.dataset

    @property
    def splits(self) -> Any:
        return self.inputs.splits


def fit_model(*overrides: str, fast: bool = True) -> Fitted:
    """Load params.yaml with ``overrides`` and fit exactly as a run does."""
    from mlops_tracking.core.config import load_config
    from mlops_tracking.core.modelling import fit_pipeline
    from mlops_tracking.core.models import family_for
    from mlops_tracking.runs.workflow import load_inputs

    config = load_config(PARAMS, [*(FAST if fast else []), *overrides])
    inputs = load_inputs(config)
    family = family_for(config.model.name, inputs.dataset.task)
    pipeline, fit = fit_pipeline(inputs, family)
    return Fitted(inputs, family, pipeline, fit)


# --- runs made without this project (plain MLflow calls), for register, audit, runs, lineage ----


@dataclass(frozen=True)
class ForeignStore:
    """This test's copy of a store holding the runs of ``foreign_runs.MAKERS``, by kind."""

    uri: str
    runs: dict[str, str]  # kind ("example", "autolog", "deleted", ...) -> run id


@pytest.fixture(scope="session")
def _foreign_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    import mlflow

    from foreign_runs import MAKERS

    directory = tmp_path_factory.mktemp("foreign")
    previous = Path.cwd()
    os.chdir(directory)
    mlflow.set_tracking_uri(f"sqlite:///{directory / 'mlflow.db'}")
    try:
        runs = {kind: make() for kind, make in MAKERS.items()}
    finally:
        os.chdir(previous)
        _reset_mlflow()
    return directory, runs


@pytest.fixture
def foreign_store(
    _foreign_template: tuple[Path, dict[str, str]], tmp_path: Path, isolated_store: str
) -> ForeignStore:
    """This test's own copy of the foreign runs' database (artifacts stay shared), so what a
    test registers or promotes is gone for the next one."""
    import shutil

    template, runs = _foreign_template
    shutil.copy(template / "mlflow.db", tmp_path / "mlflow.db")
    return ForeignStore(isolated_store, runs)


# --- a store with several runs of one experiment, for the registry ------------------------------

# Three breast_cancer models of clearly different quality (test log loss ~0.09, ~0.12, ~0.6).
REGISTRY_RUNS = (
    ["model.name=logistic_regression"],
    ["model.name=random_forest"],
    ["model.name=logistic_regression", "model.logistic_regression.C=0.0001"],
)


@dataclass(frozen=True)
class RegistryStore:
    """A private copy of a store holding REGISTRY_RUNS; ``runs`` are ordered best first."""

    uri: str
    runs: list[str]  # run ids by test log loss, best first
    losses: list[float]
    name: str = "breast_cancer-binary"


@pytest.fixture(scope="session")
def _registry_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    import mlflow

    from mlops_tracking.core.config import load_config
    from mlops_tracking.runs.workflow import train_and_log

    directory = tmp_path_factory.mktemp("registry")
    previous = Path.cwd()
    os.chdir(directory)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{directory / 'mlflow.db'}"
    try:
        runs = [
            train_and_log(load_config(PARAMS, [*FAST, *overrides]), PARAMS).run_id
            for overrides in REGISTRY_RUNS
        ]
    finally:
        os.chdir(previous)
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        _reset_mlflow()
        mlflow.set_tracking_uri(None)
    return directory, runs


@pytest.fixture
def registry_store(
    _registry_template: tuple[Path, list[str]], tmp_path: Path, isolated_store: str
) -> RegistryStore:
    """This test's own copy of the registry template's database (artifacts stay shared).

    Registry state (versions, aliases, trail) lives in the database, so every test starts with
    three trained runs and an empty registry.
    """
    import shutil

    from mlflow import MlflowClient

    template, runs = _registry_template
    shutil.copy(template / "mlflow.db", tmp_path / "mlflow.db")
    client = MlflowClient(isolated_store)
    losses = {run: client.get_run(run).data.metrics["test_log_loss"] for run in runs}
    ordered = sorted(runs, key=losses.__getitem__)
    return RegistryStore(isolated_store, ordered, [losses[run] for run in ordered])


@pytest.fixture
def temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty temporary directory of this test's own (``TMPDIR``, for child processes too),
    to list what a command leaves behind."""
    import tempfile

    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", str(folder))  # gettempdir() caches its answer
    return folder


def cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: int = 300
) -> Any:
    """Run ``mlops-tracking ARGS`` in a subprocess (the current store); return the result."""
    import subprocess

    return subprocess.run(
        [sys.executable, "-m", "mlops_tracking", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def team_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One real team server per test process: PostgreSQL, proxied artifacts, basic-auth.

    Users ``admin``, ``alice`` and ``bob`` (READ on what others made); ``server.env("alice")``
    is a client environment. Skips where PostgreSQL is not running. Tests that kill or restart
    a server start their own with ``team_server.running_team_server``.
    """
    from team_server import postgres_running, running_team_server

    if not postgres_running():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432 (.ci/run starts it)")
    with running_team_server(tmp_path_factory.mktemp("team-server")) as server:
        yield server
