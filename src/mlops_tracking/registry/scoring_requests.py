"""What a scoring request must be before MLflow's scoring server sees it (no MLflow here).

``registry/scoring_app.py``'s guard reads the body with ``read_body`` (413 above the cap) after
``content_type`` (415 unless JSON or CSV in UTF-8), then ``check_body``: a ``RefusedError``
carries the status and a short message naming column and row; values are quoted at most
``VALUE_LIMIT`` characters long, and rows are never echoed.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from mlops_tracking.core.config import ServingConfig
from mlops_tracking.core.model_input import FLOAT32_MAX, extra_columns

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]

CONTENT_TYPES = ("application/json", "text/csv")
REQUEST_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
ENGINES = ("onnx", "sklearn")
VALUE_LIMIT = 40  # characters of one value quoted in a message
BEYOND_FLOAT32 = "not a finite number the model can take (at most 3.4e38 in size)"


class RefusedError(Exception):
    """A request the guard answers itself: an HTTP status and a short message."""

    def __init__(self, status: int, message: str, error_code: str = "BAD_REQUEST") -> None:
        super().__init__(message)
        self.status, self.message, self.error_code = status, message, error_code


@dataclass
class ModelFacts:
    """What the guard knows of the served model's input."""

    columns: list[str] | None  # named input columns; None for a tensor (the ONNX twin)
    # training's target and dropped columns; None: a model logged before they were recorded,
    # which ignores every extra column, as it did
    ignored: list[str] | None = field(default_factory=list)
    engine_param: bool = False  # whether the model takes params.engine


@dataclass
class Request:
    """What the guard learnt from one request body."""

    rows: list[dict[str, Any]] = field(default_factory=list)  # cells by column (JSON tables)
    ignored: list[str] = field(default_factory=list)  # columns left out, reported back
    size: int = 0  # rows to score


class DisconnectedError(Exception):
    """The client went away while sending its body."""


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def content_type(scope: Scope) -> str:
    """The request's media type; 415 unless JSON or CSV in UTF-8."""
    declared = header(scope, b"content-type")
    if not declared:
        raise RefusedError(415, "send a Content-Type: application/json or text/csv")
    mime, *parameters = (part.strip().lower() for part in declared.split(";"))
    if mime not in CONTENT_TYPES:
        raise RefusedError(
            415, f"the content type must be application/json or text/csv, not {quoted(mime)}"
        )
    for parameter in parameters:
        key, _, value = parameter.partition("=")
        if key.strip() != "charset" or value.strip().strip('"') not in {"utf-8", "utf8"}:
            raise RefusedError(415, "the only content type parameter accepted is charset=utf-8")
    return mime


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole body, refused with 413 as soon as it exceeds ``limit`` bytes."""
    declared = header(scope, b"content-length")
    too_large = RefusedError(
        413, f"the body is larger than the limit of {limit} bytes (serving.max_body_bytes)"
    )
    if declared is not None:
        if not declared.strip().isdigit():
            raise RefusedError(400, "the Content-Length header is not a number")
        if int(declared) > limit:
            raise too_large
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise DisconnectedError
        chunk = bytes(message.get("body", b""))
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def check_body(body: bytes, mime: str, facts: ModelFacts, settings: ServingConfig) -> Request:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise RefusedError(400, "the body is not UTF-8 text") from None
    if not text.strip():
        raise RefusedError(400, "the body is empty; send rows to score")
    if mime == "text/csv":
        return _check_csv(text, facts, settings)
    return _check_json(text, facts, settings)


class NonFinite:
    """A ``NaN``, ``Infinity`` or ``-Infinity`` token: Python's json accepts them, JSON does not."""

    def __init__(self, token: str) -> None:
        self.token = token


def _check_json(text: str, facts: ModelFacts, settings: ServingConfig) -> Request:
    try:
        payload = json.loads(text, parse_constant=NonFinite)
    except RecursionError:
        raise RefusedError(
            400, f"the JSON body is nested deeper than {settings.max_json_depth} levels"
        ) from None
    except ValueError as error:
        where = (
            f" (line {error.lineno}, column {error.colno})"
            if isinstance(error, json.JSONDecodeError)
            else ""
        )
        raise RefusedError(400, f"the body is not valid JSON{where}") from None
    _check_depth(payload, settings.max_json_depth)
    if not isinstance(payload, dict):
        raise RefusedError(400, _SHAPE)
    keys = [key for key in REQUEST_KEYS if key in payload]
    unknown = [key for key in payload if key not in (*REQUEST_KEYS, "params")]
    if len(keys) != 1 or unknown:
        raise RefusedError(400, _SHAPE)
    _check_params(payload.get("params"), facts)
    columns, rows = _table(keys[0], payload[keys[0]], facts)
    if not rows:
        raise RefusedError(400, "the request holds no rows to score")
    request = Request()
    if columns is not None and facts.columns is not None:
        request.ignored = _check_columns(columns, facts, settings)
    for index, row in enumerate(rows):
        for column, value in row.items():
            _check_cell(value, column, index + 1, tensor=facts.columns is None)
    request.rows = rows if facts.columns is not None else []
    request.size = len(rows)
    return request


_SHAPE = (
    "the JSON body must be an object with exactly one of dataframe_split, dataframe_records, "
    "instances or inputs, and optionally params"
)


