"""Date columns: detected in a CSV (or declared), kept as datetime64, turned into calendar
features by the first step of the model's preprocessing, which reads raw text or datetime64."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import PARAMS
from mlops_tracking.core.config import Config, load_config
from mlops_tracking.core.data import load_dataset, split_dataset
from mlops_tracking.core.dataset import Dataset
from mlops_tracking.core.dates import (
    ISO_8601,
    CalendarFeatures,
    detect_format,
    has_time,
    parse_dates,
)
from mlops_tracking.core.errors import DataError

ROWS = 90


def _weather(path: Path, dates: list[str | None] | None = None) -> Path:
    """A daily table whose label follows the season: a date column carries the signal."""
    days = pd.date_range("2021-01-01", periods=ROWS, freq="D")
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(
        {
            "day": dates if dates is not None else days.strftime("%Y/%m/%d"),
            "wind": rng.normal(4, 1, ROWS).round(1),
            "weather": np.where(days.month >= 2, "snow", "rain"),
        }
    )
    frame.to_csv(path, index=False)
    return path


def _config(path: Path, *overrides: str) -> Config:
    return load_config(PARAMS, [f"data.path={path}", "data.target=weather", *overrides])


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["2012/01/01", "2012/01/02"], "%Y/%m/%d"),
        (["2012-01-01", "2012-01-02T10:30:00Z"], ISO_8601),
        (["31.12.2020", "01.01.2021"], "%d.%m.%Y"),
        (["01/02/2020", "25/02/2020"], "%d/%m/%Y"),  # a day above 12 settles the order
        (["01/02/2020", "02/25/2020"], "%m/%d/%Y"),
        (["2010/01/01 00:00", "2010/01/01 13:00"], "%Y/%m/%d %H:%M"),
        (["Jan 1 2000", "Feb 1 2000"], "%b %d %Y"),
        (["red", "green"], None),
        (["2012-01-01", "soon", "later", "never"], None),
    ],
)
def test_the_format_is_the_one_that_reads_the_values(
    values: list[str], expected: str | None
) -> None:
    assert detect_format(pd.Series(values, dtype=object)) == expected


def test_parsing_reads_text_datetimes_and_time_zones_alike() -> None:
    text = pd.Series(["2024/01/31", "2024-02-01 08:30", None, "unknown"], dtype=object)
    parsed = parse_dates(text, "%Y/%m/%d")  # ISO 8601 is read too: datetime64 as str() spells it

    expected = pd.Series(
        pd.to_datetime(["2024-01-31", "2024-02-01 08:30", None, None], format=ISO_8601),
        dtype="datetime64[ns]",
    )
    assert parsed.dtype == "datetime64[ns]"
    assert parsed.equals(expected)
    assert parse_dates(expected, "%Y/%m/%d").equals(parsed)
    aware = parse_dates(pd.Series(["2024-01-31T10:00:00+02:00"]), ISO_8601)
    assert aware.iloc[0] == pd.Timestamp("2024-01-31 08:00")  # UTC, timezone-naive
    assert has_time(parsed) and not has_time(parsed.dt.normalize())


def test_calendar_features_from_text_and_datetime64_agree() -> None:
    step = CalendarFeatures(columns=("day",), formats=("%d.%m.%Y",))
    text = pd.DataFrame(
        {"x": [1.0, 2.0, 3.0, 4.0], "day": ["01.01.2024", "29.02.2024", "31.12.2023", None]}
    )
    dates = text.assign(day=pd.to_datetime(["2024-01-01", "2024-02-29", "2023-12-31", None]))

    from_text = step.fit(text).transform(text)
    from_dates = step.transform(dates)

    parts = ["year", "month", "day", "day_of_week", "day_of_year"]  # no time: no hour
    names = ["x", *(f"day_{part}" for part in parts)]
    assert list(from_text.columns) == names == list(step.get_feature_names_out())
    pd.testing.assert_frame_equal(from_text, from_dates)
    assert (from_text.dtypes == "float64").all()
    # 2024-01-01 was a Monday (0); 2024-02-29 a Thursday, the 60th day of a leap year
    assert from_text.iloc[0, 1:].tolist() == [2024, 1, 1, 0, 1]
    assert from_text.iloc[1, 1:].tolist() == [2024, 2, 29, 3, 60]
    assert from_text.iloc[3, 1:].isna().all()  # a missing date: missing parts, imputed later


def test_a_date_with_a_time_gives_the_hour_and_constant_parts_are_left_out() -> None:
    step = CalendarFeatures(columns=("at",), formats=(ISO_8601,))
    frame = pd.DataFrame({"at": ["2024-03-01 07:45", "2024-03-02 23:10", "2024-03-04 12:00"]})

    out = step.fit(frame).transform(frame)

    # one year and one month in the training rows: those parts would be constant features
    assert step.parts_ == {"at": ("day", "day_of_week", "day_of_year", "hour")}
    assert out["at_hour"].tolist() == [7.0, 23.0, 12.0]
    later = step.transform(pd.DataFrame({"at": ["2025-07-01 09:00"]}))
    assert later.columns.tolist() == ["at_day", "at_day_of_week", "at_day_of_year", "at_hour"]


def test_a_csv_date_column_is_kept_as_a_date(tmp_path: Path) -> None:
    dataset = load_dataset(_config(_weather(tmp_path / "weather.csv")).data)

    assert dataset.kind("day") == "date"
    assert dataset.features["day"].dtype == "datetime64[ns]"
    assert dataset.features["day"].iloc[31] == pd.Timestamp("2021-02-01")
    assert dataset.date_formats == {"day": "%Y/%m/%d"}
    assert dataset.date_columns == ["day"]
    assert dataset.numeric_columns == ["wind"]
    assert "day" not in dataset.dropped_columns  # a distinct value per row, not an identifier


def test_a_date_column_with_times_is_a_datetime(tmp_path: Path) -> None:
    stamps = pd.date_range("2021-01-01 06:00", periods=ROWS, freq="7h").strftime("%Y-%m-%d %H:%M")
    dataset = load_dataset(_config(_weather(tmp_path / "w.csv", list(stamps))).data)

    assert dataset.kind("day") == "datetime"
    assert dataset.date_formats == {"day": ISO_8601}


def test_missing_and_unreadable_dates_become_missing_and_are_counted(tmp_path: Path) -> None:
    days = list(pd.date_range("2021-01-01", periods=ROWS, freq="D").strftime("%d.%m.%Y"))
    days[3], days[10], days[20] = None, "unknown", ""  # type: ignore[call-overload]
    dataset = load_dataset(_config(_weather(tmp_path / "w.csv", days)).data)

    column = dataset.features["day"]
    assert dataset.kind("day") == "date"
    assert column.isna().sum() == 3
    assert dataset.coerced_values == {"day": 1}  # 'unknown'; empty cells were missing already


def test_declaring_no_date_columns_keeps_the_old_behaviour(tmp_path: Path) -> None:
    dataset = load_dataset(_config(_weather(tmp_path / "w.csv"), "data.date_columns=[]").data)

    assert "day" in dataset.dropped_columns  # a distinct text per row: an identifier
    assert dataset.date_columns == []


def test_a_declared_date_column_must_read_as_dates(tmp_path: Path) -> None:
    path = _weather(tmp_path / "w.csv")
    frame = pd.read_csv(path).assign(colour=lambda f: np.where(f.index % 2, "red", "blue"))
    frame.to_csv(path, index=False)

    declared = load_dataset(_config(path, "data.date_columns=day").data)
    assert declared.date_columns == ["day"]
    assert declared.kind("colour") == "text"
    with pytest.raises(
        DataError,
        match=r"data\.date_columns names 'colour', but its values do not read as dates "
        r"\('blue', 'red'\)\. Write them as ISO 8601",
    ):
        load_dataset(_config(path, "data.date_columns=[day, colour]").data)
    with pytest.raises(DataError, match=r"data\.date_columns names \['when'\], which are not "):
        load_dataset(_config(path, "data.date_columns=[when]").data)


def test_calendar_names_must_not_replace_a_column(tmp_path: Path) -> None:
    path = _weather(tmp_path / "w.csv")
    frame = pd.read_csv(path)
    # it varies: a constant column would be dropped before its name could clash
    frame.assign(day_month=np.arange(len(frame)) % 7 + 0.5).to_csv(path, index=False)

    with pytest.raises(DataError, match=r"would replace the existing column\(s\) day_month; "):
        load_dataset(_config(path).data)


def _fitted(dataset: Dataset, config: Config):  # type: ignore[no-untyped-def]
    from mlops_tracking.core.modelling import fit_pipeline
    from mlops_tracking.core.models import family_for
    from mlops_tracking.core.records import TrainingInputs

    splits = split_dataset(dataset, config.data)
    family = family_for(config.model.name, dataset.task)
    pipeline, _ = fit_pipeline(TrainingInputs(config, None, dataset, splits), family)
    return pipeline, splits


def test_the_pipeline_reads_the_raw_date_and_learns_from_it(tmp_path: Path) -> None:
    from mlops_tracking.core.export import own_modules, to_skops
    from mlops_tracking.core.modelling import raw_rows

    config = _config(_weather(tmp_path / "w.csv"), "model.name=logistic_regression")
    dataset = load_dataset(config.data)
    pipeline, splits = _fitted(dataset, config)
    raw = raw_rows(splits.test.X, dataset)

    assert raw["day"].iloc[0] == splits.test.X["day"].iloc[0].strftime("%Y/%m/%d")
    assert (pipeline.predict(raw) == pipeline.predict(splits.test.X)).all()
    assert (pipeline.predict(splits.test.X) == splits.test.y).mean() > 0.9  # snow from February
    assert pipeline[0].steps[0][0] == "dates"
    exported = to_skops(pipeline)  # the project's own transformer is trusted, not foreign
    assert "mlops_tracking.core.dates.CalendarFeatures" in exported.trusted_types
    assert own_modules(exported.trusted_types) == ["mlops_tracking.core.dates"]


def test_date_params_and_preprocessing_state_describe_the_calendar_step(tmp_path: Path) -> None:
    from mlops_tracking.core.features import date_params, preprocessing_state

    config = _config(_weather(tmp_path / "w.csv"), "model.name=logistic_regression")
    pipeline, _ = _fitted(load_dataset(config.data), config)

    # 90 days of 2021: the year is constant, so it is no feature
    assert date_params(pipeline[0]) == {
        "features.date_columns": "day",
        "features.date_parts": "day: month, day, day_of_week, day_of_year",
    }
    state = preprocessing_state(pipeline[0])
    assert state["dates"]["formats"] == {"day": "%Y/%m/%d"}
    assert "day_month" in state["output_features"]


def test_pipeline_stage_files_keep_dates_as_dates(tmp_path: Path) -> None:
    from mlops_tracking.core.stage_files import load_splits, write_splits

    config = _config(_weather(tmp_path / "w.csv"))
    dataset = load_dataset(config.data)
    splits = split_dataset(dataset, config.data)

    write_splits(dataset, splits, tmp_path / "features", "w.csv")
    loaded, reloaded = load_splits(tmp_path / "features")

    pd.testing.assert_frame_equal(reloaded.train.X, splits.train.X)
    assert loaded.date_formats == {"day": "%Y/%m/%d"}
    assert loaded.kind("day") == "date"
    assert loaded.csv_dialect == dataset.csv_dialect
