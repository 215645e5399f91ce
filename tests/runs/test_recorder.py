"""Read a fully tracked training run back from the store, outline section by section."""

from __future__ import annotations

import io
import json
import subprocess
import zipfile

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import PARAMS, StoredRun

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _download(run_id: str, path: str) -> bytes:
    import mlflow

    local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path)
    with open(local, "rb") as handle:  # noqa: PTH123
        return handle.read()


def _artifacts(client, run_id: str, path: str | None = None) -> list[str]:  # type: ignore[no-untyped-def]
    found = []
    for entry in client.list_artifacts(run_id, path):
        found += _artifacts(client, run_id, entry.path) if entry.is_dir else [entry.path]
    return found


def test_params_cover_config_estimator_and_data(binary_run: StoredRun, client) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.core.config import load_config

    params = client.get_run(binary_run.run_id).data.params
    assert params["model.name"] == "hist_gradient_boosting"
    assert params["data.dataset"] == "breast_cancer"
    assert params["data.test_size"] == "0.2"
    assert params["data.seed"] == "42"
    assert params["features.selection.method"] == "kbest"
    assert params["features.selection.effective_k"] == "20"
    assert params["data.n_train"] == "341"
    # every hyperparameter of the estimator, sklearn defaults included
    from sklearn.ensemble import HistGradientBoostingClassifier

    for key in HistGradientBoostingClassifier().get_params(deep=False):
        assert f"model.{key}" in params, key
    assert params["model.max_iter"] == "25"  # the test override, not sklearn's default
    # the resolved config artifact is the config the run used
    resolved = yaml.safe_load(_download(binary_run.run_id, "config/resolved.yaml"))
    assert resolved["model"]["name"] == "hist_gradient_boosting"
    assert resolved["data"] == load_config(PARAMS).to_dict()["data"]


def test_histories_are_step_indexed_and_end_at_the_final_model(any_run: StoredRun, client) -> None:  # type: ignore[no-untyped-def]
    run = client.get_run(any_run.run_id)
    keys = ["train_loss", "val_loss"]
    if run.data.tags["task"] != "regression":
        keys += ["train_accuracy", "val_accuracy"]
    lengths = set()
    for key in keys:
        history = client.get_metric_history(any_run.run_id, key)
        steps = [point.step for point in history]
        assert len(history) > 5, key
        assert steps == sorted(set(steps)), f"{key} steps must be unique and increasing"
        assert history[-1].value == pytest.approx(run.data.metrics[key])
        lengths.add(len(history))
    assert len(lengths) == 1  # every curve has a point at every step
    assert run.data.tags["history.unit"] in {"epoch", "iteration", "trees", "training_samples"}


def test_final_metrics_per_task(any_run: StoredRun, client) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.core.evaluation import METRIC_NAMES

    run = client.get_run(any_run.run_id)
    task = run.data.tags["task"]
    metrics = run.data.metrics
    for name in METRIC_NAMES[task]:
        assert f"test_{name}" in metrics, name
        assert len(client.get_metric_history(any_run.run_id, f"test_{name}")) == 1
    assert metrics["fit_time_seconds"] > 0
    assert metrics["predict_latency_ms_single_row_p50"] > 0
    custom = run.data.tags["mlops.custom_metric"]
    assert custom in metrics
    if task == "regression":
        assert metrics["onnx_max_abs_diff"] >= 0
    else:
        assert metrics["onnx_max_abs_proba_diff"] < 0.1
        assert metrics["onnx_label_agreement"] >= 0.99


def _split_targets(run_id: str) -> tuple[pd.Series, pd.Series]:
    """The training and validation targets, read from the run's data snapshot."""
    target = json.loads(_download(run_id, "data/schema.json"))["target"]
    train, validation = (
        pd.read_csv(io.BytesIO(_download(run_id, f"data/{name}.csv")))[target]
        for name in ("train", "validation")
    )
    return train, validation


