"""`qi-nudge forum` and `meeting`: forums, their channels and announcement times, and meetings."""

from __future__ import annotations

import argparse

from sqlalchemy import select

from bot.cli.reminders import build_deliverer, summary
from bot.runtime.forum_channels import NO_CHANNEL, check_forum_channels, join_after_setting
from handlers.core.context import Context
from handlers.core.dates import example_meeting_day
from handlers.core.errors import Refusal
from handlers.core.lookup import find_forum
from handlers.core.wording import at_place, when
from handlers.forum.announcements import MAX_OFFSET, offsets_of
from handlers.forum.changes import cancel_meeting, move_meeting, uncancel_meeting
from handlers.forum.channel import change_channel, parse_channel
from handlers.forum.meetings import add_meeting, parse_local_time
from store.audit import record
from store.forums import create_forum, list_forums
from store.models import Meeting
from store.names import name_key


def cmd_forum_add(ctx: Context, args: argparse.Namespace) -> int:
    """Add a forum."""
    channel = parse_channel(args.channel)
    with ctx.sessions.begin() as session:
        if any(f.name_key == name_key(args.name) for f in list_forums(session)):
            raise Refusal(f'There is already a forum called "{args.name}".')
        forum = create_forum(session, name=args.name, channel=channel, now=ctx.now())
        record(
            session,
            at=ctx.now(),
            actor_id=None,
            action="forum.added",
            subject_type="forum",
            subject_id=forum.id,
        )
        print(f'Added the forum "{forum.name}".')
        added = forum.name
    if channel:
        join_after_setting(getattr(args, "settings", None), ctx, added, channel)
    return 0


def cmd_forum_list(ctx: Context, args: argparse.Namespace) -> int:
    """List forums."""
    with ctx.sessions() as session:
        forums = list_forums(session)
        for forum in forums:
            print(f"{forum.name}" + (f"  (announces in {forum.channel})" if forum.channel else ""))
        if not forums:
            print('No forums yet. Add one with: qi-nudge forum add "QI Forum"')
    return 0


def cmd_forum_set(ctx: Context, args: argparse.Namespace) -> int:
    """Change a forum's announcement channel or when its meetings are announced."""
    channel = parse_channel(args.channel)
    with ctx.sessions.begin() as session:
        forum = find_forum(session, args.name)
        if args.channel is not None:
            change_channel(session, forum, channel)
        if args.announce is not None:
            forum.announce_offsets = parse_offsets(args.announce)
        signup = getattr(args, "public_signup", None)
        if signup is not None and forum.public_signup != (signup == "on"):
            forum.public_signup = signup == "on"
            record(
                session,
                at=ctx.now(),
                actor_id=None,
                action="forum.public_signup_changed",
                subject_type="forum",
                subject_id=forum.id,
                on=forum.public_signup,
            )
        shown = ", ".join(_offset_text(m) for m in offsets_of(forum))
        print(
            f'"{forum.name}" announces in {forum.channel or "no channel yet"}; '
            f"meetings are announced {shown}."
        )
        if signup is not None:
            print(
                "Anyone can sign up to it on its public web page."
                if forum.public_signup
                else "Its public sign-up page is off: organisers add people outside chat."
            )
        name, channel = forum.name, forum.channel
    if args.channel and channel:
        join_after_setting(getattr(args, "settings", None), ctx, name, channel)
    return 0


def parse_offsets(text: str) -> list[int]:
    """'7d,1d,0' or '2h, 30m' as minutes before a meeting; a Refusal explains a mistake."""
    units = {"d": 24 * 60, "h": 60, "m": 1}
    minutes: list[int] = []
    for part in (p.strip().lower() for p in text.split(",")):
        number, unit = (part[:-1], part[-1]) if part[-1:] in units else (part, "m")
        if not number.isdecimal() or int(number) * units[unit] > MAX_OFFSET:
            raise Refusal(
                f'I couldn\'t read "{part}". Give times before the meeting like 7d,1d,2h,0 '
                "(days, hours, minutes; 0 is as it starts; at most 60 days)."
            )
        minutes.append(int(number) * units[unit])
    return sorted(set(minutes), reverse=True)


