"""Code tests of model manifests: what counts as a change."""

from __future__ import annotations

from mlops_tracking.core.manifest import compare


def test_mlflow_s_own_registered_model_meta_is_not_a_change() -> None:
    recorded = {"MLmodel": "a" * 64, "model.skops": "b" * 64}
    found = {**recorded, "registered_model_meta": "c" * 64}
    assert not compare(recorded, found)


def test_any_other_unrecorded_file_is_one() -> None:
    recorded = {"MLmodel": "a" * 64}
    found = {**recorded, "sitecustomize.py": "c" * 64, "sub/registered_model_meta": "d" * 64}
    assert compare(recorded, found).extra == ("sitecustomize.py", "sub/registered_model_meta")


def test_a_changed_recorded_meta_file_still_counts() -> None:
    recorded = {"registered_model_meta": "a" * 64}
    assert compare(recorded, {"registered_model_meta": "b" * 64}).changed == (
        "registered_model_meta",
    )
