"""Code tests of the linking rule: which data a metric was computed on, by its name."""

from __future__ import annotations

import pytest

from mlops_tracking.core.metric_links import is_system_metric, links_to_model, metric_split


@pytest.mark.parametrize(
    ("key", "split"),
    [
        ("validation_log_loss", "validation"),
        ("validation_roc_auc_ovr", "validation"),
        ("test_accuracy", "test"),
        ("test_within_10pct", "test"),
        ("train_loss", "train"),
        ("training_accuracy_score", "train"),  # MLflow's autolog
        ("baseline_validation_log_loss", "validation"),
        ("baseline_test_rmse", "test"),
        ("best_validation_log_loss", "validation"),
        ("fit_time_seconds", None),
        ("predict_latency_ms_single_row_p50", None),
        ("onnx_max_abs_proba_diff", None),
        ("onnx_label_agreement", None),
        ("models_compared", None),
        ("test", None),  # a bare split name says nothing about a metric
        ("baseline_fit_time", None),
        ("validation", None),
        ("system/cpu_utilization_percentage", None),
    ],
)
def test_the_split_is_the_first_word_of_the_name(key: str, split: str | None) -> None:
    assert metric_split(key) == split


def test_system_metrics_belong_to_no_model() -> None:
    assert is_system_metric("system/system_memory_usage_megabytes")
    assert not links_to_model("system/cpu_utilization_percentage")
    assert not is_system_metric("system_like_metric")
    assert links_to_model("fit_time_seconds")
    assert links_to_model("validation_f1")
