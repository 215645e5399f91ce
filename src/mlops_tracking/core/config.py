"""The one typed configuration: ``params.yaml`` plus ``--set key=value`` overrides.

``load_config`` validates everything before any run exists, so a typo can never leave a half
logged run behind. Callers pass each function only the section it needs (``config.model``).
``config_keys.py`` applies the overrides and words every mistake (unknown keys with a
suggestion, invalid values with what was given).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from mlops_tracking.core.config_keys import apply_overrides, check_known_keys, describe
from mlops_tracking.core.dialect import normalise_separator
from mlops_tracking.core.errors import ConfigError
from mlops_tracking.core.liveness import DEFAULT_STALE_AFTER_SECONDS
from mlops_tracking.core.search_space import SweepConfig, check_space

ShippedDataset = Literal["breast_cancer", "wine", "iris", "digits", "diabetes"]
TaskSetting = Literal["auto", "binary", "multiclass", "regression"]
RareClasses = Literal["error", "drop", "merge"]
ModelName = Literal[
    "logistic_regression", "ridge", "random_forest", "hist_gradient_boosting", "mlp"
]
ModelFormat = Literal["sklearn", "pickle", "onnx", "pyfunc"]

MODEL_NAMES: tuple[str, ...] = get_args(ModelName)
MODEL_FORMATS: tuple[str, ...] = get_args(ModelFormat)


class Section(BaseModel):
    """A frozen config section that rejects unknown keys."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class DataConfig(Section):
    """Where the data comes from and how it is split."""

    dataset: ShippedDataset | None = "breast_cancer"
    path: Path | None = None
    target: str | None = None
    drop_columns: tuple[str, ...] = ()
    rows: int | None = Field(None, ge=30)
    task: TaskSetting = "auto"
    test_size: float = Field(0.2, gt=0, lt=1)
    validation_size: float = Field(0.2, gt=0, lt=1)
    seed: int = 42
    stratify: bool = True
    # How a CSV is read: auto sniffs each from the file (see core/dialect.py).
    sep: str = "auto"  # auto, ',', ';', tab or '|'
    decimal: str = "auto"  # auto, '.' or ','
    # auto: text columns that read as dates are dates; a list: exactly these columns are.
    date_columns: Literal["auto"] | tuple[str, ...] = "auto"
    # A class needs at least this many rows (null: what a stratified split needs); rarer
    # classes are an error, are dropped, or are merged into one class "other".
    min_class_rows: int | None = Field(None, ge=2)
    rare_classes: RareClasses = "error"

    @field_validator("sep", mode="before")
    @classmethod
    def _known_separator(cls, value: Any) -> Any:
        return "auto" if value is None else normalise_separator(str(value))

    @field_validator("decimal", mode="before")
    @classmethod
    def _known_decimal(cls, value: Any) -> Any:
        text = "auto" if value is None else str(value).strip()
        if text not in {"auto", ".", ","}:
            raise ValueError(f"data.decimal must be auto, '.' or ',' (got {value!r})")
        return text

    @field_validator("date_columns", mode="before")
    @classmethod
    def _one_date_column(cls, value: Any) -> Any:
        # `--set data.date_columns=day` names one column; null means auto.
        if value is None:
            return "auto"
        return (value,) if isinstance(value, str) and value != "auto" else value

    @model_validator(mode="before")
    @classmethod
    def _csv_replaces_dataset(cls, values: Any) -> Any:
        # `--set data.path=my.csv` must just work although params.yaml names a shipped dataset.
        if isinstance(values, dict) and values.get("path") is not None:
            return {**values, "dataset": None}
        return values

    @model_validator(mode="after")
    def _check_source_and_sizes(self) -> DataConfig:
        if self.path is None and self.dataset is None:
            raise ValueError("set data.dataset to a shipped dataset or data.path to a CSV file")
        if self.path is not None and not self.target:
            raise ValueError("data.target must name the target column when data.path is set")
        if self.sep != "auto" and self.sep == self.decimal:
            raise ValueError(f"data.sep and data.decimal cannot both be {self.sep!r}")
        if self.test_size + self.validation_size >= 0.9:
            raise ValueError(
                f"data.test_size + data.validation_size = "
                f"{self.test_size + self.validation_size:g} leaves too little training data; "
                "keep the sum below 0.9"
            )
        return self


class SelectionConfig(Section):
    method: Literal["none", "kbest"] = "none"
    k: int = Field(20, ge=1)


