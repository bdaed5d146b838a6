"""A fake Socket Mode endpoint: Slack's side of the WebSocket that a Socket Mode app dials."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from websockets.sync.server import ServerConnection, serve


class FakeSocketMode:
    """Greets the app with 'hello', sends it envelopes, and records the acks it returns."""

    def __init__(self) -> None:
        self.acks: list[dict[str, Any]] = []
        self.connected = threading.Event()
        self._connection: ServerConnection | None = None
        self._server = serve(self._handle, "127.0.0.1", 0)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """What apps.connections.open hands the app."""
        host, port = self._server.socket.getsockname()[:2]
        return f"ws://{host}:{port}/link/?ticket=fake"

    def start(self) -> FakeSocketMode:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)

    def _handle(self, connection: ServerConnection) -> None:
        self._connection = connection
        connection.send(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": 1,
                    "connection_info": {"app_id": "A0FAKEAPP"},
                    "debug_info": {"host": "fake", "approximate_connection_time": 3600},
                }
            )
        )
        self.connected.set()
        for message in connection:
            self.acks.append(json.loads(message))

    def send(self, envelope: dict[str, Any]) -> None:
        """Deliver one envelope (slash_commands, interactive, events_api) to the app."""
        assert self._connection is not None, "no app is connected"
        self._connection.send(json.dumps(envelope))

    def ack_for(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any] | None:
        """The app's acknowledgement of an envelope, waiting for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for ack in list(self.acks):
                if ack.get("envelope_id") == envelope_id:
                    return ack
            time.sleep(0.02)
        return None
