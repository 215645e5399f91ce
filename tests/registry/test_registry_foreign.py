"""Runs made without this project (plain MLflow calls) through register, promote, predict and
lineage, read back from the store."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import ForeignStore, RegistryStore


def _register(run_id: str, name: str, model: str | None = None):  # type: ignore[no-untyped-def]
    from mlops_tracking.core.config import Config
    from mlops_tracking.registry.release import register_run

    return register_run(run_id, Config().registry, name, model)


def _logged_models(client, run_id: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Name -> model id of the run's LoggedModels, as the store holds them."""
    run = client.get_run(run_id)
    found = client.search_logged_models(
        [run.info.experiment_id], filter_string=f"source_run_id = '{run_id}'"
    )
    return {model.name: model.model_id for model in found}


@pytest.mark.parametrize("kind", ["example", "autolog", "regression"])
def test_a_run_with_a_logged_model_registers_it(
    foreign_store: ForeignStore,
    kind: str,
    client,  # type: ignore[no-untyped-def]
) -> None:
    run_id = foreign_store.runs[kind]
    done = _register(run_id, f"plain-{kind}")

    (model_id,) = _logged_models(client, run_id).values()
    version = client.get_model_version(f"plain-{kind}", done.version.version)
    assert version.run_id == run_id
    assert version.source == f"models:/{model_id}"
    tags = version.tags
    assert tags["origin"] == "external" and tags["source_run_id"] == run_id
    assert tags["logged_model"] == "model" and tags["format"] == "sklearn"
    assert tags["task"] == ("regression" if kind == "regression" else "classification")
    assert tags["git.commit"] == "not recorded"
    assert done.onnx is None and done.external and done.note == ""
    # the UI links the logged model to its version, and the card is the description
    listed = json.loads(client.get_logged_model(model_id).tags["mlflow.modelVersions"])
    assert listed == [{"name": f"plain-{kind}", "version": done.version.version}]
    assert version.description.startswith(f"# plain-{kind} version 1")
    cards = {a.path for a in client.list_artifacts(run_id, "model_cards")}
    assert f"model_cards/plain-{kind}-v1.md" in cards


def test_several_models_name_the_pick_and_take_a_choice(
    foreign_store: ForeignStore,
    client,  # type: ignore[no-untyped-def]
) -> None:
    from mlops_tracking.registry.catalog import RegistryError

    run_id = foreign_store.runs["two_models"]
    models = _logged_models(client, run_id)

    latest = _register(run_id, "two")
    chosen = _register(run_id, "two", model="first")
    by_id = _register(run_id, "two", model=f"models:/{models['second']}")

    assert "has 2 models" in latest.note and "registered second" in latest.note
    assert "--model NAME" in latest.note
    sources = {str(v.version): v.source for v in client.search_model_versions("name='two'")}
    assert sources == {
        latest.version.version: f"models:/{models['second']}",
        chosen.version.version: f"models:/{models['first']}",
        by_id.version.version: f"models:/{models['second']}",
    }
    with pytest.raises(RegistryError, match=r"has no model 'third' \(its models: first \(models"):
        _register(run_id, "two", model="third")


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("pending", r"no completely written model: half-written .*status PENDING"),
        ("failed", r"no completely written model: model .*status FAILED"),
        ("no_mlmodel", r"no completely written model: model .*no MLmodel file"),
        ("deleted", r"is deleted; restore it first \(`mlflow runs restore --run-id"),
    ],
)
def test_a_run_without_a_usable_model_is_refused_before_anything_is_created(
    foreign_store: ForeignStore,
    kind: str,
    message: str,
    client,  # type: ignore[no-untyped-def]
) -> None:
    from mlops_tracking.registry.catalog import RegistryError

    with pytest.raises(RegistryError, match=message):
        _register(foreign_store.runs[kind], "refused")
    assert client.search_registered_models() == []


def test_a_run_that_logged_no_model_says_so(client) -> None:  # type: ignore[no-untyped-def]
    import mlflow

    from mlops_tracking.registry.catalog import RegistryError

    with mlflow.start_run() as run:
        mlflow.log_metric("accuracy", 0.9)
    with pytest.raises(RegistryError, match=r"logged no MLflow model .*mlflow.sklearn.log_model"):
        _register(run.info.run_id, "nothing")
    assert client.search_registered_models() == []