class PolynomialConfig(Section):
    degree: int = Field(1, ge=1, le=3)
    interaction_only: bool = False


class FeaturesConfig(Section):
    """Preprocessing and feature engineering, applied inside the model pipeline."""

    imputation: Literal["mean", "median", "most_frequent"] = "median"
    scaling: Literal["standard", "minmax", "robust", "none"] = "standard"
    categorical_encoding: Literal["onehot", "ordinal"] = "onehot"
    selection: SelectionConfig = SelectionConfig()
    polynomial: PolynomialConfig = PolynomialConfig()


class LogisticRegressionParams(Section):
    C: float = Field(1.0, gt=0)
    max_iter: int = Field(2000, ge=1)
    class_weight: Literal["balanced"] | None = None


class RidgeParams(Section):
    alpha: float = Field(1.0, ge=0)


class RandomForestParams(Section):
    n_estimators: int = Field(100, ge=1)
    max_depth: int | None = Field(None, ge=1)
    min_samples_leaf: int = Field(1, ge=1)
    max_features: Literal["sqrt", "log2"] | float | None = "sqrt"
    # null: follow model.threads. A number still sets the forest's own worker count, as it did
    # before model.threads existed (configs recorded by older runs keep loading and mean the same).
    n_jobs: int | None = None


class HistGradientBoostingParams(Section):
    max_iter: int = Field(200, ge=1)
    learning_rate: float = Field(0.1, gt=0)
    max_leaf_nodes: int = Field(31, ge=2)
    max_depth: int | None = Field(None, ge=1)
    l2_regularization: float = Field(0.0, ge=0)


class MLPParams(Section):
    hidden_layer_sizes: tuple[int, ...] = (64, 32)
    alpha: float = Field(1e-4, ge=0)
    learning_rate_init: float = Field(1e-3, gt=0)
    batch_size: int = Field(32, ge=1)
    max_epochs: int = Field(150, ge=1)
    # epochs without a better loss on the early-stopping slice before training stops
    patience: int | None = Field(20, ge=1)
    # share of the training split held out (stratified, seeded by model.seed) to watch for early
    # stopping: never the validation split, which models are compared and chosen on
    early_stopping_fraction: float = Field(0.1, gt=0, le=0.5)


class ModelConfig(Section):
    """The model family to train and the hyperparameters of every family."""

    name: ModelName = "random_forest"
    seed: int = 42
    # threads for fitting and scoring (OpenMP and BLAS included); auto: 1 on small tables, see
    # core/threads.py
    threads: Literal["auto"] | int = "auto"
    logistic_regression: LogisticRegressionParams = LogisticRegressionParams()
    ridge: RidgeParams = RidgeParams()
    random_forest: RandomForestParams = RandomForestParams()
    hist_gradient_boosting: HistGradientBoostingParams = HistGradientBoostingParams()
    mlp: MLPParams = MLPParams()

    @field_validator("threads", mode="before")
    @classmethod
    def _threads_are_auto_or_a_count(cls, value: Any) -> Any:
        # one message instead of pydantic's one per member of the union
        if value == "auto" or (type(value) is int and value >= 1):
            return value
        raise ValueError(f"must be auto or a whole number of threads, at least 1 (got {value!r})")

    def hyperparameters(self, name: str | None = None) -> dict[str, Any]:
        """Return the configured hyperparameters of one family (default: the selected one)."""
        section: Section = getattr(self, name or self.name)
        return section.model_dump()


class EvaluationConfig(Section):
    # auto: validation_log_loss (classification) or validation_rmse (regression)
    selection_metric: str = "auto"
    # auto: minimise losses and errors, maximise scores (explicit values must agree)
    selection_goal: Literal["auto", "minimize", "maximize"] = "auto"
    # auto: the estimator's own importances when it has them, else permutation importance
    importance: Literal["auto", "permutation"] = "auto"
    permutation_repeats: int = Field(5, ge=1)
    calibration_bins: int = Field(10, ge=2)


