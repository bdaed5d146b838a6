"""What our fake platform servers share: an HTTP server on a free port of 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class QuietServer(ThreadingHTTPServer):
    """A threaded server that says nothing when a client gives up."""

    daemon_threads = True
    request_queue_size = 128  # with the default 5, a burst of connections waits 1 s for SYN retry
    fake: Any  # the fake that answers its requests

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients that gave up (timeouts) are expected; stay quiet."""


class JsonHandler(BaseHTTPRequestHandler):
    """Answers every request with what the fake's `_serve(handler)` returns, as JSON.

    The answer has `status`, `body` (None for an empty body) and `headers`. `content_type` goes
    with every JSON body (and, with `typed_when_empty`, with an empty one too, as some
    services send it).
    """

    server: QuietServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms delayed ACK
    content_type = "application/json"
    typed_when_empty = False

    def do_GET(self) -> None:
        self._respond()

    def do_POST(self) -> None:
        self._respond()

    def read_body(self) -> bytes:
        """The request's body, as its Content-Length says."""
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _respond(self) -> None:
        answer = self.server.fake._serve(self)
        payload = b"" if answer.body is None else json.dumps(answer.body).encode()
        try:
            self.send_response(answer.status)
            if answer.body is not None or self.typed_when_empty:
                self.send_header("Content-Type", self.content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True  # the client hung up; the service would have acted

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output clean."""


class LocalFake:
    """A fake service run in a daemon thread; start() and close(), or use it as a context."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], name: str) -> None:
        self._handler = handler
        self._name = name
        # Set while closing, so delayed answers still in progress wake up and are dropped.
        self._closing = threading.Event()
        self._server: QuietServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        """Listen on a free port of 127.0.0.1 in a daemon thread."""
        if self._server is not None:
            return self
        self._closing.clear()
        self._server = QuietServer(("127.0.0.1", 0), self._handler)
        self._server.fake = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=self._name,
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop listening; delayed answers still in progress wake up and are dropped."""
        if self._server is None:
            return
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def root_url(self) -> str:
        """The server's address, e.g. "http://127.0.0.1:54321"."""
        if self._server is None:
            name = type(self).__name__
            raise RuntimeError(f"{name} is not started; call start() or use it as a context")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Poll `predicate` until it holds or `timeout` seconds pass; its final value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.01)
        return predicate()
