"""Tell apart why a tracking server did not do what was asked, in words a user can act on.

MLflow reports every HTTP failure as an ``MlflowException`` whose text embeds the requests or
urllib3 error ("API request to ... failed with exception HTTPConnectionPool(...): Max retries
exceeded ... [Errno 111] Connection refused"), and an HTTP error status as an ``error_code``
(``UNAUTHENTICATED`` for 401, ``PERMISSION_DENIED`` for 403). ``classify`` reads both, plus
the chained requests exception when there is one, and ``describe`` words the result.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from typing import Literal

ProblemKind = Literal[
    "refused", "unreachable", "timeout", "unavailable", "unauthenticated", "forbidden"
]

# The kinds that mean "the server is not answering": worth retrying, and a run cannot be closed.
OUTAGE_KINDS: frozenset[str] = frozenset({"refused", "unreachable", "timeout", "unavailable"})

_PATTERNS: tuple[tuple[ProblemKind, re.Pattern[str]], ...] = (
    ("refused", re.compile(r"connection refused|errno 111|econnrefused|connection reset", re.I)),
    ("timeout", re.compile(r"timed out|timeout", re.I)),
    (
        "unreachable",
        re.compile(
            r"name or service not known|nodename nor servname|temporary failure in name "
            r"resolution|no route to host|network is unreachable|failed to resolve|"
            r"remotedisconnected|connection aborted|newconnectionerror",
            re.I,
        ),
    ),
    ("unavailable", re.compile(r"too many (5\d\d )?error responses|retryerror", re.I)),
)

_STATUS_KINDS: dict[str, ProblemKind] = {
    "UNAUTHENTICATED": "unauthenticated",
    "PERMISSION_DENIED": "forbidden",
}

# What an endpoint was for, to say what the server refused (``.../runs/create`` -> ...).
_ACTIONS = (
    ("runs/create", "create a run"),
    ("experiments/create", "create an experiment"),
    ("registered-models", "use the registered model"),
    ("model-versions", "use the registered model's versions"),
    ("logged-models", "use the logged model"),
    ("runs/", "write to the run"),
    ("experiments/", "read the experiment"),
    ("artifacts", "read or write artifacts"),
)


@dataclass(frozen=True)
class StoreProblem:
    """Why a request to the tracking store failed, and for which URI."""

    kind: ProblemKind
    uri: str
    endpoint: str | None = None

    @property
    def outage(self) -> bool:
        return self.kind in OUTAGE_KINDS


def classify(error: BaseException, uri: str) -> StoreProblem | None:
    """The problem ``error`` reports with the store at ``uri``, or None when it is another one."""
    text = " ".join(str(item) for item in _chain(error))
    endpoint = _endpoint(text)
    code = getattr(error, "error_code", None)
    if code in _STATUS_KINDS:
        return StoreProblem(_STATUS_KINDS[code], uri, endpoint)
    status = re.search(
        r"error code (401|403)\b|\b(401|403) (?:client error|unauthorized|forb)", text, re.I
    )
    if status is not None:
        number = status.group(1) or status.group(2)
        return StoreProblem("unauthenticated" if number == "401" else "forbidden", uri, endpoint)
    if not any(_is_transport_error(item) for item in _chain(error)):
        return None
    for kind, pattern in _PATTERNS:
        if pattern.search(text):
            return StoreProblem(kind, uri, endpoint)
    return StoreProblem("unreachable", uri, endpoint)


def is_outage(error: BaseException) -> bool:
    """Whether ``error`` says the store is not answering (refused, unreachable, timeout, 5xx)."""
    problem = classify(error, "")
    return problem is not None and problem.outage


def describe(problem: StoreProblem, subject: str | None = None, name_uri: bool = True) -> str:
    """One message: what happened, for which store (unless not ``name_uri``), what to do.

    ``subject`` names what was being accessed ("experiment 'wine-multiclass'") when known.
    """
    at = f" at {redact(problem.uri)}" if name_uri else ""
    if problem.kind == "refused":
        return (
            f"the tracking server{at} refused the connection: is it running? Start it "
            "(`mlflow server ...`) or point MLFLOW_TRACKING_URI at one that is."
        )
    if problem.kind == "unreachable":
        return (
            f"cannot reach the tracking server{at} (unknown host, no route or the "
            "connection dropped): check the host in MLFLOW_TRACKING_URI and the network."
        )
    if problem.kind == "timeout":
        return (
            f"the tracking server{at} did not answer in time: it may be overloaded, or "
            "a firewall drops the traffic. tracking.http.timeout_seconds (or "
            "MLFLOW_HTTP_REQUEST_TIMEOUT) sets how long one request waits."
        )
    if problem.kind == "unavailable":
        return (
            f"the tracking server{at} kept answering with server errors (HTTP 5xx) "
            "after every retry: check its logs."
        )
    if problem.kind == "unauthenticated":
        return (
            f"the tracking server{at} requires a login (HTTP 401): set "
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (basic auth), or "
            "MLFLOW_TRACKING_TOKEN (a bearer token). If they are set, the server rejected them."
        )
    action = _action(problem.endpoint)
    target = f" on {subject}" if subject else ""
    return (
        f"the tracking server{at} denied permission (HTTP 403) to {action}{target}: "
        "the user in MLFLOW_TRACKING_USERNAME lacks the permission; ask an admin to grant it, "
        "or use an experiment you created (--experiment / tracking.experiment)."
    )


def redact(uri: str) -> str:
    """The URI with any password replaced, safe to print or log."""
    return re.sub(r"(//[^:/@]+:)[^@/]+@", r"\1***@", uri)


def _chain(error: BaseException) -> list[BaseException]:
    """``error`` and the exceptions it was raised from or during, outermost first."""
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _is_transport_error(error: BaseException) -> bool:
    """A network failure (requests, urllib3, sockets) or MLflow's wrapping of one."""
    module = type(error).__module__
    if module.startswith(("requests", "urllib3")):
        return True
    # Not any OSError: a full disk under a local store is no network problem.
    if isinstance(error, ConnectionError | TimeoutError | socket.gaierror | socket.herror):
        return True
    return type(error).__name__ == "MlflowException" and "API request to" in str(error)


def _endpoint(text: str) -> str | None:
    found = re.search(r"(/api/2\.0/mlflow(?:-artifacts)?/[\w/.-]+)", text)
    return found.group(1) if found else None


def _action(endpoint: str | None) -> str:
    if endpoint is None:
        return "do this"
    for fragment, action in _ACTIONS:
        if fragment in endpoint:
            return action
    return f"call {endpoint}"
