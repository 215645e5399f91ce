"""The sweep section: search spaces checked against each family's schema, and drawing values."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import PARAMS


def _load(*overrides: str):  # type: ignore[no-untyped-def]
    from mlops_tracking.core.config import load_config

    return load_config(PARAMS, list(overrides))


def test_the_shipped_spaces_fit_every_family() -> None:
    from mlops_tracking.core.config import MODEL_NAMES

    config = _load()
    assert set(config.sweep.space) == set(MODEL_NAMES)
    mlp = config.sweep.space["mlp"]
    assert mlp["hidden_layer_sizes"].choices == ([32], [64, 32], [128, 64])  # type: ignore[union-attr]
    assert mlp["alpha"].log is True  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("sweep.space.random_forest.n_estimators.low=0", "n_estimators: a log range needs low > 0"),
        ("sweep.space.random_forest.min_samples_leaf.low=1.5", "takes whole numbers; 1.5"),
        ("sweep.space.random_forest.max_features.choices=[sqrt, cube]", "'cube' is not valid"),
        ("sweep.space.ridge.alpha.low=500", "low (500.0) must be below high (100.0)"),
        ("sweep.space.mlp.batch_size.choices=[0, 32]", "0 is not valid for batch_size"),
        ("sweep.space.mlp.max_epochs.choices=[10, 20.5]", "20.5 is not valid for max_epochs"),
        ("sweep.trials=0", "sweep.trials: Input should be greater than or equal to 1"),
        ("sweep.sampler=grid", "sweep.sampler"),
    ],
)
def test_a_space_that_reaches_an_invalid_value_names_its_key(override: str, message: str) -> None:
    from mlops_tracking.core.errors import ConfigError

    with pytest.raises(ConfigError) as error:
        _load(override)
    assert message in str(error.value)


def test_unknown_families_and_hyperparameters_in_a_parameter_file_are_named(
    tmp_path: Path,
) -> None:
    import yaml

    from mlops_tracking.core.config import load_config
    from mlops_tracking.core.errors import ConfigError

    for space, message in [
        ({"forest": {"n_estimators": {"low": 2, "high": 9}}}, "sweep.space.forest: unknown model"),
        (
            {"ridge": {"alpah": {"low": 1, "high": 9}}},
            "sweep.space.ridge.alpah: ridge has no hyperparameter 'alpah'; it has alpha",
        ),
        ({"random_forest": {"n_jobs": {"low": 1, "high": 2}}}, "n_jobs sets workers"),
    ]:
        path = tmp_path / "params.yaml"
        path.write_text(yaml.safe_dump({"sweep": {"space": space}}), encoding="utf-8")
        with pytest.raises(ConfigError) as error:
            load_config(path)
        assert message in str(error.value)


def test_a_range_can_be_narrowed_with_set() -> None:
    config = _load("sweep.space.random_forest.n_estimators.high=30", "sweep.workers=2")
    assert config.sweep.space["random_forest"]["n_estimators"].high == 30  # type: ignore[union-attr]
    assert config.sweep.workers == 2


def test_suggest_draws_integers_floats_and_shapes_inside_the_space() -> None:
    import optuna

    from mlops_tracking.core.config import MLPParams, RandomForestParams
    from mlops_tracking.core.search_space import suggest

    config = _load()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    for _ in range(20):
        trial = study.ask()
        forest = suggest(trial, config.sweep.space["random_forest"], RandomForestParams)
        assert type(forest["n_estimators"]) is int and 20 <= forest["n_estimators"] <= 300
        assert type(forest["max_depth"]) is int and 2 <= forest["max_depth"] <= 32
        assert forest["max_features"] in {"sqrt", "log2", 0.5}
        mlp = suggest(trial, config.sweep.space["mlp"], MLPParams)
        assert mlp["hidden_layer_sizes"] in ([32], [64, 32], [128, 64])
        assert 1e-6 <= mlp["alpha"] <= 0.1 and isinstance(mlp["alpha"], float)
        # what was drawn is a valid config for the family
        assert config.with_hyperparameters("mlp", mlp).model.mlp.hidden_layer_sizes == tuple(
            mlp["hidden_layer_sizes"]
        )
        study.tell(trial, 0.0)


def test_with_hyperparameters_validates_and_selects_the_family() -> None:
    from mlops_tracking.core.errors import ConfigError

    config = _load().with_hyperparameters("hist_gradient_boosting", {"max_iter": 7})
    assert config.model.name == "hist_gradient_boosting"
    assert config.model.hist_gradient_boosting.max_iter == 7
    with pytest.raises(ConfigError, match="max_iter"):
        config.with_hyperparameters("hist_gradient_boosting", {"max_iter": 0})


def test_on_step_hears_every_point_and_can_stop_an_mlp_early() -> None:
    from conftest import fit_model
    from mlops_tracking.core.modelling import fit_pipeline
    from mlops_tracking.core.models import family_for

    fitted = fit_model("model.name=mlp", "model.mlp.max_epochs=12", "model.mlp.patience=null")
    heard: list[int] = []

    class StopError(Exception):
        pass

    def listen(step: int, point: dict[str, float]) -> None:
        assert {"train_loss", "val_loss"} <= set(point)
        heard.append(step)
        if step == 4:
            raise StopError

    family = family_for("mlp", fitted.dataset.task)
    with pytest.raises(StopError):
        fit_pipeline(fitted.inputs, family, listen)
    assert heard == [1, 2, 3, 4]
    heard.clear()
    _, fit = fit_pipeline(fitted.inputs, family, lambda step, point: heard.append(step))
    assert heard == fit.history.steps == list(range(1, 13))
