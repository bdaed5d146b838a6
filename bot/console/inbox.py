"""What the bot has sent on the console: each person's messages, kept to be read and pressed."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass

from handlers.core.reply import Reply


@dataclass
class Message:
    """One message posted on the console: to a person (their console user id) or a channel."""

    number: int
    reply: Reply
    to: str | None  # the person's console user id; None for a channel, which everyone sees
    name: str  # the person's name, or the channel's
    seen: bool = False


class Inbox:
    """Every message posted since the console started, in order, and which have been shown."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        # Message ids are kept with sent deliveries (to edit them in place later): this
        # session's own prefix keeps an id of an earlier session from naming one of these.
        self.session = uuid.uuid4().hex[:12]

    def add(self, reply: Reply, *, to: str | None, name: str) -> str:
        """Keep a newly posted message (unseen); its id."""
        message = Message(len(self.messages) + 1, reply, to, name)
        self.messages.append(message)
        return f"{self.session}-{message.number}"

    def replace(self, message_id: str, reply: Reply) -> bool:
        """A posted message edited in place (RSVP counts); False if it is not one of ours."""
        session, _, number = message_id.partition("-")
        if session != self.session or not number.isdecimal():
            return False  # posted by an earlier console, whose inbox is gone
        for message in self.messages:
            if message.number == int(number):
                message.reply = reply
                return True
        return False

    def for_person(self, user_id: str) -> list[Message]:
        """The messages a person can read: their own, and those in channels."""
        return [m for m in self.messages if m.to in (user_id, None)]

    def unseen(self, user_id: str) -> list[Message]:
        """The person's messages not shown yet, now marked as shown."""
        new = [m for m in self.for_person(user_id) if not m.seen]
        for message in new:
            message.seen = True
        return new

    def waiting_for_others(self, user_id: str, *, besides: Collection[int] = ()) -> dict[str, int]:
        """How many unseen messages each other person has (leaving out the numbers `besides`)."""
        waiting: dict[str, int] = {}
        for message in self.messages:
            if message.number in besides:
                continue
            if not message.seen and message.to not in (user_id, None):
                waiting[message.name] = waiting.get(message.name, 0) + 1
        return waiting
