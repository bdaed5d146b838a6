"""How long a unit of work may wait for the database: a chat request briefly, a job as it needs.

A chat request runs inside `waiting_at_most(2)`. Every way it could wait is then bounded by what
is left of those seconds: a free connection from the pool, a new connection (libpq's
`connect_timeout`), SQLite's busy timeout, and a query on an established connection whose
answer will never come because the network drops packets (neither `statement_timeout` nor TCP
keepalives end that wait soon: the watchdog here cuts the connection's socket, so the driver
fails at once and SQLAlchemy throws the connection away). Code outside such a block (the
scheduler, the sender, the command line) keeps the engine's longer waits.

Work run on the web server's event loop must not wait at all (every other request, and the
health checks, would wait with it): it runs inside `without_waiting()`, where a busy database
raises `WouldWait` at once, and the caller tries again in a worker thread with what is left of
the deadline.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import QueuePool

log = logging.getLogger(__name__)

# When (time.monotonic()) the current unit of work stops waiting for the database; None: no limit.
_deadline: ContextVar[float | None] = ContextVar("qi_database_deadline", default=None)
# Whether the current unit of work may wait for the database at all (see without_waiting).
_attempt: ContextVar[_NoWaitAttempt | None] = ContextVar("qi_database_no_wait", default=None)
LIBPQ_MIN_CONNECT_TIMEOUT = 2  # seconds; libpq treats anything less as 2
WATCH_POLL = 0.05  # seconds between looks at a connection that is past its deadline but idle


@contextlib.contextmanager
def waiting_at_most(seconds: float) -> Iterator[None]:
    """Bound every database wait in this block (and this thread) to `seconds` from now.

    Nested blocks keep the earlier deadline: an inner call never extends an outer request's.
    """
    ends = time.monotonic() + seconds
    outer = _deadline.get()
    token = _deadline.set(ends if outer is None else min(outer, ends))
    try:
        yield
    finally:
        _deadline.reset(token)


class WouldWait(Exception):
    """The database is busy, and this attempt was not to wait for it: try it again elsewhere."""


@dataclass
class _NoWaitAttempt:
    gave_up: bool = False  # the database was busy and the work was abandoned (WouldWait)


@contextlib.contextmanager
def without_waiting() -> Iterator[_NoWaitAttempt]:
    """Run a block that must not wait for the database (on the event loop): check `gave_up`.

    Inside it, SQLite's lock and a free pooled connection are not waited for; work that meets
    either raises `WouldWait` (see `give_up_if_busy`). Frameworks may swallow that exception
    (Bolt turns it into a 500), so the attempt's `gave_up` says it happened.
    """
    attempt = _NoWaitAttempt()
    token = _attempt.set(attempt)
    try:
        yield attempt
    finally:
        _attempt.reset(token)


def may_wait() -> bool:
    """Whether the current work may wait for the database (False inside `without_waiting`)."""
    return _attempt.get() is None


def give_up_if_busy(error: BaseException) -> None:
    """Inside `without_waiting`, raise WouldWait for an error that says the database was busy."""
    attempt = _attempt.get()
    if attempt is None or unavailable_because(error) not in (BUSY, NO_FREE_CONNECTION):
        return
    attempt.gave_up = True
    raise WouldWait from error


def seconds_left() -> float | None:
    """What is left of the current deadline (may be negative); None when there is none."""
    ends = _deadline.get()
    return None if ends is None else ends - time.monotonic()


def out_of_time() -> bool:
    """Whether a deadline is set and has passed."""
    left = seconds_left()
    return left is not None and left <= 0


BUSY = "busy with other work"
NO_FREE_CONNECTION = "no free connection in time"


def unavailable_because(error: BaseException) -> str | None:
    """Why the database could not serve us, if that is what `error` says; None for other errors.

    A short phrase for the log ("no answer in time", "busy with other work"), never the
    driver's message, which may quote values.
    """
    if isinstance(error, sa_exc.TimeoutError):
        return NO_FREE_CONNECTION
    if not isinstance(error, sa_exc.DBAPIError):
        return None
    orig = error.orig
    if isinstance(orig, sqlite3.OperationalError):
        text = str(orig).lower()
        return BUSY if "locked" in text or "busy" in text else None
    if error.connection_invalidated:
        return "no answer in time" if out_of_time() else "connection lost"
    if not type(orig).__module__.startswith("psycopg"):
        return None
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate is None:
        # Raised by libpq, not sent by the server (connection timeout, connection refused,
        # a socket cut at the deadline): the server or the path to it failed, not our query.
        if not isinstance(error, sa_exc.OperationalError):
            return None
        if str(orig).startswith("connection"):
            return "could not connect"
        return "no answer in time" if out_of_time() else "connection lost"
    # What the server said. Only these mean "the database can't serve us now": a deadlock,
    # a serialization failure, a full disk or a lock timeout are errors to be looked into.
    if sqlstate in ("08001", "08004"):  # could not establish, or rejected, the connection
        return "could not connect"
    if sqlstate.startswith("08"):
        return "connection lost"
    if sqlstate in ("57P01", "57P02", "57P03"):  # admin or crash shutdown; starting up
        return "database shutting down or starting up"
    if sqlstate == "53300":
        return "too many connections"
    if sqlstate == "57014":  # cancelled: statement_timeout, or cut at our deadline
        return "no answer in time"
    return None


class DeadlineQueuePool(QueuePool):
    """A QueuePool whose wait for a free connection ends at the current deadline, if sooner."""

    @property
    def _timeout(self) -> float:  # type: ignore[override]  # QueuePool reads self._timeout
        if not may_wait():
            return 0.0
        left = seconds_left()
        if left is None:
            return self._configured_timeout
        return max(0.01, min(self._configured_timeout, left))

    @_timeout.setter
    def _timeout(self, value: float) -> None:
        self._configured_timeout = value


# SQLAlchemy names a pool's logger after its class: ours sits outside the "sqlalchemy" logger,
# which SQLAlchemy keeps at WARNING, so its routine INFO lines ("Pool disposed") would show.
logging.getLogger(f"{DeadlineQueuePool.__module__}.{DeadlineQueuePool.__name__}").setLevel(
    logging.WARNING
)


def bound_waits(engine: Engine, *, sqlite_busy_timeout_ms: int) -> None:
    """Make `engine`'s connections honour `waiting_at_most` (checkout, connect, busy, answers)."""
    if engine.dialect.name == "sqlite":
        _bound_sqlite(engine, sqlite_busy_timeout_ms)
    else:
        _bound_network(engine)


