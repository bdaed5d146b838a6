"""Which replica schedules: the one holding the lease (on PostgreSQL, with an advisory lock).

The lock alone is not enough: when the leader's host or network dies without closing its
connection, PostgreSQL keeps the orphaned session, and its lock, for about two hours. So the
leader also renews a lease row every tick (store.leadership). Another replica that finds the
lock held under a lease that has run out ends the ghost session and takes over: within a few
ticks, on any number of replicas. The leader itself stops sending as soon as its lease would
have run out by its own clock, whether or not it heard from the database (see `valid`).

Lease times are the database's clock, not the replicas' (which may differ), and a lease names
its replica by a random token as well as by "<host>:<pid>", which containers often share.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from store import leadership
from store.deadline import cut_if_slower_than
from store.engine import make_engine
from store.leadership import LeaderInfo, LockHolder

log = logging.getLogger(__name__)

# An arbitrary constant that names qi-nudge's scheduler lock in pg_locks.
SCHEDULER_LOCK_KEY = 0x51_4E_55_44  # "QNUD"
DEFAULT_TICK_SECONDS = 60  # bot.runtime.scheduler.TICK_SECONDS
# A lease lasts two and a half ticks: one late renewal keeps it; after a dead leader's last
# renewal another replica takes over within about three ticks.
LEASE_TICKS = 2.5
# Once a replica has been kept from leading for a lease's length, it says so; then this often.
WARN_AGAIN_EVERY = 30 * 60.0  # seconds
# Seconds to wait for an ended ghost session to let go of the lock.
GHOST_EXIT_WAIT = 2.0


DEFAULT_LEASE = timedelta(seconds=LEASE_TICKS * DEFAULT_TICK_SECONDS)


def replica_name() -> str:
    """The name logs and the lease give this process: "<host>:<pid>"."""
    return f"{socket.gethostname()}:{os.getpid()}"


def lease_for(tick_seconds: float) -> timedelta:
    """How long a lease lasts when the scheduler ticks every `tick_seconds`."""
    return timedelta(seconds=LEASE_TICKS * tick_seconds)


class Leadership(Protocol):
    """Whether this process should run the scheduled jobs now."""

    def holds(self) -> bool:
        """Renew the lead if we have it, or try to take it; called every tick."""

    def valid(self) -> bool:
        """Whether the lead taken or renewed last is still ours by our own clock (no I/O)."""

    def release(self) -> None:
        """Step down (at shutdown), so another replica takes over at once."""


class SoleLeader:
    """SQLite: one process owns the database file, so it always schedules.

    With `sessions` it also writes the lease each tick, so that `qi-nudge check` and /healthz
    see a leader; that write is best effort and never stops the scheduling.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session] | None = None,
        *,
        name: str | None = None,
        ttl: timedelta = DEFAULT_LEASE,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sessions = sessions
        self.name = name or replica_name()
        self.token = uuid.uuid4().hex
        self.ttl = ttl
        self.clock = clock

    def holds(self) -> bool:
        """Always; the lease says so when it can."""
        if self.sessions is not None:
            try:
                with self.sessions.begin() as session:
                    leadership.record_sole(
                        session, holder=self.name, token=self.token, now=self.clock(), ttl=self.ttl
                    )
            except Exception:
                log.debug("could not record the scheduler's lease", exc_info=True)
        return True

    def valid(self) -> bool:
        """Always."""
        return True

    def release(self) -> None:
        """Nothing to release; the lease ends now."""
        if self.sessions is None:
            return
        try:
            with self.sessions.begin() as session:
                leadership.step_down(session, token=self.token, now=self.clock())
        except Exception:
            log.debug("could not end the scheduler's lease", exc_info=True)


