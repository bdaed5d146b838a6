"""Chat requests already acted on: one row per request key, until a copy could no longer pass."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from store.deadline import unavailable_because, without_waiting
from store.engine import is_reading_only, writing
from store.models import SeenRequest

log = logging.getLogger(__name__)


def note_first_sighting(session: Session, key: str, expires_at: datetime, now: datetime) -> bool:
    """Record `key` until `expires_at`; True if it is new, False if it was seen and is current.

    One statement, decided by the primary key, so two replicas given the same request at the
    same moment cannot both be told it is new. A row that has expired but not yet been pruned
    counts as not seen (and is renewed).
    """
    return _note_on(session.connection(), key, expires_at, now)


def _note_on(connection: Connection, key: str, expires_at: datetime, now: datetime) -> bool:
    statement = _UPSERTS[connection.dialect.name == "postgresql"]
    # RETURNING, not rowcount: psycopg reports no row count for this statement.
    found = connection.execute(statement, {"key": key, "expires_at": expires_at, "now": now})
    return found.first() is not None


def _upsert(dialect_insert: Any) -> Any:
    # Built once per dialect with bound parameters: every chat request runs it.
    table = SeenRequest.__table__
    return (
        dialect_insert(table)
        .values(key=bindparam("key"), expires_at=bindparam("expires_at"))
        .on_conflict_do_update(
            index_elements=[table.c.key],
            set_={"expires_at": bindparam("expires_at")},
            where=table.c.expires_at <= bindparam("now"),
        )
        .returning(table.c.key)
    )


_UPSERTS = {False: _upsert(sqlite.insert), True: _upsert(postgresql.insert)}


def forget_expired(session: Session, now: datetime) -> int:
    """Remove the keys whose time has passed; how many went."""
    result = session.execute(delete(SeenRequest).where(SeenRequest.expires_at <= now))
    return result.rowcount


class AlreadyActedOn(Exception):
    """The request being handled was acted on before (a replay or a retry): acknowledge only."""


@dataclass
class Sighting:
    """A chat request's key, noted as acted on in the first transaction its work opens.

    The INSERT of the key runs on that transaction's connection, right after it begins: on
    PostgreSQL the request pays no BEGIN and COMMIT of its own for it, and the key is kept
    exactly when the work's changes are. Work that rolls back (a refusal, an error) or opens
    no transaction has its key noted afterwards by `keep_sighting`, in a transaction of its own.
    """

    key: str
    expires_at: datetime
    now: datetime
    thread: int | None = None  # the thread doing the request's work; others' sessions ignore it
    kept: bool = False  # committed with the work (or on its own)
    replayed: bool = False  # the key was there already: the request was not acted on
    prune: bool = False  # clear out expired keys in the same transaction (once a minute or so)
    tried_alone: bool = False  # keep_sighting has run for this attempt: it is not tried twice
    pending_in: Session | None = field(default=None, repr=False)  # the session holding the INSERT


_sighting: ContextVar[Sighting | None] = ContextVar("qi_request_sighting", default=None)


@contextlib.contextmanager
def noting_sighting(sighting: Sighting | None) -> Iterator[None]:
    """Note `sighting` in the first transaction opened by this thread inside the block."""
    if sighting is not None:
        sighting.thread = threading.get_ident()
        sighting.pending_in = None
        sighting.tried_alone = False
    token = _sighting.set(sighting)
    try:
        yield
    finally:
        _sighting.reset(token)


def _ours(sighting: Sighting | None) -> bool:
    return (
        sighting is not None
        and not (sighting.kept or sighting.replayed)
        and sighting.pending_in is None
        and sighting.thread == threading.get_ident()
    )


def keep_sighting(sessions: sessionmaker[Session]) -> None:
    """Note the current request's key in a transaction of its own, if its work did not.

    Raises AlreadyActedOn if the key was there. A database that cannot be reached is only
    logged: the request was answered already (its handler told the person if it needed it).
    """
    sighting = _sighting.get()
    if not _ours(sighting) or sighting.tried_alone:  # type: ignore[union-attr]
        return
    sighting.tried_alone = True  # type: ignore[union-attr]
    try:
        with writing(), sessions.begin() as session:
            session.connection()  # the key goes in as the transaction begins (_note_on_begin)
    except AlreadyActedOn:
        raise
    except Exception as error:
        level = logging.DEBUG if unavailable_because(error) else logging.WARNING
        log.log(level, "could not note a chat request as acted on: %s", type(error).__name__)


def forgo_sighting() -> None:
    """Leave the current request's key unnoted: its work did not reach the database.

    A database that could not serve the request is not asked again for its key (that would
    only make the person wait longer); nothing was changed, so a copy may run.
    """
    sighting = _sighting.get()
    if _ours(sighting):
        sighting.tried_alone = True  # type: ignore[union-attr]


def keep_sighting_without_waiting(sessions: sessionmaker[Session]) -> None:
    """`keep_sighting` for work that only read: on SQLite, skipped (logged) if the lock is taken.

    A read-only request changes nothing if run twice; it must not wait for SQLite's write
    lock (held by the weekly run, say) just to record that it ran.
    """
    bind = sessions.kw.get("bind")
    if bind is None or bind.dialect.name != "sqlite":
        keep_sighting(sessions)  # PostgreSQL's INSERT waits for no lock held by others' work
        return
    with without_waiting():
        keep_sighting(sessions)


@event.listens_for(Session, "after_begin")
def _note_on_begin(session: Session, _transaction: Any, connection: Connection) -> None:
    sighting = _sighting.get()
    if not _ours(sighting):
        return
    if is_reading_only():
        # Not in a reader's transaction: on SQLite it would take the write lock, and readers
        # often end by rolling back. Work that writes after all starts again as a writer,
        # which notes it; work that only read has its key noted after it (Dispatcher).
        return
    assert sighting is not None
    if not _note_on(connection, sighting.key, sighting.expires_at, sighting.now):
        sighting.replayed = True
        raise AlreadyActedOn
    sighting.pending_in = session
    if sighting.prune:
        sighting.prune = False
        connection.execute(delete(SeenRequest).where(SeenRequest.expires_at <= sighting.now))


@event.listens_for(Session, "after_commit")
def _kept_on_commit(session: Session) -> None:
    sighting = _sighting.get()
    if sighting is not None and sighting.pending_in is session:
        sighting.kept = True
        sighting.pending_in = None


@event.listens_for(Session, "after_transaction_end")
def _lost_on_rollback(session: Session, transaction: Any) -> None:
    sighting = _sighting.get()
    if transaction.parent is None and sighting is not None and sighting.pending_in is session:
        sighting.pending_in = None  # rolled back with the work: to be noted again
