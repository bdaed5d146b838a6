"""Choosing the platform each delivery goes out on, when the bot is on more than one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from store import outbox
from store.people import preferred_platform

if TYPE_CHECKING:
    from bot.runtime.sending import Sender


@dataclass(frozen=True)
class Destination:
    """Where a delivery goes: a platform, and the channel (or direct message) on it."""

    platform: str
    channel: str


class SenderRouter:
    """The configured platforms' senders, in order of preference, and which one reaches whom."""

    def __init__(self, senders: Sequence[Sender]) -> None:
        self._by_platform: dict[str, Sender] = {}
        for sender in senders:
            if sender.platform in self._by_platform:
                raise ValueError(f"two senders for {sender.platform}")
            self._by_platform[sender.platform] = sender
        if not self._by_platform:
            raise ValueError("a router needs at least one sender")
        self.platforms: tuple[str, ...] = tuple(self._by_platform)

    def sender_for(self, platform: str) -> Sender | None:
        """The sender for a platform, or None if the bot is not set up on it."""
        return self._by_platform.get(platform)

    def route(self, sessions: sessionmaker[Session], recipient: str) -> Destination | None:
        """Where to send to a recipient key, or None if no configured platform reaches them.

        A channel goes to its own platform; a person to the platform they used last. If that
        one has no way to reach them (no Teams conversation yet, say), the others are tried
        in order: each sender's `destination` says whether it reaches the recipient.
        """
        for platform in self._order_for(sessions, recipient):
            channel = self._by_platform[platform].destination(sessions, recipient)
            if channel is not None:
                return Destination(platform, channel)
        return None

    def nowhere(self, recipient: str) -> str:
        """Why `route` found no destination for the recipient, for admins to read."""
        target = outbox.recipient_channel(recipient)
        if target is not None and target[0] not in self._by_platform:
            return f"the channel is on {target[0]}, where the bot is not set up: nowhere to send"
        return f"the recipient is not on {' or '.join(self.platforms)}: nowhere to send"

    def _order_for(self, sessions: sessionmaker[Session], recipient: str) -> list[str]:
        """The platforms to try for a recipient, most likely first."""
        target = outbox.recipient_channel(recipient)
        person_id = outbox.recipient_person_id(recipient)
        first: str | None = None
        if target is not None:
            first = target[0]
        elif person_id is not None and len(self.platforms) > 1:
            with sessions() as session:
                first = preferred_platform(session, person_id, self.platforms)
        if first is None or first not in self._by_platform:
            return list(self.platforms)
        return [first, *(p for p in self.platforms if p != first)]
