"""Code tests of the deployable model's input rules: signature types, training form, unseen values.

These functions are what predict, the promotion gate, reproduce and the served model all run
(the model loads this very file from its artifacts), so each case is one that reached a user.
"""

from __future__ import annotations

import ast
import datetime
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_tracking.core import model_input
from mlops_tracking.core.model_input import (
    InputError,
    coerce_rows,
    training_form,
    unseen_by_row,
    unseen_categories,
)

# --- integers ----------------------------------------------------------------------------------


def test_whole_floats_in_a_long_column_become_int64() -> None:
    # the gate's case: a held-out split in training form holds integers as float64, and MLflow
    # refuses float64 for a long column ("Can not safely convert float64 to int64")
    rows = pd.DataFrame({"year": [1970.0, 1982.0, 1976.0]}, index=[5, 9, 2])

    typed = coerce_rows(rows, {"year": "long"})

    assert typed["year"].dtype == np.int64
    assert typed["year"].tolist() == [1970, 1982, 1976]
    assert typed.index.tolist() == [5, 9, 2]


def test_integers_and_numeric_text_become_int64_and_int64_is_kept_as_is() -> None:
    rows = pd.DataFrame({"a": np.array([1, 2], dtype="int32"), "b": ["3", " 4"], "c": [5, 6]})

    typed = coerce_rows(rows, {"a": "long", "b": "long", "c": "long"})

    assert [typed[c].dtype for c in "abc"] == [np.int64] * 3
    assert typed.to_numpy().tolist() == [[1, 3, 5], [2, 4, 6]]


def test_a_fraction_in_a_long_column_is_refused_naming_column_row_and_value() -> None:
    rows = pd.DataFrame({"cylinders": [4.0, 2.5, 6.0]})

    message = (
        "column 'cylinders' must hold whole numbers (long: the model was trained on integers) "
        "but row 2 holds 2.5"
    )
    with pytest.raises(InputError, match=re.escape(message)):
        coerce_rows(rows, {"cylinders": "long"})


def test_text_in_a_long_column_is_refused_naming_the_value() -> None:
    with pytest.raises(InputError, match=re.escape("(long) but row 1 holds 'many'")):
        coerce_rows(pd.DataFrame({"visits": ["many", "3"]}), {"visits": "long"})


# --- integers with missing values (pandas reads them as float64) -------------------------------


def test_integers_with_missing_values_in_a_double_column_keep_nan() -> None:
    # the training column had gaps, so its signature says double; a batch without gaps reads
    # as int64, which MLflow would refuse for a double column
    typed = coerce_rows(
        pd.DataFrame({"year": [1970, 1971], "doors": [2.0, np.nan]}),
        {"year": "double", "doors": "double"},
    )

    assert typed["year"].dtype == typed["doors"].dtype == np.float64
    assert typed["year"].tolist() == [1970.0, 1971.0]
    assert np.isnan(typed["doors"].iloc[1])


def test_integers_with_missing_values_in_a_long_column_are_refused_saying_why() -> None:
    rows = pd.DataFrame({"year": [1970.0, np.nan, 1972.0]})  # how pandas reads 1970,,1972

    message = (
        "column 'year' holds whole numbers (long), so it cannot be empty (the model was trained "
        "on a column without missing values; fill the value in, or retrain on data where 'year' "
        "has missing values, which declares it double) (row 2)"
    )
    with pytest.raises(InputError, match=re.escape(message)):
        coerce_rows(rows, {"year": "long"})


# --- booleans ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["true", "No", " YES ", "0"], [True, False, True, False]),
        ([1.0, 0.0, np.nan, 1.0], [True, False, None, True]),
        (["True", "False", "missing", "True"], [True, False, None, True]),  # training form
    ],
    ids=["text", "floats-with-gap", "training-form"],
)
def test_boolean_spellings_become_bools_with_none_where_missing(
    values: list[object], expected: list[object]
) -> None:
    typed = coerce_rows(pd.DataFrame({"member": values}), {"member": "boolean"})

    assert typed["member"].tolist() == expected


def test_a_bool_column_is_kept_as_is() -> None:
    rows = pd.DataFrame({"member": [True, False]})

    assert coerce_rows(rows, {"member": "boolean"})["member"].dtype == np.bool_


def test_a_value_that_is_not_a_boolean_is_refused() -> None:
    message = "column 'member' must be boolean (true/false, 1/0, yes/no) but row 2 holds 'maybe'"
    with pytest.raises(InputError, match=re.escape(message)):
        coerce_rows(pd.DataFrame({"member": ["yes", "maybe"]}), {"member": "boolean"})


# --- categories (string) -----------------------------------------------------------------------


def test_category_text_is_kept_and_missing_values_become_none() -> None:
    rows = pd.DataFrame({"island": ["Biscoe", None, np.nan, "Dream"]})

    typed = coerce_rows(rows, {"island": "string"})

    assert typed["island"].tolist() == ["Biscoe", None, None, "Dream"]
    assert typed["island"].dtype == object


