"""Code tests of batch scoring without MLflow: rows checked against a signature, shaped results."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_tracking.core.errors import DataError
from mlops_tracking.core.rows import (
    check_rows,
    file_digest,
    labelled,
    onnx_feed,
    read_rows,
)

SIGNATURE = {"size": "double", "visits": "long", "colour": "string", "member": "boolean"}


def _rows(**columns: list[object]) -> pd.DataFrame:
    """Three valid rows for SIGNATURE, with ``columns`` replaced (or added)."""
    base: dict[str, list[object]] = {
        "size": [1.5, 2.0, 3.25],
        "visits": [3, 0, 12],
        "colour": ["red", "blue", "red"],
        "member": ["true", "false", "true"],
    }
    return pd.DataFrame(base | columns)


# --- check_rows ------------------------------------------------------------------------------


def test_a_missing_column_is_named_with_the_expected_ones() -> None:
    rows = _rows().drop(columns=["visits", "member"])

    message = (
        "new.csv: lacks column(s) 'visits', 'member' that the model expects "
        "(expected: size, visits, colour, member)"
    )
    with pytest.raises(DataError, match=re.escape(message)):
        check_rows(rows, SIGNATURE, "new.csv")


def test_a_frame_without_rows_is_an_error() -> None:
    with pytest.raises(DataError, match=re.escape("new.csv has no rows to predict")):
        check_rows(_rows().iloc[:0], SIGNATURE, "new.csv")


def test_a_non_numeric_value_names_the_column_the_row_and_the_value() -> None:
    # The row is the 1-based position in the file, whatever the frame's index says.
    rows = _rows(size=["1.5", "2", "big"]).set_axis([10, 20, 30])

    message = "new.csv: column 'size' must be numeric (double) but row 3 holds 'big'"
    with pytest.raises(DataError, match=re.escape(message)):
        check_rows(rows, SIGNATURE, "new.csv")


def test_only_the_first_bad_numeric_value_is_reported() -> None:
    rows = _rows(visits=["3", "many", "lots"])

    with pytest.raises(DataError, match=re.escape("(long) but row 2 holds 'many'")):
        check_rows(rows, SIGNATURE, "new.csv")


def test_doubles_become_float64_and_keep_missing_values() -> None:
    checked = check_rows(_rows(size=["1.5", None, 4]), SIGNATURE, "new.csv")

    assert checked["size"].dtype == np.float64
    np.testing.assert_array_equal(checked["size"], [1.5, np.nan, 4.0])


@pytest.mark.parametrize("visits", [[3.0, 0.0, 12.0], ["3", "0", "12"], [3, 0, 12]])
def test_whole_numbers_in_a_long_column_become_int64(visits: list[object]) -> None:
    checked = check_rows(_rows(visits=visits), SIGNATURE, "new.csv")

    assert checked["visits"].dtype == np.int64
    assert checked["visits"].tolist() == [3, 0, 12]


def test_a_long_column_rejects_a_fraction_naming_the_row_and_value() -> None:
    message = (
        "new.csv: column 'visits' must hold whole numbers (long: the model was trained on "
        "integers) but row 1 holds 3.5"
    )
    with pytest.raises(DataError, match=re.escape(message)):
        check_rows(_rows(visits=[3.5, 0, 12]), SIGNATURE, "new.csv")


@pytest.mark.parametrize("visits", [[3, None, 12], [3, np.nan, 12]], ids=["none", "nan"])
def test_a_long_column_rejects_a_missing_value_and_says_how_to_fix_it(
    visits: list[object],
) -> None:
    message = (
        "new.csv: column 'visits' holds whole numbers (long), so it cannot be empty (the model "
        "was trained on a column without missing values; fill the value in, or retrain on data "
        "where 'visits' has missing values, which declares it double) (row 2)"
    )
    with pytest.raises(DataError, match=re.escape(message)):
        check_rows(_rows(visits=visits), SIGNATURE, "new.csv")


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        (["true", "0", "yes", " FALSE ", "No", "1"], [True, False, True, False, False, True]),
        ([True, False, 1, 0], [True, False, True, False]),
        (["true", None, np.nan], [True, None, None]),
    ],
    ids=["text", "bools-and-codes", "missing"],
)
def test_boolean_values_become_bools(member: list[object], expected: list[object]) -> None:
    checked = check_rows(pd.DataFrame({"member": member}), {"member": "boolean"}, "new.csv")

    assert checked["member"].tolist() == expected
    assert checked["member"].dtype == object


def test_a_boolean_column_read_as_floats_keeps_its_values() -> None:
    checked = check_rows(_rows(member=[1.0, 0.0, np.nan]), SIGNATURE, "new.csv")

    assert checked["member"].tolist() == [True, False, None]


def test_a_value_that_is_not_a_boolean_is_an_error() -> None:
    with pytest.raises(DataError, match=r"column 'member'.*row 2 holds 'maybe'"):
        check_rows(_rows(member=["true", "maybe", "false"]), SIGNATURE, "new.csv")


def test_missing_text_becomes_none_and_other_text_is_kept() -> None:
    checked = check_rows(_rows(colour=["red", None, np.nan]), SIGNATURE, "new.csv")

    assert checked["colour"].tolist() == ["red", None, None]


def test_extra_columns_are_dropped_and_the_signature_sets_the_order() -> None:
    rows = _rows(customer_id=["c1", "c2", "c3"])[
        ["member", "customer_id", "colour", "visits", "size"]
    ]

    checked = check_rows(rows, SIGNATURE, "new.csv")

    assert list(checked.columns) == ["size", "visits", "colour", "member"]


def test_checked_rows_keep_the_input_index() -> None:
    rows = _rows().set_axis(["a", "b", "c"])

    assert check_rows(rows, SIGNATURE, "new.csv").index.tolist() == ["a", "b", "c"]


# --- read_rows -------------------------------------------------------------------------------


def test_reading_a_missing_file_is_a_data_error_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "absent.csv"

    with pytest.raises(DataError, match=re.escape(f"CSV file not found: {path}. Check --input")):
        read_rows(path)


@pytest.mark.parametrize(
    "content",
    [b"", b"a,b\n1,2\n3,4,5,6\n", b"size,colour\n1.5,r\xe9d\xff\n"],
    ids=["empty", "ragged", "not-utf8"],
)
def test_an_unreadable_file_is_a_data_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "rows.csv"
    path.write_bytes(content)

    with pytest.raises(DataError, match=re.escape(f"cannot read {path} as CSV: ")):
        read_rows(path)


def test_read_rows_reads_a_csv(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("size,colour\n1.5,red\n,blue\n")

    rows = read_rows(path)

    assert list(rows.columns) == ["size", "colour"]
    assert rows["colour"].tolist() == ["red", "blue"]
    assert rows["size"].isna().tolist() == [False, True]


# --- onnx_feed -----------------------------------------------------------------------------


def test_one_onnx_input_gets_a_single_float32_matrix() -> None:
    features = pd.DataFrame({"size": [1.5, 2.0], "visits": [3.0, 4.0]})

    feed = onnx_feed(features, {"size": "double", "visits": "double"}, ["X"])

    assert list(feed) == ["X"]
    assert feed["X"].dtype == np.float32
    np.testing.assert_array_equal(feed["X"], [[1.5, 3.0], [2.0, 4.0]])


def test_several_onnx_inputs_get_one_column_each() -> None:
    features = pd.DataFrame({"size": [1.5, 2.0, 3.0], "colour": ["red", "missing", "blue"]})

    feed = onnx_feed(features, {"size": "double", "colour": "string"}, ["size_in", "colour_in"])

    assert list(feed) == ["size_in", "colour_in"]
    assert feed["size_in"].dtype == np.float32
    assert feed["colour_in"].dtype.kind == "U"
    assert feed["size_in"].shape == feed["colour_in"].shape == (3, 1)
    assert feed["colour_in"].ravel().tolist() == ["red", "missing", "blue"]


def test_onnx_inputs_that_do_not_match_the_columns_are_an_error() -> None:
    features = pd.DataFrame({"size": [1.5], "colour": ["red"], "plan": ["pro"]})
    kinds = {"size": "double", "colour": "string", "plan": "string"}

    with pytest.raises(ValueError, match="shorter than argument 1"):
        onnx_feed(features, kinds, ["size_in", "colour_in"])


# --- results ---------------------------------------------------------------------------------


def test_labelled_output_names_the_most_likely_label_and_renormalises() -> None:
    proba = np.array([[0.2, 0.5, 0.2], [0.45, 0.25, 0.2], [0.1, 0.1, 0.3]])

    output = labelled(proba, ["a", "b", "c"])

    assert list(output.columns) == ["label", "proba_a", "proba_b", "proba_c"]
    assert output["label"].tolist() == ["b", "a", "c"]
    np.testing.assert_allclose(output.iloc[0, 1:].to_numpy(dtype=float), [2 / 9, 5 / 9, 2 / 9])
    np.testing.assert_allclose(output.iloc[:, 1:].sum(axis=1), 1.0, rtol=0, atol=1e-12)


def test_float32_probabilities_are_kept_in_range_and_sum_to_one() -> None:
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(4), size=50).astype(np.float32) * np.float32(0.999)
    proba[0] = [1.0000001, -1e-7, 0.0, 0.0]  # onnxruntime's float32 rounding

    output = labelled(proba, ["a", "b", "c", "d"])

    values = output.iloc[:, 1:].to_numpy(dtype=float)
    assert values.min() >= 0.0
    assert values.max() <= 1.0
    np.testing.assert_allclose(values.sum(axis=1), 1.0, rtol=0, atol=1e-6)


def test_file_digest_is_the_sha256_of_the_bytes(tmp_path: Path) -> None:
    content = b"size,colour\n1.5,red\n"
    path = tmp_path / "rows.csv"
    path.write_bytes(content)
    known = tmp_path / "abc"
    known.write_bytes(b"abc")

    assert file_digest(path) == hashlib.sha256(content).hexdigest()
    assert file_digest(known) == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
