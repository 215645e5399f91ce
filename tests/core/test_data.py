"""Data tests: shipped datasets and CSV files load with the documented schema; splits are sound."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import numpy as np
import pandas as pd
import pytest

from conftest import PARAMS, write_csv
from messy_table import messy_csv
from mlops_tracking.core.cleaning import MIN_ROWS
from mlops_tracking.core.config import Config, ShippedDataset, load_config
from mlops_tracking.core.data import load_dataset, split_dataset
from mlops_tracking.core.dataset import MISSING_CATEGORY, Dataset
from mlops_tracking.core.errors import DataError

SHIPPED = {
    "breast_cancer": ("binary", ("malignant", "benign"), 30),
    "wine": ("multiclass", ("class_0", "class_1", "class_2"), 13),
    "iris": ("multiclass", ("setosa", "versicolor", "virginica"), 4),
    "digits": ("multiclass", tuple(str(digit) for digit in range(10)), 64),
    "diabetes": ("regression", (), 10),
}


def _config(*overrides: str) -> Config:
    return load_config(PARAMS, list(overrides))


def _csv_config(path: Path, *overrides: str) -> Config:
    return _config(f"data.path={path}", "data.target=churned", *overrides)


def _rewrite(path: Path, **columns: object) -> Path:
    """Write a copy of ``write_csv``'s table with some columns replaced."""
    frame = pd.read_csv(write_csv(path))
    for name, values in columns.items():
        frame[name] = values
    frame.to_csv(path, index=False)
    return path


def test_every_shipped_dataset_is_covered() -> None:
    assert set(SHIPPED) == set(get_args(ShippedDataset))


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_dataset_schema(name: str) -> None:
    task, labels, n_features = SHIPPED[name]

    dataset = load_dataset(_config(f"data.dataset={name}").data)

    assert dataset.task == task
    assert dataset.labels == labels
    assert dataset.source_kind == "sklearn"
    assert dataset.features.shape[1] == n_features
    assert (dataset.features.dtypes == "float64").all()
    assert dataset.categorical_columns == []
    assert len(dataset.target) == len(dataset.features)
    assert dataset.features.index.equals(dataset.target.index)
    assert not dataset.features.isna().any().any()
    if task == "regression":
        assert dataset.target.dtype == "float64"
    else:
        assert dataset.target.dtype == "int64"
        assert sorted(dataset.target.unique()) == list(range(len(labels)))


def test_shipped_dataset_with_a_task_that_does_not_fit() -> None:
    with pytest.raises(
        DataError,
        match=r"data\.dataset=wine is a multiclass dataset; data\.task=binary does not fit it\. "
        r"Set data\.task=auto\.",
    ):
        load_dataset(_config("data.dataset=wine", "data.task=binary").data)


def test_shipped_dataset_accepts_its_own_task() -> None:
    dataset = load_dataset(_config("data.dataset=diabetes", "data.task=regression").data)

    assert dataset.task == "regression"


# --- CSV files -------------------------------------------------------------------------------


@pytest.fixture
def churn(tmp_path: Path) -> Dataset:
    return load_dataset(_csv_config(write_csv(tmp_path / "churn.csv")).data)


def test_csv_text_target_becomes_integer_codes_with_label_names(
    churn: Dataset, tmp_path: Path
) -> None:
    raw = pd.read_csv(tmp_path / "churn.csv")

    assert churn.name == "churn"
    assert churn.source_kind == "file"
    assert churn.task == "binary"
    assert churn.labels == ("no", "yes")
    assert churn.target.dtype == "int64"
    assert churn.target_name == "churned"
    decoded = [churn.labels[code] for code in churn.target]
    assert decoded == raw["churned"].tolist()


def test_csv_column_types(churn: Dataset) -> None:
    features = churn.features

    assert churn.numeric_columns == ["size", "visits"]
    assert churn.categorical_columns == ["colour", "plan"]
    assert features["size"].dtype == "float64"
    assert features["visits"].dtype == "float64"  # integers too: a missing value must fit
    assert features["size"].isna().sum() > 0  # numeric gaps stay NaN for the imputer
    for column in churn.categorical_columns:
        assert features[column].dtype == object
        assert features[column].map(type).eq(str).all()