def test_numbers_in_a_string_column_are_spelled_as_written() -> None:
    # a code column of digits with a gap reads as float64: 3.0 must be the category "3"
    rows = pd.DataFrame(
        {"code": [3.0, np.nan, 2.5], "grade": [1, 2, 3], "flag": [True, False, True]}
    )

    typed = coerce_rows(rows, {"code": "string", "grade": "string", "flag": "string"})

    assert typed["code"].tolist() == ["3", None, "2.5"]
    assert typed["grade"].tolist() == ["1", "2", "3"]
    assert typed["flag"].tolist() == ["True", "False", "True"]


# --- dates -------------------------------------------------------------------------------------


def test_iso_date_strings_and_datetimes_in_a_datetime_column_become_datetime64() -> None:
    rows = pd.DataFrame(
        {
            "day": ["2024-05-31", "2024-06-01T14:30:00", None],
            "when": pd.to_datetime(["2024-01-02 03:04:05", None, "2024-01-03"], format="ISO8601"),
            "local": pd.to_datetime(["2024-01-02 10:00"]).tz_localize("Europe/Paris").repeat(3),
        }
    )

    typed = coerce_rows(rows, {"day": "datetime", "when": "datetime", "local": "datetime"})

    assert all(typed[c].dtype == "datetime64[ns]" for c in typed.columns)
    assert typed["day"].tolist()[:2] == [
        pd.Timestamp("2024-05-31"),
        pd.Timestamp("2024-06-01 14:30"),
    ]
    assert pd.isna(typed["day"].iloc[2])
    assert typed["when"].iloc[0] == pd.Timestamp("2024-01-02 03:04:05")
    assert typed["local"].iloc[0] == pd.Timestamp("2024-01-02 09:00")  # in UTC, naive


def test_a_date_that_is_not_iso_8601_is_refused_with_an_example() -> None:
    message = (
        "column 'day' must hold dates (ISO 8601, e.g. 2024-05-31 or 2024-05-31T14:30:00) "
        "but row 2 holds 'next tuesday'"
    )
    with pytest.raises(InputError, match=re.escape(message)):
        coerce_rows(pd.DataFrame({"day": ["2024-05-31", "next tuesday"]}), {"day": "datetime"})


def test_datetimes_in_a_string_column_become_iso_text() -> None:
    rows = pd.DataFrame(
        {
            "day": pd.to_datetime(["2024-05-31", None]),
            "when": pd.to_datetime(["2024-05-31 14:30", "2024-06-01"], format="ISO8601"),
            "text": ["31/05/2024", datetime.date(2024, 6, 1)],
        }
    )

    typed = coerce_rows(rows, {"day": "string", "when": "string", "text": "string"})

    assert typed["day"].tolist() == ["2024-05-31", None]
    assert typed["when"].tolist() == ["2024-05-31T14:30:00", "2024-06-01T00:00:00"]
    assert typed["text"].tolist() == ["31/05/2024", "2024-06-01"]  # text is kept as written


def test_a_date_column_goes_to_the_pipeline_as_sent() -> None:
    # the pipeline's calendar step reads the training format, ISO 8601 and datetime64 itself
    rows = pd.DataFrame(
        {
            "text": ["31/05/2024", None],
            "dates": pd.to_datetime(["2024-05-31", None]),
            "number": [20240531, 20240601],
        }
    )
    types = {"text": "date", "dates": "date", "number": "date"}

    typed = coerce_rows(rows, types)
    prepared = training_form(typed, types)

    assert typed["text"].tolist() == ["31/05/2024", None]
    assert typed["dates"].dtype.kind == "M"
    assert typed["number"].tolist() == ["20240531", "20240601"]
    assert prepared["text"].iloc[0] == "31/05/2024"
    assert pd.isna(prepared["text"].iloc[1])
    assert prepared["dates"].dtype.kind == "M"


def test_every_kind_of_source_column_has_a_rule() -> None:
    from mlops_tracking.core.records import SIGNATURE_TYPES

    assert set(SIGNATURE_TYPES) <= set(model_input.KIND_TYPES)


# --- columns -----------------------------------------------------------------------------------


def test_a_missing_column_is_named_with_the_expected_ones() -> None:
    message = "lacks column(s) 'b' that the model expects (expected: a, b)"
    with pytest.raises(InputError, match=re.escape(message)):
        coerce_rows(pd.DataFrame({"a": [1.0]}), {"a": "double", "b": "string"})


def test_the_signature_sets_the_columns_and_their_order() -> None:
    rows = pd.DataFrame({"extra": [1], "b": ["x"], "a": [2.0]})

    assert list(coerce_rows(rows, {"a": "double", "b": "string"}).columns) == ["a", "b"]


# --- training form and unseen categories -------------------------------------------------------


