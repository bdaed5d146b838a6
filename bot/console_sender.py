"""Deliveries shown in the terminal, for trying the bot (and its reminders) without chat."""

from __future__ import annotations

import sys
from typing import TextIO

from sqlalchemy.orm import Session

from bot.render_text import render_reply
from handlers.reply import Reply
from store import outbox
from store.models import Person

PLATFORM = "console"


class ConsoleSender:
    """Prints each message with who it is for; everyone counts as reachable here."""

    platform = PLATFORM

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self._count = 0

    def destination(self, session: Session, recipient: str) -> str | None:
        """'to Asha Patel (direct message)' or 'in #qi-forum'."""
        person_id = outbox.recipient_person_id(recipient)
        if person_id is not None:
            person = session.get(Person, person_id)
            return f"to {person.display_name} (direct message)" if person else None
        target = outbox.recipient_channel(recipient)
        return f"in {target[1]}" if target is not None else None

    def find_sent(self, channel: str, key: str) -> str | None:
        """The terminal keeps nothing to look in."""
        return None

    def post(self, channel: str, reply: Reply, key: str) -> str | None:
        """Print the message under a line saying where it went."""
        self._count += 1
        text, _buttons = render_reply(reply)
        # The buttons are shown for what they offer; they can be pressed in chat, not here.
        text = text.replace("\n(Type a number to press a button.)", "")
        print(f"\n--- Message {channel} ---\n{text}", file=self.stream)
        return str(self._count)
