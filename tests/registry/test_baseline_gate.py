"""A model worse than its trivial baseline: flagged by the audit and `runs`, refused by the gate.

The model is a five-tree forest on a table whose labels are coin flips: its log loss (about 4)
is far worse than predicting the class frequencies (about 0.69), the issue's overconfident
forest in miniature.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import RegistryStore, StoredRun, _point_mlflow_at, _train_in_store

runner = CliRunner()
NAME = "noise-binary"
REASON = "known to be worse than the prior: a canary for the alerting"


@pytest.fixture(scope="module")
def _worse_store(tmp_path_factory: pytest.TempPathFactory) -> StoredRun:
    directory = tmp_path_factory.mktemp("worse")
    rng = np.random.default_rng(0)
    rows = 150
    table = pd.DataFrame(
        {
            "a": rng.normal(size=rows),
            "b": rng.normal(size=rows),
            "c": rng.normal(size=rows),
            "label": rng.choice(["yes", "no"], rows),  # nothing to learn
        }
    )
    table.to_csv(directory / "noise.csv", index=False)
    return _train_in_store(
        directory,
        [
            f"data.path={directory / 'noise.csv'}",
            "data.target=label",
            "model.name=random_forest",
            "model.random_forest.n_estimators=5",
            "tracking.model_formats=[pyfunc]",
            "tracking.system_metrics=false",
        ],
    )


@pytest.fixture
def worse_run(
    _worse_store: StoredRun, tmp_path: Path, isolated_store: str, monkeypatch: pytest.MonkeyPatch
) -> StoredRun:
    """This test's own copy of the store (registry state lives in the database)."""
    shutil.copy(Path(_worse_store.uri.removeprefix("sqlite:///")), tmp_path / "mlflow.db")
    _point_mlflow_at(isolated_store, monkeypatch)
    return StoredRun(isolated_store, _worse_store.run_id, _worse_store.outcome)


def _aliases(client, name: str = NAME) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {alias: str(v) for alias, v in client.get_registered_model(name).aliases.items()}


def _register(run_id: str) -> str:
    from mlops_tracking.core.config import Config
    from mlops_tracking.registry.release import register_run

    return register_run(run_id, Config().registry, NAME).version.version


def test_a_model_worse_than_its_baseline_is_flagged_by_audit_and_runs(
    worse_run: StoredRun, client
) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.audit.checklist import audit_run
    from mlops_tracking.cli.app import app

    run = client.get_run(worse_run.run_id)
    metrics = run.data.metrics
    assert run.data.tags["baseline.beaten"] == "false"
    assert metrics["validation_log_loss"] > metrics["baseline_validation_log_loss"]
    assert metrics["baseline_margin"] < 0

    report = audit_run(worse_run.run_id)

    assert report.passed, [(i.item, i.location) for i in report.missing]  # tracked completely
    (flag,) = report.flagged
    assert flag.item == "Beats the trivial baseline (selection metric)"
    assert "does NOT beat the baseline: validation_log_loss" in flag.location
    assert report.to_dict()["summary"]["flagged"] == 1

    audited = runner.invoke(app, ["audit", worse_run.run_id])
    listed = runner.invoke(app, ["runs"])

    assert audited.exit_code == 0, audited.output
    assert "PASS with warnings" in " ".join(audited.output.split())
    assert listed.exit_code == 0, listed.output
    assert f"NO {metrics['baseline_margin']:+.3f}" in listed.output


def test_the_gate_refuses_a_first_holder_worse_than_its_baseline_unless_forced(
    worse_run: StoredRun, client
) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.cli.app import app
    from mlops_tracking.registry.catalog import read_trail

    version = _register(worse_run.run_id)
    baseline = client.get_run(worse_run.run_id).data.metrics["baseline_test_log_loss"]

    refused = runner.invoke(app, ["promote", NAME, "--to", "staging"])

    assert refused.exit_code == 1, refused.output
    assert "does not beat the trivial baseline's" in " ".join(refused.output.split())
    assert _aliases(client) == {}
    (entry,) = read_trail(NAME)
    assert (entry.decision, entry.version, entry.previous) == ("rejected", version, None)
    assert entry.baseline_value == pytest.approx(baseline)
    assert entry.candidate_value is not None and entry.candidate_value > baseline
    tags = client.get_model_version(NAME, version).tags
    assert tags["promotion.staging.decision"] == "rejected"
    assert float(tags["promotion.staging.baseline_value"]) == pytest.approx(baseline)

    forced = runner.invoke(app, ["promote", NAME, "--to", "staging", "--force", "--reason", REASON])

    assert forced.exit_code == 0, forced.output
    assert _aliases(client) == {"staging": version}
    last = read_trail(NAME)[-1]
    assert (last.action, last.decision, last.reason) == ("force", "promoted", REASON)
    assert client.get_model_version(NAME, version).tags["promotion.staging.reason"] == REASON


def test_a_version_whose_run_recorded_no_baseline_is_refused_and_recorded(
    registry_store: RegistryStore, client
) -> None:  # type: ignore[no-untyped-def]
    """A run trained before baselines were logged: the gate says so instead of crashing."""
    import sqlalchemy

    from mlops_tracking.cli.app import app
    from mlops_tracking.core.config import Config
    from mlops_tracking.registry.catalog import read_trail
    from mlops_tracking.registry.release import register_run

    run_id = registry_store.runs[0]
    # Metrics cannot be deleted through MLflow's API; this test's private copy of the database
    # is edited to look like a store written before runs logged a baseline.
    engine = sqlalchemy.create_engine(registry_store.uri)
    with engine.begin() as connection:
        for table in ("metrics", "latest_metrics"):
            connection.execute(
                sqlalchemy.text(
                    f"DELETE FROM {table} WHERE run_uuid = :run AND key LIKE 'baseline%'"
                ),
                {"run": run_id},
            )
    engine.dispose()
    version = register_run(run_id, Config().registry).version.version

    result = runner.invoke(app, ["promote", registry_store.name, "--to", "staging"])

    assert result.exit_code == 2, result.output
    output = " ".join(result.output.split())
    assert f"no baseline recorded: the source run {run_id}" in output
    assert "promote with --force --reason" in output
    assert _aliases(client, registry_store.name) == {}
    (entry,) = read_trail(registry_store.name)
    assert (entry.decision, entry.version) == ("rejected", version)
    assert "has no baseline_test_log_loss" in entry.reason
