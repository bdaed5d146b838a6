"""What every handler needs: the session factory, the clock and the local time zone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from store.involvement import DEFAULT_EVERY_WEEKS


def system_clock() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


class PublicPages(Protocol):
    """Addresses of the pages `qi-nudge serve` shows at PUBLIC_URL (bot/outside/links.py)."""

    def forum_calendar(self, forum_id: int) -> str:
        """A forum's calendar feed, for Outlook or Google Calendar to subscribe to."""

    def signup(self, forum_name_key: str) -> str:
        """A forum's public sign-up page."""


@dataclass(frozen=True)
class Context:
    """Shared dependencies of the handlers, built once by the runtime."""

    sessions: sessionmaker[Session]
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/London"))
    clock: Callable[[], datetime] = system_clock
    # How people outside chat can be reached here ("email", "text"): set by the runtime from
    # the settings, so handlers can say who is unreachable without knowing the settings.
    outside_methods: frozenset[str] = frozenset()
    # The web pages people outside chat use, when PUBLIC_URL is set: for showing organisers
    # a forum's calendar feed and sign-up page.
    pages: PublicPages | None = None
    # How often service users and carers are asked how involved they feel, in weeks
    # (INVOLVEMENT_EVERY_WEEKS): a question is answerable until its period ends.
    involvement_every_weeks: int = DEFAULT_EVERY_WEEKS

    def now(self) -> datetime:
        """The current time in UTC, from the injected clock."""
        return self.clock()