def test_csv_remembers_what_each_column_held(churn: Dataset) -> None:
    assert churn.column_kinds == {
        "size": "float",
        "visits": "integer",
        "colour": "text",
        "plan": "text",
    }
    assert churn.features["visits"].dtype == "float64"


def test_csv_missing_categories_are_spelled_missing(churn: Dataset, tmp_path: Path) -> None:
    raw = pd.read_csv(tmp_path / "churn.csv")

    plan = churn.features["plan"]
    assert (plan == MISSING_CATEGORY).sum() == raw["plan"].isna().sum() > 0
    assert set(plan) == {"basic", "pro", MISSING_CATEGORY}


def test_csv_identifier_column_is_dropped_and_reported(churn: Dataset) -> None:
    assert "customer_id" not in churn.features.columns
    assert churn.dropped_columns == ("customer_id",)


def test_csv_empty_column_is_dropped_and_reported(tmp_path: Path) -> None:
    path = _rewrite(tmp_path / "churn.csv", notes=np.nan)

    dataset = load_dataset(_csv_config(path).data)

    assert "notes" not in dataset.features.columns
    assert set(dataset.dropped_columns) == {"customer_id", "notes"}


def test_csv_constant_columns_are_dropped_and_reported(tmp_path: Path) -> None:
    """One value in every row says nothing (and the F-test of kbest would warn about it)."""
    path = _rewrite(tmp_path / "churn.csv", region="Anvers", version=3)
    frame = pd.read_csv(path)
    frame.loc[::4, "stage"] = "adult"  # one value and gaps: present-or-missing is a signal
    frame.to_csv(path, index=False)

    dataset = load_dataset(_csv_config(path).data)

    assert set(dataset.dropped_columns) == {"customer_id", "region", "version"}
    assert "stage" in dataset.features.columns


def test_csv_rows_without_a_target_are_dropped_and_counted(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "churn.csv")
    frame = pd.read_csv(path)
    frame.loc[[3, 10, 50, 51], "churned"] = np.nan
    frame.to_csv(path, index=False)

    dataset = load_dataset(_csv_config(path).data)

    assert dataset.dropped_rows == 4
    assert len(dataset.target) == len(dataset.features) == len(frame) - 4
    assert not {3, 10, 50, 51} & set(dataset.features.index)


def test_csv_numeric_target_with_many_values_is_regression(tmp_path: Path) -> None:
    path = _rewrite(tmp_path / "churn.csv", churned=np.linspace(0, 10, 120))

    dataset = load_dataset(_csv_config(path).data)

    assert dataset.task == "regression"
    assert dataset.labels == ()
    assert dataset.target.dtype == "float64"


def test_csv_small_integer_target_is_multiclass(tmp_path: Path) -> None:
    path = _rewrite(tmp_path / "churn.csv", churned=np.arange(120) % 3 + 1)

    dataset = load_dataset(_csv_config(path).data)

    assert dataset.task == "multiclass"
    assert dataset.labels == ("1", "2", "3")
    assert sorted(dataset.target.unique()) == [0, 1, 2]


def test_missing_csv_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"CSV file not found: .*nowhere\.csv\. Check data\.path"):
        load_dataset(_csv_config(tmp_path / "nowhere.csv").data)


def test_missing_target_column_suggests_a_near_miss(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "churn.csv")
    config = _config(f"data.path={path}", "data.target=churn")

    with pytest.raises(
        DataError,
        match=r"target column 'churn' is not in .*churn\.csv\. Did you mean 'churned'\? "
        r"Columns: customer_id, size, visits, colour, plan, churned\.",
    ):
        load_dataset(config.data)


def test_too_few_rows(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "churn.csv", rows=MIN_ROWS - 1)

    with pytest.raises(
        DataError, match=rf"has {MIN_ROWS - 1} rows with a target value; at least {MIN_ROWS} are"
    ):
        load_dataset(_csv_config(path).data)


def test_too_few_labelled_rows(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "churn.csv", rows=40)
    frame = pd.read_csv(path)
    frame.loc[:15, "churned"] = np.nan
    frame.to_csv(path, index=False)

    with pytest.raises(DataError, match=r"has 24 rows with a target value; at least 30"):
        load_dataset(_csv_config(path).data)


