"""The engine and session factory, set up right for SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from store.deadline import BUSY_TIMEOUT_SET, DeadlineQueuePool, bound_waits

DEFAULT_DATABASE_URL = "sqlite:///qi-nudge.db"
SQLITE_BUSY_TIMEOUT_MS = 5000
# A long series of writes on SQLite (a register import) pauses this long between transactions:
# a connection waiting for the one write lock looks again every 100 ms at most, so a pause of
# that length lets every waiting chat request in.
SQLITE_WRITER_PAUSE = 0.1  # seconds
# libpq settings for every PostgreSQL connection: give up connecting after 10 s; probe an idle
# connection after 30 s and every 10 s, dead after 3 unanswered probes; and a write that goes
# unacknowledged for 60 s ends the connection (so a half-open one is noticed within about a
# minute, and is retried on a fresh one, instead of hanging a request). The server ends a
# session left idle inside a transaction for a minute: one whose client vanished mid-transaction
# (its close never arrived) would otherwise keep its row locks until the server's keepalive
# gives up, about two hours. Our transactions never wait on anything between their queries
# (sends and the leader's lock connection run outside any transaction; imports commit in
# batches), so only an abandoned one is ended.
POSTGRES_CONNECT_ARGS = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 60_000,  # milliseconds
    "options": "-c idle_in_transaction_session_timeout=60000",  # milliseconds
}


_IMMEDIATE = "BEGIN IMMEDIATE"  # a writer: takes SQLite's write lock as it begins
_DEFERRED = "BEGIN"  # a reader: takes no lock (WAL lets it read beside a writer)
# Whether the current unit of work only reads (see reading_only); SQLite then takes no write lock.
_reading_only: ContextVar[bool] = ContextVar("qi_reading_only", default=False)


class NeedsWriteLock(Exception):
    """Work run as read-only (`reading_only`) tried to write on SQLite: run it again as a writer."""


@contextlib.contextmanager
def reading_only() -> Iterator[None]:
    """Run work expected only to read: on SQLite its transactions begin deferred, without the lock.

    A reader then never waits for a writer (WAL lets it read beside one), nor holds anyone up.
    Work that writes after all is stopped at its first write with `NeedsWriteLock`, before
    anything is changed, so the caller can run it again as a writer: a deferred transaction
    that tries to write would otherwise wait for the lock, or fail if another writer committed
    since it began reading. (PostgreSQL's readers take no lock; it stops writes the same way,
    so that the writer's transaction carries the request's replay key on both.)
    """
    token = _reading_only.set(True)
    try:
        yield
    finally:
        _reading_only.reset(token)


def is_reading_only() -> bool:
    """Whether the current work runs as read-only (inside `reading_only`)."""
    return _reading_only.get()


@contextlib.contextmanager
def writing() -> Iterator[None]:
    """Undo `reading_only` for a block: its transactions take SQLite's write lock again."""
    token = _reading_only.set(False)
    try:
        yield
    finally:
        _reading_only.reset(token)