def test_the_trivial_baseline_is_logged_on_the_run_and_on_no_model(
    any_run: StoredRun, client
) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.core.baseline import improvement
    from mlops_tracking.core.evaluation import METRIC_NAMES, default_selection_metric

    run = client.get_run(any_run.run_id)
    task, metrics, tags = run.data.tags["task"], run.data.metrics, run.data.tags
    names = {f"baseline_{s}_{name}" for s in ("validation", "test") for name in METRIC_NAMES[task]}
    assert names | {"baseline_margin"} <= set(metrics)
    for name in (*names, "baseline_margin"):
        (point,) = client.get_metric_history(any_run.run_id, name)
        assert point.step == 0 and point.model_id is None, name
    for output in run.outputs.model_outputs:
        model_metrics = {m.key for m in client.get_logged_model(output.model_id).metrics or []}
        assert not [key for key in model_metrics if key.startswith("baseline")], output.model_id
    # what the baseline scored, recomputed from the run's own data snapshot
    train, validation = _split_targets(any_run.run_id)
    if task == "regression":
        expected = float(np.sqrt(np.mean((validation - train.mean()) ** 2)))
        assert metrics["baseline_validation_rmse"] == pytest.approx(expected, rel=1e-9)
        assert tags["baseline.strategy"] == "mean"
    else:
        prior = train.value_counts(normalize=True)
        expected = float(-np.mean(np.log(prior[validation].to_numpy())))
        assert metrics["baseline_validation_log_loss"] == pytest.approx(expected, rel=1e-9)
        assert tags["baseline.strategy"] == "prior"
    selection = default_selection_metric(task)
    assert tags["baseline.metric"] == selection
    margin = improvement(selection, metrics[selection], metrics[f"baseline_{selection}"])
    assert metrics["baseline_margin"] == pytest.approx(margin)
    assert tags["baseline.beaten"] == "true"  # every shipped dataset's model beats its baseline
    recorded = json.loads(_download(any_run.run_id, "evaluation/metrics.json"))
    assert recorded["baseline_margin"] == pytest.approx(margin)


def test_the_thread_count_is_a_param(any_run: StoredRun, client) -> None:  # type: ignore[no-untyped-def]
    params = client.get_run(any_run.run_id).data.params

    assert params["model.threads"] == "1"  # auto, on a table far below the threshold
    assert params["model.threads_setting"] == "auto"
    if params["model.name"] == "random_forest":
        assert params["model.n_jobs"] == "1"


def test_artifacts_by_path_and_content(binary_run: StoredRun, client) -> None:  # type: ignore[no-untyped-def]
    run_id = binary_run.run_id
    paths = set(_artifacts(client, run_id))
    expected = {
        "confusion_matrix.png",
        "roc_curve.png",
        "precision_recall_curve.png",
        "learning_curves.png",
        "feature_importance.png",
        "evaluation/confusion_matrix.csv",
        "evaluation/confusion_matrix.json",
        "evaluation/history.csv",
        "evaluation/metrics.json",
        "model/summary.json",
        "model/estimator.html",
        "data/train.csv",
        "data/validation.csv",
        "data/test.csv",
        "data/schema.json",
        "objects/label_mapping.json",
        "objects/preprocessing_state.json",
        "objects/preprocessor.pkl",
        "custom/expected_calibration_error.py",
        "custom/deployable_model.py",
        "environment/pip-freeze.txt",
        "environment/python.json",
        "environment/requirements.lock",
        "config/params.yaml",
        "config/resolved.yaml",
        "source/command.txt",
        "source/mlops_tracking.zip",
        "predictions/test_predictions.json",
    }
    assert expected <= paths, sorted(expected - paths)
    for png in (p for p in paths if p.endswith(".png")):
        assert _download(run_id, png).startswith(PNG_SIGNATURE), png
    confusion = json.loads(_download(run_id, "evaluation/confusion_matrix.json"))
    assert confusion["labels"] == ["malignant", "benign"]
    assert np.asarray(confusion["matrix"]).sum() == 114  # the test split
    assert json.loads(_download(run_id, "objects/label_mapping.json")) == {
        "0": "malignant",
        "1": "benign",
    }
    summary = json.loads(_download(run_id, "model/summary.json"))
    assert summary["n_features_in"] == 30 and summary["serialized_size_bytes"] > 0
    history = pd.read_csv(io.BytesIO(_download(run_id, "evaluation/history.csv")))
    assert list(history.columns[:1]) == ["iteration"] and len(history) == 25
    test_snapshot = pd.read_csv(io.BytesIO(_download(run_id, "data/test.csv")), index_col=0)
    assert len(test_snapshot) == 114 and "target" in test_snapshot.columns
    freeze = _download(run_id, "environment/pip-freeze.txt").decode()
    assert "mlflow==3.17.2" in freeze
    source = _download(run_id, "custom/expected_calibration_error.py").decode()
    assert source.startswith("def expected_calibration_error(")
    package = zipfile.ZipFile(io.BytesIO(_download(run_id, "source/mlops_tracking.zip")))
    assert "mlops_tracking/cli/app.py" in package.namelist()
    assert not [name for name in package.namelist() if "__pycache__" in name]