def test_target_with_a_single_value(tmp_path: Path) -> None:
    path = _rewrite(tmp_path / "churn.csv", churned="yes")

    with pytest.raises(DataError, match=r"target 'churned' has a single value; there is nothing"):
        load_dataset(_csv_config(path).data)


@pytest.mark.parametrize(
    ("value", "task"),
    [
        pytest.param("yes", "multiclass", id="text-multiclass"),
        pytest.param(3.7, "auto", id="float-auto"),
        pytest.param(3.7, "regression", id="float-regression"),
    ],
)
def test_target_with_a_single_value_whatever_the_task(
    tmp_path: Path, value: object, task: str
) -> None:
    path = _rewrite(tmp_path / "churn.csv", churned=value)

    with pytest.raises(DataError, match="single value"):
        load_dataset(_csv_config(path, f"data.task={task}").data)


@pytest.mark.parametrize(
    ("task", "pattern"),
    [
        ("regression", r"data\.task=regression needs a numeric target; 'churned' is not\."),
        (
            "multiclass",
            r"data\.task=multiclass but target 'churned' has 2 classes; use data\.task=binary",
        ),
    ],
)
def test_task_mismatch(tmp_path: Path, task: str, pattern: str) -> None:
    path = write_csv(tmp_path / "churn.csv")

    with pytest.raises(DataError, match=pattern):
        load_dataset(_csv_config(path, f"data.task={task}").data)


def test_unreadable_csv(tmp_path: Path) -> None:
    path = tmp_path / "broken.csv"
    path.write_bytes(b"")

    with pytest.raises(DataError, match=r"cannot read .*broken\.csv as CSV"):
        load_dataset(_config(f"data.path={path}", "data.target=y").data)


# --- splits ----------------------------------------------------------------------------------


def _indices(split: pd.Series) -> set[object]:
    return set(split.index)


@pytest.mark.parametrize("name", ["breast_cancer", "wine", "diabetes"])
@pytest.mark.parametrize(("test_size", "validation_size"), [(0.2, 0.2), (0.1, 0.3)])
def test_split_sizes_follow_the_configured_ratios(
    name: str, test_size: float, validation_size: float
) -> None:
    config = _config(
        f"data.dataset={name}",
        f"data.test_size={test_size}",
        f"data.validation_size={validation_size}",
    )
    dataset = load_dataset(config.data)

    splits = split_dataset(dataset, config.data)

    n = len(dataset.target)
    assert sum(splits.sizes.values()) == n
    assert abs(len(splits.test) - n * test_size) <= 1
    assert abs(len(splits.validation) - n * validation_size) <= 1
    assert [split.name for split in splits] == ["train", "validation", "test"]


@pytest.mark.parametrize("name", ["wine", "diabetes"])
def test_splits_are_disjoint_and_cover_the_data(name: str) -> None:
    config = _config(f"data.dataset={name}")
    dataset = load_dataset(config.data)

    splits = split_dataset(dataset, config.data)

    train, validation, test = (_indices(split.y) for split in splits)
    assert not train & validation
    assert not train & test
    assert not validation & test
    assert train | validation | test == set(dataset.target.index)
    for split in splits:
        assert split.X.index.equals(split.y.index)
        assert split.y.equals(dataset.target.loc[split.y.index])


@pytest.mark.parametrize("name", ["breast_cancer", "wine", "digits"])
def test_stratified_splits_keep_class_proportions(name: str) -> None:
    config = _config(f"data.dataset={name}")
    dataset = load_dataset(config.data)
    overall = dataset.target.value_counts(normalize=True)

    splits = split_dataset(dataset, config.data)

    for split in splits:
        counts = split.y.value_counts().reindex(overall.index, fill_value=0)
        assert (counts - len(split) * overall).abs().max() <= 1, split.name


def test_same_seed_same_split_other_seed_other_split() -> None:
    config = _config("data.dataset=wine")
    dataset = load_dataset(config.data)

    first = split_dataset(dataset, config.data)
    again = split_dataset(dataset, config.data)
    other = split_dataset(dataset, config.with_overrides(["data.seed=7"]).data)

    for a, b in zip(first, again, strict=True):
        assert a.y.index.equals(b.y.index)
    assert set(first.test.y.index) != set(other.test.y.index)


