"""A forum's channel: the values a person may give, and what moving it does to waiting posts."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers.core.errors import Refusal
from handlers.forum.announcements import ANNOUNCE
from handlers.nudges.buttons import PARTNER_REQUEST, announcing_forum
from store import outbox
from store.models import Forum

# Slack's channel ids: C (public, and newer private ones) or G (older private ones), then
# upper-case letters and digits. Teams' conversation ids vary too much to check beyond "some,
# without spaces".
SLACK_CHANNEL_ID = re.compile(r"[CG][A-Z0-9]+")
EXAMPLES = "slack:C0123 (a Slack channel) or teams:19:...@thread.tacv2 (a Teams channel)"


def parse_channel(text: str | None) -> str | None:
    """A --channel value tidied ("slack:C0123"), or None for none; a Refusal if it is not one."""
    if text is None or not text.strip():
        return None
    channel = text.strip()
    found = outbox.split_channel(channel)
    if found is not None:
        platform, channel_id = found
        if platform == "slack" and SLACK_CHANNEL_ID.fullmatch(channel_id):
            return channel
        if platform == "teams" and not any(c.isspace() for c in channel_id):
            return channel
    raise Refusal(
        f'"{channel}" is not a channel I can post in, so nothing was changed. Please write it as '
        f"{EXAMPLES}. In Slack, a channel's id is at the bottom of its details; for Teams, "
        "qi-nudge teams channels lists them."
    )


def change_channel(session: Session, forum: Forum, channel: str | None) -> None:
    """Point the forum at another channel (or none); what waits for the old one follows it.

    Announcements waiting for the old channel (the bot was not let in) are withdrawn, unless
    another forum announces there too: the next pass plans them for the new channel. A request
    for a partner waiting for the old announcing channel moves to the new one, so it is not
    lost. (The renderers drop any stale post this misses, however the channel was changed.)
    """
    old = forum.channel
    if old == channel:
        return
    asking_before = _asking_channel(session)
    forum.channel = channel
    session.flush()
    if old is not None and not session.scalar(select(Forum.id).where(Forum.channel == old)):
        outbox.redirect_pending(session, outbox.channel_recipient(old), kinds=(ANNOUNCE,), to=None)
    asking_now = _asking_channel(session)
    if asking_before is not None and asking_before != asking_now:
        outbox.redirect_pending(
            session,
            outbox.channel_recipient(asking_before),
            kinds=(PARTNER_REQUEST,),
            to=outbox.channel_recipient(asking_now) if asking_now is not None else None,
        )


def _asking_channel(session: Session) -> str | None:
    """The channel that hears requests for partners now."""
    forum = announcing_forum(session)
    return forum.channel if forum is not None else None
