"""Params and metrics are written in batches; model-linked metrics collapse on the run and each
names the data it was computed on."""

from __future__ import annotations

import pytest


def _counting_log_batch(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    from mlflow import MlflowClient

    calls: list[int] = []
    original = MlflowClient.log_batch

    def counting(self, run_id, **batch):  # type: ignore[no-untyped-def]
        calls.append(len(batch.get("metrics", ())) + len(batch.get("params", ())))
        return original(self, run_id, **batch)

    monkeypatch.setattr(MlflowClient, "log_batch", counting)
    return calls


def _forbid_per_point_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow
    from mlflow import MlflowClient

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("histories must not be logged one point per call")

    monkeypatch.setattr(mlflow, "log_metric", refuse)
    monkeypatch.setattr(MlflowClient, "log_metric", refuse)


def test_history_is_logged_in_batches_of_at_most_1000(
    monkeypatch: pytest.MonkeyPatch, client
) -> None:  # type: ignore[no-untyped-def]
    import mlflow

    from mlops_tracking.core.training import History
    from mlops_tracking.runs.metrics import log_history

    history = History(unit="epoch")
    for step in range(1, 626):  # 4 curves x 625 steps = 2500 points
        history.add(
            step,
            {
                "train_loss": 1 / step,
                "val_loss": 2 / step,
                "train_accuracy": 1 - 1 / step,
                "val_accuracy": 1 - 2 / step,
            },
        )
    calls = _counting_log_batch(monkeypatch)
    _forbid_per_point_logging(monkeypatch)
    with mlflow.start_run() as run:
        written = log_history(run.info.run_id, history)
    assert written == 2500
    assert calls == [1000, 1000, 500]
    points = client.get_metric_history(run.info.run_id, "val_loss")
    assert [p.step for p in points] == list(range(1, 626))
    assert points[-1].value == pytest.approx(2 / 625)


def test_params_are_batched_by_100(monkeypatch: pytest.MonkeyPatch, client) -> None:  # type: ignore[no-untyped-def]
    import mlflow

    from mlops_tracking.runs.metrics import log_params

    calls = _counting_log_batch(monkeypatch)
    with mlflow.start_run() as run:
        log_params(run.info.run_id, {f"p.{i:03d}": str(i) for i in range(250)})
    assert calls == [100, 100, 50]
    assert len(client.get_run(run.info.run_id).data.params) == 250


def test_metrics_linked_to_several_models_keep_one_run_point(client) -> None:  # type: ignore[no-untyped-def]
    import mlflow
    import pandas as pd

    from mlops_tracking.runs.metrics import log_metrics

    data = mlflow.data.from_pandas(pd.DataFrame({"x": [1.0, 2.0]}), name="toy")
    with mlflow.start_run() as run:
        models = [mlflow.initialize_logged_model(name=f"m{i}") for i in range(3)]
        log_metrics(
            run.info.run_id,
            {"test_accuracy": 0.9, "test_f1": 0.8},
            [m.model_id for m in models],
            {"test": data},
        )
    assert len(client.get_metric_history(run.info.run_id, "test_accuracy")) == 1
    for model in models:
        linked = {m.key: m for m in client.get_logged_model(model.model_id).metrics}
        assert linked["test_f1"].value == pytest.approx(0.8)
        assert linked["test_f1"].dataset_digest == data.digest
        assert linked["test_f1"].dataset_name == "toy"


def test_each_metric_links_to_the_split_it_was_computed_on(client) -> None:  # type: ignore[no-untyped-def]
    import mlflow
    import pandas as pd

    from mlops_tracking.runs.metrics import log_metrics

    validation = mlflow.data.from_pandas(pd.DataFrame({"x": [1.0]}), name="toy-validation")
    test = mlflow.data.from_pandas(pd.DataFrame({"x": [2.0]}), name="toy-test")
    metrics = {
        "validation_log_loss": 0.2,
        "test_log_loss": 0.3,
        "fit_time_seconds": 1.5,
        "system/cpu_utilization_percentage": 50.0,
    }
    with mlflow.start_run() as run:
        models = [mlflow.initialize_logged_model(name=f"m{i}") for i in range(2)]
        log_metrics(
            run.info.run_id,
            metrics,
            [m.model_id for m in models],
            {"validation": validation, "test": test},
        )
    for model in models:
        links = {
            m.key: (m.dataset_name, m.dataset_digest)
            for m in client.get_logged_model(model.model_id).metrics
        }
        assert links == {
            "validation_log_loss": ("toy-validation", validation.digest),
            "test_log_loss": ("toy-test", test.digest),
            "fit_time_seconds": (None, None),
        }
    stored = client.get_run(run.info.run_id).data.metrics
    assert stored == pytest.approx(metrics)  # the system metric is on the run, and only there
