"""What the e-mail and text senders share: whom they reach, and turning a Reply into a message.

Each is a `Sender` (bot/runtime/sending.py) for the platform "email" or "text", behind the same
outbox as Slack and Teams: exactly once, retries, rate limits, `qi-nudge deliveries`. The
channel of a delivery is "contact:<id>", never the address: the outbox keeps no address.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from bot.outside.compose import CannotSendOutsideChat, OutsideMessage, as_email, as_text
from bot.outside.links import Links
from bot.runtime.outside_settings import OutsideSettings
from bot.runtime.sending import SendError
from handlers.core.context import system_clock
from handlers.core.reply import Reply
from store import contacts, outbox
from store.models import OutsideContact

CHANNEL = "contact:"


class OutsideSender(ABC):
    """A sender to people outside chat by one method ("email" or "text")."""

    platform: str  # the method: contacts.EMAIL or contacts.TEXT
    can_look_back = False
    attaches_calendar = True  # e-mail: the meeting's .ics goes with it as a file

    def __init__(
        self,
        sessions: sessionmaker[Session],
        links: Links,
        zone: ZoneInfo,
        *,
        settings: OutsideSettings,
        clock: Callable[[], datetime] = system_clock,
    ) -> None:
        self.settings = settings  # SMTP_URL, NOTIFY_API_KEY and the rest: each sender its own
        self.sessions = sessions
        self.links = links
        self.zone = zone
        self.clock = clock

    def destination(self, sessions: sessionmaker[Session], recipient: str) -> str | None:
        """'contact:<id>' for a person reached by this method who has not asked to stop."""
        person_id = outbox.recipient_person_id(recipient)
        if person_id is None:
            return None
        with sessions() as session:
            contact = contacts.contact_of(session, person_id)
            if contact is None or contact.method != self.platform or contact.stopped_at:
                return None
            return f"{CHANNEL}{contact.id}"

    def find_sent(self, channel: str, key: str, *, since: datetime) -> str | None:
        """Nothing to look in (a sender that can look says so with `can_look_back`)."""
        return None

    def post(self, channel: str, reply: Reply, key: str) -> str | None:
        """Compose the message for the contact and send it; the provider's id for it, if any."""
        address, person_id = self._address(channel)
        try:
            message = self.compose(reply, person_id)
        except CannotSendOutsideChat as error:
            raise SendError(
                f"this message cannot go by {self.platform}: it has {error}", retryable=False
            ) from None
        return self.transmit(address, message, key)

    def update(self, channel: str, message_id: str, reply: Reply) -> None:
        """A sent e-mail or text cannot be changed: nothing to do."""
        return None

    def compose(self, reply: Reply, person_id: int) -> OutsideMessage:
        """The reply as this method's message."""
        made = {"person_id": person_id, "links": self.links, "zone": self.zone, "now": self.clock()}
        if self.platform == contacts.EMAIL:
            return as_email(reply, attach_calendar=self.attaches_calendar, **made)
        return as_text(reply, **made)

    def _address(self, channel: str) -> tuple[str, int]:
        """The address and person of a 'contact:<id>' channel, as it is now."""
        number = channel.removeprefix(CHANNEL)
        with self.sessions() as session:
            contact = session.get(OutsideContact, int(number)) if number.isdigit() else None
            if contact is None or contact.stopped_at is not None:
                raise SendError("they are no longer reached this way", retryable=False)
            return contact.address, contact.person_id

    def check(self) -> SendError | None:
        """Whether the provider accepts our settings, asked once (start-up, `qi-nudge check`)."""
        return None

    @abstractmethod
    def transmit(self, address: str, message: OutsideMessage, key: str) -> str | None:
        """Send the message to the address, tagged with the delivery key; raise SendError."""
