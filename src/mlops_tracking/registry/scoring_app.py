"""MLflow's scoring server behind the project's guard (``python -m ...registry.scoring_app``).

``serve`` runs this module instead of ``mlflow models serve``. It loads the model, builds
MLflow's own FastAPI app (``mlflow.pyfunc.scoring_server.init``) and wraps it in one ASGI
layer (``ScoringGuard``) that, for ``POST /invocations``:

* refuses a body above ``serving.max_body_bytes`` with 413, counted while it is read (a
  ``Content-Length`` above the cap is refused before reading);
* requires ``application/json`` or ``text/csv`` (415 otherwise, also without a content type);
* parses a JSON body itself first: malformed, nested deeper than ``serving.max_json_depth``,
  not one of MLflow's request shapes, zero rows, an unknown ``params.engine``, a ``NaN`` or
  ``Infinity`` token, a number beyond float32 (``1e39``, ``1e300``) or a nested value where a
  column's value belongs are a 400 naming column and row; a CSV body's header and cells get
  the same checks;
* refuses columns the model does not take (``serving.extra_columns``), except the training
  target and dropped columns, which are ignored and reported;
* rewrites every error MLflow answers into ``{"error_code", "message"}`` with a short message
  of ours: MLflow's own carry a Python ``stack_trace`` with server paths and echo the rows;
* answers 422 rather than 200 when a response would hold a NaN or infinite value.

The model's own rules (``core/model_input.py``, shipped in the model) check the typed rows:
non-finite values, the training range and missing values (``serving.range_tolerance``,
``serving.missing_values``), so the same request gets the same answer from ``predict``.
The settings arrive as JSON in ``MLOPS_SCORING_SETTINGS`` so uvicorn's workers read them too.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from mlops_tracking.core.config import ServingConfig
from mlops_tracking.registry.request_log import RequestLog
from mlops_tracking.registry.scoring_requests import (
    DisconnectedError,
    ModelFacts,
    RefusedError,
    Request,
    check_body,
    content_type,
    quoted,
    read_body,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MODEL_VARIABLE = "MLOPS_SCORING_MODEL_URI"
SETTINGS_VARIABLE = "MLOPS_SCORING_SETTINGS"
MESSAGE_LIMIT = 400  # characters of one error message
# how MLflow's scoring server words the failures it reports (mlflow/pyfunc/scoring_server)
_OUR_ERROR = re.compile(r"(?:^|\nError: )((?:input|params\.engine) .*)\Z", re.DOTALL)
_MISSING_INPUTS = re.compile(r"[Mm]issing inputs:? (\[[^\]]*\])")
_INCOMPATIBLE = re.compile(
    r"(?:Incompatible input types for column|Failed to convert column) (.+?)"
    r"(?:\. Can not| from type)"
)


def main(argv: list[str] | None = None) -> None:
    """Run the guarded scoring server (``serve`` starts this)."""
    parser = argparse.ArgumentParser(prog="python -m mlops_tracking.registry.scoring_app")
    parser.add_argument("--model-uri", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5001)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--settings", default="{}", help="the serving section, as JSON")
    args = parser.parse_args(argv)
    import uvicorn

    os.environ[MODEL_VARIABLE] = args.model_uri
    os.environ[SETTINGS_VARIABLE] = ServingConfig.model_validate_json(
        args.settings
    ).model_dump_json()
    uvicorn.run(
        f"{__name__}:app_from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="warning",
    )


def app_from_environment() -> ASGIApp:
    """The guarded app for the model and settings in the environment (one per worker)."""
    settings = ServingConfig.model_validate_json(os.environ.get(SETTINGS_VARIABLE, "{}"))
    return guarded_app(os.environ[MODEL_VARIABLE], settings)


def guarded_app(model_uri: str, settings: ServingConfig) -> ASGIApp:
    """Load ``model_uri``, build MLflow's scoring app for it and wrap it in ``ScoringGuard``."""
    from mlflow.pyfunc import load_model, scoring_server

    model = load_model(model_uri)
    facts = model_facts(model)
    _configure(model, settings)
    return ScoringGuard(scoring_server.init(model), settings, facts, RequestLog.from_environment())