def test_the_gate_refuses_a_foreign_version_and_force_records_why(
    foreign_store: ForeignStore,
    client,  # type: ignore[no-untyped-def]
) -> None:
    from mlops_tracking.core.config import Config
    from mlops_tracking.registry.catalog import RegistryError, read_trail
    from mlops_tracking.registry.release import promote

    version = _register(foreign_store.runs["example"], "plain").version.version
    with pytest.raises(RegistryError, match=r"not made by mlops-tracking: its held-out test data"):
        promote(Config(), "plain", "staging", version=version, by="tester")
    forced = promote(
        Config(), "plain", "staging", version=version, force_reason="checked by hand", by="tester"
    )

    assert forced.moved
    assert dict(client.get_registered_model("plain").aliases) == {"staging": 1}
    trail = read_trail("plain")
    assert [(e.decision, e.action) for e in trail] == [
        ("rejected", "promote"),
        ("promoted", "force"),
    ]
    assert "--force --reason" in trail[0].reason
    tags = client.get_model_version("plain", version).tags
    assert tags["promotion.staging.reason"] == "checked by hand"
    assert tags["lifecycle"] == "staging"


def test_a_record_only_alias_takes_a_foreign_version(foreign_store: ForeignStore, client) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.core.config import Config
    from mlops_tracking.registry.release import promote

    version = _register(foreign_store.runs["regression"], "plain").version.version
    config = Config.model_validate({"registry": {"aliases": {"staging": {"gate": "none"}}}})
    decision = promote(config, "plain", "staging", version=version, by="tester")
    assert decision.moved and decision.entry.reason == "no gate"
    assert dict(client.get_registered_model("plain").aliases) == {"staging": 1}


@pytest.mark.parametrize("kind", ["example", "regression"])
def test_predict_scores_a_foreign_version_through_its_signature(
    foreign_store: ForeignStore,
    kind: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    client,  # type: ignore[no-untyped-def]
) -> None:
    import pandas as pd

    from foreign_runs import diabetes, iris
    from mlops_tracking.core.errors import DataError
    from mlops_tracking.registry.predict import batch_predict

    # a scikit-learn flavor model is deserialised when loaded: refused unless allowed
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    _register(foreign_store.runs[kind], "plain")
    X, _ = diabetes() if kind == "regression" else iris()
    rows = tmp_path / "rows.csv"
    X.head(7).to_csv(rows, index=False)

    done = batch_predict("plain/1", rows, None, "pyfunc", "tester")

    written = pd.read_csv(done.output)
    assert list(written.columns) == ["prediction"] and len(written) == 7
    run = client.get_run(done.run_id)
    assert run.data.tags["model.source_run_id"] == foreign_store.runs[kind]
    assert run.data.metrics["rows"] == 7
    X.head(3).drop(columns=X.columns[0]).to_csv(rows, index=False)
    with pytest.raises(DataError, match=rf"lacks column\(s\) {re.escape(repr(X.columns[0]))}"):
        batch_predict("plain/1", rows, None, "pyfunc", "tester")


def test_lineage_of_a_foreign_version_shows_what_it_recorded(
    foreign_store: ForeignStore,
) -> None:
    from mlops_tracking.cli.registry_tables import lineage_lines
    from mlops_tracking.registry.lineage import lineage

    _register(foreign_store.runs["autolog"], "plain")
    found = lineage("plain/1")
    lines = lineage_lines(found, {})
    text = "\n".join(lines)

    assert found["run"]["task"] == "classification" and found["run"]["task_from"] == "metric names"
    assert found["code"]["commit"] is None  # JSON keeps null for what was not recorded
    # None only where it is a value the run logged (autolog's class_weight=None param)
    params = next(line for line in lines if line.startswith("[bold]params"))
    assert [line for line in lines if "None" in line] == [params]
    assert "commit not recorded  branch not recorded" in text
    assert "task classification (from its metric names)" in text
    assert "model family LogisticRegression" in text  # autolog's estimator_name tag
    assert "max_iter=300" in text  # autolog's params, not hidden behind --json
    assert "training_log_loss=" in text


def test_a_holder_without_a_test_dataset_is_named_by_the_gate(
    registry_store: RegistryStore,
    client,  # type: ignore[no-untyped-def]
) -> None:
    """A version registered from a foreign run holds the alias: the gate cannot compare with it."""
    from mlops_tracking.core.config import Config
    from mlops_tracking.registry.catalog import RegistryError
    from mlops_tracking.registry.release import promote

    name = registry_store.name
    holder = _register(registry_store.runs[1], name).version.version
    candidate = _register(registry_store.runs[0], name).version.version
    promote(Config(), name, "staging", version=holder, force_reason="first", by="tester")
    client.delete_model_version_tag(name, holder, "dataset.testing.digest")  # as foreign ones lack

    with pytest.raises(RegistryError, match=rf"version {holder} \(the holder\) records no test"):
        promote(Config(), name, "staging", version=candidate, by="tester")
    assert dict(client.get_registered_model(name).aliases) == {"staging": int(holder)}
