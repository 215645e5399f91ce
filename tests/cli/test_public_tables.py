"""Real public tables, as a user brings them, through the whole CLI: train -> audit -> register ->
promote -> predict, each step read back from the store.

The tables ship inside PyPI packages pinned as dev dependencies (palmerpenguins, vega_datasets),
so nothing is downloaded; their files are read where the packages keep them, without importing
the packages. Between them they hold what the shipped scikit-learn datasets do not: text
categories, integer columns (with and without missing values), missing values, date columns in
three spellings, text targets, regression targets, and a semicolon / decimal-comma file as
European Excel writes it.

These tests live with the CLI because they drive it, one subprocess per command, as a user does
(``conftest.cli``). They are slow (about a minute per table) and marked so.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import FAST, PARAMS, cli, sets

# A raw library warning, by its class name or by MLflow's log format.
LIBRARY_WARNING = re.compile(r"\b[A-Z]\w*Warning\b|\bWARNING\b")


def package_file(package: str, *parts: str) -> Path:
    """A data file shipped inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        pytest.fail(f"{package} is not installed: `make setup` installs requirements.lock")
    path = Path(spec.origin).parent.joinpath(*parts)
    assert path.is_file(), f"{package} no longer ships {'/'.join(parts)}"
    return path


def _penguins() -> Any:
    import pandas as pd

    return pd.read_csv(package_file("palmerpenguins", "data", "penguins.csv"))


def _penguins_raw() -> Any:
    import pandas as pd

    return pd.read_csv(package_file("palmerpenguins", "data", "penguins-raw.csv"))


def _vega_json(name: str) -> Callable[[], Any]:
    def load() -> Any:
        import pandas as pd

        # keep_default_dates=False: the user's export keeps the dates as text, as in the file
        return pd.read_json(package_file("vega_datasets", "_data", name), keep_default_dates=False)

    return load


def _vega_csv(name: str) -> Callable[[], Any]:
    def load() -> Any:
        import pandas as pd

        return pd.read_csv(package_file("vega_datasets", "_data", name))

    return load


@dataclass(frozen=True)
class PublicTable:
    """One real table, how to write it as a user's CSV, and what training on it must show."""

    name: str
    load: Callable[[], Any]  # the table as a DataFrame
    target: str
    task: str
    model: str
    dates: tuple[str, ...] = ()  # date columns: features, never dropped as identifiers
    semicolon: bool = False  # written as European Excel does: ';' between fields, ',' decimals

    def write(self, frame: Any, path: Path) -> Path:
        if self.semicolon:
            frame.to_csv(path, sep=";", decimal=",", index=False, lineterminator="\r\n")
        else:
            frame.to_csv(path, index=False)
        return path


def _whole_numbers_as_integers(load: Callable[[], Any]) -> Callable[[], Any]:
    """Spreadsheets write 181, not 181.0, for a whole-number column with gaps."""

    def converted() -> Any:
        frame = load()
        for column in frame.select_dtypes("float"):
            values = frame[column].dropna()
            if len(values) and (values == values.round()).all():
                frame[column] = frame[column].astype("Int64")
        return frame

    return converted


TABLES = [
    # text target (3 species), text categories, integer year, missing values in every column
    PublicTable("penguins", _penguins, "species", "multiclass", "random_forest"),
    # binary text target with missing values, an ISO date column, constant and free-text
    # columns, column names with spaces and units
    PublicTable(
        "penguins-raw", _penguins_raw, "Sex", "binary", "logistic_regression", ("Date Egg",)
    ),
    # regression with integer Cylinders and Weight_in_lbs, a date Year, missing target values
    PublicTable(
        "cars",
        _vega_json("cars.json"),
        "Miles_per_Gallon",
        "regression",
        "random_forest",
        ("Year",),
    ),
    # text target of five weather types (snow is rare), dates written 2012/01/01
    PublicTable(
        "seattle-weather",
        _vega_csv("seattle-weather.csv"),
        "weather",
        "multiclass",
        "hist_gradient_boosting",  # 25 trees of a forest are sure and wrong: worse than the prior
        ("date",),
    ),
    # small regression (120 rows): text categories and an integer year with two values; yield
    # is about additive site and variety effects, so a linear model (R² 0.75 where 25 boosting
    # iterations reach 0.07, barely better than the mean)
    PublicTable("barley", _vega_json("barley.json"), "yield", "regression", "ridge"),
    # regression on a text category and dates written "Jan 1 2000"
    PublicTable(
        "stocks", _vega_csv("stocks.csv"), "price", "regression", "random_forest", ("date",)
    ),
    # the penguins as a European spreadsheet saves them: semicolons, decimal commas, CRLF
    PublicTable(
        "penguins-semicolon",
        _whole_numbers_as_integers(_penguins),
        "species",
        "multiclass",
        "random_forest",
        semicolon=True,
    ),
]


