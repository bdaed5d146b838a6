"""Deliveries shown in the terminal, for trying the bot (and its reminders) without chat."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.console.render_text import render_reply
from handlers.core.reply import Reply
from store import outbox
from store.models import ChatIdentity, Person

PLATFORM = "console"


class ConsoleSender:
    """Prints each message with who it is for: the console's own people and channels only."""

    platform = PLATFORM
    can_look_back = True  # nothing to look in, but a message printed twice harms nobody

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self._count = 0

    def destination(self, sessions: sessionmaker[Session], recipient: str) -> str | None:
        """'to Asha Patel (direct message)' or 'in forum'; None for anyone not on the console.

        Only the console's own people and channels: a message for someone on Slack or Teams
        printed here would reach nobody, yet count as sent.
        """
        person_id = outbox.recipient_person_id(recipient)
        if person_id is not None:
            with sessions() as session:
                person = session.get(Person, person_id)
                platforms = set(
                    session.scalars(
                        select(ChatIdentity.platform).where(ChatIdentity.person_id == person_id)
                    )
                )
            if person is None or platforms != {PLATFORM}:
                return None
            return f"to {person.display_name} (direct message)"
        target = outbox.recipient_channel(recipient)
        return f"in {target[1]}" if target is not None and target[0] == PLATFORM else None

    def find_sent(self, channel: str, key: str, *, since: datetime) -> str | None:
        """The terminal keeps nothing to look in."""
        return None

    def post(self, channel: str, reply: Reply, key: str) -> str | None:
        """Print the message under a line saying where it went."""
        self._count += 1
        print(f"\n--- Message {channel} ---\n{printed(reply)}", file=self.stream)
        return str(self._count)

    def update(self, channel: str, message_id: str, reply: Reply) -> None:
        """Say that an earlier message changed (the terminal cannot edit what it printed)."""
        print(
            f"\n--- Message {message_id} {channel} now reads ---\n{printed(reply)}",
            file=self.stream,
        )


def printed(reply: Reply) -> str:
    """The message as the terminal shows it."""
    # Buttons are shown for what they offer; they are pressed in chat, not in this printout.
    text, _buttons = render_reply(reply)
    return text.replace("\n(Type a number to press a button.)", "")
