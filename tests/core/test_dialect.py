"""CSV dialects: the separator and decimal mark are sniffed, or set with data.sep/data.decimal."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import PARAMS, write_csv
from mlops_tracking.core.config import Config, DataConfig, load_config
from mlops_tracking.core.data import load_dataset
from mlops_tracking.core.dialect import CsvDialect, resolve_dialect
from mlops_tracking.core.errors import ConfigError, DataError
from mlops_tracking.core.rows import read_rows


def _config(path: Path, *overrides: str) -> Config:
    return load_config(PARAMS, [f"data.path={path}", "data.target=species", *overrides])


def _penguins(rows: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    species = rng.choice(["Adelie", "Gentoo"], rows)
    return pd.DataFrame(
        {
            "species": species,
            "island": rng.choice(["Biscoe", "Dream", "Torgersen"], rows),
            "bill_length_mm": (rng.normal(44, 5, rows) + (species == "Gentoo") * 5).round(1),
            "body_mass_g": rng.integers(3000, 6000, rows),
        }
    )


def _european(path: Path, frame: pd.DataFrame) -> Path:
    """As a European Excel writes a CSV: semicolons between fields, decimal commas."""
    frame.to_csv(path, sep=";", decimal=",", index=False)
    return path


def test_semicolon_file_with_decimal_commas_is_sniffed(tmp_path: Path) -> None:
    frame = _penguins()
    path = _european(tmp_path / "penguins.csv", frame)
    assert re.search(r";\d+,\d;", path.read_text())  # the file really has decimal commas

    dataset = load_dataset(_config(path).data)

    assert dataset.csv_dialect == CsvDialect(";", ",")
    assert dataset.kind("bill_length_mm") == "float"
    np.testing.assert_allclose(dataset.features["bill_length_mm"], frame["bill_length_mm"])
    assert dataset.kind("body_mass_g") == "integer"
    assert set(dataset.features["island"]) == {"Biscoe", "Dream", "Torgersen"}


def test_decimal_commas_with_a_few_typos_stay_numeric(tmp_path: Path) -> None:
    frame = _penguins().astype({"bill_length_mm": object})
    frame.loc[[2, 9], "bill_length_mm"] = "unknown"
    path = _european(tmp_path / "penguins.csv", frame)

    dataset = load_dataset(_config(path).data)

    assert dataset.features["bill_length_mm"].dtype == "float64"
    assert dataset.coerced_values == {"bill_length_mm": 2}
    expected = pd.to_numeric(frame["bill_length_mm"], errors="coerce")
    np.testing.assert_allclose(dataset.features["bill_length_mm"], expected)


def test_tab_separated_file_is_sniffed(tmp_path: Path) -> None:
    frame = _penguins()
    path = tmp_path / "penguins.tsv"
    frame.to_csv(path, sep="\t", index=False)

    dataset = load_dataset(_config(path).data)

    assert dataset.csv_dialect == CsvDialect("\t", ".")
    assert list(dataset.features.columns) == ["island", "bill_length_mm", "body_mass_g"]
    np.testing.assert_allclose(dataset.features["bill_length_mm"], frame["bill_length_mm"])


def test_a_comma_file_whose_text_holds_semicolons_stays_comma_separated(tmp_path: Path) -> None:
    frame = _penguins().assign(note=lambda f: f["island"] + "; seen twice")
    path = tmp_path / "penguins.csv"
    frame.to_csv(path, index=False)

    assert resolve_dialect(path) == CsvDialect(",", ".")


def test_explicit_settings_override_the_sniffing(tmp_path: Path) -> None:
    path = _european(tmp_path / "penguins.csv", _penguins())

    dataset = load_dataset(_config(path, "data.sep=;", "data.decimal=.").data)

    # read with a decimal point, "44,1" is text: the setting was used, not the sniffed comma
    assert dataset.csv_dialect == CsvDialect(";", ".")
    assert dataset.kind("bill_length_mm") == "text"


def test_a_missing_target_with_another_separator_in_the_header_says_so(tmp_path: Path) -> None:
    path = _european(tmp_path / "penguins.csv", _penguins())

    with pytest.raises(
        DataError,
        match=r"target column 'species' is not in .*penguins\.csv\. The header contains ';' but "
        r"the file was read with data\.sep=',': if ';' separates the columns, set "
        r"data\.sep=';' \(or auto\)\. Columns: species;island;bill_length_mm;body_mass_g\.",
    ):
        load_dataset(_config(path, "data.sep=,").data)


def test_a_missing_target_without_a_separator_hint_lists_the_columns(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "churn.csv")

    with pytest.raises(DataError, match=r"target column 'species' is not in .*\.csv\. Columns: "):
        load_dataset(_config(path).data)


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [("tab", "tab"), ("\\t", "tab"), ("semicolon", ";"), ("|", "|"), (",", ","), ("null", "auto")],
)
def test_data_sep_accepts_names_and_characters(typed: str, canonical: str) -> None:
    assert load_config(PARAMS, [f"data.sep={typed}"]).data.sep == canonical


def test_a_tab_written_in_yaml_is_the_tab_setting() -> None:
    assert DataConfig(sep="\t").sep == "tab"  # params.yaml: sep: "\t"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.sep=:"], r"data\.sep must be auto, ',', ';', tab or '\|' \(got ':'\)"),
        (["data.decimal=;"], r"data\.decimal must be auto, '\.' or ',' \(got ';'\)"),
        (["data.sep=,", "data.decimal=,"], r"data\.sep and data\.decimal cannot both be ','"),
    ],
)
def test_bad_dialect_settings_are_config_errors(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(PARAMS, overrides)


def test_a_sniffed_separator_cannot_be_the_configured_decimal_mark(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "churn.csv")

    with pytest.raises(DataError, match=r"separated by ',', which cannot also be the decimal"):
        load_dataset(_config(path, "data.target=churned", "data.decimal=,").data)


def test_prediction_input_is_sniffed_too(tmp_path: Path) -> None:
    frame = _penguins(rows=5)
    path = _european(tmp_path / "rows.csv", frame)

    rows = read_rows(path)

    assert list(rows.columns) == list(frame.columns)
    np.testing.assert_allclose(rows["bill_length_mm"], frame["bill_length_mm"])