class HttpConfig(Section):
    """How long a command waits for a tracking server (``http://`` stores only).

    Each value becomes the MLflow variable named in its comment, unless that variable is
    already set in the environment: the user's setting wins.
    """

    # connect and read timeout of a command's first request, and of the clean-up after an
    # outage, in seconds (MLFLOW_HTTP_REQUEST_TIMEOUT)
    timeout_seconds: int = Field(4, ge=1)
    # the same once the store answered: a busy server (SQLite waits up to 20 s on a lock) must
    # not be cut short, since MLflow retries every method, run creation included
    run_timeout_seconds: int = Field(30, ge=1)
    # retries of a command's first request: an unreachable store fails within about 15 s
    # (MLFLOW_HTTP_REQUEST_MAX_RETRIES while the store is being opened)
    max_retries: int = Field(2, ge=0, le=10)
    # exponential backoff between retries: 0, 2x, 4x, 8x ... seconds
    # (MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR; MLflow reads an integer)
    backoff_factor: int = Field(1, ge=0, le=120)
    # random extra seconds (0 to this) added to each backoff (MLFLOW_HTTP_REQUEST_BACKOFF_JITTER)
    backoff_jitter: float = Field(0.5, ge=0)
    # once the store is open, how long requests keep retrying a server that stopped answering
    # before the command gives up (sets MLFLOW_HTTP_REQUEST_MAX_RETRIES: the fewest retries
    # whose backoff spans the window, at most MLflow's limit of 10)
    outage_window_seconds: float = Field(120.0, ge=0)


class TrackingConfig(Section):
    """What a tracked run records besides the model itself."""

    experiment: str | None = None
    run_name: str | None = None
    author: str | None = None
    description: str = ""
    tags: dict[str, str] = {}
    system_metrics: bool = True
    system_metrics_interval: float = Field(1.0, gt=0)
    model_formats: tuple[ModelFormat, ...] = MODEL_FORMATS  # type: ignore[assignment]
    snapshot_max_rows: int = Field(100_000, ge=1)
    heartbeat_seconds: float = Field(30.0, ge=1)
    stale_after_seconds: float = Field(DEFAULT_STALE_AFTER_SECONDS, ge=10)
    reap_stale_runs: bool = True
    http: HttpConfig = HttpConfig()
    # auto: train, compare and demo write their runs to the spool store when the tracking server
    # cannot be reached (refused, unreachable, timeout; never on 401/403), for `sync` to copy
    # later; off: such a command fails (runs/spool.py)
    offline: Literal["auto", "off"] = "auto"
    # the spool store; null: MLOPS_TRACKING_SPOOL_URI, else a SQLite store in the user's state
    # folder ($XDG_STATE_HOME or ~/.local/state)/mlops-tracking/spool/mlflow.db
    spool_uri: str | None = None

    @field_validator("offline", mode="before")
    @classmethod
    def _off_is_not_false(cls, value: Any) -> Any:
        # YAML 1.1 (PyYAML, --set) reads a bare `off` as False
        return "off" if value is False else value

    @model_validator(mode="after")
    def _formats_listed_once(self) -> TrackingConfig:
        if not self.model_formats or len(set(self.model_formats)) != len(self.model_formats):
            raise ValueError(
                "tracking.model_formats must list each of sklearn, pickle, onnx, pyfunc at most "
                f"once and at least one of them (got {list(self.model_formats)})"
            )
        return self


GateKind = Literal["evaluate", "none"]


class AliasPolicy(Section):
    """What a version must pass to receive one alias."""

    # evaluate: beat the alias's current holder on the held-out test split; none: record only
    gate: GateKind = "evaluate"
    # an alias the candidate must already hold (production only takes what staging holds)
    requires: str | None = None


class RegistryConfig(Section):
    """How runs become registered versions and how versions earn aliases."""

    model_name: str | None = None  # default: the run's experiment, e.g. breast_cancer-binary
    # the gate's metric on the held-out test split; auto = log_loss, or rmse for regression
    metric: str = "auto"
    # the candidate must beat the holder by at least this much (0: a tie passes)
    margin: float = Field(0.0, ge=0)
    aliases: dict[str, AliasPolicy] = {
        "staging": AliasPolicy(),
        "production": AliasPolicy(requires="staging"),
    }
    # a promotion waits this long for another promotion of the same model to finish
    lock_timeout_seconds: float = Field(120.0, gt=0)
    # the promotion lock's lease, renewed while the gate runs; an expired lease may be broken
    lock_lease_seconds: float = Field(300.0, ge=1)

    @model_validator(mode="after")
    def _aliases_are_known(self) -> RegistryConfig:
        for name, policy in self.aliases.items():
            if not re.fullmatch(r"[a-z][a-z0-9_-]*", name) or name == "latest":
                raise ValueError(
                    f"registry.aliases: '{name}' is not a usable alias (lowercase letters, "
                    "digits, '-' and '_'; not 'latest', which MLflow reserves)"
                )
            if policy.requires is not None and policy.requires not in self.aliases:
                raise ValueError(
                    f"registry.aliases.{name}.requires names '{policy.requires}', which is not "
                    f"one of the configured aliases {sorted(self.aliases)}"
                )
        return self


