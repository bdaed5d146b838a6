"""What the deliverer asks of each chat platform's sender, and how a send can fail.

The senders (bot/slack/sender.py, bot/teams/sender.py, the console's) implement it; the
deliverer (bot/runtime/delivery.py) and the router (bot/runtime/routing.py) use it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from handlers.core.reply import Reply
from handlers.forum.channel_problems import ChannelProblem


class SendError(Exception):
    """A send that did not go through; `retryable` if trying again later may work.

    `retry_after` (seconds) is set when the platform refused for its rate limit and said when
    to try again: nothing was sent, and nothing should go to it before then.
    `maybe_sent` is set when the request may have reached the platform but no answer came
    (a read timeout, the connection dropped mid-answer): the platform may have acted on it.
    Left False, the error says the platform did not (it answered with an error status, or
    the connection was refused).
    `channel_problem` is set when the platform refused because the bot may not use that
    conversation (not in the channel, removed from the team, archived): nothing was sent, and
    a person can fix it. A post to a channel then waits for them; a direct message fails.
    """

    def __init__(
        self,
        reason: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        maybe_sent: bool = False,
        channel_problem: ChannelProblem | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after
        self.maybe_sent = maybe_sent
        self.channel_problem = channel_problem


class Sender(Protocol):
    """One chat platform, as the deliverer needs it."""

    platform: str
    # Whether `find_sent` can really look (Slack: yes; Teams: no). A platform that cannot is
    # never posted to twice: a post that may have arrived is recorded as sent, unconfirmed.
    can_look_back: bool

    def destination(self, sessions: sessionmaker[Session], recipient: str) -> str | None:
        """The channel to post in for a recipient key, or None if they are not on this platform.

        (A channel key of another platform is None too: the router asks every sender.)

        Given the session factory, not a session: a sender that must ask the platform (open a
        DM) does so between short transactions, never holding the database while it waits.
        """

    def find_sent(self, channel: str, key: str, *, since: datetime) -> str | None:
        """The id of a message posted with this delivery key since `since`, if any (after a crash).

        `since` is when the post in doubt started (or the delivery was planned): no older
        message can be it, and the look must reach back that far however busy the channel.
        """

    def post(self, channel: str, reply: Reply, key: str) -> str | None:
        """Post the message, tagged with the delivery key; its message id."""

    def update(self, channel: str, message_id: str, reply: Reply) -> None:
        """Edit a posted message in place."""