def test_tables_are_listed_for_the_evaluation_tab(binary_run: StoredRun, client) -> None:  # type: ignore[no-untyped-def]
    run = client.get_run(binary_run.run_id)
    assert json.loads(run.data.tags["mlflow.loggedArtifacts"]) == [
        {"path": "predictions/test_predictions.json", "type": "table"}
    ]
    table = client.load_table(
        run.info.experiment_id, "predictions/test_predictions.json", run_ids=[run.info.run_id]
    )
    assert len(table) == 114  # the test split, read back as MLflow reads a logged table


def test_four_logged_models_with_signatures_and_linked_metrics(  # type: ignore[no-untyped-def]
    binary_run: StoredRun, client
) -> None:
    import mlflow

    run = client.get_run(binary_run.run_id)
    models = {
        client.get_logged_model(o.model_id).name: client.get_logged_model(o.model_id)
        for o in run.outputs.model_outputs
    }
    assert set(models) == {
        f"hist_gradient_boosting-{f}" for f in ("sklearn", "pickle", "onnx", "pyfunc")
    }
    test_input = next(
        d for d in run.inputs.dataset_inputs if any(t.value == "testing" for t in d.tags)
    )
    for name, model in models.items():
        info = mlflow.models.get_model_info(f"models:/{model.model_id}")
        assert info.signature is not None, name
        assert info.saved_input_example_info is not None, name
        linked = {m.key: m for m in model.metrics if m.dataset_digest}
        assert linked["test_accuracy"].dataset_digest == test_input.dataset.digest, name
        assert linked["test_accuracy"].value == pytest.approx(run.data.metrics["test_accuracy"])
        model_format = name.rsplit("-", 1)[1]
        assert run.data.tags[f"model_uri.{model_format}"] == f"models:/{model.model_id}"
    sklearn_flavor = mlflow.models.get_model_info(
        f"models:/{models['hist_gradient_boosting-sklearn'].model_id}"
    ).flavors["sklearn"]
    assert sklearn_flavor["serialization_format"] == "skops"
    assert any("TreePredictor" in t for t in sklearn_flavor["skops_trusted_types"])
    pickle_flavor = mlflow.models.get_model_info(
        f"models:/{models['hist_gradient_boosting-pickle'].model_id}"
    ).flavors["sklearn"]
    assert pickle_flavor["serialization_format"] == "cloudpickle"
    # the run metric history has one point per key although four models share it
    assert len(client.get_metric_history(binary_run.run_id, "test_accuracy")) == 1