class ServingConfig(Section):
    """What ``serve`` and ``predict`` accept from a request or a CSV (core/model_input.py)."""

    # a request body larger than this is refused with 413, counted while it is read
    max_body_bytes: int = Field(10_000_000, ge=1024)
    # a JSON body nested deeper than this is refused with 400 (a request needs 4)
    max_json_depth: int = Field(32, ge=4, le=1000)
    # a number beyond min - k*(max-min) or max + k*(max-min) of training is refused;
    # k is this tolerance (a negative value turns the range rule off)
    range_tolerance: float = 10.0
    # impute_and_report: the pipeline imputes, the answer names the imputed columns;
    # refuse: a missing value is a 400 naming column and row
    missing_values: Literal["impute_and_report", "refuse"] = "impute_and_report"
    # refuse: a column the model does not take is an error (the training target and the
    # dropped columns are always ignored and reported); ignore_and_report: ignore and report
    extra_columns: Literal["refuse", "ignore_and_report"] = "refuse"
    # the address serve binds: 127.0.0.1 answers this machine only; 0.0.0.0 every interface
    host: str = Field("127.0.0.1", min_length=1)
    # the URL others reach the server at (a DNS name, a proxy), recorded as its endpoint;
    # null: http://HOSTNAME:PORT when bound to all interfaces, else the bound address
    public_url: str | None = None

    @field_validator("public_url")
    @classmethod
    def _an_http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from urllib.parse import urlsplit

        text = value.strip().rstrip("/")
        parts = urlsplit(text)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(
                f"serving.public_url must be an http:// or https:// URL such as "
                f"http://scorer.team:5001 (got {value!r})"
            )
        return text


class ServerConfig(Section):
    """A team's tracking server (``mlops-tracking server``): PostgreSQL, proxied artifacts, auth.

    Secrets never live here: the Flask secret key and the first admin password come from the
    environment (MLFLOW_FLASK_SERVER_SECRET_KEY, MLFLOW_AUTH_ADMIN_PASSWORD), and a database
    password belongs in MLFLOW_BACKEND_STORE_URI / MLOPS_AUTH_DATABASE_URI, which win over the
    URIs below when set.
    """

    host: str = "127.0.0.1"  # 0.0.0.0 listens on every interface (TLS belongs at a proxy)
    port: int = Field(5050, ge=1, le=65535)
    workers: int = Field(2, ge=1, le=64)
    # runs, LoggedModels and the registry; a bare postgresql:// means psycopg 3
    backend_store_uri: str = "postgresql://postgres@127.0.0.1:5432/mlflow"
    # where the server keeps artifacts it proxies: a folder, or s3://bucket/prefix, gs://, ...
    artifacts_destination: str = "build/server/artifacts"
    auth: bool = True  # MLflow's basic-auth app: users, passwords, permissions
    auth_database_uri: str = "postgresql://postgres@127.0.0.1:5432/mlflow_auth"
    # a checked password is trusted this long per worker (0: hash it on every request, ~5x
    # slower runs); a changed password may be accepted by other workers until it expires
    auth_cache_ttl_seconds: int = Field(60, ge=0)
    default_permission: Literal["READ", "EDIT", "MANAGE", "NO_PERMISSIONS"] = "READ"
    # Host headers the server answers (DNS-rebinding guard); empty: this host's names on `port`
    allowed_hosts: tuple[str, ...] = ()
    # browser origins allowed to call the API; empty: the server's own origins only
    cors_allowed_origins: tuple[str, ...] = ()
    create_databases: bool = True  # create the PostgreSQL databases when they do not exist
    state_dir: Path = Path("build/server")  # the generated auth configuration and the log


class MonitoringConfig(Section):
    """What ``serve`` records about its requests, and how scored rows are compared with the
    training split's reference profile (``predict``, ``serve``, ``monitor``)."""

    # serve writes its request figures (and the window's drift) this often, and at stop
    flush_seconds: float = Field(30.0, gt=0)
    # rows serve keeps per window to compare with training (a uniform sample; 0: no drift)
    sample_rows: int = Field(2000, ge=0)
    # a feature, or the predictions, has drifted when its population stability index reaches
    # this (0.1: a small shift, 0.25: a large one)
    psi_threshold: float = Field(0.25, gt=0)
    # ... and, for a numeric feature, its Kolmogorov-Smirnov p-value is below this (a large
    # shift that is not the noise of a small batch)
    ks_alpha: float = Field(0.01, gt=0, le=1)
    # quantile bins of each numeric feature in the reference profile
    bins: int = Field(10, ge=2, le=100)
    # a batch or window with fewer rows than this is not judged: too few to tell from noise
    min_rows: int = Field(30, ge=1)