class AdvisoryLockLeader:
    """A PostgreSQL advisory lock on a dedicated connection, and a lease renewed every tick.

    The lock means one leader at a time; the lease shows whether the session holding the lock
    is still alive. PostgreSQL releases the lock the moment a holder's connection closes, so a
    replica that stops takes over at the next tick; one whose host vanished leaves a ghost,
    ended once its lease has run out.
    """

    def __init__(
        self,
        engine: Engine,
        key: int = SCHEDULER_LOCK_KEY,
        *,
        name: str | None = None,
        ttl: timedelta = DEFAULT_LEASE,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.key = key
        self.name = name or replica_name()
        # Which sessions are this process's own: names repeat (a shared hostname, pid 1).
        self.token = uuid.uuid4().hex
        self.ttl = ttl
        self.monotonic = monotonic
        seconds = ttl.total_seconds()
        # A query on the lock connection gets a third of a lease: a silent network must not
        # keep the tick waiting past the lease, nor hide that the lead was lost.
        self.wait = min(10.0, max(1.0, seconds / 3))
        self.engine = make_engine(
            engine.url.render_as_string(hide_password=False),
            poolclass=NullPool,  # one connection, made and closed by this object alone
            connect_args={
                # pg_stat_activity names the replica, for a DBA looking at the lock's holder.
                "application_name": f"qi-nudge {self.name} {self.token[:8]}"[:63],
                "connect_timeout": max(2, int(self.wait)),
                "keepalives_idle": max(1, int(self.wait)),
                "keepalives_interval": max(1, int(self.wait / 3)),
                "keepalives_count": 3,
                "tcp_user_timeout": int(self.wait * 1000),
            },
        )
        self._connection: Connection | None = None
        self._holding = False  # whether the lock connection holds the lock and lease
        self._valid_until = float("-inf")
        self._blocked_since: float | None = None  # kept from leading by a holder, since when
        self._warned_at: float | None = None
        self._leader_seen: str | None = None

    # -- the Leadership protocol -----------------------------------------------------------

    def holds(self) -> bool:
        """Renew our lease, or take the lock and lease, ending a ghost holder if there is one."""
        started = self.monotonic()
        if self._holding and self._renew():
            self._valid_until = started + self.ttl.total_seconds()
            return True
        try:
            return self._take(started)
        except Exception as error:
            log.warning(
                "could not reach the database to lead the scheduler (%s); this replica does not "
                "schedule for now",
                type(error).__name__,
            )
            self._drop()
            return False

    def valid(self) -> bool:
        """Whether our lease is still running by our clock, counted from before its renewal."""
        return self._connection is not None and self.monotonic() < self._valid_until

    def release(self) -> None:
        """End the lease, unlock and close the dedicated connection."""
        self._valid_until = float("-inf")
        if self._connection is None or not self._holding:
            self._drop()
            return
        try:
            with self._session() as session:
                leadership.step_down(session, token=self.token)
                session.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
                session.commit()
        except Exception:
            log.warning("could not unlock the scheduler lock; closing its connection instead")
        self._drop()

    # -- renewing and taking ---------------------------------------------------------------

    def _renew(self) -> bool:
        try:
            with self._session() as session:
                ours = leadership.renew(session, token=self.token, ttl=self.ttl)
                lease = None if ours else leadership.last_lease(session)
                session.commit()
        except Exception as error:
            log.warning(
                "lost the database connection that holds the scheduler's lead (%s); "
                "trying to take the lead again",
                type(error).__name__,
            )
            self._valid_until = float("-inf")
            self._drop()
            return False
        if not ours and lease is not None and lease.token == self.token:
            # Renewing it now could race another replica ending this session as a ghost.
            log.warning(
                "this replica's lease on the scheduler ran out before it was renewed (the "
                "database or this replica was slow); it steps down and takes the lead again"
            )
            self.release()
        elif not ours:
            log.warning("this replica's lease on the scheduler was taken over; it steps down")
            self.release()
        return ours

    def _take(self, started: float) -> bool:
        if self._connection is None:
            self._connection = self._connect()
        if self._try_lock():
            self._took(started)
            return True
        with self._session() as session:
            holder = leadership.lock_holder(session, self.key)
            lease = leadership.last_lease(session)
            now = leadership.database_now(session)
        if holder is None:
            return False  # let go just now: taken at the next tick
        if _names(lease, holder) and (lease.token == self.token or lease.expired(now)):
            ended = self._end_ghost(holder, lease, now)
            if ended and self._wait_for_lock():
                self._took(started)
                return True
            if ended is None:
                self._stand_by(lease)  # it renewed just in time: a live leader after all
            return False
        if _names(lease, holder):
            self._stand_by(lease)
        else:
            self._blocked(holder, lease, "holds it without this deployment's lease")
        return False

    def _try_lock(self) -> bool:
        with self._session() as session:
            got = leadership.take_with_lock(
                session, holder=self.name, token=self.token, lock_key=self.key, ttl=self.ttl
            )
            session.commit()
        return got

    def _wait_for_lock(self) -> bool:
        deadline = self.monotonic() + GHOST_EXIT_WAIT
        while True:
            if self._try_lock():
                return True
            if self.monotonic() > deadline:
                return False
            time.sleep(0.1)

    def _took(self, started: float) -> None:
        self._holding = True
        self._valid_until = started + self.ttl.total_seconds()
        self._blocked_since = self._warned_at = self._leader_seen = None
        log.info("this replica (%s) now runs the scheduled jobs", self.name)

    def _end_ghost(self, holder: LockHolder, lease: LeaderInfo, now: datetime) -> bool | None:
        """End the session left holding the lock by a leader that is gone; True if ended.

        None if the lease was renewed meanwhile: a live leader after all, not ended.
        """
        ours = lease.token == self.token
        try:
            with self._session() as session:
                ended = leadership.end_ghost(session, holder.pid, ours=self.token)
                session.commit()
        except Exception as error:
            self._blocked(holder, lease, f"and this replica may not end it ({_reason(error)})")
            return False
        if ended is False:
            self._blocked(holder, lease, "and PostgreSQL did not end it when asked")
        elif ended and ours:
            # Our own earlier connection, cut by the network: nobody else led meanwhile.
            log.warning(
                "this replica's earlier database session (%d) still held the scheduler lock; "
                "it was ended",
                holder.pid,
            )
        elif ended:
            log.warning(
                "the scheduler's leader, replica %s (database session %d%s), has not renewed "
                "its lease for %.0f s; that session was ended so that this replica takes over",
                lease.name,
                holder.pid,
                _from(holder),
                (now - lease.renewed_at).total_seconds(),
            )
        return ended

    def _stand_by(self, lease: LeaderInfo) -> None:
        """Another replica leads and renews its lease: all is well."""
        self._blocked_since = self._warned_at = None
        if lease.name != self._leader_seen:
            self._leader_seen = lease.name
            log.info("replica %s runs the scheduled jobs; this one stands by", lease.name)

    def _blocked(self, holder: LockHolder, lease: LeaderInfo | None, why: str) -> None:
        """Kept from leading by a session that is not a live leader: say so, then rarely."""
        now = self.monotonic()
        if self._blocked_since is None:
            self._blocked_since = now
        if now - self._blocked_since < self.ttl.total_seconds():
            return  # a few ticks first: a leader changing hands looks like this for a moment
        if self._warned_at is not None and now - self._warned_at < WARN_AGAIN_EVERY:
            return
        self._warned_at = now
        named = f", the lease names replica {lease.name}" if lease is not None else ""
        log.warning(
            "this replica cannot lead the scheduler: database session %d (%s%s%s) %s; nothing "
            "is scheduled or sent until it lets go. Is another qi-nudge version or deployment "
            "using this database? A database administrator can end it with "
            "SELECT pg_terminate_backend(%d)",
            holder.pid,
            holder.application_name or "no application name",
            _from(holder),
            named,
            why,
            holder.pid,
        )

    # -- the dedicated connection ----------------------------------------------------------

    def _connect(self) -> Connection:
        return self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    @contextlib.contextmanager
    def _session(self) -> Iterator[Session]:
        """A session on the lock connection, whose statements must answer within `wait`."""
        assert self._connection is not None
        connection = self._connection
        with cut_if_slower_than(connection, self.wait), Session(bind=connection) as session:
            yield session

    def _drop(self) -> None:
        self._holding = False
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.invalidate()  # never reuse a connection that may hold the lock
            connection.close()
        except Exception:
            log.debug("closing the scheduler lock connection failed", exc_info=True)


def _names(lease: LeaderInfo | None, holder: LockHolder) -> bool:
    """Whether the lease names the session that holds the lock (else it is not ours to end)."""
    return lease is not None and lease.backend_pid == holder.pid


def _from(holder: LockHolder) -> str:
    return f" from {holder.client_addr}" if holder.client_addr else ""


def _reason(error: Exception) -> str:
    original = getattr(error, "orig", None) or error
    return str(original).strip().splitlines()[0] if str(original).strip() else type(error).__name__


def leadership_for(
    engine: Engine, *, tick_seconds: float = DEFAULT_TICK_SECONDS, name: str | None = None
) -> Leadership:
    """An advisory lock with a lease on PostgreSQL; sole leadership (recorded) on SQLite."""
    ttl = lease_for(tick_seconds)
    if engine.dialect.name == "postgresql":
        return AdvisoryLockLeader(engine, name=name, ttl=ttl)
    return SoleLeader(sessionmaker(bind=engine), name=name, ttl=ttl)
