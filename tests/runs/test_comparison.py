"""compare: one parent run, one child per model, ranked on a validation metric."""

from __future__ import annotations

import dataclasses

import pytest

from conftest import count_runs

MODELS = ["logistic_regression", "hist_gradient_boosting"]


def test_parent_and_children_are_linked_and_ranked(fast_config, client) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.audit.checklist import audit_run
    from mlops_tracking.runs.comparison import compare_and_log

    outcome = compare_and_log(fast_config, MODELS)
    parent = client.get_run(outcome.parent_run_id)
    children = client.search_runs(
        [outcome.experiment.id], f"tags.mlflow.parentRunId = '{outcome.parent_run_id}'"
    )
    assert sorted(c.info.run_name for c in children) == sorted(MODELS)
    assert all(c.info.status == "FINISHED" for c in children)
    # read back, not returned: the lowest validation log loss wins
    best = min(children, key=lambda c: c.data.metrics["validation_log_loss"])
    assert parent.data.tags["compare.best_run_id"] == best.info.run_id
    assert parent.data.tags["compare.best_model"] == best.data.tags["model.family"]
    assert parent.data.metrics["best_validation_log_loss"] == pytest.approx(
        best.data.metrics["validation_log_loss"]
    )
    assert parent.data.params["compare.selection_metric"] == "validation_log_loss"
    assert parent.data.params["compare.selection_goal"] == "minimize"
    assert parent.data.params["compare.models"] == ",".join(MODELS)
    assert not any(key.startswith("model.") for key in parent.data.params)
    assert parent.info.status == "FINISHED"
    table = client.load_table(
        outcome.experiment.id, "comparison/models.json", run_ids=[outcome.parent_run_id]
    )
    assert list(table["model"]) == [
        best.data.tags["model.family"],
        *[m for m in MODELS if m != best.data.tags["model.family"]],
    ]
    assert list(table["rank"]) == [1, 2]
    # every child fits the same trivial baseline on the same splits, and the table says by how
    # much each model beats it
    assert len({c.data.metrics["baseline_validation_log_loss"] for c in children}) == 1
    assert all(c.data.tags["baseline.beaten"] == "true" for c in children)
    margins = {c.data.tags["model.family"]: c.data.metrics["baseline_margin"] for c in children}
    assert dict(zip(table["model"], table["baseline_margin"], strict=True)) == pytest.approx(
        margins
    )
    for run_id in [outcome.parent_run_id, *(c.info.run_id for c in children)]:
        report = audit_run(run_id)
        assert report.passed, [(i.item, i.location) for i in report.missing]
    assert audit_run(outcome.parent_run_id).profile == "comparison"


def test_a_failing_model_fails_the_parent_but_not_its_siblings(  # type: ignore[no-untyped-def]
    fast_config, monkeypatch: pytest.MonkeyPatch, client
) -> None:
    from mlops_tracking.core import models
    from mlops_tracking.runs.comparison import ComparisonFailedError, compare_and_log

    def explode(params: dict, seed: int, classification: bool, threads: int) -> object:  # type: ignore[type-arg]
        raise MemoryError("out of memory building the network")

    broken = dataclasses.replace(models.FAMILIES["hist_gradient_boosting"], build=explode)
    monkeypatch.setitem(models.FAMILIES, "hist_gradient_boosting", broken)
    with pytest.raises(
        ComparisonFailedError,
        match=r"1 of 2 models failed: "
        r"hist_gradient_boosting \(MemoryError",
    ):
        compare_and_log(fast_config, MODELS)
    runs = {
        r.info.run_name: r
        for r in client.search_runs(
            [client.get_experiment_by_name("breast_cancer-binary").experiment_id]
        )
    }
    assert runs["logistic_regression"].info.status == "FINISHED"
    assert runs["hist_gradient_boosting"].info.status == "FAILED"
    parent = runs["compare-breast_cancer"]
    assert parent.info.status == "FAILED"
    assert parent.data.tags["compare.failed_models"] == "hist_gradient_boosting"
    assert parent.data.tags["compare.best_model"] == "logistic_regression"


@pytest.mark.parametrize(
    ("models", "overrides", "message"),
    [
        (["logistic_regression", "xgboost"], [], "unknown model 'xgboost'; choose one of"),
        (["ridge"], [], "model.name=ridge cannot do binary"),
        ([], [], "at least one model"),
        (
            ["mlp"],
            ["evaluation.selection_metric=test_rmse"],
            "cannot rank binary models; choose a validation metric",
        ),
    ],
)
def test_bad_requests_fail_before_any_run(  # type: ignore[no-untyped-def]
    fast_config, models: list[str], overrides: list[str], message: str
) -> None:
    from mlops_tracking.core.errors import UserError
    from mlops_tracking.runs.comparison import compare_and_log

    with pytest.raises(UserError, match=message):
        compare_and_log(fast_config.with_overrides(overrides), models)
    assert count_runs() == 0
