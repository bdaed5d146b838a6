"""The scheduler's lease: which replica leads, since when, and until when unless it renews.

On PostgreSQL the lease is taken together with a session advisory lock, in one statement, so
the lease always names the session (`backend_pid`) that holds the lock. A replica that finds
the lock held under a lease that has run out knows the holder is a ghost (its host or network
died without closing the connection) and may end that session. On SQLite the one process that
schedules writes the lease only so that others (`qi-nudge check`, /healthz) can see it lead.

On PostgreSQL every lease time is the database's clock, written and compared there: replicas'
clocks may differ. A lease names its replica twice: `holder` ("<host>:<pid>", for people) and
`token`, random per process, since containers often share a hostname and all run as pid 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, func, select, text, update
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
    token: str | None = None

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
        token=row.token,
    )


def current_leader(session: Session, now: datetime, lease: str = SCHEDULER) -> LeaderInfo | None:
    """The replica leading the scheduler now (its lease has not run out), or None."""
    info = last_lease(session, lease)
    return None if info is None or info.expired(now) else info


def database_now(session: Session) -> datetime:
    """PostgreSQL's clock now: the one clock all replicas compare lease times by."""
    return session.scalar(select(_database_clock()))  # type: ignore[return-value]


def lease_clock(session: Session, fallback: datetime) -> datetime:
    """The time to judge leases by: PostgreSQL's clock, or on SQLite (one process) `fallback`."""
    if session.get_bind().dialect.name == "postgresql":
        return database_now(session)
    return fallback


def _database_clock() -> Any:
    # clock_timestamp, not now(): the time of this statement, not of its transaction.
    return func.clock_timestamp(type_=DateTime(timezone=True))


def _clock(session: Session, now: datetime | None) -> Any:
    """When, for a lease: `now` if given (SQLite's one process), else the database's clock."""
    if now is not None:
        return now
    if session.get_bind().dialect.name == "postgresql":
        return _database_clock()
    return datetime.now(UTC)


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
    token: str,
    lock_key: int,
    ttl: timedelta,
    lease: str = SCHEDULER,
) -> bool:
    """PostgreSQL: take the advisory lock and, in the same statement, the lease; False if taken.

    One statement, so no session ever holds the lock without the lease naming it. The table
    holds one row per lease name, so the lock function runs for that row only.
    """
    _ensure_row(session, lease)
    now = _database_clock()
    result = session.execute(
        update(SchedulerLease)
        .where(SchedulerLease.name == lease, func.pg_try_advisory_lock(lock_key))
        .values(
            holder=holder,
            token=token,
            backend_pid=func.pg_backend_pid(),
            acquired_at=now,
            renewed_at=now,
            expires_at=now + ttl,
        )
    )
    return result.rowcount == 1


def renew(
    session: Session,
    *,
    token: str,
    ttl: timedelta,
    now: datetime | None = None,
    lease: str = SCHEDULER,
) -> bool:
    """Extend our lease by `ttl` from now, while it runs; False if it ran out or is not ours.

    A lease that has run out is not renewed: another replica may be ending its session just
    then, so its holder steps down and takes the lead again. On PostgreSQL only from the
    session that holds the lock: a replica whose lock session was ended cannot renew from
    another one.
    """
    at = _clock(session, now)
    statement = update(SchedulerLease).where(
        SchedulerLease.name == lease, SchedulerLease.token == token, SchedulerLease.expires_at > at
    )
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.where(SchedulerLease.backend_pid == func.pg_backend_pid())
    result = session.execute(statement.values(renewed_at=at, expires_at=at + ttl))
    return result.rowcount == 1


def record_sole(
    session: Session,
    *,
    holder: str,
    now: datetime,
    ttl: timedelta,
    token: str | None = None,
    lease: str = SCHEDULER,
) -> None:
    """SQLite: this process leads (it is the only one); say so, keeping `since` while it leads."""
    table = SchedulerLease.__table__
    statement = insert_for(session, table)
    statement = statement.on_conflict_do_update(
        index_elements=["name"],
        set_={
            "holder": statement.excluded.holder,
            "token": statement.excluded.token,
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
            "token": token,
            "acquired_at": now,
            "renewed_at": now,
            "expires_at": now + ttl,
        },
    )


def step_down(
    session: Session, *, token: str, now: datetime | None = None, lease: str = SCHEDULER
) -> None:
    """End our lease now, so another replica takes over on its next tick."""
    session.execute(
        update(SchedulerLease)
        .where(SchedulerLease.name == lease, SchedulerLease.token == token)
        .values(expires_at=_clock(session, now))
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


def end_ghost(
    session: Session, pid: int, *, ours: str | None = None, lease: str = SCHEDULER
) -> bool | None:
    """PostgreSQL: end session `pid`, holding the lock, if the lease naming it has run out.

    Also if the lease bears our token `ours`: an earlier session of this process, which
    nobody else leads through. One statement, with the lease's row locked: a leader renewing
    just then either renews first (and is not ended) or waits, and is ended before it renews.
    True if ended; None if the lease no longer names that session or runs again; False if
    PostgreSQL did not end it.
    """
    ended = session.execute(
        text(
            "WITH ghost AS MATERIALIZED ("
            " SELECT backend_pid FROM scheduler_leases"
            " WHERE name = :lease AND backend_pid = :pid"
            " AND (expires_at <= clock_timestamp() OR token = :ours)"
            " FOR UPDATE) "
            "SELECT pg_terminate_backend(backend_pid) FROM ghost"
        ),
        {"lease": lease, "pid": pid, "ours": ours},
    ).first()
    return None if ended is None else bool(ended[0])
