"""Log one fitted pipeline in four formats, each a LoggedModel with signature and example.

* ``sklearn``: the scikit-learn flavor in skops format, the safe default;
* ``pickle``: the same flavor with cloudpickle, for tools that still expect it;
* ``onnx``: the whole pipeline as an ONNX graph, for onnxruntime in any language;
* ``pyfunc``: the deployable bundle (``deployable_model.py``) returning labels and probabilities,
  running the ONNX graph (when faithful) or the scikit-learn pipeline.

Pip requirements are computed once per process from the installed versions and passed to
``log_model``; otherwise MLflow infers them per model in a subprocess (~4.5 s each).

Each LoggedModel is created first (``initialize_logged_model``, naming the run as its source and
carrying the run's params as MLflow's ``log_model`` would), the run's outputs list all of them in
one call, and each flavor's ``log_model`` then fills its model (``model_id=``) with the active
run hidden. With a run active, MLflow 3.17's ``Model.log`` re-reads the run (twice) and the
history of every run metric to copy step-0 metrics onto the new model, then logs its outputs:
about 16 HTTP requests per model against a server for nothing, since this project logs no
step-0 metric before its models (``recorder.record_training``). The one thing hiding the run
changes is the ``run_id`` line of the MLmodel file; the LoggedModel's ``source_run_id`` (what
the UI, the registry and ``logged_models.run_models`` go by) names the run. A pipeline
with one of the project's own transformers (the calendar step of a table with dates) carries
that module as the model's code (``code_paths``), so it loads without this package installed.
"""

from __future__ import annotations

import importlib
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_tracking.core import model_input
from mlops_tracking.core.environment import package_version
from mlops_tracking.core.model_input import KIND_TYPES, UNSEEN_COLUMN
from mlops_tracking.core.records import SIGNATURE_TYPES
from mlops_tracking.runs.datasets import integer_codes_expected

if TYPE_CHECKING:
    from mlflow.models.model import ModelInfo

    from mlops_tracking.core.records import ModelPackage

# The deployable pyfunc is logged as models-from-code: this file is the model's code, and a run
# also keeps it among its custom functions (custom/deployable_model.py).
DEPLOYABLE_MODEL_CODE = Path(__file__).parent / "deployable_model.py"
MODEL_INPUT_CODE = Path(model_input.__file__)


_COMMON = ("mlflow", "numpy", "pandas", "scipy")
_REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "sklearn": (*_COMMON, "scikit-learn", "skops"),
    "pickle": (*_COMMON, "scikit-learn", "cloudpickle"),
    "onnx": (*_COMMON, "onnx", "onnxruntime"),
    "pyfunc": (*_COMMON, "scikit-learn", "skops", "onnxruntime"),
}


@cache
def pip_requirements(model_format: str) -> list[str]:
    """Exact ``name==version`` pins of what loading ``model_format`` needs (cached)."""
    return [f"{name}=={package_version(name)}" for name in _REQUIREMENTS[model_format]]


