"""A TCP proxy on 127.0.0.1 (port 0) that can fail the way networks fail, for database tests.

Point a database URL at `proxy.port` instead of the server's: bytes pass through untouched until
a test asks for a fault.
- `blackhole()`: packets are dropped; both sides' sockets stay open and nobody hears anything
  (a pulled cable, a firewall that drops). `restore()` lets traffic flow again; what was sent
  meanwhile is lost, as it would be.
- `orphan_server_side()`: the bot's side of every open connection is closed (the bot sees a
  reset), while the server's side stays open and silent, so the server keeps the session and
  whatever it holds (an advisory lock): the half-open connection left when a host dies.
- `refuse()`: new connections are closed at once; `accept()` undoes it.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from dataclasses import dataclass, field


@dataclass
class _Pair:
    """One proxied connection: the client's socket and ours to the server."""

    client: socket.socket
    server: socket.socket
    orphaned: bool = False


@dataclass
class TcpProxy:
    """Forward 127.0.0.1:`port` to `target_host`:`target_port`, with faults on demand."""

    target_host: str
    target_port: int
    port: int = 0
    _listener: socket.socket | None = None
    _pairs: list[_Pair] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _blackholed: threading.Event = field(default_factory=threading.Event)
    _refusing: threading.Event = field(default_factory=threading.Event)
    _stopped: threading.Event = field(default_factory=threading.Event)
    _orphans: list[socket.socket] = field(default_factory=list)

    def start(self) -> TcpProxy:
        """Listen and forward in daemon threads; returns self."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        listener.settimeout(0.2)
        self._listener = listener
        self.port = listener.getsockname()[1]
        threading.Thread(target=self._accept_loop, name="tcp-proxy", daemon=True).start()
        return self

    def stop(self) -> None:
        """Close everything, orphans included (the server then sees the connections end)."""
        self._stopped.set()
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            pairs, self._pairs = self._pairs, []
            orphans, self._orphans = self._orphans, []
        for pair in pairs:
            _close(pair.client)
            _close(pair.server)
        for orphan in orphans:
            _close(orphan)

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- faults -----------------------------------------------------------------------------

    def blackhole(self) -> None:
        """Drop every byte both ways from now on, keeping every socket open."""
        self._blackholed.set()

    def restore(self) -> None:
        """Forward again (after blackhole); new bytes flow, dropped ones stay lost."""
        self._blackholed.clear()

    def refuse(self) -> None:
        """Close new connections as soon as they arrive."""
        self._refusing.set()

    def accept(self) -> None:
        """Take new connections again (after refuse)."""
        self._refusing.clear()

    def orphan_server_side(self) -> int:
        """Reset the client side of every open connection, keep the server side open and mute.

        Returns how many connections were orphaned.
        """
        with self._lock:
            pairs, self._pairs = self._pairs, []
            for pair in pairs:
                pair.orphaned = True
                self._orphans.append(pair.server)
        for pair in pairs:
            # SO_LINGER 0: the client gets a reset, as when its peer's host vanished and came
            # back; the server's socket is kept, so PostgreSQL sees nothing at all.
            with contextlib.suppress(OSError):
                pair.client.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
            _close(pair.client)
        return len(pairs)

    @property
    def open_connections(self) -> int:
        """Connections currently forwarded (orphans not counted)."""
        with self._lock:
            return len(self._pairs)

    # -- forwarding -------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._refusing.is_set():
                _close(client)
                continue
            try:
                server = socket.create_connection((self.target_host, self.target_port), timeout=5)
            except OSError:
                _close(client)
                continue
            server.settimeout(None)
            pair = _Pair(client, server)
            with self._lock:
                self._pairs.append(pair)
            threading.Thread(target=self._pump, args=(pair,), daemon=True).start()

    def _pump(self, pair: _Pair) -> None:
        """Copy bytes both ways until either side closes (or the pair is orphaned)."""
        sockets = [pair.client, pair.server]
        try:
            while not self._stopped.is_set() and not pair.orphaned:
                readable, _, _ = select.select(sockets, [], [], 0.2)
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        raise ConnectionError("closed")
                    if self._blackholed.is_set() or pair.orphaned:
                        continue  # dropped on the floor, as a dead path would
                    target = pair.server if source is pair.client else pair.client
                    target.sendall(data)
        except (OSError, ValueError, ConnectionError):
            pass
        if pair.orphaned:
            return  # the server side is kept open on purpose
        with self._lock:
            if pair in self._pairs:
                self._pairs.remove(pair)
        _close(pair.client)
        _close(pair.server)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()
