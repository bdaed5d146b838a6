"""The bot's ASGI app on uvicorn on 127.0.0.1 (a free port), in a thread, as serve hosts it."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette


@contextmanager
def serving(asgi: Starlette) -> Iterator[str]:
    """Serve `asgi` until the block ends; yields its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(asgi, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def post_chunked(url: str, path: str, headers: dict[str, str], *, most: int) -> tuple[bytes, int]:
    """POST a chunked body (no Content-Length) of up to `most` bytes, over a raw socket.

    Stops sending as soon as the server answers. Returns (the answer's status line, how many
    body bytes were sent by then): a server that reads everything first answers only at the end.
    """
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as conn:
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        conn.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Transfer-Encoding: chunked\r\n{head}\r\n".encode()
        )
        chunk = b"a" * 65536
        sent = 0
        try:
            while sent < most and not select.select([conn], [], [], 0)[0]:
                conn.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                sent += len(chunk)
            if sent >= most:
                conn.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed while we were still sending
        answer = conn.recv(200)
    return answer.split(b"\r\n", 1)[0], sent
