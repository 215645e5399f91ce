"""compare --seeds: each model at several seeds, the parent holding each model's spread."""

from __future__ import annotations

import dataclasses
import statistics
from typing import Any

import pytest
from scipy.stats import t

from conftest import count_runs

MODELS = ["logistic_regression", "random_forest"]
SUMMARISED = ("validation_log_loss", "test_roc_auc", "fit_time_seconds")


def _children(client: Any, parent_run_id: str, experiment_id: str) -> list[Any]:
    return client.search_runs([experiment_id], f"tags.mlflow.parentRunId = '{parent_run_id}'")


def test_each_model_runs_at_three_seeds_and_the_parent_holds_their_spread(  # type: ignore[no-untyped-def]
    fast_config, client
) -> None:
    from mlops_tracking.audit.checklist import audit_run
    from mlops_tracking.runs.comparison import compare_and_log

    outcome = compare_and_log(fast_config, MODELS, seeds=3)
    parent = client.get_run(outcome.parent_run_id)
    children = _children(client, outcome.parent_run_id, outcome.experiment.id)
    assert sorted(c.info.run_name for c in children) == sorted(
        f"{model}-seed{seed}" for model in MODELS for seed in (42, 43, 44)
    )
    assert all(c.info.status == "FINISHED" for c in children)
    by_model: dict[str, list[Any]] = {model: [] for model in MODELS}
    for child in children:
        by_model[child.data.tags["model.family"]].append(child)
    for model, runs in by_model.items():
        # the model's seed counts up; the split's stays (every child is scored on the same rows)
        assert sorted(int(r.data.params["model.seed"]) for r in runs) == [42, 43, 44]
        assert {r.data.params["data.seed"] for r in runs} == {"42"}
        assert all(r.data.tags["compare.model_seed"] == r.data.params["model.seed"] for r in runs)
        for metric in SUMMARISED:
            values = [r.data.metrics[metric] for r in runs]
            mean, std = statistics.mean(values), statistics.stdev(values)
            half = t.ppf(0.975, 2) * std / 3**0.5
            logged = parent.data.metrics
            assert logged[f"{model}/{metric}_mean"] == pytest.approx(mean)
            assert logged[f"{model}/{metric}_std"] == pytest.approx(std, abs=1e-12)
            assert logged[f"{model}/{metric}_ci95_low"] == pytest.approx(mean - half, abs=1e-12)
            assert logged[f"{model}/{metric}_ci95_high"] == pytest.approx(mean + half, abs=1e-12)
    # the forest's bootstrap differs by seed; the linear model's solver does not use its seed
    forest = [r.data.metrics["validation_log_loss"] for r in by_model["random_forest"]]
    assert len(set(forest)) == 3
    means = {m: parent.data.metrics[f"{m}/validation_log_loss_mean"] for m in MODELS}
    best = min(means, key=means.__getitem__)
    assert parent.data.tags["compare.best_model"] == best
    assert parent.data.metrics["best_validation_log_loss_mean"] == pytest.approx(means[best])
    first_seed = next(r for r in by_model[best] if r.data.params["model.seed"] == "42")
    assert parent.data.tags["compare.best_run_id"] == first_seed.info.run_id
    assert parent.data.params["compare.seeds"] == "3"
    assert parent.data.params["compare.vary_split"] == "false"
    assert parent.info.status == "FINISHED"
    models = client.load_table(
        outcome.experiment.id, "comparison/models.json", run_ids=[outcome.parent_run_id]
    )
    assert list(models["model"]) == sorted(MODELS, key=means.__getitem__)
    assert list(models["n_seeds"]) == [3, 3]
    seeds = client.load_table(
        outcome.experiment.id, "comparison/seeds.json", run_ids=[outcome.parent_run_id]
    )
    assert sorted(seeds["run_id"]) == sorted(c.info.run_id for c in children)
    files = {a.path for a in client.list_artifacts(outcome.parent_run_id, "plots")}
    assert "plots/comparison_validation_log_loss_seeds.png" in files
    assert {a.path for a in client.list_artifacts(outcome.parent_run_id, "comparison")} >= {
        "comparison/models.csv",
        "comparison/seeds.csv",
    }
    report = audit_run(outcome.parent_run_id)
    assert report.passed, [(i.item, i.location) for i in report.missing]