def normalise_url(url: str) -> str:
    """Send plain postgresql:// URLs to psycopg 3, the driver we ship."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys, a busy timeout and real transactions.

    Every wait is bounded by `store.deadline.waiting_at_most` where a caller sets one (chat
    requests); otherwise by the settings here, which suit the scheduler and the command line.
    """
    url = normalise_url(url)
    if make_url(url).get_backend_name() != "sqlite":
        # No pool_pre_ping: it costs a round trip on every request. A connection found dead
        # (database restart, failover) is invalidated by SQLAlchemy and the unit of work is
        # retried once on a fresh one (handlers.dispatch), which is cheaper and as safe.
        # TCP keepalives: a firewall between the bot and the database that silently drops idle
        # connections would otherwise leave the next query (a Slack ack, the scheduler's lock
        # check) waiting many minutes for a reply that cannot come. Settings in the URL win.
        given = make_url(url).query
        defaults = {k: v for k, v in POSTGRES_CONNECT_ARGS.items() if k not in given}
        own = given.get("options")
        if isinstance(own, str) and "idle_in_transaction" not in own:
            # The URL's own server settings (a search_path, say) and ours, both.
            defaults["options"] = f"{own} {POSTGRES_CONNECT_ARGS['options']}"
        connect_args = {**defaults, **kwargs.pop("connect_args", {})}
        kwargs.setdefault("poolclass", DeadlineQueuePool)
        engine = create_engine(url, hide_parameters=True, connect_args=connect_args, **kwargs)
        bound_waits(engine, sqlite_busy_timeout_ms=SQLITE_BUSY_TIMEOUT_MS)
        event.listen(engine, "before_cursor_execute", _stop_writes_while_reading)
        return engine
    if make_url(url).database not in (None, "", ":memory:"):
        kwargs.setdefault("poolclass", DeadlineQueuePool)  # a file: SQLAlchemy's QueuePool
    # hide_parameters: a logged database error must not carry people's names into IT's logs.
    engine = create_engine(url, hide_parameters=True, **kwargs)

    @event.listens_for(engine, "connect")
    def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT; take it over
        # (the recipe in SQLAlchemy's SQLite dialect docs).
        dbapi_connection.isolation_level = None
        # SQLite's own lower() folds only A-Z; PostgreSQL folds every letter. Match it, so a
        # name like "Élodie" is found the same way on both.
        dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        _record.info[BUSY_TIMEOUT_SET] = SQLITE_BUSY_TIMEOUT_MS  # what checkouts compare with
        # Deleted rows (an erased person) are overwritten with zeros, not left in free pages
        # of the file for anyone with a copy of it to read.
        cursor.execute("PRAGMA secure_delete=ON")
        if make_url(url).database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            # After a checkpoint has copied it into the file, the write-ahead log is cut back
            # to nothing rather than reused in place: old pages (an erased person's) are not
            # left at its end for anyone with a copy of it to read.
            cursor.execute("PRAGMA journal_size_limit=0")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin_immediate(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front, so two writers wait on the busy timeout
        # instead of failing with "database is locked" when one upgrades a read lock. Work
        # that only reads begins deferred and takes no lock at all.
        conn.exec_driver_sql(_DEFERRED if _reading_only.get() else _IMMEDIATE)

    event.listen(engine, "before_cursor_execute", _stop_writes_while_reading)

    bound_waits(engine, sqlite_busy_timeout_ms=SQLITE_BUSY_TIMEOUT_MS)
    return engine


def _stop_writes_while_reading(
    _conn: Any, _cursor: Any, _statement: Any, _params: Any, context: Any, _many: Any
) -> None:
    # On both databases, so that read-only work that writes after all always starts again
    # as a writer, whose transaction also holds the request's replay key (store.seen_requests).
    if (
        _reading_only.get()
        and context is not None
        and (context.isinsert or context.isupdate or context.isdelete)
    ):
        raise NeedsWriteLock


def make_sessions(engine: Engine) -> sessionmaker[Session]:
    """A session factory; callers own the unit of work with `with sessions.begin()`."""
    return sessionmaker(bind=engine, expire_on_commit=False)


# How long to keep trying to empty SQLite's write-ahead log while a reader is in the middle of
# a transaction (the scheduler's tick, a chat request): each try waits up to a second.
CHECKPOINT_TRIES = 5


def checkpoint_sqlite(sessions: sessionmaker[Session]) -> bool:
    """Copy SQLite's write-ahead log into the file and empty it; False if it stayed in use.

    The log keeps the pages a transaction replaced (an erased person's rows) until the last
    connection closes; `qi-nudge serve` keeps connections open. TRUNCATE waits for readers and
    leaves the log empty. Nothing to do on PostgreSQL, nor for a session bound to a connection
    (the tests' rolled-back transaction).
    """
    bind = sessions.kw.get("bind")
    if not isinstance(bind, Engine) or bind.dialect.name != "sqlite":
        return True
    if make_url(str(bind.url)).database in (None, "", ":memory:"):
        return True
    raw = bind.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA busy_timeout=1000")
        try:
            for attempt in range(CHECKPOINT_TRIES):
                busy = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
                if not busy:
                    return True
                time.sleep(0.2 * (attempt + 1))
            return False
        finally:
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            raw.info[BUSY_TIMEOUT_SET] = SQLITE_BUSY_TIMEOUT_MS
            cursor.close()
    finally:
        raw.close()


def let_others_write(sessions: sessionmaker[Session]) -> None:
    """Between the transactions of a long series of writes, let others waiting to write go first.

    Only SQLite needs it (one writer at a time); PostgreSQL locks rows, not the database.
    """
    bind = sessions.kw.get("bind")
    if bind is not None and bind.dialect.name == "sqlite":
        time.sleep(SQLITE_WRITER_PAUSE)
