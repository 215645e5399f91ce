"""Scoring a table with integer, boolean and categorical columns: gate, predict and endpoint.

One model is trained per module on such a table (integers without gaps are declared ``long`` in
the signature, as real tables with a ``year`` or ``cylinders`` column are); each test gets its
own copy of that store, so registry state never leaks between tests.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import StoredRun, _train_in_store

runner = CliRunner()
NAME = "cars-binary"
COLUMNS = ("year", "cylinders", "horsepower", "origin", "fuel", "turbo")


def write_cars(path: Path, rows: int = 160, seed: int = 3) -> Path:
    """A cars-like table: integer columns without gaps, a float column with gaps, two
    categories, a boolean, and a yes/no target."""
    rng = np.random.default_rng(seed)
    year = rng.integers(1970, 1983, rows)
    cylinders = rng.choice([4, 6, 8], rows)
    horsepower = rng.normal(100, 30, rows).round(1)
    origin = rng.choice(["USA", "Europe", "Japan"], rows)
    fuel = rng.choice(["petrol", "diesel"], rows)
    turbo = rng.random(rows) < 0.3
    score = (
        (year - 1976) * 0.4 - (cylinders - 6) * 0.8 + (origin == "Japan") + rng.normal(0, 1, rows)
    )
    frame = pd.DataFrame(
        {
            "year": year,
            "cylinders": cylinders,
            "horsepower": horsepower,
            "origin": origin,
            "fuel": fuel,
            "turbo": turbo,
            "efficient": np.where(score > np.median(score), "yes", "no"),
        }
    )
    frame.loc[::7, "horsepower"] = np.nan
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def _cars_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[StoredRun, Path]:
    directory = tmp_path_factory.mktemp("cars")
    data = write_cars(directory / "cars.csv")
    stored = _train_in_store(
        directory,
        [
            f"data.path={data}",
            "data.target=efficient",
            "model.name=logistic_regression",
            "tracking.system_metrics=false",
            "tracking.model_formats=[pyfunc,onnx]",  # what register and --engine onnx need
        ],
    )
    return stored, data


@pytest.fixture
def cars_run(_cars_template: tuple[StoredRun, Path], tmp_path: Path, isolated_store: str) -> str:
    """This test's own copy of the trained store (artifacts stay shared); returns the run id."""
    stored, _ = _cars_template
    shutil.copy(Path(stored.uri.removeprefix("sqlite:///")), tmp_path / "mlflow.db")
    return stored.run_id


def _batch(template: tuple[StoredRun, Path], path: Path) -> Path:
    """Twelve rows of the table with unseen categories: origin in rows 1-3, fuel in row 4."""
    frame = pd.read_csv(template[1]).drop(columns="efficient").head(12)
    frame.loc[0:1, "origin"] = "Atlantis"
    frame.loc[2, "origin"] = "Mars"
    frame.loc[3, "fuel"] = "hydrogen"
    frame["turbo"] = frame["turbo"].astype(object)
    frame.loc[4, "turbo"] = "yes"  # a boolean spelled as text is still a known category
    frame.to_csv(path, index=False)
    return path


# --- the gate ----------------------------------------------------------------------------------


def test_the_gate_promotes_a_table_with_integer_columns_and_records_the_comparison(
    cars_run: str, client
) -> None:  # type: ignore[no-untyped-def]
    from mlflow.models import get_model_info

    from mlops_tracking.cli.app import app
    from mlops_tracking.registry.catalog import read_trail

    for _ in range(2):  # two versions of one run: the second is compared with the first
        registered = runner.invoke(app, ["register", cars_run, "--name", NAME])
        assert registered.exit_code == 0, registered.output
    first = runner.invoke(app, ["promote", NAME, "--to", "staging", "--version", "1"])
    second = runner.invoke(app, ["promote", NAME, "--to", "staging", "--version", "2"])

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    # the case that crashed: integer columns are long in the signature, float64 when rebuilt
    inputs = get_model_info(f"models:/{NAME}/1").signature.inputs.input_dict()
    assert {inputs[c].type.name for c in ("year", "cylinders")} == {"long"}
    assert {str(v) for v in client.get_registered_model(NAME).aliases.values()} == {"2"}
    test_log_loss = client.get_run(cars_run).data.metrics["test_log_loss"]
    trail = [entry for entry in read_trail(NAME) if entry.action == "promote"]
    assert [(e.version, e.decision, e.previous) for e in trail] == [
        ("1", "promoted", None),
        ("2", "promoted", "1"),
    ]
    assert trail[1].metric == "log_loss"
    # the deployable model runs ONNX (float32): the run's sklearn score to within 1e-5
    assert trail[1].candidate_value == pytest.approx(test_log_loss, rel=1e-5)
    assert trail[1].holder_value == trail[1].candidate_value
    tags = client.get_model_version(NAME, "2").tags
    assert tags["promotion.staging.decision"] == "promoted"
    assert float(tags["promotion.staging.holder_value"]) == pytest.approx(test_log_loss, rel=1e-5)


