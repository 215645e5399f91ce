"""A tracked run on a CSV with a date column (semicolon-separated, decimal commas), read back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import StoredRun, _train_in_store

ROWS = 200


def _daily_csv(path: Path) -> pd.DataFrame:
    """Two years of days, spelled 31.12.2021 as a European export would; snow in winter."""
    days = pd.date_range("2021-01-01", periods=ROWS, freq="4D")
    rng = np.random.default_rng(11)
    frame = pd.DataFrame(
        {
            "day": days.strftime("%d.%m.%Y"),
            "wind": rng.normal(4, 1, ROWS).round(1),
            "weather": np.where(days.month.isin([12, 1, 2]), "snow", "rain"),
        }
    )
    frame.to_csv(path, sep=";", decimal=",", index=False)
    return frame


@pytest.fixture(scope="module")
def date_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[StoredRun, pd.DataFrame]:
    folder = tmp_path_factory.mktemp("dates")
    frame = _daily_csv(folder / "weather.csv")
    stored = _train_in_store(
        folder,
        [
            f"data.path={folder / 'weather.csv'}",
            "data.target=weather",
            "tracking.model_formats=[sklearn, onnx, pyfunc]",
            "tracking.system_metrics=false",
        ],
    )
    return stored, frame


def test_a_date_column_is_logged_as_calendar_features_and_served_raw(
    date_run, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    import mlflow
    from mlflow import MlflowClient

    stored, frame = date_run
    monkeypatch.setenv("MLFLOW_TRACKING_URI", stored.uri)
    mlflow.set_tracking_uri(stored.uri)
    run = MlflowClient().get_run(stored.run_id)
    params, tags = run.data.params, run.data.tags

    assert params["features.date_columns"] == "day"
    assert params["features.date_parts"] == "day: year, month, day, day_of_week, day_of_year"
    assert params["data.n_date"] == "1"
    assert params["data.resolved_sep"] == ";"
    assert params["data.resolved_decimal"] == ","
    assert "day" not in params["data.dropped_columns"]
    assert "date columns" in tags["mlops.onnx_skipped"]
    assert "model_uri.onnx" not in tags

    pyfunc_uri, sklearn_uri = tags["model_uri.pyfunc"], tags["model_uri.sklearn"]
    raw_type = {
        c.name: c.type.name for c in mlflow.models.get_model_info(pyfunc_uri).signature.inputs
    }
    trained = {
        c.name: c.type.name for c in mlflow.models.get_model_info(sklearn_uri).signature.inputs
    }
    assert raw_type["day"] == "string"  # as the CSV spells it
    assert trained["day"] == "datetime"  # the pipeline's own input: datetime64[ns]

    rows = frame.drop(columns=["weather"]).iloc[[0, 20, 45, 100]].reset_index(drop=True)
    predicted = mlflow.pyfunc.load_model(pyfunc_uri).predict(rows)
    assert predicted["label"].tolist() == frame["weather"].iloc[[0, 20, 45, 100]].tolist()
    pipeline = mlflow.sklearn.load_model(sklearn_uri)
    as_dates = rows.assign(day=pd.to_datetime(rows["day"], format="%d.%m.%Y"))
    np.testing.assert_allclose(
        predicted.filter(like="proba_").to_numpy(), pipeline.predict_proba(as_dates)
    )
    # the calendar step's module ships with the model: it loads where the package is absent
    for uri in (pyfunc_uri, sklearn_uri):
        code = Path(mlflow.artifacts.download_artifacts(uri)) / "code" / "mlops_tracking"
        assert sorted(p.relative_to(code).as_posix() for p in code.rglob("*.py")) == [
            "__init__.py",
            "core/__init__.py",
            "core/dates.py",
        ]


def test_the_audit_passes_with_onnx_marked_not_applicable(date_run, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import mlflow

    from mlops_tracking.audit.checklist import audit_run

    stored, _ = date_run
    monkeypatch.setenv("MLFLOW_TRACKING_URI", stored.uri)
    mlflow.set_tracking_uri(stored.uri)

    report = audit_run(stored.run_id)

    onnx = {item.item: item for item in report.items if "ONNX" in item.item}
    assert {item.status for item in onnx.values()} == {"n/a"}
    assert all("date columns" in item.location for item in onnx.values())
    assert report.passed, [item for item in report.items if item.failed]


def test_dates_held_as_datetime64_score_like_the_csvs_text(date_run, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The gate scores its rebuilt test split, whose dates are datetime64; the deployable
    model's signature declares them string, and MLflow refused them before the model ran."""
    import mlflow
    from mlflow import MlflowClient

    from mlops_tracking.runs.scoring import load_deployable, score_rows

    stored, frame = date_run
    monkeypatch.setenv("MLFLOW_TRACKING_URI", stored.uri)
    mlflow.set_tracking_uri(stored.uri)
    model = load_deployable(MlflowClient().get_run(stored.run_id).data.tags["model_uri.pyfunc"])
    rows = frame.drop(columns=["weather"]).iloc[[0, 20, 45, 100]].reset_index(drop=True)
    as_dates = rows.assign(day=pd.to_datetime(rows["day"], format="%d.%m.%Y"))

    scored = score_rows(model, as_dates, "the held-out test split")

    pd.testing.assert_frame_equal(scored, score_rows(model, rows, "a CSV"))
    assert scored["label"].tolist() == frame["weather"].iloc[[0, 20, 45, 100]].tolist()