# The busy timeout a pooled SQLite connection was last given (its pool record's info): a PRAGMA
# is sent only when a unit of work wants another. Work on the event loop wants 0 every time, so
# most requests send none (two per request before: set at checkout, put back at checkin).
BUSY_TIMEOUT_SET = "qi_busy_timeout_ms"


def _bound_sqlite(engine: Engine, normal_ms: int) -> None:
    @event.listens_for(engine, "checkout")
    def _short_busy_timeout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        left = seconds_left()
        # SQLite waits for another writer's lock up to the busy timeout: this request's rest,
        # not at all for work on the event loop, and the engine's own for jobs.
        if not may_wait():
            ms = 0
        elif left is None:
            ms = normal_ms
        else:
            ms = max(1, int(left * 1000))
        if record.info.get(BUSY_TIMEOUT_SET) != ms:
            dbapi_connection.execute(f"PRAGMA busy_timeout={ms}")
            record.info[BUSY_TIMEOUT_SET] = ms


def _bound_network(engine: Engine) -> None:
    @event.listens_for(engine, "do_connect")
    def _short_connect_timeout(_dialect: Any, _record: Any, cargs: Any, cparams: dict) -> Any:
        left = seconds_left()
        if left is None:
            return None
        wanted = max(LIBPQ_MIN_CONNECT_TIMEOUT, math.ceil(left))
        given = cparams.get("connect_timeout")
        cparams["connect_timeout"] = min(int(given), wanted) if given else wanted
        if left < LIBPQ_MIN_CONNECT_TIMEOUT:
            # libpq would wait its 2 s minimum: past a deadline that started when a request
            # arrived and then waited for a worker thread. Connect aside; wait only the rest.
            return _connect_within(_dialect, cargs, cparams, left)
        return None

    @event.listens_for(engine, "checkout")
    def _watch(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        ends = _deadline.get()
        if ends is not None:
            WATCHDOG.watch(record, dbapi_connection, ends)

    for name in ("checkin", "invalidate", "soft_invalidate", "close", "detach"):
        event.listen(engine, name, _forget)


def _connect_within(dialect: Any, cargs: Any, cparams: dict, seconds: float) -> Any:
    """A new connection, or the driver's "connection timeout expired" after `seconds`."""
    outcome: dict[str, Any] = {}
    decided = threading.Lock()  # whoever finishes second owns the outcome
    done = threading.Event()

    def connect() -> None:
        try:
            outcome["connection"] = dialect.connect(*cargs, **cparams)
        except Exception as error:
            outcome["error"] = error
        with decided:
            done.set()
            abandoned = outcome.get("abandoned", False)
        if abandoned and "connection" in outcome:
            with contextlib.suppress(Exception):
                outcome["connection"].close()  # nobody is waiting for it any more

    threading.Thread(target=connect, name="qi-database-connect", daemon=True).start()
    done.wait(max(0.0, seconds))
    with decided:
        if not done.is_set():
            outcome["abandoned"] = True
            raise dialect.loaded_dbapi.OperationalError("connection timeout expired")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["connection"]


def _forget(_dbapi_connection: Any, record: Any, *_rest: Any) -> None:
    WATCHDOG.forget(record)


@dataclass
class _Watch:
    connection: Any  # the psycopg connection
    sock: socket.socket  # our own descriptor of its socket: safe to cut even if libpq closed its
    ends: float
    cut: bool = False


class Watchdog:
    """Cuts the socket of a connection still waiting for the server after its deadline."""

    def __init__(self) -> None:
        self._watched: dict[int, _Watch] = {}
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, record: Any, connection: Any, ends: float) -> None:
        """Watch `connection` (checked out as pool entry `record`) until it is checked in."""
        try:
            sock = socket.socket(fileno=os.dup(connection.fileno()))
        except Exception as error:  # closed or not a socket (a test's stand-in): not watched
            log.debug("cannot watch a connection: %s", type(error).__name__)
            return
        with self._changed:
            old = self._watched.pop(id(record), None)
            self._watched[id(record)] = _Watch(connection, sock, ends)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="qi-database-deadlines", daemon=True
                )
                self._thread.start()
            self._changed.notify()
        if old is not None:
            old.sock.close()

    def forget(self, record: Any) -> None:
        """Stop watching (the connection is back in the pool, or closed)."""
        with self._changed:
            watch = self._watched.pop(id(record), None)
        if watch is not None:
            watch.sock.close()

    def _run(self) -> None:
        while True:
            with self._changed:
                now = time.monotonic()
                late = [w for w in self._watched.values() if w.ends <= now and not w.cut]
                for watch in late:
                    if _waiting_for_server(watch.connection):
                        watch.cut = True
                        _cut(watch.sock)
                pending = [w.ends - now for w in self._watched.values() if w.ends > now]
                idle_late = any(not w.cut for w in late)
                wait = min(pending, default=None)
                if idle_late:
                    wait = WATCH_POLL if wait is None else min(wait, WATCH_POLL)
                self._changed.wait(wait)


