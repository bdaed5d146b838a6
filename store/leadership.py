"""The scheduler's lease: which replica leads, since when, and until when unless it renews.

On PostgreSQL the lease is taken together with a session advisory lock, in one statement, so
the lease always names the session (`backend_pid`) that holds the lock. A replica that finds
the lock held under a lease that has run out knows the holder is a ghost (its host or network
died without closing the connection) and may end that session. On SQLite the one process that
schedules writes the lease only so that others (`qi-nudge check`, /healthz) can see it lead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from store.models import SchedulerLease
from store.upsert import insert_for

SCHEDULER = "scheduler"


@dataclass(frozen=True)
class LeaderInfo:
    """Who holds (or last held) a lease: replica name, since when, last renewal, expiry."""

    name: str
    since: datetime
    renewed_at: datetime
    expires_at: datetime
    backend_pid: int | None = None

    def expired(self, now: datetime) -> bool:
        """Whether the lease has run out (its holder stopped renewing it) by `now`."""
        return self.expires_at <= now


@dataclass(frozen=True)
class LockHolder:
    """The PostgreSQL session holding an advisory lock, as pg_stat_activity shows it."""

    pid: int
    application_name: str | None
    client_addr: str | None


def last_lease(session: Session, lease: str = SCHEDULER) -> LeaderInfo | None:
    """The lease as last written, expired or not; None if nobody ever held it."""
    row = session.get(SchedulerLease, lease, populate_existing=True)
    if row is None or row.holder is None or row.expires_at is None:
        return None
    return LeaderInfo(
        name=row.holder,
        since=row.acquired_at or row.renewed_at or row.expires_at,
        renewed_at=row.renewed_at or row.expires_at,
        expires_at=row.expires_at,
        backend_pid=row.backend_pid,
    )


def current_leader(session: Session, now: datetime, lease: str = SCHEDULER) -> LeaderInfo | None:
    """The replica leading the scheduler now (its lease has not run out), or None."""
    info = last_lease(session, lease)
    return None if info is None or info.expired(now) else info


def _ensure_row(session: Session, lease: str) -> None:
    session.execute(
        insert_for(session, SchedulerLease.__table__).on_conflict_do_nothing(
            index_elements=["name"]
        ),
        {"name": lease},
    )


def take_with_lock(
    session: Session,
    *,
    holder: str,
    lock_key: int,
    now: datetime,
    ttl: timedelta,
    lease: str = SCHEDULER,
) -> bool:
    """PostgreSQL: take the advisory lock and, in the same statement, the lease; False if taken.

    One statement, so no session ever holds the lock without the lease naming it. The table
    holds one row per lease name, so the lock function runs for that row only.
    """
    _ensure_row(session, lease)
    result = session.execute(
        update(SchedulerLease)
        .where(SchedulerLease.name == lease, func.pg_try_advisory_lock(lock_key))
        .values(
            holder=holder,
            backend_pid=func.pg_backend_pid(),
            acquired_at=now,
            renewed_at=now,
            expires_at=now + ttl,
        )
    )
    return result.rowcount == 1


def renew(
    session: Session, *, holder: str, now: datetime, ttl: timedelta, lease: str = SCHEDULER
) -> bool:
    """Extend our lease to `now + ttl`; False if it is no longer ours (then step down).

    On PostgreSQL only from the session that holds the lock: a replica whose lock session was
    ended cannot renew from another one.
    """
    statement = update(SchedulerLease).where(
        SchedulerLease.name == lease, SchedulerLease.holder == holder
    )
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.where(SchedulerLease.backend_pid == func.pg_backend_pid())
    result = session.execute(statement.values(renewed_at=now, expires_at=now + ttl))
    return result.rowcount == 1


def record_sole(
    session: Session, *, holder: str, now: datetime, ttl: timedelta, lease: str = SCHEDULER
) -> None:
    """SQLite: this process leads (it is the only one); say so, keeping `since` while it leads."""
    table = SchedulerLease.__table__
    statement = insert_for(session, table)
    statement = statement.on_conflict_do_update(
        index_elements=["name"],
        set_={
            "holder": statement.excluded.holder,
            "acquired_at": func.coalesce(
                # Since when: kept while the same process renews an unexpired lease.
                select(table.c.acquired_at)
                .where(table.c.name == lease, table.c.holder == holder, table.c.expires_at > now)
                .scalar_subquery(),
                statement.excluded.acquired_at,
            ),
            "renewed_at": statement.excluded.renewed_at,
            "expires_at": statement.excluded.expires_at,
        },
    )
    session.execute(
        statement,
        {
            "name": lease,
            "holder": holder,
            "acquired_at": now,
            "renewed_at": now,
            "expires_at": now + ttl,
        },
    )


def step_down(session: Session, *, holder: str, now: datetime, lease: str = SCHEDULER) -> None:
    """End our lease now, so another replica takes over on its next tick."""
    session.execute(
        update(SchedulerLease)
        .where(SchedulerLease.name == lease, SchedulerLease.holder == holder)
        .values(expires_at=now)
    )


def lock_holder(session: Session, lock_key: int) -> LockHolder | None:
    """PostgreSQL: the session holding the advisory lock `lock_key` in this database, if any."""
    row = session.execute(
        text(
            "SELECT l.pid, a.application_name, host(a.client_addr) AS client_addr "
            "FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND ((l.classid::bigint << 32) | l.objid::bigint) = :key"
        ),
        {"key": lock_key},
    ).first()
    if row is None:
        return None
    return LockHolder(
        pid=row.pid, application_name=row.application_name or None, client_addr=row.client_addr
    )


def end_session(session: Session, pid: int) -> bool:
    """PostgreSQL: end another session (a ghost holding the lock); False if not allowed."""
    return bool(session.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}))
