"""What every handler needs: the session factory, the clock and the local time zone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker


def system_clock() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Context:
    """Shared dependencies of the handlers, built once by the runtime."""

    sessions: sessionmaker[Session]
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/London"))
    clock: Callable[[], datetime] = system_clock
    # How people outside chat can be reached here ("email", "text"): set by the runtime from
    # the settings, so handlers can say who is unreachable without knowing the settings.
    outside_methods: frozenset[str] = frozenset()

    def now(self) -> datetime:
        """The current time in UTC, from the injected clock."""
        return self.clock()