def _ok(result: Any, step: str) -> str:
    """The output of a command that must succeed, with no raw library warning in it."""
    output = str(result.stdout) + str(result.stderr)
    assert result.returncode == 0, f"{step} failed:\n{output}"
    assert not LIBRARY_WARNING.search(output), f"{step}:\n{output}"
    return output


def _train(table: PublicTable, csv: Path) -> str:
    overrides = [
        *FAST,
        f"data.path={csv}",
        f"data.target={table.target}",
        f"model.name={table.model}",
    ]
    result = cli("train", "--config", str(PARAMS), *sets(*overrides), "--experiment", table.name)
    output = _ok(result, "train")
    # MLflow's pickle warning is gone; the project says the risk once, in its words
    assert " ".join(output.split()).count("runs any code its file contains") == 1, output
    return output


def _read_trained_run(client: Any, table: PublicTable, csv: Path) -> Any:
    import mlflow

    experiment = client.get_experiment_by_name(table.name)
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.tags["task"] == table.task
    assert run.data.params["data.path"] == str(csv)
    assert run.data.params["data.target"] == table.target
    # how each column was read, as the run recorded it
    kinds = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/data/schema.json")["column_kinds"]
    for column in table.dates:  # calendar features, not an identifier or a category
        assert kinds.get(column) in {"date", "datetime"}, (column, kinds)
    if table.semicolon:  # decimal commas read as numbers, whole numbers as integers
        assert (kinds["bill_length_mm"], kinds["year"]) == ("float", "integer"), kinds
    return run


def _audit(run_id: str) -> None:
    result = cli("audit", run_id, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    missing = [item["item"] for item in report["items"] if item["status"] == "missing"]
    assert report["passed"] and not missing, missing


def _register_and_promote(client: Any, table: PublicTable, run_id: str) -> None:
    _ok(cli("register", run_id, "--name", table.name), "register")
    (version,) = client.search_model_versions(f"name='{table.name}'")
    assert version.run_id == run_id
    assert version.tags["task"] == table.task

    _ok(cli("promote", table.name, "--to", "staging"), "promote")
    model = client.get_registered_model(table.name)
    assert {alias: str(v) for alias, v in model.aliases.items()} == {
        "staging": str(version.version)
    }
    assert client.get_model_version(table.name, version.version).tags["lifecycle"] == "staging"


def _predict(client: Any, table: PublicTable, frame: Any, rows: Path, run_id: str) -> None:
    import pandas as pd

    output = _ok(
        cli("predict", f"{table.name}@staging", "--input", str(rows), "--output", "out.csv"),
        "predict",
    )
    answers = pd.read_csv("out.csv")
    assert len(answers) == 20
    if table.task == "regression":
        assert all(math.isfinite(value) for value in answers["prediction"])
    else:
        assert set(answers["label"]) <= set(frame[table.target].dropna().astype(str))

    found = re.search(r"Inference run: ([0-9a-f]{32})", output)
    assert found, output
    inference = client.get_run(found.group(1))
    assert inference.info.status == "FINISHED"
    assert inference.data.params["rows"] == "20"
    assert inference.data.tags["model.alias"] == "staging"
    assert inference.data.tags["model.source_run_id"] == run_id


@pytest.mark.slow
@pytest.mark.parametrize("table", TABLES, ids=[table.name for table in TABLES])
def test_a_public_table_goes_from_csv_to_predictions(
    table: PublicTable, tmp_path: Path, client
) -> None:  # type: ignore[no-untyped-def]
    frame = table.load()
    csv = table.write(frame, tmp_path / f"{table.name}.csv")
    # rows to score, as the user has them: same file format, no target, gaps and dates raw
    rows = table.write(frame.drop(columns=[table.target]).tail(20), tmp_path / "rows.csv")

    _train(table, csv)
    run = _read_trained_run(client, table, csv)
    _audit(run.info.run_id)
    _register_and_promote(client, table, run.info.run_id)
    _predict(client, table, frame, rows, run.info.run_id)


def test_the_tables_cover_what_real_data_brings() -> None:
    """The cases the tables exist for are all there (a table dropped must be replaced)."""
    import pandas as pd

    frames = {table.name: table.load() for table in TABLES}
    features = {
        name: frame.drop(columns=[table.target])
        for table, (name, frame) in zip(TABLES, frames.items(), strict=True)
    }
    tasks = {table.task for table in TABLES}
    assert tasks == {"binary", "multiclass", "regression"}
    assert any(
        frame.select_dtypes(include=["object", "string"]).shape[1] for frame in features.values()
    )
    assert any(
        pd.api.types.is_integer_dtype(frame[column])
        for frame in features.values()
        for column in frame.columns
    )
    assert frames["penguins"].drop(columns="species").isna().any().sum() >= 5  # gaps
    assert {column for table in TABLES for column in table.dates} >= {"date", "Date Egg", "Year"}
    assert any(table.semicolon for table in TABLES)
    assert all(len(frame) >= 100 for frame in frames.values())
