"""examples/02_parameters.py: hyperparameters, data processing and feature engineering params."""

from __future__ import annotations

from pathlib import Path

import pytest

from snippets import run_example

# Each snippet runs as a reader runs it: a new Python process that imports MLflow and
# scikit-learn and creates a store (5-15 s each), so the inner loop skips them.
pytestmark = pytest.mark.slow


def test_parameters_snippet_logs_dotted_params_as_strings(tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    from sklearn.linear_model import LogisticRegression

    output = run_example("02_parameters", tmp_path)

    experiment = client.get_experiment_by_name("tutorial-parameters")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_id in output
    params = run.data.params
    assert params["data.dataset"] == "breast_cancer"
    assert params["data.test_size"] == "0.25"  # MLflow stores every value as a string
    assert params["data.seed"] == "0"
    assert params["features.scaling"] == "standard"
    assert params["features.selection.k"] == "10"
    assert int(params["data.train_rows"]) + int(params["data.test_rows"]) == 569
    assert params["model.C"] == "0.5"
    assert params["model.max_iter"] == "500"
    # every hyperparameter, defaults included
    defaults = LogisticRegression().get_params()
    assert {f"model.{key}" for key in defaults} <= set(params)
    assert run.data.metrics["test_accuracy"] > 0.9