def test_every_format_reloads_to_the_logged_predictions(any_run: StoredRun, client) -> None:  # type: ignore[no-untyped-def]
    """Reload each model through its model_uri and reproduce the logged test predictions."""
    import mlflow

    run_id = any_run.run_id
    run = client.get_run(run_id)
    # mlflow.load_table searches the *active* experiment only; name the run's experiment.
    logged = client.load_table(
        run.info.experiment_id, "predictions/test_predictions.json", run_ids=[run_id]
    )
    snapshot = pd.read_csv(io.BytesIO(_download(run_id, "data/test.csv")), index_col=0)
    target = json.loads(_download(run_id, "data/schema.json"))["target"]
    X = snapshot.drop(columns=[target])
    regression = run.data.tags["task"] == "regression"
    uris = {
        fmt: run.data.tags[f"model_uri.{fmt}"] for fmt in ("sklearn", "pickle", "onnx", "pyfunc")
    }
    labels = json.loads(_download(run_id, "objects/label_mapping.json"))
    for fmt in ("sklearn", "pickle"):
        predicted = mlflow.sklearn.load_model(uris[fmt]).predict(X)
        if regression:
            np.testing.assert_allclose(predicted, logged["prediction"], rtol=1e-9)
        else:
            assert [labels[str(code)] for code in predicted] == list(logged["prediction"]), fmt
    deployable = mlflow.pyfunc.load_model(uris["pyfunc"])
    # The sklearn engine is scikit-learn itself; the default engine (onnx when training found it
    # faithful) computes in float32.
    engine = run.data.tags["mlops.serving_engine"]
    for params, tolerance in (({"engine": "sklearn"}, 1e-9), (None, 1e-5)):
        output = deployable.predict(X, params=params)
        if regression:
            rtol = 1e-9 if params or engine == "sklearn" else 1e-3
            np.testing.assert_allclose(output["prediction"], logged["prediction"], rtol=rtol)
        else:
            assert list(output["label"]) == list(logged["prediction"]), params
            proba = [c for c in logged.columns if c.startswith("proba_")]
            np.testing.assert_allclose(
                output[proba].to_numpy(), logged[proba].to_numpy(), atol=tolerance
            )
    onnx_out = mlflow.pyfunc.load_model(uris["onnx"]).predict(X.to_numpy(dtype=np.float32))
    if regression:
        diff = np.abs(np.asarray(onnx_out["variable"]).ravel() - logged["prediction"]).max()
        assert diff == pytest.approx(run.data.metrics["onnx_max_abs_diff"], abs=1e-3)
    else:
        agreement = np.mean(
            [labels[str(c)] for c in np.asarray(onnx_out["label"]).ravel()] == logged["prediction"]
        )
        assert agreement == pytest.approx(run.data.metrics["onnx_label_agreement"])


def test_datasets_logged_with_contexts_digests_and_sources(any_run: StoredRun, client) -> None:  # type: ignore[no-untyped-def]
    run = client.get_run(any_run.run_id)
    inputs = {
        next(t.value for t in d.tags if t.key == "mlflow.data.context"): d
        for d in run.inputs.dataset_inputs
    }
    assert set(inputs) == {"training", "validation", "testing"}
    params = run.data.params
    for context, split in (
        ("training", "train"),
        ("validation", "validation"),
        ("testing", "test"),
    ):
        dataset = inputs[context].dataset
        assert dataset.name == f"{params['data.dataset']}-{split}"
        assert len(dataset.digest) == 8
        assert json.loads(dataset.source)["tags"]["loader"].startswith("sklearn.datasets.load_")
        rows = next(t.value for t in inputs[context].tags if t.key == "rows")
        assert rows == params[f"data.n_{split}"]
    assert len({d.dataset.digest for d in inputs.values()}) == 3