def test_training_form_makes_numbers_float64_and_categories_text() -> None:
    typed = pd.DataFrame(
        {
            "visits": [3, 4, 5],
            "colour": ["red", None, "blue"],
            "member": [True, False, None],
            "day": pd.to_datetime(["2024-01-01", None, "2024-01-03"]),
        },
        index=["a", "b", "c"],
    )
    types = {"visits": "long", "colour": "string", "member": "boolean", "day": "datetime"}

    prepared = training_form(typed, types)

    assert prepared["visits"].dtype == np.float64
    assert prepared["colour"].tolist() == ["red", "missing", "blue"]
    assert prepared["member"].tolist() == ["True", "False", "missing"]
    assert prepared["day"].dtype.kind == "M"  # as given: the pipeline's calendar step reads it
    assert prepared.index.tolist() == ["a", "b", "c"]


def test_unseen_categories_flag_values_outside_the_encoders_categories() -> None:
    features = pd.DataFrame(
        {"island": ["Biscoe", "Atlantis", "missing"], "sex": ["male", "female", "x"], "n": 1.0}
    )
    categories = {"island": ["Biscoe", "Dream"], "sex": ["female", "male"]}

    flags = unseen_categories(features, categories)

    assert flags.to_dict("list") == {"island": [False, True, True], "sex": [False, False, True]}
    assert unseen_by_row(flags) == ["", "island", "island, sex"]


def test_the_module_is_self_contained_so_a_logged_model_can_load_it_alone() -> None:
    # the deployable model loads this file from its artifacts, without mlops_tracking
    tree = ast.parse(Path(model_input.__file__).read_text(encoding="utf-8"))
    imported = {
        (node.module or "").split(".")[0] if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }

    assert imported <= {"__future__", "datetime", "collections", "typing", "numpy", "pandas"}


# --- value rules: non-finite numbers, the training range, missing values, extra columns ---

_TYPES = {"age": "double", "visits": "long", "city": "string"}


def _typed_rows(**changes: object) -> pd.DataFrame:
    rows = pd.DataFrame(
        {"age": [30.0, 40.0, 50.0], "visits": [1, 2, 3], "city": ["Oslo", "Rome", "Lima"]}
    )
    for cell, value in changes.items():
        column, row = cell.rsplit("_", 1)
        rows[column] = rows[column].astype(object)
        rows.loc[int(row), column] = value
    return model_input.coerce_rows(rows, _TYPES)


def test_training_ranges_record_numeric_columns_only() -> None:
    rows = _typed_rows()
    assert model_input.training_ranges(rows, _TYPES) == {"age": [30.0, 50.0], "visits": [1.0, 3.0]}


def test_accepted_bounds_widen_the_range_by_the_tolerance_in_spans() -> None:
    bounds = model_input.accepted_bounds({"age": [30.0, 50.0], "flat": [5.0, 5.0]}, 10)
    assert bounds == {"age": (-170.0, 250.0), "flat": (-45.0, 55.0)}
    assert model_input.accepted_bounds({"age": [30.0, 50.0]}, -1) == {}


@pytest.mark.parametrize(
    ("value", "shown"),
    [(np.inf, "inf"), (-np.inf, "-inf"), (1e39, "1e+39"), (1e300, "1e+300")],
)
def test_a_non_finite_or_float32_overflowing_number_is_refused_naming_column_and_row(
    value: float, shown: str
) -> None:
    rows = _typed_rows(age_1=value)
    with pytest.raises(InputError, match=rf"column 'age' row 2 holds {re.escape(shown)}, which"):
        model_input.check_values(rows, _TYPES)


def test_a_value_far_outside_the_training_range_names_value_and_range() -> None:
    ranges = {"age": [30.0, 50.0]}
    bounds = model_input.accepted_bounds(ranges, 10)
    assert model_input.check_values(_typed_rows(age_2=249.0), _TYPES, bounds, ranges=ranges) == {}
    with pytest.raises(
        InputError,
        match=r"column 'age' row 3 holds 251.0, far outside the range seen in training "
        r"\(training saw 30 to 50; accepted: -170 to 250\)",
    ):
        model_input.check_values(_typed_rows(age_2=251.0), _TYPES, bounds, ranges=ranges)


def test_a_model_without_recorded_ranges_skips_the_range_rule() -> None:
    assert model_input.check_values(_typed_rows(age_0=1e30), _TYPES, {}) == {}


def test_missing_values_are_reported_for_imputation_or_refused_by_policy() -> None:
    rows = _typed_rows(age_1=None, city_2=None)
    imputed = model_input.check_values(rows, _TYPES)
    assert imputed == {"age": [2], "city": [3]}
    assert model_input.imputed_by_row(imputed, 3) == ["", "age", "city"]
    assert model_input.describe_imputed(imputed) == "'age' row 2; 'city' row 3"
    with pytest.raises(InputError, match=r"column 'age' row 2 is empty, and missing values are"):
        model_input.check_values(rows, _TYPES, missing_values="refuse")


def test_zero_rows_are_refused() -> None:
    with pytest.raises(InputError, match="holds no rows to score"):
        model_input.check_values(_typed_rows().head(0), _TYPES)


def test_extra_columns_leave_out_the_expected_and_the_ignored_ones() -> None:
    columns = ["age", "target", "surprise", "visits"]
    assert model_input.extra_columns(columns, list(_TYPES), ["target"]) == ["surprise"]
