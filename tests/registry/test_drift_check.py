"""predict and monitor against a version's training split, read back from the store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import RegistryStore

pytestmark = pytest.mark.slow


def _cli(*args: str) -> tuple[int, str]:
    from typer.testing import CliRunner

    from mlops_tracking.cli.app import app

    result = CliRunner().invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())


def test_an_unchanged_split_passes_and_a_shifted_feature_is_flagged_alone(
    registry_store: RegistryStore, client, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.core.config import Config
    from mlops_tracking.core.drift import PROFILE_ARTIFACT, shifted_copy
    from mlops_tracking.core.modelling import raw_rows
    from mlops_tracking.registry.catalog import VersionRef
    from mlops_tracking.registry.gate import held_out_data
    from mlops_tracking.registry.release import register_run

    run_id = registry_store.runs[0]
    version = register_run(run_id, Config().registry).version
    ref = VersionRef(version.name, version.version)
    # the training run keeps its profile: every numeric column, and its predictions
    profile = json.loads(
        (Path(client.download_artifacts(run_id, PROFILE_ARTIFACT))).read_text(encoding="utf-8")
    )
    assert len(profile["columns"]) == 30 and set(profile["prediction"]["shares"]) == {
        "malignant",
        "benign",
    }
    inputs, _ = held_out_data(ref)
    test = raw_rows(inputs.splits.test.X, inputs.dataset)
    unchanged, shifted = tmp_path / "test.csv", tmp_path / "shifted.csv"
    test.to_csv(unchanged, index=False)
    shifted_copy(test, "mean radius", by_std=2.0).to_csv(shifted, index=False)

    # predict: the inference run carries the drift, the version says "no drift"
    code, output = _cli("predict", f"{ref.name}/{ref.version}", "--input", str(unchanged))
    assert code == 0, output
    assert "drift: none over 30 features" in output
    inference = client.search_runs(
        [client.get_experiment_by_name(f"{ref.name}-inference").experiment_id]
    )[0]
    metrics = inference.data.metrics
    assert metrics["drift/features_drifted"] == 0 and metrics["drift/rows"] == len(test)
    assert metrics["drift/max_psi"] < 0.25
    assert sum(key.startswith("drift/psi/") for key in metrics) == 30
    artifacts = {a.path for a in client.list_artifacts(inference.info.run_id, "monitoring")}
    assert artifacts == {"monitoring/drift_report.html", "monitoring/drift_report.json"}
    tags = client.get_model_version(ref.name, ref.version).tags
    assert tags["monitoring.drift"] == "false"
    assert tags["monitoring.drift_run_id"] == inference.info.run_id

    # monitor on the shifted copy: flagged on that feature only; exit 1 with --fail-on-drift
    page = tmp_path / "report.html"
    code, output = _cli(
        "monitor",
        f"{ref.name}/{ref.version}",
        "--input",
        str(shifted),
        "--out",
        str(page),
        "--fail-on-drift",
    )
    assert code == 1, output
    assert "1 of 30 features drifted: mean radius" in output
    checks = client.search_runs(
        [client.get_experiment_by_name(f"{ref.name}-monitoring").experiment_id],
        filter_string="tags.`mlops.run_type` = 'drift_check'",
    )
    assert len(checks) == 1
    check = checks[0]
    assert check.info.status == "FINISHED"
    assert check.data.tags["monitoring.source_run_id"] == run_id
    assert check.data.metrics["drift/psi/mean radius"] > 1
    others = [
        v
        for k, v in check.data.metrics.items()
        if k.startswith("drift/psi/") and k != "drift/psi/mean radius"
    ]
    assert len(others) == 29 and max(others) < 0.25
    logged = json.loads(
        Path(
            client.download_artifacts(check.info.run_id, "monitoring/drift_report.json")
        ).read_text()
    )
    assert logged["drifted"] == ["mean radius"] and logged["verdict"] == "drifted"
    assert "mean radius" in page.read_text(encoding="utf-8")
    tags = client.get_model_version(ref.name, ref.version).tags
    assert tags["monitoring.drift"] == "true" and tags["monitoring.drift_features"] == "mean radius"
    assert tags["monitoring.drift_run_id"] == check.info.run_id


def test_monitor_refuses_bad_input_before_any_run(
    registry_store: RegistryStore, client, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.core.config import Config
    from mlops_tracking.registry.release import register_run

    version = register_run(registry_store.runs[0], Config().registry).version
    bad = tmp_path / "bad.csv"
    bad.write_text("colour\nred\n", encoding="utf-8")
    for reference, path in ((f"{version.name}/{version.version}", bad), ("nope/1", bad)):
        code, output = _cli("monitor", reference, "--input", str(path))
        assert code == 2, output
        assert "error:" in output
    assert client.get_experiment_by_name(f"{version.name}-monitoring") is None
