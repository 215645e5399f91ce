"""A tiny HTTP server in a thread that answers as told: a store that refuses, forbids or
requires a login, so MLflow's own client raises the errors the project must explain."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Reply = tuple[int, str]  # (status, body)


@contextmanager
def answering(statuses: dict[str, Reply], headers: dict[str, str] | None = None) -> Iterator[str]:
    """A server answering each path that ends with a key with (status, body), and ``headers``;
    200 with no experiments otherwise. ``{"": reply}`` answers every path with ``reply``."""

    class Handler(BaseHTTPRequestHandler):
        def answer(self) -> None:
            path = self.path.split("?")[0]
            status, body = next(
                (reply for suffix, reply in statuses.items() if path.endswith(suffix)),
                (200, json.dumps({"experiments": []})),
            )
            payload = body.encode()
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = answer  # noqa: N815 (http.server's naming)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> str:
    """The URL of a port nothing listens on: connections are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"