def model_facts(model: Any) -> ModelFacts:
    schema = model.metadata.get_input_schema()
    columns = (
        list(schema.input_names()) if schema is not None and schema.has_input_names() else None
    )
    params = model.metadata.get_params_schema()
    engine = params is not None and any(spec.name == "engine" for spec in params.params)
    python_model = _python_model(model)
    recorded = getattr(python_model, "ignored_columns", None)
    ignored = None if recorded is None else list(recorded)
    return ModelFacts(columns, ignored, engine)


def _python_model(model: Any) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        return model.unwrap_python_model()
    except MlflowException:  # not a Python model (the ONNX twin)
        return None


def _configure(model: Any, settings: ServingConfig) -> None:
    """Hand the input policy to a deployable model that takes one (logged since it exists)."""
    python_model = _python_model(model)
    if hasattr(python_model, "configure"):
        python_model.configure(
            range_tolerance=settings.range_tolerance, missing_values=settings.missing_values
        )


class ScoringGuard:
    """The ASGI layer in front of MLflow's scoring app (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        settings: ServingConfig,
        facts: ModelFacts,
        log: RequestLog | None = None,
    ) -> None:
        self.app, self.settings, self.facts, self.log = app, settings, facts, log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" and self.log is not None:
            await self.app(scope, _watching_lifespan(receive, self.log), send)
            return
        if scope["type"] != "http" or scope["path"] != "/invocations" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request: Request | None = None
        try:
            mime = content_type(scope)
            body = await read_body(scope, receive, self.settings.max_body_bytes)
            request = check_body(body, mime, self.facts, self.settings)
        except RefusedError as refusal:
            status, payload = refusal.status, _error(refusal.error_code, refusal.message)
        except DisconnectedError:
            return
        else:
            status, payload = await self._forward(scope, body, request)
        await _answer(send, status, payload)
        if self.log is not None:
            self._record(status, started, request, payload)

    def _record(self, status: int, started: float, request: Request | None, payload: bytes) -> None:
        assert self.log is not None
        latency_ms = (time.perf_counter() - started) * 1000
        if status != 200 or request is None:
            self.log.record(status, latency_ms)
            return
        sampled = self.log.wants_sample and bool(request.rows)
        predictions = _predictions(payload) if sampled else None
        self.log.record(status, latency_ms, request.size, request.rows, predictions)

    async def _forward(self, scope: Scope, body: bytes, request: Request) -> tuple[int, bytes]:
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        response = _Captured()
        try:
            await self.app(scope, replay, response.send)
        except Exception as error:  # a request must never see a traceback
            print(f"scoring failed: {type(error).__name__}: {error}", file=sys.stderr)
            message = "the model server failed on this request; its log says why"
            return 500, _error("INTERNAL_ERROR", message)
        return _reviewed(response, request, self.facts)


def _watching_lifespan(receive: Receive, log: RequestLog) -> Receive:
    """The lifespan's messages, starting the request log at start-up and writing it at shutdown."""

    async def watched() -> Message:
        message = await receive()
        if message["type"] == "lifespan.startup":
            log.start()
        elif message["type"] == "lifespan.shutdown":
            log.close()
        return message

    return watched


def _predictions(payload: bytes) -> list[Any] | None:
    """The answer's predictions, one per row (None when the answer holds no such list)."""
    try:
        answer = json.loads(payload)
    except ValueError:
        return None
    predictions = answer.get("predictions") if isinstance(answer, dict) else None
    return predictions if isinstance(predictions, list) else None


class _Captured:
    """The inner app's response, held until it is complete."""

    def __init__(self) -> None:
        self.status = 500
        self.chunks: list[bytes] = []

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
        elif message["type"] == "http.response.body":
            self.chunks.append(bytes(message.get("body", b"")))

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _error(error_code: str, message: str) -> bytes:
    return json.dumps({"error_code": error_code, "message": message[:MESSAGE_LIMIT]}).encode()


