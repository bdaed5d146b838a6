"""When the bot cannot post in a forum's channel: tell the organisers once, and what to do."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers.core.context import Context
from handlers.core.reply import Reply, say
from handlers.forum.announcements import MAX_OFFSET, STARTING_GRACE
from store import addresses, outbox
from store.models import Forum
from store.people import list_admins

CHANNEL_PROBLEM = "channel_problem"
# How often a message waiting for a channel is tried again: soon enough after an organiser
# lets the bot in, rare enough to cost nothing while nobody has.
RETRY_EVERY = timedelta(minutes=15)
# A message still waiting this long after it was planned is given up on (admins see why).
# Longer than any announcement can wait: one is planned at most MAX_OFFSET before its meeting,
# and its renderer drops it STARTING_GRACE after the start, so no announcement of a meeting
# still ahead is ever given up on (a forum may announce 60 days ahead). Other posts drop
# themselves sooner once they are no longer needed (a project that found its partner).
GIVE_UP_AFTER = timedelta(minutes=MAX_OFFSET) + STARTING_GRACE + timedelta(days=1)
BOT_MENTION = "@qi-nudge"
# Where IT lets a blocked app in again (Microsoft's names for the pages).
TEAMS_ADMIN_STEPS = (
    "in the Teams admin centre, under Teams apps: allow it in Manage apps, and in the app "
    "permission policies that apply to staff"
)
PLATFORM_NAMES = {"slack": "Slack", "teams": "Teams"}


class ChannelProblem(StrEnum):
    """Why the bot cannot post in a channel; each needs a person to act."""

    NOT_IN_CHANNEL = "not_in_channel"  # Slack: a public channel it is not in, and could not join
    NOT_FOUND = "not_found"  # Slack: a private channel it was not invited to, or no such channel
    ARCHIVED = "archived"  # Slack: the channel was archived
    APP_REMOVED = "app_removed"  # Teams: the app was taken out of the team (or the channel went)
    # Teams: the organisation's Teams admin blocked the app. Organisers cannot undo that, but
    # they can ask IT; once the app is allowed again, what waits goes out by itself.
    APP_BLOCKED = "app_blocked"


class Told(NamedTuple):
    """Who hears about a channel problem: how many organisers there are, and how many are new."""

    organisers: int
    new: int


def tell_organisers(
    session: Session, channel: str, problem: ChannelProblem, *, now: datetime
) -> Told:
    """Plan a direct message to each organiser about a channel (none twice).

    Once per problem: the key names the last message that did reach the channel, so the same
    problem found again (by the next announcement, or the next try) plans nothing, while a
    problem that comes back after the channel worked again is told afresh.
    """
    recipient = outbox.channel_recipient(channel)
    since = outbox.last_sent_id(session, recipient)
    digest = hashlib.sha256(channel.encode()).hexdigest()[:16]
    occurrence = f"{digest}:{problem}:{since}"
    payload = {"channel": channel, "problem": str(problem), "after": since}
    admins = list_admins(session)
    planned = [
        outbox.Planned(CHANNEL_PROBLEM, occurrence, outbox.person_recipient(admin.id), payload)
        for admin in admins
    ]
    return Told(organisers=len(admins), new=outbox.plan(session, planned, now=now))


def render_channel_problem(
    session: Session, ctx: Context, delivery: outbox.Claimed
) -> Reply | None:
    """The message to an organiser: which forum, which channel, and the one thing to do."""
    channel = str(delivery.payload.get("channel") or "")
    forums = list(session.scalars(select(Forum).where(Forum.channel == channel).order_by(Forum.id)))
    if not forums:
        return None  # the forum now announces elsewhere (or nowhere)
    if outbox.last_sent_id(session, outbox.channel_recipient(channel)) > int(
        delivery.payload.get("after") or 0
    ):
        return None  # the channel works again: something has been posted there since
    platform, _, channel_id = channel.partition(":")
    problem = ChannelProblem(delivery.payload.get("problem"))
    names = " and ".join(f.name for f in forums)
    where = _channel_words(session, platform, channel_id)
    waiting = (
        "That's all: what is waiting goes out by itself within "
        f"{int(RETRY_EVERY.total_seconds() // 60)} minutes, and nothing else is needed."
    )
    elsewhere = (
        "ask whoever runs qi-nudge to choose another channel "
        f'(qi-nudge forum set "{forums[0].name}" --channel {platform}:<channel id>).'
    )
    if problem is ChannelProblem.APP_REMOVED:
        text = (
            f"I can't post {names} messages in {where}: qi-nudge was removed from that team "
            "(or the channel was deleted). Please add qi-nudge to the team again (in Teams: "
            f"Apps, find qi-nudge, Add to a team). {waiting} If the channel is gone, {elsewhere}"
        )
    elif problem is ChannelProblem.APP_BLOCKED:
        text = (
            f"I can't post {names} messages in {where}: your organisation's Teams "
            "administrator has blocked the qi-nudge app. Please ask your IT team to allow "
            f"qi-nudge again ({TEAMS_ADMIN_STEPS}). Once they have, "
            f"what is waiting goes out by itself within {int(RETRY_EVERY.total_seconds() // 60)} "
            "minutes."
        )
    elif problem is ChannelProblem.ARCHIVED:
        text = (
            f"I can't post {names} messages in {where}: the channel was archived. Please "
            f"unarchive it (in the channel's settings), or {elsewhere} Messages for it are "
            "waiting meanwhile."
        )
    else:
        reason = (
            "I'm not in it"
            if problem is ChannelProblem.NOT_IN_CHANNEL
            else "I haven't been invited to it (it may be private), or it no longer exists"
        )
        text = (
            f"I can't post {names} messages in {where}: {reason}. Please open that channel "
            f"and type /invite {BOT_MENTION} there. {waiting} If the channel no longer exists, "
            f"{elsewhere}"
        )
    return say(text, heading=f"{names}: I can't post in its channel")


def _channel_words(session: Session, platform: str, channel_id: str) -> str:
    """The channel as an organiser recognises it: its name if known, else its id."""
    known = addresses.channel_of(session, platform, channel_id)
    on = PLATFORM_NAMES.get(platform, platform)
    if known is not None and known.name:
        return f'the {on} channel "{known.name}"'
    return f"the {on} channel with id {channel_id}"
