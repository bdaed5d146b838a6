"""Which replica schedules: the one holding a PostgreSQL advisory lock (SQLite: this process)."""

from __future__ import annotations

import logging
from typing import Protocol

from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)

# An arbitrary constant that names qi-nudge's scheduler lock in pg_locks.
SCHEDULER_LOCK_KEY = 0x51_4E_55_44  # "QNUD"


class Leadership(Protocol):
    """Whether this process should run the scheduled jobs now."""

    def holds(self) -> bool:
        """True while this process is the one that schedules."""

    def release(self) -> None:
        """Step down (at shutdown), so another replica takes over at once."""


class SoleLeader:
    """SQLite: one process owns the database file, so it always schedules."""

    def holds(self) -> bool:
        """Always."""
        return True

    def release(self) -> None:
        """Nothing to release."""


class AdvisoryLockLeader:
    """Holds pg_try_advisory_lock on a dedicated connection; losing the connection loses it.

    PostgreSQL releases a session lock the moment the holder's connection closes, so when a
    replica dies another one gets the lock on its next try (the scheduler tries every minute).
    """

    def __init__(self, engine: Engine, key: int = SCHEDULER_LOCK_KEY) -> None:
        self.engine = engine
        self.key = key
        self._connection: Connection | None = None

    def holds(self) -> bool:
        """Keep the lock if we have it (and the connection is alive), or try to take it."""
        if self._connection is not None:
            try:
                self._connection.execute(text("SELECT 1"))
                return True
            except Exception:
                log.warning("scheduler lock connection lost; trying to take the lock again")
                self._drop()
        try:
            connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except Exception:
            log.warning("database unreachable; not scheduling for now")
            return False
        try:
            got = connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key})
        except Exception:
            connection.close()
            return False
        if not got:
            connection.close()
            return False
        log.info("this replica now runs the scheduled jobs")
        self._connection = connection
        return True

    def release(self) -> None:
        """Unlock and close the dedicated connection."""
        if self._connection is None:
            return
        try:
            self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
        except Exception:
            log.warning("could not unlock the scheduler lock; closing its connection instead")
        self._drop()

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.invalidate()  # never hand a lock-holding connection back to the pool
            connection.close()
        except Exception:
            log.debug("closing the scheduler lock connection failed", exc_info=True)


def leadership_for(engine: Engine) -> Leadership:
    """An advisory lock on PostgreSQL; sole leadership on SQLite."""
    return AdvisoryLockLeader(engine) if engine.dialect.name == "postgresql" else SoleLeader()