def _offset_text(minutes: int) -> str:
    if minutes == 0:
        return "as they start"
    if minutes % (24 * 60) == 0:
        count, unit = minutes // (24 * 60), "day"
    elif minutes % 60 == 0:
        count, unit = minutes // 60, "hour"
    else:
        count, unit = minutes, "minute"
    return f"{count} {unit}{'s' if count != 1 else ''} before"


def meeting_at_example(ctx: Context, action: str) -> str:
    """The CLI's own command with --at on a day still ahead (not chat's /qi-forum wording)."""
    return f'qi-nudge meeting {action} --at "{example_meeting_day(ctx):%Y-%m-%d} 14:00"'


def cmd_meeting_add(ctx: Context, args: argparse.Namespace) -> int:
    """Add a forum meeting at a local date and time."""
    starts = parse_local_time(args.at, ctx, example=meeting_at_example(ctx, "add"))
    with ctx.sessions.begin() as session:
        forum = find_forum(session, args.forum or "")
        meeting = add_meeting(session, ctx, forum, starts, args.location, None)
        print(f'Added a "{forum.name}" meeting on {when(meeting.starts_at, ctx.timezone)}.')
    return 0


def cmd_meeting_list(ctx: Context, args: argparse.Namespace) -> int:
    """List upcoming meetings with their numbers (to move or cancel one)."""
    with ctx.sessions() as session:
        meetings = session.scalars(
            select(Meeting).where(Meeting.starts_at >= ctx.now()).order_by(Meeting.starts_at)
        ).all()
        for meeting in meetings:
            state = " (cancelled)" if meeting.cancelled_at else ""
            print(
                f"#{meeting.id} {meeting.forum.name}: "
                f"{when(meeting.starts_at, ctx.timezone)}{at_place(meeting.location)}{state}"
            )
        if not meetings:
            print(f"No upcoming meetings. Add one with: {meeting_at_example(ctx, 'add')}")
    return 0


def cmd_meeting_change(ctx: Context, args: argparse.Namespace) -> int:
    """Cancel, un-cancel or move a meeting, then send the news and edit its announcements."""
    if args.action == "cancel":
        change = cancel_meeting(ctx, args.id, actor_id=None)
    elif args.action == "uncancel":
        change = uncancel_meeting(ctx, args.id, actor_id=None)
    else:
        example = meeting_at_example(ctx, f"move {args.id}")
        starts = parse_local_time(args.at, ctx, example=example)
        change = move_meeting(ctx, args.id, starts, actor_id=None)
    print(change.text)
    deliverer = build_deliverer(ctx, args.settings)
    deliverer.refresh(change.refresh)
    outcomes = deliverer.drain()
    if outcomes:
        print(summary(outcomes))
    return 0


def cmd_forum_check(ctx: Context, args: argparse.Namespace) -> int:
    """Say, per forum, whether the bot can post in its channel; 1 if any it cannot."""
    forums = 0
    failing = unchecked = 0
    settings = getattr(args, "settings", None)
    for name, channel, result in check_forum_channels(settings, ctx.sessions):
        forums += 1
        if result is None:
            print(NO_CHANNEL.format(name=name))
            continue
        if not result.checked:
            unchecked += 1
        elif not result.ok:
            failing += 1
        print(f'"{name}" ({channel}): {result.text}')
    if not forums:
        print('No forums yet. Add one with: qi-nudge forum add "QI Forum" --channel slack:C0123')
        return 0
    if failing:
        print(
            f"{failing} of {forums} forums cannot be posted to yet. Until that is fixed "
            "their messages wait, and the organisers are told what to do."
        )
    if unchecked:
        print(
            f"{unchecked} of {forums} forums could not be checked, so whether qi-nudge can "
            "post there is not known yet. Run qi-nudge forum check again once the platform "
            "answers (or is set up here)."
        )
    return 1 if failing or unchecked else 0