class Config(Section):
    """Everything a run needs; serialised whole as the run's ``config/resolved.yaml``."""

    data: DataConfig = DataConfig()
    features: FeaturesConfig = FeaturesConfig()
    model: ModelConfig = ModelConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    tracking: TrackingConfig = TrackingConfig()
    registry: RegistryConfig = RegistryConfig()
    serving: ServingConfig = ServingConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    server: ServerConfig = ServerConfig()
    sweep: SweepConfig = SweepConfig()

    @model_validator(mode="after")
    def _monitoring_steps_keep_the_run_alive(self) -> Config:
        # a serving run's step is its heartbeat: a longer gap would make the reaper end it
        if self.monitoring.flush_seconds >= self.tracking.stale_after_seconds:
            raise ValueError(
                f"monitoring.flush_seconds ({self.monitoring.flush_seconds:g}) must be below "
                f"tracking.stale_after_seconds ({self.tracking.stale_after_seconds:g}): each "
                "flush is the monitoring run's heartbeat"
            )
        return self

    @model_validator(mode="after")
    def _search_spaces_fit_their_families(self) -> Config:
        check_space(
            self.sweep.space, {name: type(getattr(self.model, name)) for name in MODEL_NAMES}
        )
        return self

    def with_overrides(self, overrides: Sequence[str]) -> Config:
        """Return a validated copy with ``key=value`` overrides applied."""
        return _validate(apply_overrides(self.to_dict(), overrides, Config), origin="--set")

    def with_hyperparameters(self, family: str, values: Mapping[str, Any]) -> Config:
        """A validated copy whose ``model.<family>`` section has ``values`` (a sweep's trial)."""
        tree = self.to_dict()
        tree["model"][family] = {**tree["model"][family], **values}
        tree["model"]["name"] = family
        return _validate(tree, origin=f"hyperparameters of {family}")

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def run_params(self) -> dict[str, str]:
        """Flatten the parts of the config that shape a run into dotted MLflow param keys.

        Only the selected model family's hyperparameters are kept (as ``model.<name>``) and the
        ``tracking`` section is left out: it says where results go, not how they were made.
        """
        tree = self.to_dict()
        model = tree.pop("model")
        tree.pop("tracking")
        tree.pop("registry")
        tree.pop("server")
        tree.pop("sweep")
        tree["model"] = {"name": model["name"], "seed": model["seed"]}
        # An unset n_jobs follows model.threads: the estimator's own n_jobs param says the count.
        family = {k: v for k, v in model[self.model.name].items() if (k, v) != ("n_jobs", None)}
        tree["model"].update(family)
        return flatten(tree)


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten nested mappings into ``{"a.b": "value"}`` with string values."""
    flat: dict[str, str] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, prefix=f"{dotted}."))
        else:
            flat[dotted] = "null" if value is None else _scalar_text(value)
    return flat


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_scalar_text(v) for v in value) + "]"
    return str(value)


def load_config(path: Path, overrides: Sequence[str] = ()) -> Config:
    """Read ``path`` (a ``params.yaml``), apply overrides and validate the result.

    Raises ``ConfigError`` naming the offending key and what is allowed.
    """
    if path.is_dir():
        raise ConfigError(
            f"{path} is a folder, not a parameter file: pass the file itself, e.g. "
            f"--config {path / 'params.yaml'}"
        )
    if not path.is_file():
        raise ConfigError(
            f"config file not found: {path}. Run from the project root or pass --config PATH."
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{path} is not a text file (byte {error.start} is not UTF-8): pass a YAML "
            "parameter file such as params.yaml"
        ) from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must contain a mapping of sections, not {type(raw).__name__}")
    check_known_keys(raw, Config, origin=str(path))
    origin = f"{path} with --set overrides" if overrides else str(path)
    return _validate(apply_overrides(raw, overrides, Config), origin=origin)


def _validate(tree: dict[str, Any], origin: str) -> Config:
    try:
        return Config.model_validate(tree)
    except ValidationError as error:
        raise ConfigError(describe(error, origin)) from None