def _check_depth(payload: Any, limit: int) -> None:
    pending = [(payload, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > limit:
            raise RefusedError(400, f"the JSON body is nested deeper than {limit} levels")
        if isinstance(value, dict):
            pending.extend(
                (item, depth + 1) for item in value.values() if isinstance(item, dict | list)
            )
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value if isinstance(item, dict | list))


def _check_params(params: Any, facts: ModelFacts) -> None:
    if params is None:
        return
    if not isinstance(params, dict):
        raise RefusedError(400, 'params must be an object, e.g. {"engine": "onnx"}')
    if "engine" in params:
        engine = params["engine"]
        if not facts.engine_param:
            raise RefusedError(400, "this model takes no params.engine")
        if not isinstance(engine, str) or engine not in ENGINES:
            raise RefusedError(
                400, f"params.engine must be one of {list(ENGINES)}, not {quoted(engine)}"
            )


def _table(key: str, data: Any, facts: ModelFacts) -> tuple[list[str] | None, list[dict[str, Any]]]:
    """The request's column names (None for a tensor) and its rows as cells by column."""
    if key == "dataframe_split":
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise RefusedError(
                400, "dataframe_split must be an object with columns and data (a list of rows)"
            )
        columns = data.get("columns", facts.columns)
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise RefusedError(400, "dataframe_split.columns must be a list of column names")
        rows = []
        for number, row in enumerate(data["data"], start=1):
            if not isinstance(row, list) or len(row) != len(columns):
                raise RefusedError(
                    400, f"dataframe_split row {number} must be a list of {len(columns)} values"
                )
            rows.append(dict(zip(columns, row, strict=True)))
        return columns, rows
    if isinstance(data, list) and all(isinstance(row, dict) for row in data):
        return _records(data, key)
    if isinstance(data, dict) and facts.columns is not None:  # columnar: {column: [values]}
        return _columnar(data, key)
    if isinstance(data, list):  # a tensor: rows of numbers
        return None, [_tensor_row(row, number, key) for number, row in enumerate(data, start=1)]
    raise RefusedError(400, f"{key} must be a list of rows")


def _records(data: list[dict[str, Any]], key: str) -> tuple[list[str], list[dict[str, Any]]]:
    columns: dict[str, None] = {}
    for row in data:
        columns.update(dict.fromkeys(row))
    return list(columns), data


def _columnar(data: dict[str, Any], key: str) -> tuple[list[str], list[dict[str, Any]]]:
    columns = list(data)
    values = [data[c] if isinstance(data[c], list) else [data[c]] for c in columns]
    lengths = {len(v) for v in values}
    if len(lengths) > 1:
        raise RefusedError(400, f"{key}: every column must hold the same number of values")
    count = lengths.pop() if lengths else 0
    return columns, [{c: v[i] for c, v in zip(columns, values, strict=True)} for i in range(count)]


def _tensor_row(row: Any, number: int, key: str) -> dict[str, Any]:
    cells = row if isinstance(row, list) else [row]
    return {f"column {index}": value for index, value in enumerate(cells)}


def _check_columns(columns: list[str], facts: ModelFacts, settings: ServingConfig) -> list[str]:
    """Refuse columns the model does not take (by policy); return those ignored."""
    assert facts.columns is not None
    unknown = extra_columns(columns, facts.columns, facts.ignored or [])
    if unknown and facts.ignored is not None and settings.extra_columns == "refuse":
        listed = ", ".join(quoted(c) for c in unknown[:5])
        raise RefusedError(
            400,
            f"column(s) {listed} are not among the model's inputs (serving.extra_columns: refuse); "
            "leave them out",
        )
    return [c for c in columns if c not in facts.columns]


def _check_cell(value: Any, column: str, row: int, *, tensor: bool) -> None:
    where = f"column {quoted(column)} row {row}"
    if isinstance(value, NonFinite):
        raise RefusedError(
            400, f"{where} holds {value.token}, not a finite number (send null for a missing value)"
        )
    if (
        isinstance(value, float | int)
        and not isinstance(value, bool)
        and not abs(value) <= FLOAT32_MAX
    ):
        raise RefusedError(
            400,
            f"{where} holds {quoted(value)}, {BEYOND_FLOAT32}",
        )
    if isinstance(value, dict | list):
        raise RefusedError(
            400,
            f"{where} holds a nested {type(value).__name__}, not one value",
        )
    if tensor and (not isinstance(value, float | int) or isinstance(value, bool)):
        raise RefusedError(400, f"{where} holds {quoted(value)}, not a number")


_NON_FINITE_TEXT = {"inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}


def _check_csv(text: str, facts: ModelFacts, settings: ServingConfig) -> Request:
    try:
        reader = csv.reader(io.StringIO(text))
        header = next(reader, None)
        if not header or not any(name.strip() for name in header):
            raise RefusedError(400, "the CSV body has no header line naming the columns")
        request = Request()
        if facts.columns is not None:
            request.ignored = _check_columns(header, facts, settings)
        count = 0
        for count, cells in enumerate(reader, start=1):
            if len(cells) != len(header):
                raise RefusedError(
                    400, f"CSV row {count} has {len(cells)} values for {len(header)} columns"
                )
            for column, cell in zip(header, cells, strict=True):
                _check_text_cell(cell, column, count)
    except csv.Error:
        raise RefusedError(400, "the body is not a CSV table") from None
    if count == 0:
        raise RefusedError(400, "the CSV body holds no rows to score")
    request.size = count
    return request


def _check_text_cell(cell: str, column: str, row: int) -> None:
    value = cell.strip().lower()
    if not value or not (value[0].isdigit() or value[0] in "+-.i"):
        return
    if value in _NON_FINITE_TEXT:
        raise RefusedError(
            400, f"column {quoted(column)} row {row} holds {quoted(cell)}, not a finite number"
        )
    try:
        number = float(value)
    except ValueError:
        return
    if not abs(number) <= FLOAT32_MAX and not math.isnan(number):
        raise RefusedError(
            400,
            f"column {quoted(column)} row {row} holds {quoted(cell)}, {BEYOND_FLOAT32}",
        )


def quoted(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= VALUE_LIMIT else text[: VALUE_LIMIT - 4] + "...'"