def test_tags_describe_who_what_where(binary_run: StoredRun, client) -> None:  # type: ignore[no-untyped-def]
    tags = client.get_run(binary_run.run_id).data.tags
    for key in (
        "author",
        "mlflow.note.content",
        "model.family",
        "task",
        "dataset",
        "env.python",
        "env.os",
        "env.cpu_count",
        "env.memory_gb",
        "env.gpu",
        "env.cuda",
        "env.cloud_provider",
        "env.ci",
        "env.mlflow",
        "env.scikit-learn",
        "mlops.command",
        "mlflow.source.name",
    ):
        assert tags.get(key), key
    assert tags["env.mlflow"] == "3.17.2"
    assert tags["mlops.run_type"] == "training"
    assert "breast_cancer" in tags["mlflow.note.content"]


def test_git_state_is_recorded(binary_run: StoredRun, client) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.core.environment import git_state, package_source_dir

    tags = client.get_run(binary_run.run_id).data.tags
    state = git_state(package_source_dir())
    if state is None:
        assert tags["git.available"] == "false"
        return
    assert tags["mlflow.source.git.commit"] == state.commit
    assert tags["git.dirty"] in {"true", "false"}
    artifacts = _artifacts(client, binary_run.run_id, "source")
    assert ("source/git.diff" in artifacts) == (tags["git.dirty"] == "true")
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=state.root, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert tags["mlflow.source.git.commit"] == head


def test_run_details_and_system_metrics(any_run: StoredRun, client) -> None:  # type: ignore[no-untyped-def]
    run = client.get_run(any_run.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.end_time > run.info.start_time
    assert run.info.run_name.endswith(run.data.params["data.dataset"])
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == f"{run.data.params['data.dataset']}-{run.data.tags['task']}"
    assert any(k.startswith("system/cpu") for k in run.data.metrics)
    assert any(k.startswith("system/system_memory") for k in run.data.metrics)


def _inputs_by_split(run) -> dict[str, tuple[str, str]]:  # type: ignore[no-untyped-def]
    splits = {"training": "train", "validation": "validation", "testing": "test"}
    return {
        splits[tag.value]: (entry.dataset.name, entry.dataset.digest)
        for entry in run.inputs.dataset_inputs
        for tag in entry.tags
        if tag.key == "mlflow.data.context"
    }


def test_every_model_metric_names_the_split_it_was_computed_on(any_run: StoredRun, client) -> None:  # type: ignore[no-untyped-def]
    """validation_* on the validation dataset, test_* on the test dataset, measurements on none,
    system metrics and the trivial baseline's metrics on no model: read back per key from every
    LoggedModel."""
    run = client.get_run(any_run.run_id)
    datasets = _inputs_by_split(run)
    curves = ("train_", "val_", "stop_")  # step-indexed learning curves, on the run only
    final = {k for k in run.data.metrics if not k.startswith(("system/", "baseline_", *curves))}
    assert any(k.startswith("baseline_") for k in run.data.metrics)
    for output in run.outputs.model_outputs:
        model = client.get_logged_model(output.model_id)
        links = {m.key: (m.dataset_name, m.dataset_digest) for m in model.metrics}
        assert set(links) == final, model.name
        for key, link in links.items():
            if key.startswith("validation_"):
                assert link == datasets["validation"], key
            elif key.startswith("test_"):
                assert link == datasets["test"], key
            else:  # fit time, latency, ONNX parity: measurements of the run
                assert link == (None, None), key
    assert {
        "validation_log_loss" if run.data.tags["task"] != "regression" else "validation_rmse",
        "fit_time_seconds",
    } <= final


def test_system_metrics_start_at_step_one_so_no_model_copies_them(
    binary_run: StoredRun, client
) -> None:  # type: ignore[no-untyped-def]
    """MLflow's log_model copies the step-0 metrics without a model onto every new model."""
    history = client.get_metric_history(binary_run.run_id, "system/cpu_utilization_percentage")
    steps = [point.step for point in history]
    assert min(steps) == 1
    assert all(point.model_id is None for point in history)
