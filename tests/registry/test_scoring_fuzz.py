"""Hostile and malformed requests against a real `serve` subprocess: never a 5xx or a leak."""

from __future__ import annotations

import http.client
import json
import re

import numpy as np
import pandas as pd
import pytest

from conftest import RegistryStore

pytestmark = pytest.mark.slow

CAP = 200_000  # serving.max_body_bytes for these servers (the default is 10 MB)
LEAKS = re.compile(r"Traceback|stack_trace|File \"|site-packages|/tmp/|/work/|\.py\b")


def _registered(store: RegistryStore):  # type: ignore[no-untyped-def]
    from mlops_tracking.core.config import Config
    from mlops_tracking.registry.catalog import resolve
    from mlops_tracking.registry.release import promote, register_run

    version = register_run(store.runs[0], Config().registry).version.version
    promote(Config(), "breast_cancer-binary", "staging", version=version, by="tester")
    return resolve("breast_cancer-binary@staging")


def _rows(count: int = 2) -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(as_frame=True).frame.drop(columns="target").head(count)


def _send(
    port: int, body: bytes, content_type: str | None = "application/json", method: str = "POST"
) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": content_type} if content_type else {}
    try:
        connection.request(method, "/invocations", body, headers)
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", errors="replace")
    except (BrokenPipeError, ConnectionResetError):  # refused before the whole body was sent
        return 413, ""
    finally:
        connection.close()


def _split(rows: pd.DataFrame, **extra: object) -> bytes:
    return json.dumps({"dataframe_split": rows.to_dict(orient="split"), **extra}).encode()


class _Changed:
    """Rows in ``dataframe_split`` form with one value replaced (any JSON value)."""

    def __init__(self, rows: pd.DataFrame, column: str, row: int, value: object) -> None:
        self.split = rows.to_dict(orient="split")
        self.split["data"] = [list(values) for values in self.split["data"]]
        self.split["data"][row][list(rows.columns).index(column)] = value

    def to_dict(self, orient: str) -> dict[str, object]:
        return self.split


def _with(rows: pd.DataFrame, column: str, row: int, value: object) -> pd.DataFrame:
    return _Changed(rows, column, row, value)  # type: ignore[return-value]


def _raw_split(rows: pd.DataFrame, column: str, token: str) -> bytes:
    """A dataframe_split body whose first value of ``column`` is ``token`` as written."""
    marker = -123456.789
    body = _split(_with(rows, column, 0, marker)).decode()
    return body.replace(repr(marker), token, 1).encode()