def log_model_formats(
    package: ModelPackage,
    formats: tuple[str, ...],
    run: RunRef,
) -> dict[str, ModelInfo]:
    """Log ``package`` in each of ``formats`` on ``run``; return each ``ModelInfo``, by format."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import LoggedModelOutput

    loggers: dict[str, Callable[[ModelPackage, str], ModelInfo]] = {
        "sklearn": lambda package, model_id: _log_sklearn(package, "sklearn", model_id),
        "pickle": lambda package, model_id: _log_sklearn(package, "pickle", model_id),
        "onnx": _log_onnx,
        "pyfunc": _log_pyfunc,
    }
    chosen = [f for f in formats if f != "onnx" or package.onnx is not None]
    serialization = {"sklearn": "skops", "pickle": "cloudpickle"}
    models = {
        model_format: mlflow.initialize_logged_model(
            name=f"{package.family}-{model_format}",
            source_run_id=run.run_id,
            experiment_id=run.experiment_id,
            # what MLflow's log_model records: the hyperparameters, then the run's params
            params={
                key: str(value) for key, value in {**package.hyperparameters, **run.params}.items()
            },
            tags=package.tags(serialization.get(model_format, model_format)),
            model_type=package.model_type,
        )
        for model_format in chosen
    }
    MlflowClient().log_outputs(
        run.run_id, [LoggedModelOutput(model.model_id, step=0) for model in models.values()]
    )
    with _active_run_hidden():
        return {
            model_format: loggers[model_format](package, model.model_id)
            for model_format, model in models.items()
        }


@dataclass(frozen=True)
class RunRef:
    """The run a model is logged from: its id, its experiment and the params it has logged."""

    run_id: str
    experiment_id: str
    params: dict[str, str]


@contextmanager
def _active_run_hidden() -> Iterator[None]:
    """Hide this thread's active runs from MLflow for the block, and bring them back after.

    MLflow keeps no public switch for "log this model without its run's metric copying" (see
    the module docstring); its active-run stack is per thread (``fluent._active_run_stack``).
    """
    from mlflow.tracking.fluent import _active_run_stack

    stack = _active_run_stack.get()  # type: ignore[no-untyped-call]
    hidden = list(stack)
    stack.clear()
    try:
        yield
    finally:
        stack[:] = hidden


@contextmanager
def shipped_code(package: ModelPackage) -> Iterator[list[str] | None]:
    """``code_paths`` for the project modules the pipeline needs (None when it needs none).

    Each module is copied into a package tree of its own (``mlops_tracking/core/dates.py``
    with empty ``__init__.py`` files), which MLflow puts on ``sys.path`` when it loads the
    model; where the package is installed and imported, the installed one is used.
    """
    from mlops_tracking.core.export import own_modules

    modules = own_modules(package.skops.trusted_types)
    if not modules:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="mlops-code-") as scratch:
        root = Path(scratch)
        for module in modules:
            *packages, name = module.split(".")
            for depth in range(1, len(packages) + 1):
                folder = root.joinpath(*packages[:depth])
                folder.mkdir(exist_ok=True)
                (folder / "__init__.py").touch()
            source = importlib.import_module(module).__file__
            assert source is not None
            shutil.copyfile(source, root.joinpath(*packages, f"{name}.py"))
        yield sorted(str(path) for path in root.iterdir())


def _infer_signature(model_input: Any, model_output: Any) -> Any:
    from mlflow.models import infer_signature

    with integer_codes_expected():
        return infer_signature(model_input, model_output)


def _log_sklearn(package: ModelPackage, model_format: str, model_id: str) -> ModelInfo:
    """The scikit-learn flavor, saved with skops (``sklearn``) or cloudpickle (``pickle``)."""
    import mlflow

    if model_format == "sklearn":
        # skops stores only an allow-list of types; tree ensembles, boosting predictors and
        # the MLP optimiser must be named, and the list is written to MLmodel and enforced at
        # load time.
        storage = {
            "serialization_format": mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
            "skops_trusted_types": package.skops.trusted_types,
        }
    else:
        # SECURITY: unpickling executes whatever code the file contains. Load a pickled model
        # only from a store you control, never from an upload or an untrusted registry. It is
        # logged because older tools expect it; prefer the skops, ONNX or pyfunc formats.
        storage = {"serialization_format": mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE}
    # The sklearn flavors take the pipeline's own input (float64 numbers, text categories);
    # raw rows go to the deployable pyfunc, which normalises them first.
    example = package.features_example
    with shipped_code(package) as code_paths:
        info: ModelInfo = mlflow.sklearn.log_model(
            package.pipeline,
            model_id=model_id,
            signature=_infer_signature(example, package.pipeline.predict(example)),
            input_example=example,
            pip_requirements=pip_requirements(model_format),
            code_paths=code_paths,
            **storage,
        )
    return info


def _log_onnx(package: ModelPackage, model_id: str) -> ModelInfo:
    import mlflow

    from mlops_tracking.core.export import onnx_session

    assert package.onnx is not None
    feed = package.onnx.feed(package.features_example)
    session = onnx_session(package.onnx)
    outputs = dict(
        zip([o.name for o in session.get_outputs()], session.run(None, feed), strict=True)
    )
    example: Any = feed["X"] if package.onnx.single_input else feed
    info: ModelInfo = mlflow.onnx.log_model(
        package.onnx.model,
        model_id=model_id,
        signature=_infer_signature(example, outputs),
        input_example=example,
        pip_requirements=pip_requirements("onnx"),
        onnx_execution_providers=["CPUExecutionProvider"],
        # One thread per request: a served single row gains nothing from a thread pool, and
        # the pool's spinning threads compete with the server for the cores.
        onnx_session_options={"intra_op_num_threads": 1},
    )
    return info


def _pyfunc_signature(package: ModelPackage) -> Any:
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema
    from mlflow.types.schema import AnyType

    outputs: list[Any] = [ColSpec("double", "prediction")]
    if package.labels:
        probabilities = [ColSpec("double", f"proba_{label}") for label in package.labels]
        outputs = [ColSpec("string", "label"), *probabilities]
    if package.categorical:  # which of a row's categories training never saw ('' when none)
        outputs.append(ColSpec("string", UNSEEN_COLUMN, required=False))
    # The deployable model takes raw rows: text for categories, integers where the source data
    # had them (MLflow's in-process enforcement refuses int64 for a double column, so a frame
    # with `visits` as int64 would be rejected). Booleans are declared `any`: MLflow's JSON
    # parser casts a boolean column with astype(bool), which turns "false" and "no" into True
    # and null into False before the model runs; the model reads them itself
    # (core/model_input.py: true/false, 1/0, yes/no, missing).
    inputs: list[Any] = [
        ColSpec(AnyType() if kind == "boolean" else SIGNATURE_TYPES[kind], column)  # type: ignore[no-untyped-call]
        for column, kind in package.column_kinds.items()
    ]
    # A request may pick the engine (``"params": {"engine": "sklearn"}``); the default is the
    # one training found faithful.
    params = ParamSchema([ParamSpec("engine", "string", package_engine(package))])
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs), params=params)


def package_engine(package: ModelPackage) -> str:
    return package.serving_engine if package.onnx is not None else "sklearn"


def _log_pyfunc(package: ModelPackage, model_id: str) -> ModelInfo:
    import mlflow

    from mlops_tracking.core.features import encoder_categories

    metadata = {
        "column_kinds": package.column_kinds,
        # the types its input rules apply (core/model_input.py), by column
        "input_types": {c: KIND_TYPES.get(k, "any") for c, k in package.column_kinds.items()},
        "categories": encoder_categories(package.pipeline),
        "labels": list(package.labels),
        "trusted_types": package.skops.trusted_types,
        "task": package.task,
        "engine": package_engine(package),
        "onnx_inputs": list(package.onnx.input_names) if package.onnx is not None else [],
        # numeric column -> [min, max] in training: the range rule (core/model_input.py)
        "ranges": package.ranges,
        # source columns training left out (target, dropped): ignored and reported if sent
        "ignored_columns": list(package.ignored_columns),
    }
    with (
        tempfile.TemporaryDirectory(prefix="mlops-pyfunc-") as scratch,
        shipped_code(package) as code_paths,
    ):
        files = {
            "pipeline": (Path(scratch) / "pipeline.skops", package.skops.data),
            # the input rules predict and the gate run too, shipped so the model keeps its own
            "model_input": (Path(scratch) / "model_input.py", MODEL_INPUT_CODE.read_bytes()),
            "metadata": (Path(scratch) / "metadata.json", json.dumps(metadata, indent=2).encode()),
        }
        if package.onnx is not None:
            files["onnx"] = (
                Path(scratch) / "pipeline.onnx",
                package.onnx.model.SerializeToString(),
            )
        for path, data in files.values():
            path.write_bytes(data)
        info: ModelInfo = mlflow.pyfunc.log_model(
            model_id=model_id,
            python_model=str(DEPLOYABLE_MODEL_CODE),
            artifacts={key: str(path) for key, (path, _) in files.items()},
            signature=_pyfunc_signature(package),
            input_example=package.input_example,
            pip_requirements=pip_requirements("pyfunc"),
            code_paths=code_paths,
        )
        return info
