"""Deliveries on the console: printed with who they are for, or kept in the console's inbox."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.console.inbox import Inbox
from bot.console.render_text import render_reply
from handlers.core.reply import Reply
from store import outbox
from store.models import ChatIdentity, Person

PLATFORM = "console"
# A direct message's channel is this and the person's console user id; a channel's is its name.
DIRECT = "dm:"


class ConsoleSender:
    """Sends to the console's own people and channels only.

    Without an inbox (`qi-nudge remind`), each message is printed with who it is for; with
    one (`qi-nudge console`), it is kept there for its reader to see and press.
    """

    platform = PLATFORM
    can_look_back = True  # nothing to look in, but a message shown twice harms nobody

    def __init__(self, stream: TextIO | None = None, *, inbox: Inbox | None = None) -> None:
        self.stream = stream or sys.stdout
        self.inbox = inbox
        self._count = 0
        self._names: dict[str, str] = {}  # channel -> the name of who reads it

    def destination(self, sessions: sessionmaker[Session], recipient: str) -> str | None:
        """'dm:asha patel' or the channel's name; None for anyone not on the console.

        Only the console's own people and channels: a message for someone on Slack or Teams
        shown here would reach nobody, yet count as sent.
        """
        person_id = outbox.recipient_person_id(recipient)
        if person_id is not None:
            with sessions() as session:
                person = session.get(Person, person_id)
                identities = session.execute(
                    select(ChatIdentity.platform, ChatIdentity.user_id).where(
                        ChatIdentity.person_id == person_id
                    )
                ).all()
            if person is None or {platform for platform, _ in identities} != {PLATFORM}:
                return None
            channel = DIRECT + min(user_id for _, user_id in identities)
            self._names[channel] = person.display_name
            return channel
        target = outbox.recipient_channel(recipient)
        return target[1] if target is not None and target[0] == PLATFORM else None

    def find_sent(self, channel: str, key: str, *, since: datetime) -> str | None:
        """The terminal keeps nothing to look in."""
        return None

    def post(self, channel: str, reply: Reply, key: str) -> str | None:
        """Keep the message in the inbox, or print it under a line saying who it is for."""
        to, name = self._reader(channel)
        if self.inbox is not None:
            return self.inbox.add(reply, to=to, name=name)
        self._count += 1
        where = f"to {name} (direct message)" if to is not None else f"in {name}"
        print(f"\n--- Message {where} ---\n{printed(reply)}", file=self.stream)
        return str(self._count)

    def update(self, channel: str, message_id: str, reply: Reply) -> None:
        """Change an earlier message (printed: say that it changed; it cannot be edited)."""
        if self.inbox is not None:
            self.inbox.replace(message_id, reply)
            return
        to, name = self._reader(channel)
        where = f"to {name}" if to is not None else f"in {name}"
        print(
            f"\n--- Message {message_id} {where} now reads ---\n{printed(reply)}", file=self.stream
        )

    def _reader(self, channel: str) -> tuple[str | None, str]:
        """(the person's console user id, or None for a channel; the name to show)."""
        if channel.startswith(DIRECT):
            user_id = channel.removeprefix(DIRECT)
            return user_id, self._names.get(channel, user_id)
        return None, channel


def printed(reply: Reply) -> str:
    """The message as the terminal shows it."""
    # Buttons are shown for what they offer; they are pressed in chat, not in this printout.
    return render_reply(reply, hint=False)[0]