def _waiting_for_server(connection: Any) -> bool:
    """Whether a command was sent and its answer has not come (libpq's ACTIVE state)."""
    try:
        from psycopg.pq import TransactionStatus

        return connection.info.transaction_status == TransactionStatus.ACTIVE
    except Exception:
        return False


def _cut(sock: socket.socket) -> None:
    # Shutting the socket down wakes the driver's wait with end-of-file: it raises "server
    # closed the connection unexpectedly", and SQLAlchemy discards the connection.
    log.debug("cutting a database connection that is past its deadline")
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


WATCHDOG = Watchdog()


@contextlib.contextmanager
def cut_if_slower_than(connection: Connection, seconds: float) -> Iterator[None]:
    """Shut the connection's socket if what runs inside takes longer than `seconds`.

    libpq has no client-side query timeout, and a network path that drops packets (or a proxy
    that swallows them) can leave a query waiting for a reply far longer than any TCP setting
    notices. Shutting the socket makes the waiting call fail at once, as a dead line would.
    """
    try:
        fd = connection.connection.dbapi_connection.pgconn.socket  # type: ignore[union-attr]
    except Exception:
        fd = None
    timer = None
    if fd is not None:
        timer = threading.Timer(seconds, _shut, args=(fd,))
        timer.daemon = True
        timer.start()
    try:
        yield
    finally:
        if timer is not None:
            timer.cancel()


def _shut(fd: int) -> None:
    with contextlib.suppress(OSError):
        # A duplicate of the descriptor: shutdown acts on the socket both share, and closing
        # the duplicate leaves the driver's own descriptor for it to close.
        duplicate = socket.socket(fileno=os.dup(fd))
        try:
            _cut(duplicate)
        finally:
            duplicate.close()