def test_a_gate_that_cannot_score_says_the_cause_in_one_line_and_records_it(
    cars_run: str, monkeypatch: pytest.MonkeyPatch, client
) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.cli.app import app
    from mlops_tracking.registry.catalog import read_trail
    from mlops_tracking.runs import scoring

    assert runner.invoke(app, ["register", cars_run, "--name", NAME]).exit_code == 0
    # without the input rules, MLflow meets the split as it was before them: integers as float64
    monkeypatch.setattr(scoring, "input_types", lambda model: {})

    result = runner.invoke(app, ["promote", NAME, "--to", "staging", "--version", "1"])

    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert said == (
        f"error: models:/{NAME}/1 cannot score its held-out test split: Incompatible input "
        "types for column year. Can not safely convert float64 to int64."
    )
    (refused,) = read_trail(NAME)
    assert refused.decision == "rejected"
    assert "Can not safely convert float64 to int64" in refused.reason
    assert "staging" not in client.get_registered_model(NAME).aliases


def test_the_reason_of_a_schema_failure_is_said_without_the_data() -> None:
    from mlflow.exceptions import MlflowException

    from mlops_tracking.registry.gate import cause

    error = MlflowException(
        "Failed to enforce schema of data '       year  cylinders\n164  1975.0  6.0\n76  1970.0"
        "  8.0' with schema '['year': long (required), 'cylinders': long (required)]'. "
        "Error: Incompatible input types for column year. Can not safely convert float64 to int64."
    )

    assert cause(error) == (
        "Incompatible input types for column year. Can not safely convert float64 to int64."
    )


# --- predict -----------------------------------------------------------------------------------


def test_predict_counts_unseen_categories_by_column_and_logs_them(
    cars_run: str, _cars_template: tuple[StoredRun, Path], tmp_path: Path, client
) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.cli.app import app

    assert runner.invoke(app, ["register", cars_run, "--name", NAME]).exit_code == 0
    source = _batch(_cars_template, tmp_path / "batch.csv")
    written = {}
    for engine in ("pyfunc", "onnx"):
        output = tmp_path / f"{engine}.csv"
        result = runner.invoke(
            app, ["predict", f"{NAME}/1", "-i", str(source), "-o", str(output), "--engine", engine]
        )
        assert result.exit_code == 0, result.output
        said = " ".join(result.output.split())
        assert "2 row(s)" not in said
        assert (
            "4 row(s) hold categories the model never saw in training, scored as none of the "
            "known ones: origin (3 rows: 'Atlantis', 'Mars'); fuel (1 row: 'hydrogen')"
        ) in said
        written[engine] = pd.read_csv(output, keep_default_na=False)

    for predictions in written.values():
        assert predictions["unseen_categories"].tolist()[:5] == [
            "origin",
            "origin",
            "origin",
            "fuel",
            "",
        ]
        assert set(predictions["unseen_categories"][4:]) == {""}
    assert written["pyfunc"]["label"].tolist() == written["onnx"]["label"].tolist()
    experiment = client.get_experiment_by_name(f"{NAME}-inference")
    for run in client.search_runs([experiment.experiment_id]):
        assert run.data.metrics["unseen_categories"] == 4
        assert run.data.metrics["unseen_category_rows"] == 4
        assert run.data.params["unseen_categories"] == "origin=3, fuel=1"
        saved = json.loads(
            Path(
                client.download_artifacts(run.info.run_id, "predictions/unseen_categories.json")
            ).read_text()
        )
        assert saved == {
            "rows": 4,
            "columns": {
                "origin": {"rows": 3, "values": ["Atlantis", "Mars"]},
                "fuel": {"rows": 1, "values": ["hydrogen"]},
            },
        }


