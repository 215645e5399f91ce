"""Snippet 09 registers two versions, sets aliases and deployment tags, loads by alias."""

from __future__ import annotations

from pathlib import Path

import pytest

from snippets import run_example

# Each snippet runs as a reader runs it: a new Python process that imports MLflow and
# scikit-learn and creates a store (5-15 s each), so the inner loop skips them.
pytestmark = pytest.mark.slow


NAME = "tutorial-breast-cancer"


def test_versions_aliases_tags_and_load_by_alias(tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    import mlflow
    from sklearn.datasets import load_breast_cancer

    output = run_example("09_model_registry", tmp_path)

    # Version numbers come back as int from a sqlite store (str over REST): compare as text.
    versions = {str(v.version): v for v in client.search_model_versions(f"name = '{NAME}'")}
    assert set(versions) == {"1", "2"}
    experiment = client.get_experiment_by_name("tutorial-model-registry")
    runs = {r.info.run_id: r for r in client.search_runs([experiment.experiment_id])}
    assert {v.run_id for v in versions.values()} == set(runs)
    for version in versions.values():
        # MLflow 3: a version points at a LoggedModel (models:/m-...), not a run artifact.
        assert version.source.startswith("models:/m-")
        logged = client.get_logged_model(version.source.removeprefix("models:/"))
        assert logged.status == "READY" and logged.source_run_id == version.run_id
        assert "sklearn" in mlflow.models.get_model_info(version.source).flavors

    model = client.get_registered_model(NAME)
    assert {alias: str(v) for alias, v in model.aliases.items()} == {
        "production": "1",
        "staging": "2",
    }
    production = client.get_model_version_by_alias(NAME, "production")
    staging = client.get_model_version_by_alias(NAME, "staging")
    assert (str(production.version), str(staging.version)) == ("1", "2")
    assert production.tags["deployment.status"] == "serving"
    assert staging.tags["deployment.status"] == "not deployed"
    assert staging.description.startswith("C=1.0")
    assert runs[production.run_id].info.run_name == "logistic-C0.01"

    loaded = mlflow.sklearn.load_model(f"models:/{NAME}@production")
    assert loaded[-1].C == 0.01
    rows = load_breast_cancer(as_frame=True).data.head(20)
    assert set(loaded.predict(rows)) <= {"malignant", "benign"}
    assert "@production is version 1 (serving), @staging is version 2" in output