def test_vary_split_moves_the_split_seed_with_the_model_seed(fast_config, client) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.runs.comparison import compare_and_log

    outcome = compare_and_log(fast_config, ["logistic_regression"], seeds=2, vary_split=True)
    children = _children(client, outcome.parent_run_id, outcome.experiment.id)
    seeds = sorted((c.data.params["model.seed"], c.data.params["data.seed"]) for c in children)
    assert seeds == [("42", "42"), ("43", "43")]
    # other rows each time: even a model that ignores its seed scores differently
    assert len({c.data.metrics["validation_log_loss"] for c in children}) == 2
    assert len({c.inputs.dataset_inputs[0].dataset.digest for c in children}) == 2
    parent = client.get_run(outcome.parent_run_id)
    assert parent.data.params["compare.vary_split"] == "true"


def test_one_seed_logs_means_and_no_spread(fast_config, client) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.runs.comparison import compare_and_log

    outcome = compare_and_log(fast_config, ["logistic_regression"], seeds=1)
    parent = client.get_run(outcome.parent_run_id)
    (child,) = _children(client, outcome.parent_run_id, outcome.experiment.id)
    assert child.info.run_name == "logistic_regression-seed42"
    keys = [k for k in parent.data.metrics if k.startswith("logistic_regression/")]
    assert keys and all(k.endswith("_mean") for k in keys)
    assert "means only, one seed has no spread" in parent.data.tags["mlflow.note.content"]
    assert parent.data.metrics["logistic_regression/validation_log_loss_mean"] == pytest.approx(
        child.data.metrics["validation_log_loss"]
    )


def test_a_failed_seed_fails_the_parent_and_the_rest_are_summarised(  # type: ignore[no-untyped-def]
    fast_config, monkeypatch: pytest.MonkeyPatch, client
) -> None:
    from mlops_tracking.core import models
    from mlops_tracking.runs.comparison import ComparisonFailedError, compare_and_log

    family = models.FAMILIES["logistic_regression"]

    def unlucky(params: dict, seed: int, classification: bool, threads: int) -> object:  # type: ignore[type-arg]
        if seed == 43:
            raise MemoryError("out of memory at seed 43")
        return family.build(params, seed, classification, threads)

    monkeypatch.setitem(
        models.FAMILIES, "logistic_regression", dataclasses.replace(family, build=unlucky)
    )
    with pytest.raises(
        ComparisonFailedError,
        match=r"1 of 3 runs failed: logistic_regression-seed43 \(MemoryError",
    ):
        compare_and_log(fast_config, ["logistic_regression"], seeds=3)
    experiment = client.get_experiment_by_name("breast_cancer-binary").experiment_id
    runs = {r.info.run_name: r for r in client.search_runs([experiment])}
    assert runs["logistic_regression-seed43"].info.status == "FAILED"
    assert runs["compare-breast_cancer"].info.status == "FAILED"
    finished = [runs[f"logistic_regression-seed{seed}"] for seed in (42, 44)]
    assert all(r.info.status == "FINISHED" for r in finished)
    values = [r.data.metrics["test_log_loss"] for r in finished]
    parent = runs["compare-breast_cancer"].data
    assert parent.metrics["logistic_regression/test_log_loss_mean"] == pytest.approx(
        statistics.mean(values)
    )
    assert parent.tags["compare.failed_models"] == "logistic_regression-seed43"


@pytest.mark.parametrize(
    ("seeds", "vary_split", "message"),
    [
        (0, False, "--seeds must be between 1 and 50 \\(got 0\\)"),
        (51, False, "--seeds must be between 1 and 50 \\(got 51\\)"),
        (None, True, "--vary-split varies the split per seed: give --seeds N"),
    ],
)
def test_bad_seed_requests_fail_before_any_run(  # type: ignore[no-untyped-def]
    fast_config, seeds: int | None, vary_split: bool, message: str
) -> None:
    from mlops_tracking.core.errors import ConfigError
    from mlops_tracking.runs.comparison import compare_and_log

    with pytest.raises(ConfigError, match=message):
        compare_and_log(fast_config, MODELS, seeds=seeds, vary_split=vary_split)
    assert count_runs() == 0
