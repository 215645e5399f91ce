"""Code tests of the typed configuration: params.yaml, --set overrides and their errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from conftest import PARAMS
from mlops_tracking.core.config import MODEL_NAMES, Config, load_config
from mlops_tracking.core.errors import ConfigError, UserError


def test_params_yaml_loads_into_a_config() -> None:
    config = load_config(PARAMS)

    assert isinstance(config, Config)
    assert config.data.dataset == "breast_cancer"
    assert config.data.path is None
    assert config.model.name == "random_forest"
    assert config.model.mlp.hidden_layer_sizes == (64, 32)
    assert config.tracking.tags == {}


def _leaf_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    paths = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            paths.extend(_leaf_paths(annotation, f"{prefix}{name}."))
        else:
            paths.append(f"{prefix}{name}")
    return paths


def _has_path(tree: dict[str, Any], dotted: str) -> bool:
    node: Any = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def test_params_yaml_sets_every_field_of_the_schema_explicitly() -> None:
    """params.yaml is the one place every parameter is visible: no field may rely on a default."""
    raw = yaml.safe_load(PARAMS.read_text())
    leaves = _leaf_paths(Config)

    missing = [path for path in leaves if not _has_path(raw, path)]

    assert len(leaves) > 40  # the walk really descended into every section
    assert missing == []


@pytest.mark.parametrize(
    ("override", "section", "field", "expected"),
    [
        ("model.mlp.hidden_layer_sizes=[8, 4]", "model.mlp", "hidden_layer_sizes", (8, 4)),
        ("data.stratify=false", "data", "stratify", False),
        ("data.test_size=0.25", "data", "test_size", 0.25),
        ("features.selection.k=5", "features.selection", "k", 5),
        ("model.random_forest.max_depth=null", "model.random_forest", "max_depth", None),
        ("model.random_forest.max_depth=7", "model.random_forest", "max_depth", 7),
        ("model.random_forest.max_features=0.5", "model.random_forest", "max_features", 0.5),
        ("model.random_forest.max_features=log2", "model.random_forest", "max_features", "log2"),
        ("model.mlp.patience=", "model.mlp", "patience", None),
        ("tracking.model_formats=[onnx]", "tracking", "model_formats", ("onnx",)),
    ],
)
def test_set_values_are_parsed_as_yaml_scalars(
    override: str, section: str, field: str, expected: object
) -> None:
    config = load_config(PARAMS, [override])

    node: Any = config
    for part in section.split("."):
        node = getattr(node, part)
    value = getattr(node, field)
    assert value == expected
    assert type(value) is type(expected)


def test_later_overrides_win_and_the_source_config_is_untouched() -> None:
    config = load_config(PARAMS, ["model.name=mlp", "model.name=ridge"])
    changed = config.with_overrides(["model.seed=7"])

    assert config.model.name == "ridge"
    assert config.model.seed == 42
    assert changed.model.seed == 7
    assert changed.model.name == "ridge"


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [
        pytest.param(
            ["model.nme=mlp"],
            r"unknown key 'model\.nme' in --set model\.nme=mlp\. Did you mean 'model\.name'\?",
            id="unknown-key-suggests",
        ),
        pytest.param(
            ["dat.seed=1"],
            r"unknown key 'dat' in --set dat\.seed=1\. Did you mean 'data'\?",
            id="unknown-section-suggests",
        ),
        pytest.param(
            ["model.max_dept=3"],
            r"unknown key 'model\.max_dept'.*Did you mean model\.random_forest\.max_depth "
            r"or model\.hist_gradient_boosting\.max_depth\?",
            id="nested-suggestion",
        ),
        pytest.param(
            ["model.random_forest.max_dept=3"],
            r"unknown key 'model\.random_forest\.max_dept'.*Did you mean "
            r"'model\.random_forest\.max_depth'\?"
            r" Valid keys here: n_estimators, max_depth",
            id="unknown-leaf-lists-valid-keys",
        ),
        pytest.param(
            ["model.random_forest.n_estimators=many"],
            r"model\.random_forest\.n_estimators: Input should be a valid integer.*\(got 'many'\)",
            id="wrong-type",
        ),
        pytest.param(
            ["data.test_size=1.5"],
            r"data\.test_size: Input should be less than 1 \(got 1\.5\)",
            id="out-of-range",
        ),
        pytest.param(
            ["features.selection.k=0"],
            r"features\.selection\.k: Input should be greater than or equal to 1 \(got 0\)",
            id="below-minimum",
        ),
        pytest.param(
            ["data.test_size=0.5", "data.validation_size=0.45"],
            r"data: data\.test_size \+ data\.validation_size = 0\.95 leaves too little "
            r"training data; keep the sum below 0\.9",
            id="split-sizes-sum",
        ),
        pytest.param(
            ["model.name"],
            r"--set expects KEY=VALUE, got 'model\.name' \(e\.g\. model\.name=mlp\)",
            id="set-without-equals",
        ),
        pytest.param(
            ["=mlp"],
            r"--set expects KEY=VALUE, got '=mlp'",
            id="set-without-key",
        ),
        pytest.param(
            ["data.seed.value=1"],
            r"--set data\.seed\.value=1: 'data\.seed' is not a section",
            id="set-into-non-section",
        ),
        pytest.param(
            ["tracking.tags.team.name=x"],
            r"'tracking\.tags' is not a section",
            id="tags-are-one-level",
        ),
        pytest.param(
            ["data.path=table.csv"],
            r"data: data\.target must name the target column when data\.path is set",
            id="path-without-target",
        ),
        pytest.param(
            ["data.dataset=null"],
            r"set data\.dataset to a shipped dataset or data\.path to a CSV file",
            id="no-data-source",
        ),
    ],
)
def test_override_errors_name_the_key_and_the_fix(overrides: list[str], pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        load_config(PARAMS, overrides)


def test_unknown_model_name_lists_every_allowed_name() -> None:
    with pytest.raises(ConfigError, match=r"model\.name: .*\(got 'xgboost'\)") as raised:
        load_config(PARAMS, ["model.name=xgboost"])

    for name in MODEL_NAMES:
        assert f"'{name}'" in str(raised.value)


def test_config_errors_are_user_errors_with_exit_code_2() -> None:
    with pytest.raises(ConfigError, match="unknown key") as raised:
        load_config(PARAMS, ["model.nme=mlp"])

    assert isinstance(raised.value, UserError)
    assert raised.value.exit_code == 2


def test_with_overrides_validates_like_load_config() -> None:
    config = load_config(PARAMS)

    with pytest.raises(ConfigError, match=r"data\.test_size: Input should be less than 1"):
        config.with_overrides(["data.test_size=1.5"])


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        pytest.param(
            "model:\n  nme: mlp\n",
            r"unknown key 'model\.nme' in .*params\.yaml\. Did you mean 'model\.name'\?",
            id="unknown-key",
        ),
        pytest.param("- a\n- b\n", r"params\.yaml must contain a mapping of sections, not list"),
        pytest.param("model: [\n", r"params\.yaml is not valid YAML"),
        pytest.param(
            "data:\n  test_size: 1.5\n",
            r"invalid configuration \(.*params\.yaml.*\):\n  data\.test_size: Input should be "
            r"less than 1",
            id="out-of-range",
        ),
    ],
)
def test_config_file_errors(tmp_path: Path, text: str, pattern: str) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(text)

    with pytest.raises(ConfigError, match=pattern):
        load_config(path)


def test_missing_config_file_says_where_to_run(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file not found: .*nowhere\.yaml\. Run from"):
        load_config(tmp_path / "nowhere.yaml")


def test_a_folder_or_a_binary_file_as_config_says_what_it_is(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"is a folder, not a parameter file: .*params\.yaml"):
        load_config(tmp_path)
    binary = tmp_path / "model.skops"
    binary.write_bytes(b"PK\x03\x04\xff\xfe\x00")
    with pytest.raises(
        ConfigError, match=r"model\.skops is not a text file \(byte 4 is not UTF-8\)"
    ):
        load_config(binary)


def test_empty_config_file_gives_the_schema_defaults(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("")

    assert load_config(path) == Config()


def test_unknown_key_in_a_file_section_is_named_with_its_dotted_path(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("model:\n  max_dept: 3\n")

    with pytest.raises(
        ConfigError,
        match=r"unknown key 'model\.max_dept' in .*Did you mean model\.random_forest\.max_depth",
    ):
        load_config(path)


def test_data_path_replaces_the_shipped_dataset() -> None:
    config = load_config(PARAMS, ["data.path=table.csv", "data.target=label"])

    assert config.data.dataset is None
    assert config.data.path == Path("table.csv")
    assert config.data.target == "label"


def test_data_path_replaces_the_dataset_in_with_overrides_too() -> None:
    config = load_config(PARAMS).with_overrides(["data.path=table.csv", "data.target=label"])

    assert config.data.dataset is None
    assert config.data.path == Path("table.csv")


def test_run_params_flattens_with_dotted_string_keys() -> None:
    params = load_config(PARAMS).run_params()

    assert all(isinstance(value, str) for value in params.values())
    assert params["data.dataset"] == "breast_cancer"
    assert params["data.path"] == "null"
    assert params["data.test_size"] == "0.2"
    assert params["data.stratify"] == "true"
    assert params["features.selection.method"] == "kbest"
    assert params["features.selection.k"] == "20"
    assert params["features.polynomial.interaction_only"] == "false"
    assert params["evaluation.selection_metric"] == "auto"


def test_run_params_omit_the_tracking_section() -> None:
    params = load_config(PARAMS, ["tracking.tags.team=fraud"]).run_params()

    assert not [key for key in params if key.startswith("tracking")]
    assert "fraud" not in params.values()


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_run_params_keep_only_the_selected_family(name: str) -> None:
    config = load_config(PARAMS, [f"model.name={name}"])
    params = config.run_params()

    model_keys = {key for key in params if key.startswith("model.")}
    expected = {"model.name", "model.seed"} | {
        f"model.{key}"
        for key, value in config.model.hyperparameters().items()
        if (key, value) != ("n_jobs", None)  # follows model.threads: the estimator logs it
    }
    assert model_keys == expected
    assert params["model.name"] == name
    assert not [key for key in params if key.startswith(tuple(f"model.{n}." for n in MODEL_NAMES))]


def test_run_params_render_values_as_text() -> None:
    params = load_config(PARAMS, ["model.name=mlp"]).run_params()

    assert params["model.hidden_layer_sizes"] == "[64, 32]"
    assert params["model.max_epochs"] == "150"
    assert params["model.patience"] == "20"
    assert params["model.learning_rate_init"] == "0.001"


def test_free_form_tags_can_be_set() -> None:
    config = load_config(PARAMS, ["tracking.tags.team=fraud", "tracking.tags.ticket=ML-123"])

    assert config.tracking.tags == {"team": "fraud", "ticket": "ML-123"}


@pytest.mark.parametrize(
    ("override", "value"),
    [
        pytest.param("tracking.tags.sprint=42", "42", id="tag"),
        pytest.param("tracking.run_name=2024", "2024", id="run-name"),
    ],
)
def test_string_fields_accept_numeric_looking_text(override: str, value: str) -> None:
    config = load_config(PARAMS, [override])

    assert value in {config.tracking.run_name, *config.tracking.tags.values()}


def test_config_is_frozen() -> None:
    config = load_config(PARAMS)

    with pytest.raises(ValidationError, match="Instance is frozen"):
        config.model.name = "mlp"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="Instance is frozen"):
        config.data = config.data  # type: ignore[misc]
    assert config.model.name == "random_forest"


def test_config_round_trips_through_its_yaml(tmp_path: Path) -> None:
    config = load_config(PARAMS, ["model.name=mlp", "tracking.tags.team=fraud"])
    path = tmp_path / "resolved.yaml"
    path.write_text(config.to_yaml())

    assert load_config(path) == config


def test_error_messages_are_one_paragraph_per_problem() -> None:
    with pytest.raises(ConfigError, match="invalid configuration") as raised:
        load_config(PARAMS, ["data.test_size=1.5", "model.random_forest.n_estimators=0"])

    lines = str(raised.value).splitlines()
    assert len(lines) == 3
    assert re.match(r"  data\.test_size: ", lines[1])
    assert re.match(r"  model\.random_forest\.n_estimators: ", lines[2])


def test_model_threads_is_auto_or_a_count_and_says_so_once() -> None:
    assert load_config(PARAMS).model.threads == "auto"
    assert load_config(PARAMS, ["model.threads=3"]).model.threads == 3

    with pytest.raises(
        ConfigError,
        match=r"invalid configuration \(.*\):\n  model\.threads: must be auto or a whole "
        r"number of threads, at least 1 \(got 0\)$",
    ):
        load_config(PARAMS, ["model.threads=0"])


def test_a_forest_n_jobs_set_before_model_threads_existed_is_still_a_param() -> None:
    following = load_config(PARAMS, ["model.name=random_forest"]).run_params()
    pinned = load_config(PARAMS, ["model.name=random_forest", "model.random_forest.n_jobs=2"])

    assert "model.n_jobs" not in following
    assert pinned.run_params()["model.n_jobs"] == "2"