def _reviewed(response: _Captured, request: Request, facts: ModelFacts) -> tuple[int, bytes]:
    """The status and body the client gets: errors rewritten, non-finite answers refused."""
    body = response.body
    if response.status >= 400:
        return _rewritten(response.status, body, request, facts)
    if b"NaN" in body or b"Infinity" in body:
        try:
            json.loads(body, parse_constant=_refuse_constant)
        except _NonFiniteAnswerError:
            message = (
                "the model answered a non-finite value (NaN or infinite); the rows are refused"
            )
            return 422, _error("INVALID_PARAMETER_VALUE", message)
        except ValueError:
            pass
    if request.ignored:
        answer = json.loads(body)
        if isinstance(answer, dict):
            answer["ignored_columns"] = request.ignored
            body = json.dumps(answer).encode()
    return response.status, body


class _NonFiniteAnswerError(Exception):
    pass


def _refuse_constant(token: str) -> Any:
    raise _NonFiniteAnswerError(token)


def _rewritten(status: int, body: bytes, request: Request, facts: ModelFacts) -> tuple[int, bytes]:
    try:
        error = json.loads(body)
    except ValueError:
        error = None
    if not isinstance(error, dict):
        error = {"message": body.decode("utf-8", errors="replace")}
    code = str(error.get("error_code") or "BAD_REQUEST")
    message = str(error.get("message") or "")
    if status == 415:
        return 415, _error(
            code, "the content type must be application/json or text/csv (charset utf-8)"
        )
    if status == 504:
        return 504, _error(
            code, "the model did not answer in time (MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT)"
        )
    ours = _OUR_ERROR.search(message)
    if ours:
        text = ours.group(1).strip()
        return _client_status(status), _error(
            code, text[:1].upper() + text[1:] if text.startswith("params") else "the " + text
        )
    return _client_status(status), _error(code, _explained(message, request, facts))


def _client_status(status: int) -> int:
    """MLflow answers 500 for some bad requests (an internal error code); they are 400 here."""
    return status if 400 <= status < 500 else 400


def _explained(message: str, request: Request, facts: ModelFacts) -> str:
    """A short message of ours for one of MLflow's, naming columns the model knows."""
    known = set(facts.columns or [])
    # MLflow prefixes the cause with the whole frame ("Failed to predict data '...'"): only
    # the cause after it may be read for column names
    message = message.rsplit("\nError: ", 1)[-1]
    print(f"refused a request: {message[:500]}", file=sys.stderr)  # the operator's log
    missing = _MISSING_INPUTS.search(message)
    if missing:
        names = [name for name in re.findall(r"'([^']*)'", missing.group(1)) if name in known]
        if names:
            return f"the input lacks column(s) {', '.join(map(repr, names))} that the model expects"
    incompatible = _INCOMPATIBLE.search(message)
    if incompatible and incompatible.group(1) in known:
        return _first_bad_value(incompatible.group(1), request)
    named = sorted((c for c in known if c in message), key=len, reverse=True)
    if named:
        return _first_bad_value(named[0], request)
    if "Failed to enforce schema" in message:
        return "the rows do not match the model's input schema (its columns and their types)"
    if "valid JSON" in message or "Ensure that input" in message:
        return "the body is not valid JSON or UTF-8 text"
    return "the model could not score these rows; check them against the model's signature"


def _first_bad_value(column: str, request: Request) -> str:
    for number, row in enumerate(request.rows, start=1):
        value = row.get(column)
        if value is not None and not (
            isinstance(value, int | float) and not isinstance(value, bool)
        ):
            return f"column {column!r} row {number} holds {quoted(value)}, not of the column's type"
    return f"column {column!r} holds a value that is not of the column's type"


if __name__ == "__main__":
    main()
