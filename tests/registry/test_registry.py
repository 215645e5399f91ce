"""Registering, promoting through the gate and rolling back, read back from the registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import RegistryStore

runner = CliRunner()


def _register(store: RegistryStore, rank: int) -> str:
    from mlops_tracking.core.config import Config
    from mlops_tracking.registry.release import register_run

    return register_run(store.runs[rank], Config().registry).version.version


def _promote(version: str, alias: str, **options: object):  # type: ignore[no-untyped-def]
    from mlops_tracking.core.config import Config
    from mlops_tracking.registry.release import promote

    return promote(Config(), "breast_cancer-binary", alias, version=version, by="tester", **options)


def _trail(name: str = "breast_cancer-binary"):  # type: ignore[no-untyped-def]
    from mlops_tracking.registry.catalog import read_trail

    return read_trail(name)


def _aliases(client, name: str = "breast_cancer-binary") -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {alias: str(v) for alias, v in client.get_registered_model(name).aliases.items()}


def test_a_registered_version_points_back_to_its_run_data_and_commit(
    registry_store: RegistryStore, client
) -> None:  # type: ignore[no-untyped-def]
    run_id = registry_store.runs[0]
    version = _register(registry_store, 0)

    registered = client.get_model_version("breast_cancer-binary", version)
    run = client.get_run(run_id)
    digests = {
        next(t.value for t in item.tags if t.key == "mlflow.data.context"): item.dataset.digest
        for item in run.inputs.dataset_inputs
    }
    tags = registered.tags
    assert registered.run_id == run_id
    assert tags["source_run_id"] == run_id
    assert tags["dataset.testing.digest"] == digests["testing"]
    assert tags["dataset.training.digest"] == digests["training"]
    assert tags["git.commit"] == run.data.tags["mlflow.source.git.commit"]
    assert tags["format"] == "pyfunc"
    assert tags["lifecycle"] == "registered"
    # MLflow 3.17's SQL store keeps the LoggedModel in `source` (model_id reads back as None)
    assert registered.source == run.data.tags["model_uri.pyfunc"]
    # the ONNX form: its own registered model, linked both ways
    onnx = client.get_model_version("breast_cancer-binary-onnx", tags["onnx.version"])
    assert onnx.tags["pyfunc.version"] == version
    assert onnx.source == run.data.tags["model_uri.onnx"]
    # the model card is the description and a run artifact
    card_path = f"model_cards/breast_cancer-binary-v{version}.md"
    assert card_path in [a.path for a in client.list_artifacts(run_id, "model_cards")]
    card = Path(client.download_artifacts(run_id, card_path)).read_text(encoding="utf-8")
    assert registered.description == card
    assert digests["testing"] in card
    assert run.data.tags["mlflow.source.git.commit"] in card
    # its metrics are grouped by the dataset the LoggedModel links each to
    validation = f"Computed on `breast_cancer-validation` (digest `{digests['validation']}`)"
    test = f"Computed on `breast_cancer-test` (digest `{digests['testing']}`)"
    assert card.index(validation) < card.index("| validation_log_loss |") < card.index(test)
    assert card.index(test) < card.index("| test_log_loss |") < card.index("Measured on the run")
    assert card.index("Measured on the run") < card.index("| fit_time_seconds |")


def test_unknown_models_versions_and_aliases_are_named(registry_store: RegistryStore) -> None:
    from mlops_tracking.registry.catalog import RegistryError, resolve

    _register(registry_store, 0)
    with pytest.raises(RegistryError, match="no registered model named 'nope'"):
        resolve("nope@production")
    with pytest.raises(RegistryError, match=r"has no alias 'production' \(aliases: none\)"):
        resolve("breast_cancer-binary@production")
    with pytest.raises(RegistryError, match=r"has no version 7 \(versions: 1\)"):
        resolve("models:/breast_cancer-binary/7")
    assert resolve("breast_cancer-binary").version == "1"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["promote", "nope", "--to", "staging"], "no registered model named 'nope'"),
        (["promote", "breast_cancer-binary", "--to", "prod"], "'prod' is not a configured alias"),
        (["promote", "breast_cancer-binary", "--to", "staging", "--force"], "--force needs"),
        (["register", "0123456789abcdef"], "no run '0123456789abcdef'"),
        (["lineage", "breast_cancer-binary@staging"], "has no alias 'staging'"),
        (["rollback", "breast_cancer-binary"], "no earlier holder"),
    ],
)
def test_bad_registry_commands_exit_2_with_a_clear_message(
    registry_store: RegistryStore, args: list[str], message: str
) -> None:
    from mlops_tracking.cli.app import app

    _register(registry_store, 0)
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())


def test_a_first_promotion_passes_on_its_own_evaluation(
    registry_store: RegistryStore, client
) -> None:  # type: ignore[no-untyped-def]
    version = _register(registry_store, 1)

    decision = _promote(version, "staging")

    assert decision.moved
    assert _aliases(client) == {"staging": version}
    tags = client.get_model_version("breast_cancer-binary", version).tags
    assert tags["promotion.staging.decision"] == "promoted"
    assert tags["promotion.staging.by"] == "tester"
    assert tags["lifecycle"] == "staging"
    (entry,) = _trail()
    assert (entry.action, entry.alias, entry.version, entry.previous) == (
        "promote",
        "staging",
        version,
        None,
    )
    # The gate rebuilt the held-out split the run was tested on: same digest, same score.
    run = client.get_run(registry_store.runs[1])
    assert entry.dataset_digest == tags["dataset.testing.digest"]
    assert entry.candidate_value == pytest.approx(run.data.metrics["test_log_loss"], rel=1e-5)
    assert entry.holder_value is None


def test_the_gate_rejects_a_weaker_candidate_and_keeps_the_holder(
    registry_store: RegistryStore, client
) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.cli.app import app

    best, weak = _register(registry_store, 0), _register(registry_store, 2)
    _promote(best, "staging")

    result = runner.invoke(app, ["promote", "breast_cancer-binary", "--to", "staging"])

    assert result.exit_code == 1, result.output
    assert "rejected" in result.output
    assert _aliases(client) == {"staging": best}
    rejected = _trail()[-1]
    assert (rejected.decision, rejected.version, rejected.previous) == ("rejected", weak, best)
    assert rejected.metric == "log_loss"
    assert rejected.candidate_value == pytest.approx(registry_store.losses[2], rel=1e-5)
    assert rejected.holder_value == pytest.approx(registry_store.losses[0], rel=1e-5)
    tags = client.get_model_version("breast_cancer-binary", weak).tags
    assert tags["promotion.staging.decision"] == "rejected"
    assert float(tags["promotion.staging.candidate_value"]) > float(
        tags["promotion.staging.holder_value"]
    )
    assert tags["lifecycle"] == "registered"


def test_a_better_candidate_takes_the_alias_and_archives_the_holder(
    registry_store: RegistryStore, client
) -> None:  # type: ignore[no-untyped-def]
    weaker, better = _register(registry_store, 1), _register(registry_store, 0)
    _promote(weaker, "staging")

    decision = _promote(better, "staging")

    assert decision.moved and decision.gate is not None and decision.gate.passed
    assert _aliases(client) == {"staging": better}
    assert client.get_model_version("breast_cancer-binary", weaker).tags["lifecycle"] == "archived"


def test_a_margin_makes_a_tie_fail() -> None:
    from mlops_tracking.core.promotion import decide

    assert decide("log_loss", 0.1, 0.1, 0.0, "1").passed
    assert not decide("log_loss", 0.1, 0.1, 0.01, "1").passed


def test_production_takes_only_the_staging_version(registry_store: RegistryStore, client) -> None:  # type: ignore[no-untyped-def]
    version = _register(registry_store, 0)

    refused = _promote(version, "production")
    assert refused.entry.decision == "rejected"
    assert "promote it to staging first" in refused.entry.reason
    assert "production" not in _aliases(client)

    _promote(version, "staging")
    assert _promote(version, "production").moved
    assert _aliases(client) == {"staging": version, "production": version}
    assert client.get_model_version("breast_cancer-binary", version).tags["lifecycle"] == (
        "production"
    )


def test_a_forced_promotion_skips_the_gate_and_records_why(
    registry_store: RegistryStore, client
) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.cli.app import app

    best, weak = _register(registry_store, 0), _register(registry_store, 2)
    _promote(best, "staging")

    result = runner.invoke(
        app,
        [
            *("promote", "breast_cancer-binary", "--to", "staging", "--version", weak),
            *("--force", "--reason", "incident 42: best model leaks PII"),
        ],
    )

    assert result.exit_code == 0, result.output
    assert _aliases(client) == {"staging": weak}
    forced = _trail()[-1]
    assert (forced.action, forced.decision, forced.previous) == ("force", "promoted", best)
    assert forced.reason == "incident 42: best model leaks PII"
    tags = client.get_model_version("breast_cancer-binary", weak).tags
    assert tags["promotion.staging.reason"] == "incident 42: best model leaks PII"


def test_rollback_restores_the_previous_holder_and_is_recorded(
    registry_store: RegistryStore, client
) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.cli.app import app

    first, second = _register(registry_store, 1), _register(registry_store, 0)
    _promote(first, "staging")
    _promote(second, "staging")

    result = runner.invoke(
        app, ["rollback", "breast_cancer-binary", "--to", "staging", "--reason", "bad canary"]
    )

    assert result.exit_code == 0, result.output
    assert _aliases(client) == {"staging": first}
    back = _trail()[-1]
    assert (back.action, back.version, back.previous, back.reason) == (
        "rollback",
        first,
        second,
        "bad canary",
    )
    assert client.get_model_version("breast_cancer-binary", first).tags["lifecycle"] == "staging"
    assert client.get_model_version("breast_cancer-binary", second).tags["lifecycle"] == "archived"
    # nothing older than the first holder
    again = runner.invoke(app, ["rollback", "breast_cancer-binary", "--to", "staging"])
    assert again.exit_code == 2
    assert "no earlier holder" in again.output


@pytest.mark.slow
def test_racing_promotions_leave_a_consistent_trail(registry_store: RegistryStore, client) -> None:  # type: ignore[no-untyped-def]
    """Two processes run gated promotions for one alias at once: each decision saw the other's.

    Each holds the lock for seconds (loading and scoring two models), so without the lock both
    would judge against the same holder and one move would be lost from the chain.
    """
    from mlops_tracking.core.promotion import holders

    weakest = _register(registry_store, 2)
    racers = [_register(registry_store, 0), _register(registry_store, 1)]
    _promote(weakest, "staging")
    processes = [
        subprocess.Popen(
            [
                *(sys.executable, "-m", "mlops_tracking", "promote", "breast_cancer-binary"),
                *("--to", "staging", "--version", version),
            ],
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for version in racers
    ]
    outputs = [process.communicate(timeout=180)[0] for process in processes]
    assert all(process.returncode in {0, 1} for process in processes), outputs

    trail = [entry for entry in _trail() if entry.action == "promote"]
    assert len(trail) == 3
    holder = None
    for entry in trail:  # replay: every decision names the holder of its moment
        assert entry.previous == holder, (entry, holder)
        if entry.moved:
            holder = entry.version
    assert _aliases(client)["staging"] == holder == racers[0]  # the best wins, whatever the order
    assert holders(_trail(), "staging")[-1] == racers[0]


def test_models_lists_versions_aliases_and_the_trail(registry_store: RegistryStore) -> None:
    from mlops_tracking.cli.app import app

    best, weak = _register(registry_store, 0), _register(registry_store, 2)
    _promote(best, "staging")
    _promote(weak, "staging")

    listing = runner.invoke(app, ["models"])
    detail = runner.invoke(app, ["models", "breast_cancer-binary"])

    assert listing.exit_code == 0 and detail.exit_code == 0, detail.output
    assert "breast_cancer-binary-onnx" in listing.output
    assert f"staging→v{best}" in listing.output
    assert "Audit trail of breast_cancer-binary" in detail.output
    assert "rejected" in detail.output and "promoted" in detail.output
    assert "archived" not in detail.output  # nobody lost an alias yet


def test_lineage_reaches_the_commit_and_dataset_digests(
    registry_store: RegistryStore, client
) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.cli.app import app

    version = _register(registry_store, 0)
    _promote(version, "staging")
    run = client.get_run(registry_store.runs[0])

    result = runner.invoke(app, ["lineage", "breast_cancer-binary@staging", "--json"])
    text = runner.invoke(app, ["lineage", "models:/breast_cancer-binary/1"])

    assert result.exit_code == 0 and text.exit_code == 0, result.output
    found = json.loads(result.output)
    assert found["model"]["aliases"] == ["staging"]
    assert found["run"]["id"] == registry_store.runs[0]
    assert found["code"]["commit"] == run.data.tags["mlflow.source.git.commit"]
    assert {d["digest"] for d in found["datasets"]} == {
        item.dataset.digest for item in run.inputs.dataset_inputs
    }
    assert found["params"]["model.name"] == "logistic_regression"
    assert run.data.tags["mlflow.source.git.commit"] in text.output
    # a LoggedModel id leads to the same run and names its registered versions
    logged = found["model"]["logged_model"]
    via_model = runner.invoke(app, ["lineage", logged, "--json"])
    assert json.loads(via_model.output)["model"]["registered_as"] == [
        {"name": "breast_cancer-binary", "version": version}
    ]


def test_the_audit_shows_registry_items_once_registered(registry_store: RegistryStore) -> None:
    from mlops_tracking.audit.checklist import audit_run

    version = _register(registry_store, 0)
    _promote(version, "staging")

    report = audit_run(registry_store.runs[0])
    items = {item.item: item for item in report.items if item.section.startswith("9 ")}
    assert report.passed
    assert items["Registered model version"].status == "present"
    assert f"breast_cancer-binary v{version}" in items["Registered model version"].location
    assert items["Lifecycle alias (staging/production)"].status == "present"
    assert "@staging" in items["Lifecycle alias (staging/production)"].location
    assert items["Deployment status"].status == "n/a"  # never served


def test_a_serving_status_nobody_answers_is_flagged(registry_store: RegistryStore, client) -> None:  # type: ignore[no-untyped-def]
    """A server killed with SIGKILL cannot record `stopped`; `models` checks before it trusts."""
    from mlops_tracking.cli.app import app
    from mlops_tracking.registry.endpoints import free_port

    version = _register(registry_store, 0)
    endpoint = f"http://127.0.0.1:{free_port()}/invocations"
    client.set_model_version_tag("breast_cancer-binary", version, "deployment.status", "serving")
    client.set_model_version_tag("breast_cancer-binary", version, "deployment.endpoint", endpoint)

    result = runner.invoke(app, ["models", "breast_cancer-binary"])

    assert result.exit_code == 0, result.output
    assert "serving? (not answering)" in " ".join(result.output.split())


def test_production_defaults_to_the_staging_version(registry_store: RegistryStore, client) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.cli.app import app

    staged = _register(registry_store, 0)
    _promote(staged, "staging")
    _register(registry_store, 1)  # a newer version that holds nothing

    result = runner.invoke(app, ["promote", "breast_cancer-binary", "--to", "production"])

    assert result.exit_code == 0, result.output
    assert _aliases(client)["production"] == staged


def test_a_holder_tested_on_other_data_is_refused_and_recorded(
    registry_store: RegistryStore, client
) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.cli.app import app

    holder, candidate = _register(registry_store, 1), _register(registry_store, 0)
    _promote(holder, "staging")
    client.set_model_version_tag(
        "breast_cancer-binary", holder, "dataset.testing.digest", "0ther5p1"
    )

    result = runner.invoke(
        app, ["promote", "breast_cancer-binary", "--to", "staging", "--version", candidate]
    )

    assert result.exit_code == 2, result.output
    assert "their scores are not comparable" in " ".join(result.output.split())
    assert _aliases(client) == {"staging": holder}
    refused = _trail()[-1]
    assert (refused.decision, refused.version) == ("rejected", candidate)
    assert "0ther5p1" in refused.reason


def test_a_failed_trail_write_puts_the_alias_back(
    registry_store: RegistryStore, client, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.registry import catalog

    first, second = _register(registry_store, 1), _register(registry_store, 0)
    _promote(first, "staging")

    def outage(name: str, entry: object) -> None:
        raise OSError("store went away")

    monkeypatch.setattr(catalog, "append_trail", outage)
    with pytest.raises(OSError, match="store went away"):
        _promote(second, "staging", force_reason="test")

    assert _aliases(client) == {"staging": first}
    assert [entry.version for entry in _trail()] == [first]


def test_stale_gate_evidence_is_overwritten_by_a_forced_promotion(
    registry_store: RegistryStore, client
) -> None:  # type: ignore[no-untyped-def]
    best, weak = _register(registry_store, 0), _register(registry_store, 2)
    _promote(best, "staging")
    assert _promote(weak, "staging").entry.decision == "rejected"

    _promote(weak, "staging", force_reason="override for a demo")

    tags = client.get_model_version("breast_cancer-binary", weak).tags
    assert tags["promotion.staging.decision"] == "promoted"
    assert tags["promotion.staging.action"] == "force"
    assert tags["promotion.staging.candidate_value"] == "n/a"
    assert tags["promotion.staging.holder_value"] == "n/a"


@pytest.mark.parametrize("name", ["team/model", "a@b", "models:x"])
def test_a_name_that_references_cannot_address_is_refused(
    registry_store: RegistryStore, name: str
) -> None:
    from mlops_tracking.cli.app import app

    result = runner.invoke(app, ["register", registry_store.runs[0], "--name", name])

    assert result.exit_code == 2, result.output
    assert "cannot be a registered model name" in " ".join(result.output.split())


def test_the_logged_model_lists_its_registered_versions(
    registry_store: RegistryStore, client
) -> None:  # type: ignore[no-untyped-def]
    version = _register(registry_store, 0)
    run = client.get_run(registry_store.runs[0])

    model_id = run.data.tags["model_uri.pyfunc"].removeprefix("models:/")
    listed = json.loads(client.get_logged_model(model_id).tags["mlflow.modelVersions"])

    assert listed == [{"name": "breast_cancer-binary", "version": version}]


def test_a_candidate_whose_data_is_gone_is_refused_and_recorded(tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    from conftest import FAST, PARAMS, write_csv
    from mlops_tracking.core.config import Config, load_config
    from mlops_tracking.registry.catalog import RegistryError, read_trail
    from mlops_tracking.registry.release import promote, register_run
    from mlops_tracking.runs.workflow import train_and_log

    data = write_csv(tmp_path / "churn.csv", rows=150)
    overrides = [*FAST, "model.name=logistic_regression", "tracking.system_metrics=false"]
    overrides.append("tracking.model_formats=[pyfunc]")  # what register needs, and no more
    config = load_config(PARAMS, [*overrides, f"data.path={data}", "data.target=churned"])
    run_id = train_and_log(config, PARAMS).run_id
    version = register_run(run_id, Config().registry).version
    data.unlink()  # the gate must rebuild the held-out split from this file

    with pytest.raises(RegistryError, match=r"held-out data of .* cannot be rebuilt: .*churn\.csv"):
        promote(Config(), version.name, "staging", version=version.version, by="tester")

    (refused,) = read_trail(version.name)
    assert (refused.decision, refused.version) == ("rejected", version.version)
    assert "no longer exists" in refused.reason
    assert "staging" not in client.get_registered_model(version.name).aliases


def test_a_name_too_long_for_the_model_card_is_refused_before_anything_is_registered(
    registry_store: RegistryStore, client
) -> None:  # type: ignore[no-untyped-def]
    """300 characters used to register two versions, then fail on the card's file name."""
    from mlops_tracking.cli.app import app
    from mlops_tracking.registry.catalog import MAX_NAME_LENGTH

    result = runner.invoke(app, ["register", registry_store.runs[0], "--name", "m" * 300])

    assert result.exit_code == 2, result.output
    assert f"use at most {MAX_NAME_LENGTH}" in " ".join(result.output.split())
    assert client.search_registered_models() == []
    longest = "m" * MAX_NAME_LENGTH  # the limit itself registers, card and ONNX form included
    done = runner.invoke(app, ["register", registry_store.runs[0], "--name", longest])
    assert done.exit_code == 0, done.output
    assert {model.name for model in client.search_registered_models()} == {
        longest,
        f"{longest}-onnx",
    }
    card = f"model_cards/{longest}-v1.md"
    assert card in {
        item.path for item in client.list_artifacts(registry_store.runs[0], "model_cards")
    }


def test_register_prints_the_version_page_whole_in_a_narrow_terminal(
    registry_store: RegistryStore, client, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """A folded address no longer opens anything: the UI line stays whole at 60 columns."""
    from mlops_tracking.cli.app import app

    monkeypatch.setenv("COLUMNS", "60")
    result = runner.invoke(app, ["register", registry_store.runs[0], "--name", "narrow"])

    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.output.splitlines() if "in the UI:" in line]
    assert line.endswith("/#/models/narrow/versions/1?workflowType=machine_learning"), line
    assert client.get_model_version("narrow", "1").status == "READY"