def test_split_frame_joins_features_and_target() -> None:
    config = _config("data.dataset=iris")
    dataset = load_dataset(config.data)

    frame = split_dataset(dataset, config.data).test.frame(dataset.target_name)

    assert list(frame.columns) == [*dataset.features.columns, dataset.target_name]


def _with_rare_classes(path: Path, **rows: int) -> Path:
    """``write_csv``'s churn table with the first rows relabelled: ``rows[label]`` of each."""
    frame = pd.read_csv(write_csv(path))
    start = 0
    for label, count in rows.items():
        frame.loc[start : start + count - 1, "churned"] = label
        start += count
    frame.to_csv(path, index=False)
    return path


RARE_MESSAGE = (
    r"class\(es\) too rare to appear in every split: maybe \(3 rows\), never \(1 row\)\. "
    r"Each class needs at least 10 rows \(so that a 0\.2 split holds two of them\)\. Add rows "
    r"of those classes, or set data\.rare_classes=drop \(leave their rows out\) or "
    r"data\.rare_classes=merge \(pool them into one class 'other'\)\."
)


@pytest.mark.parametrize("stratify", ["true", "false"])
def test_rare_classes_get_one_message_with_their_row_counts(tmp_path: Path, stratify: str) -> None:
    path = _with_rare_classes(tmp_path / "churn.csv", maybe=3, never=1)
    config = _csv_config(path, f"data.stratify={stratify}")
    dataset = load_dataset(config.data)  # rare_classes=error: the table loads unchanged

    assert dataset.labels == ("maybe", "never", "no", "yes")
    # the same advice whether stratified or not: no circle between the two settings
    with pytest.raises(DataError, match=RARE_MESSAGE):
        split_dataset(dataset, config.data)


def test_rare_classes_can_be_dropped(tmp_path: Path) -> None:
    path = _with_rare_classes(tmp_path / "churn.csv", maybe=3, never=1)
    config = _csv_config(path, "data.rare_classes=drop")

    dataset = load_dataset(config.data)
    splits = split_dataset(dataset, config.data)

    assert dataset.labels == ("no", "yes")
    assert dataset.task == "binary"  # four classes, two of them dropped
    assert dataset.rare_classes == {"maybe": 3, "never": 1}
    assert len(dataset.target) == len(dataset.features) == 120 - 4
    assert not dataset.features.index.isin(range(4)).any()  # the relabelled rows are gone
    assert all(set(split.y) == {0, 1} for split in splits)


def test_rare_classes_can_be_merged_into_other(tmp_path: Path) -> None:
    path = _with_rare_classes(tmp_path / "churn.csv", maybe=6, never=5)
    raw = pd.read_csv(path)
    config = _csv_config(path, "data.rare_classes=merge")

    dataset = load_dataset(config.data)
    split_dataset(dataset, config.data)  # 'other' has 11 rows: enough for every split

    assert dataset.labels == ("no", "yes", "other")
    assert dataset.task == "multiclass"
    assert dataset.rare_classes == {"maybe": 6, "never": 5}
    decoded = pd.Series(dataset.labels)[dataset.target.to_numpy()].to_numpy()
    expected = raw["churned"].where(~raw["churned"].isin(["maybe", "never"]), "other")
    assert (decoded == expected.to_numpy()).all()


def test_a_merged_class_still_too_small_names_the_next_step(tmp_path: Path) -> None:
    path = _with_rare_classes(tmp_path / "churn.csv", maybe=3, never=1)
    config = _csv_config(path, "data.rare_classes=merge")
    dataset = load_dataset(config.data)

    with pytest.raises(
        DataError,
        match=r"the merged class 'other' has 4 rows, still fewer than the 10 each class needs; "
        r"set data\.rare_classes=drop, or add rows\.",
    ):
        split_dataset(dataset, config.data)


def test_min_class_rows_raises_the_bar(tmp_path: Path) -> None:
    path = _with_rare_classes(tmp_path / "churn.csv", maybe=15)
    config = _csv_config(path, "data.min_class_rows=20", "data.rare_classes=drop")

    dataset = load_dataset(config.data)

    assert dataset.rare_classes == {"maybe": 15}
    refusing = _csv_config(path, "data.min_class_rows=20").data
    with pytest.raises(
        DataError, match=r"maybe \(15 rows\)\. Each class needs at least 20 rows \(data\.min_cl"
    ):
        split_dataset(load_dataset(refusing), refusing)