def test_the_categories_come_from_the_fitted_encoder(cars_run: str) -> None:
    import mlflow

    model = mlflow.pyfunc.load_model(mlflow.get_run(cars_run).data.tags["model_uri.pyfunc"])
    recorded = model.unwrap_python_model().categories
    pipeline = model.unwrap_python_model().pipeline
    encoder = pipeline[0].named_steps["columns"].named_transformers_["categorical"]

    assert list(recorded) == ["origin", "fuel", "turbo"]
    assert recorded == {
        column: [str(v) for v in known]
        for column, known in zip(recorded, encoder.categories_, strict=True)
    }
    assert recorded["turbo"] == ["False", "True"]


# --- the scoring endpoint, in process ----------------------------------------------------------


def _invoke(model, body: dict) -> tuple[int, dict]:  # type: ignore[no-untyped-def,type-arg]
    """What ``mlflow models serve`` answers to ``body``: its own request handler, in process.

    The server's route calls ``invocations`` and turns an ``MlflowException`` into its HTTP
    status and JSON (``_async_catch_mlflow_exception``); so does this.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc.scoring_server import invocations

    schema = model.metadata.get_input_schema()
    try:
        answer = invocations(json.dumps(body), "application/json", model, schema)
    except MlflowException as error:
        return error.get_http_status_code(), json.loads(error.serialize_as_json())
    return answer.status, json.loads(answer.response)


def test_the_endpoint_names_each_rows_unseen_categories_and_refuses_bad_values(
    cars_run: str,
) -> None:
    import mlflow

    model = mlflow.pyfunc.load_model(mlflow.get_run(cars_run).data.tags["model_uri.pyfunc"])
    row = {"year": 1975, "cylinders": 6, "horsepower": None, "origin": "USA", "fuel": "petrol"}
    records = [
        {**row, "turbo": True},
        {**row, "origin": "Atlantis", "turbo": "yes"},
        {**row, "origin": "Mars", "fuel": "hydrogen", "turbo": 0},
    ]

    status, answer = _invoke(model, {"dataframe_records": records})

    assert status == 200, answer
    assert [p["unseen_categories"] for p in answer["predictions"]] == [
        "",
        "origin",
        "origin, fuel",
    ]
    assert {p["label"] for p in answer["predictions"]} <= {"yes", "no"}
    # MLflow's parser would cast a boolean column with astype(bool) ("false" -> True), so the
    # signature declares it `any` and the model reads the spellings itself
    spellings = [{**row, "turbo": turbo} for turbo in (False, "false", "no", 0, True, "yes")]
    status, answer = _invoke(model, {"dataframe_records": spellings})
    assert status == 200, answer
    probabilities = [p["proba_yes"] for p in answer["predictions"]]
    assert probabilities[:4] == [probabilities[0]] * 4
    assert probabilities[4:] == [probabilities[4]] * 2
    assert probabilities[0] != probabilities[4]
    status, error = _invoke(model, {"dataframe_records": [{**row, "turbo": "maybe"}]})
    assert status == 400
    assert re.search(r"column 'turbo' must be boolean .* holds 'maybe'", error["message"])


@pytest.mark.slow
def test_a_served_model_answers_with_the_unseen_categories_of_each_row(
    cars_run: str,
) -> None:
    import http.client

    from mlops_tracking.core.config import Config
    from mlops_tracking.registry.endpoints import free_port
    from mlops_tracking.registry.release import register_run
    from mlops_tracking.registry.serving import deployment, launch

    ref = register_run(cars_run, Config().registry).version
    row = {"year": 1975, "cylinders": 6, "horsepower": 95.5, "fuel": "petrol", "turbo": "no"}
    body = {"dataframe_records": [{**row, "origin": "Japan"}, {**row, "origin": "Atlantis"}]}

    with deployment(launch(ref, "tester", port=free_port())) as served:
        connection = http.client.HTTPConnection(served.host, served.port, timeout=30)
        connection.request(
            "POST", "/invocations", json.dumps(body), {"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        answer = json.loads(response.read().decode())
        connection.close()

    assert response.status == 200, answer
    assert [p["unseen_categories"] for p in answer["predictions"]] == ["", "origin"]