def _corpus(rows: pd.DataFrame) -> list[tuple[str, bytes, str | None, set[int]]]:
    """(name, body, content type, accepted statuses): at least 50 hostile payloads."""
    record = rows.head(1).to_dict("records")
    csv_text = rows.to_csv(index=False)
    cases: list[tuple[str, bytes, str | None, set[int]]] = [
        ("not json", b"{not json", "application/json", {400}),
        ("empty body", b"", "application/json", {400}),
        ("whitespace", b"   \n", "application/json", {400}),
        ("json null", b"null", "application/json", {400}),
        ("json list", b"[1, 2, 3]", "application/json", {400}),
        ("json string", b'"rows"', "application/json", {400}),
        ("json number", b"42", "application/json", {400}),
        ("empty object", b"{}", "application/json", {400}),
        ("unknown key", b'{"rows": []}', "application/json", {400}),
        (
            "two keys",
            json.dumps({"dataframe_records": record, "inputs": record}).encode(),
            "application/json",
            {400},
        ),
        ("deep list", b"[" * 100_000 + b"]" * 100_000, "application/json", {400}),
        ("deep object", b'{"a":' * 5000 + b"1" + b"}" * 5000, "application/json", {400}),
        (
            "deep params",
            json.dumps({"dataframe_records": record}).encode()[:-1]
            + b', "params": '
            + b'{"a":' * 200
            + b"1"
            + b"}" * 200
            + b"}",
            "application/json",
            {400},
        ),
        ("invalid utf-8", b'{"dataframe_records": [{"a": "\xff\xfe"}]}', "application/json", {400}),
        (
            "zero rows split",
            json.dumps({"dataframe_split": {"columns": list(rows.columns), "data": []}}).encode(),
            "application/json",
            {400},
        ),
        ("zero rows records", b'{"dataframe_records": []}', "application/json", {400}),
        ("zero rows inputs", b'{"inputs": []}', "application/json", {400}),
        (
            "split without data",
            b'{"dataframe_split": {"columns": ["a"]}}',
            "application/json",
            {400},
        ),
        (
            "split ragged row",
            json.dumps(
                {"dataframe_split": {"columns": list(rows.columns), "data": [[1.0, 2.0]]}}
            ).encode(),
            "application/json",
            {400},
        ),
        ("records not objects", b'{"dataframe_records": [1, 2]}', "application/json", {400}),
        (
            "unknown engine",
            _split(rows, params={"engine": "tensorflow"}),
            "application/json",
            {400},
        ),
        ("engine not text", _split(rows, params={"engine": 7}), "application/json", {400}),
        ("params not object", _split(rows, params=[1]), "application/json", {400}),
        ("missing column", _split(rows.drop(columns=["mean radius"])), "application/json", {400}),
        ("extra column", _split(rows.assign(surprise=1.0)), "application/json", {400}),
        (
            "text in number",
            _split(_with(rows, "mean texture", 1, "abc")),
            "application/json",
            {400},
        ),
        ("nested value", _split(_with(rows, "mean texture", 0, [1, 2])), "application/json", {400}),
        (
            "object value",
            _split(_with(rows, "mean texture", 0, {"a": 1})),
            "application/json",
            {400},
        ),
        ("1e39 as text", _split(_with(rows, "mean texture", 0, "1e39")), "application/json", {400}),
        ("inf as text", _split(_with(rows, "mean texture", 1, "inf")), "application/json", {400}),
        ("NaN token", _raw_split(rows, "mean area", "NaN"), "application/json", {400}),
        ("Infinity token", _raw_split(rows, "mean area", "Infinity"), "application/json", {400}),
        ("-Infinity token", _raw_split(rows, "mean area", "-Infinity"), "application/json", {400}),
        ("1e39", _split(_with(rows, "mean area", 1, 1e39)), "application/json", {400}),
        ("1e300", _split(_with(rows, "mean area", 0, 1e300)), "application/json", {400}),
        ("1e400", _raw_split(rows, "mean area", "1e400"), "application/json", {400}),
        ("huge integer", _raw_split(rows, "mean area", "9" * 400), "application/json", {400}),
        ("far out of range", _split(_with(rows, "mean area", 0, 1e7)), "application/json", {400}),
        ("far below range", _split(_with(rows, "mean area", 0, -1e7)), "application/json", {400}),
        (
            "long text value",
            _split(_with(rows, "mean texture", 0, "x" * 100_000)),
            "application/json",
            {400},
        ),
        ("no content type", _split(rows), None, {415}),
        ("text/plain", _split(rows), "text/plain", {415}),
        ("xml", b"<rows/>", "application/xml", {415}),
        ("form", b"a=1", "application/x-www-form-urlencoded", {415}),
        ("parquet", b"PAR1garbage", "application/x-parquet", {415}),
        ("latin-1 charset", _split(rows), "application/json; charset=latin-1", {415}),
        ("unknown parameter", _split(rows), "application/json; format=pandas-split", {415}),
        ("garbage csv", b"\x00\x01\x02,\n\xff", "text/csv", {400}),
        ("csv header only", (",".join(rows.columns) + "\n").encode(), "text/csv", {400}),
        ("csv no header", b"\n\n", "text/csv", {400}),
        ("csv ragged", (csv_text + "1,2\n").encode(), "text/csv", {400}),
        (
            "csv inf",
            csv_text.replace(str(rows.iloc[0]["mean area"]), "inf", 1).encode(),
            "text/csv",
            {400},
        ),
        (
            "csv 1e39",
            csv_text.replace(str(rows.iloc[0]["mean area"]), "1e39", 1).encode(),
            "text/csv",
            {400},
        ),
        (
            "csv extra column",
            rows.assign(surprise=1).to_csv(index=False).encode(),
            "text/csv",
            {400},
        ),
        (
            "csv text in number",
            csv_text.replace(str(rows.iloc[0]["mean area"]), "abc", 1).encode(),
            "text/csv",
            {400},
        ),
        ("above the cap", b'{"inputs": "' + b"x" * (CAP + 10) + b'"}', "application/json", {413}),
        ("csv above the cap", (csv_text * (CAP // len(csv_text) + 2)).encode(), "text/csv", {413}),
    ]
    return cases


def _check(status: int, body: str, rows: pd.DataFrame) -> list[str]:
    problems = []
    if status >= 500:
        problems.append(f"answered {status}")
    if LEAKS.search(body):
        problems.append(f"leaks a trace or path: {body[:300]}")
    first_row = [repr(float(v)) for v in rows.iloc[0].tolist()[:3]]
    if all(value in body for value in first_row):
        problems.append(f"echoes a row: {body[:300]}")
    return problems


def test_a_served_version_answers_every_hostile_payload_cleanly(
    registry_store: RegistryStore,
) -> None:  # type: ignore[no-untyped-def]
    from mlops_tracking.core.config import ServingConfig
    from mlops_tracking.registry.endpoints import free_port
    from mlops_tracking.registry.serving import deployment, launch

    ref = _registered(registry_store)
    rows = _rows()
    corpus = _corpus(rows)
    assert len(corpus) >= 50
    settings = ServingConfig(max_body_bytes=CAP)
    problems: dict[str, list[str]] = {}
    with deployment(launch(ref, "tester", port=free_port(), settings=settings)) as served:
        for name, body, content_type, accepted in corpus:
            status, answer = _send(served.port, body, content_type)
            found = _check(status, answer, rows)
            if status not in accepted:
                found.append(f"answered {status}, expected {sorted(accepted)}: {answer[:300]}")
            if status == 400 and not json.loads(answer).get("message"):
                found.append("a 400 without a message")
            # the server still answers a good request after each hostile one
            good, reply = _send(served.port, _split(rows.head(1)))
            if good != 200:
                found.append(f"a good request then got {good}: {reply[:200]}")
            if found:
                problems[name] = found
        # chunked, without a Content-Length: the cap is counted while the body is read
        chunked = _send_chunked(served.port, [b'{"inputs": "', b"x" * CAP, b'"}'])
        after, _ = _send(served.port, _split(rows.head(1)))
    assert not problems, json.dumps(problems, indent=1)
    assert chunked[0] == 413 and "max_body_bytes" in chunked[1], chunked
    assert after == 200


def _send_chunked(port: int, chunks: list[bytes]) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(
            "POST",
            "/invocations",
            iter(chunks),
            {"Content-Type": "application/json"},
            encode_chunked=True,
        )
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", errors="replace")
    finally:
        connection.close()


def test_refusals_name_the_column_the_row_and_the_range(registry_store: RegistryStore) -> None:
    from mlops_tracking.registry.endpoints import free_port
    from mlops_tracking.registry.serving import deployment, launch

    ref = _registered(registry_store)
    rows = _rows(3)
    with deployment(launch(ref, "tester", port=free_port())) as served:
        answers = {
            name: _send(served.port, body)
            for name, body in (
                ("inf", _raw_split(rows, "mean area", "Infinity")),
                ("1e39", _split(_with(rows, "mean area", 2, 1e39))),
                ("range", _split(_with(rows, "mean area", 1, 1e7))),
                ("extra", _split(rows.assign(surprise=1.0))),
                ("engine", _split(rows, params={"engine": "tensorflow"})),
                ("missing", _split(_with(rows, "mean area", 1, None))),
            )
        }
    messages = {name: json.loads(body).get("message", "") for name, (_, body) in answers.items()}
    assert answers["inf"][0] == 400 and "'mean area' row 1 holds Infinity" in messages["inf"]
    assert answers["1e39"][0] == 400 and "'mean area' row 3 holds 1e+39" in messages["1e39"]
    assert answers["range"][0] == 400
    assert "'mean area' row 2 holds 10000000.0" in messages["range"]
    assert "training saw" in messages["range"] and "accepted:" in messages["range"]
    assert answers["extra"][0] == 400 and "'surprise'" in messages["extra"]
    assert answers["engine"][0] == 400 and "params.engine" in messages["engine"]
    # a missing value is imputed and reported, row by row
    status, body = answers["missing"]
    assert status == 200, body
    predictions = pd.DataFrame(json.loads(body)["predictions"])
    assert list(predictions["imputed"]) == ["", "mean area", ""]
    assert np.isfinite(predictions.filter(like="proba_").to_numpy()).all()


def test_the_onnx_twin_refuses_non_finite_values(registry_store: RegistryStore) -> None:
    from mlops_tracking.registry.endpoints import free_port
    from mlops_tracking.registry.serving import deployment, launch

    ref = _registered(registry_store)
    rows = _rows(2).to_numpy(dtype=np.float32).tolist()
    with deployment(launch(ref, "tester", port=free_port(), engine="onnx")) as served:
        good = _send(served.port, json.dumps({"inputs": rows}).encode())
        rows[1][3] = 1e39
        huge = _send(served.port, json.dumps({"inputs": rows}).encode())
        rows[1][3] = "abc"
        text = _send(served.port, json.dumps({"inputs": rows}).encode())
    assert good[0] == 200, good
    assert huge[0] == 400 and "'column 3' row 2 holds 1e+39" in json.loads(huge[1])["message"]
    assert text[0] == 400 and not LEAKS.search(text[1])
