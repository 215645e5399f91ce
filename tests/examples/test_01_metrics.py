"""examples/01_metrics.py: step curves, final classification scores and a custom metric."""

from __future__ import annotations

from pathlib import Path

import pytest

from snippets import run_example

# Each snippet runs as a reader runs it: a new Python process that imports MLflow and
# scikit-learn and creates a store (5-15 s each), so the inner loop skips them.
pytestmark = pytest.mark.slow


FINAL = ["val_accuracy", "val_precision", "val_recall", "val_f1", "val_roc_auc"]


def test_metrics_snippet_logs_curves_scores_and_a_custom_metric(tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    output = run_example("01_metrics", tmp_path)

    experiment = client.get_experiment_by_name("tutorial-metrics")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_id in output
    assert run.info.run_name == "sgd-loss-curve"
    assert run.info.status == "FINISHED"

    for curve in ("train_loss", "val_loss"):
        history = client.get_metric_history(run.info.run_id, curve)
        assert [point.step for point in history] == list(range(20))
        assert all(0 < point.value < 5 for point in history)
    train = [p.value for p in client.get_metric_history(run.info.run_id, "train_loss")]
    assert train[-1] < train[0]  # the curve goes down: the model learns

    metrics = run.data.metrics
    for key in FINAL:
        assert 0.8 < metrics[key] <= 1.0, key
        assert len(client.get_metric_history(run.info.run_id, key)) == 1
    assert 0.0 <= metrics["val_missed_malignant_rate"] < 0.2