def test_dropping_rare_classes_must_leave_two(tmp_path: Path) -> None:
    frame = pd.read_csv(write_csv(tmp_path / "churn.csv"))
    frame.loc[:4, "churned"] = "maybe"
    frame.loc[5:, "churned"] = "no"
    frame.to_csv(tmp_path / "churn.csv", index=False)

    with pytest.raises(DataError, match=r"dropping the rare classes maybe leaves only no; a "):
        load_dataset(_csv_config(tmp_path / "churn.csv", "data.rare_classes=drop").data)


def test_an_unstratified_split_that_loses_a_class_suggests_stratifying(tmp_path: Path) -> None:
    path = _with_rare_classes(tmp_path / "churn.csv", maybe=10)  # enough rows to stratify
    dataset = load_dataset(_csv_config(path).data)

    refused = []
    for seed in range(20):
        config = _csv_config(path, "data.stratify=false", f"data.seed={seed}").data
        try:
            splits = split_dataset(dataset, config)
        except DataError as error:
            refused.append(str(error))
        else:
            assert all(set(split.y) == {0, 1, 2} for split in splits)
        stratified = split_dataset(dataset, _csv_config(path, f"data.seed={seed}").data)
        assert all(set(split.y) == {0, 1, 2} for split in stratified)
    assert refused  # 10 of 120 rows: some random splits miss the class
    assert all(
        re.fullmatch(
            r"the (training|validation|test) split has no rows of class\(es\) maybe; set "
            r"data\.stratify=true \(every class is then in every split\) or change data\.seed\.",
            message,
        )
        for message in refused
    )


# --- CSV cleaning decisions, each reported on the Dataset ----------------------------------------


def test_identifier_columns_are_dropped_and_reported(tmp_path: Path) -> None:
    dataset = load_dataset(_csv_config(messy_csv(tmp_path / "m.csv"), "data.target=label").data)
    assert set(dataset.dropped_columns) == {"row_id", "customer id"}
    assert "score" in dataset.features.columns


def test_numbers_with_a_few_typos_stay_numeric(tmp_path: Path) -> None:
    dataset = load_dataset(_csv_config(messy_csv(tmp_path / "m.csv"), "data.target=label").data)
    assert dataset.features["amount ($)"].dtype == "float64"
    assert dataset.features["amount ($)"].isna().sum() == 2
    assert dataset.coerced_values == {"amount ($)": 2}
    assert dataset.kind("amount ($)") == "float"


def test_booleans_are_categories_that_remember_their_kind(tmp_path: Path) -> None:
    dataset = load_dataset(_csv_config(messy_csv(tmp_path / "m.csv"), "data.target=label").data)
    assert dataset.kind("flag") == "boolean"
    assert set(dataset.features["flag"]) == {"True", "False"}
    assert dataset.kind("a.b") == "integer"


def test_explicit_drop_columns(tmp_path: Path) -> None:
    path = messy_csv(tmp_path / "m.csv")
    config = _csv_config(path, "data.target=label", "data.drop_columns=[score]").data
    dataset = load_dataset(config)
    assert "score" not in dataset.features.columns
    assert dataset.dropped_columns[0] == "score"
    with pytest.raises(DataError, match=r"data.drop_columns names \['nope'\]"):
        load_dataset(_csv_config(path, "data.target=label", "data.drop_columns=[nope]").data)


def test_a_numeric_target_with_typos_is_refused_with_the_values(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "churn.csv")
    frame = pd.read_csv(path)
    frame["price"] = np.linspace(10, 100, len(frame)).round(1).astype(object)
    frame.loc[[1, 2], "price"] = "unknown"
    frame.to_csv(path, index=False)
    with pytest.raises(
        DataError, match=r"target 'price' is numeric except for 2 value\(s\): 'unknown'"
    ):
        load_dataset(_csv_config(path, "data.target=price").data)


def test_file_source_is_hashed(tmp_path: Path) -> None:
    import hashlib

    path = write_csv(tmp_path / "churn.csv")
    dataset = load_dataset(_csv_config(path, "data.target=churned").data)
    assert dataset.source_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
