"""Chat requests already acted on: one row per request key, until a copy could no longer pass."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session

from store.models import SeenRequest
from store.upsert import insert_for


def note_first_sighting(session: Session, key: str, expires_at: datetime, now: datetime) -> bool:
    """Record `key` until `expires_at`; True if it is new, False if it was seen and is current.

    One statement, decided by the primary key, so two replicas given the same request at the
    same moment cannot both be told it is new. A row that has expired but not yet been pruned
    counts as not seen (and is renewed).
    """
    table = SeenRequest.__table__
    statement = (
        insert_for(session, table)
        .values(key=key, expires_at=expires_at)
        .on_conflict_do_update(
            index_elements=[table.c.key],
            set_={"expires_at": expires_at},
            where=table.c.expires_at <= now,
        )
        .returning(table.c.key)
    )
    # RETURNING, not rowcount: psycopg reports no row count for this statement.
    return session.execute(statement).first() is not None


def forget_expired(session: Session, now: datetime) -> int:
    """Remove the keys whose time has passed; how many went."""
    result = session.execute(delete(SeenRequest).where(SeenRequest.expires_at <= now))
    return result.rowcount
