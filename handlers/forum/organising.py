"""Organisers in chat: meetings with their numbers; moving, cancelling and un-cancelling one."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from handlers.core.args import parse_id
from handlers.core.context import Context
from handlers.core.dates import example_meeting_day, long_date
from handlers.core.errors import Refusal
from handlers.core.long_lists import and_more, shortlist
from handlers.core.lookup import acting_person, require_admin
from handlers.core.reply import Actor, Reply, Section
from handlers.core.wording import at_place, when
from handlers.forum.changes import (
    MeetingChange,
    cancel_meeting,
    move_meeting,
    uncancel_meeting,
)
from handlers.forum.meetings import add_meeting_example, parse_local_time
from store.models import Meeting

MEETINGS_SHOWN = 20
LISTING = "/qi-forum meetings"
CANCEL_EXAMPLE = "/qi-forum cancel-meeting 5"
UNCANCEL_EXAMPLE = "/qi-forum uncancel-meeting 5"


def how_to_change(ctx: Context, number: int) -> str:
    """How to change a listed meeting, with a real number and a day ahead in the examples."""
    day = long_date(example_meeting_day(ctx))
    return (
        f"To change one, give its number: /qi-forum move-meeting {number} {day} 2pm (a "
        f"new date and time), /qi-forum cancel-meeting {number}, or /qi-forum uncancel-meeting "
        f"{number} to bring back a cancelled one."
    )


def list_meetings_command(ctx: Context, actor: Actor) -> Reply:
    """`/qi-forum meetings`: every meeting still to come, with its number (organisers only)."""
    upcoming = Meeting.starts_at > ctx.now()
    with ctx.sessions.begin() as session:
        require_admin(session, acting_person(session, ctx, actor))
        total = session.scalar(select(func.count()).select_from(Meeting).where(upcoming)) or 0
        meetings = session.scalars(
            # Only those that can be shown: "…and N more" is counted, not read.
            select(Meeting)
            .options(joinedload(Meeting.forum))
            .where(upcoming)
            .order_by(Meeting.starts_at, Meeting.id)
            .limit(MEETINGS_SHOWN)
        ).all()
        lines = shortlist(meetings, MEETINGS_SHOWN, line=lambda m: _line(m, ctx), total=total)
        text = "\n".join(_line(m, ctx) for m in lines.shown)
        hint = how_to_change(ctx, meetings[0].id) if meetings else ""
    if not total:
        return Reply(
            sections=(
                Section(
                    heading="Forum meetings to come",
                    text=f"No meetings are planned. Add one like this: {add_meeting_example(ctx)}",
                ),
            )
        )
    if lines.more:
        text += f"\n{and_more(lines.more, 'meeting')}, later on."
    return Reply(
        sections=(
            Section(heading="Forum meetings to come", text=text),
            Section(text=hint),
        )
    )


def _line(meeting: Meeting, ctx: Context) -> str:
    cancelled = " (cancelled)" if meeting.cancelled_at is not None else ""
    return (
        f"• #{meeting.id} {meeting.forum.name}: {when(meeting.starts_at, ctx.timezone)}"
        f"{at_place(meeting.location)}{cancelled}"
    )


def move_example(ctx: Context) -> str:
    """How to move meeting 5, to a day still ahead."""
    return f"/qi-forum move-meeting 5 {long_date(example_meeting_day(ctx))} 2pm"


def move_meeting_command(ctx: Context, actor: Actor, words: list[str]) -> Reply:
    """`/qi-forum move-meeting <n> <date> <time>`."""
    example = move_example(ctx)
    if len(words) < 3:
        raise Refusal(f"Please give the meeting's number and its new date and time: {example}")
    number = _number(words[0], example)
    starts = parse_local_time(" ".join(words[1:]), ctx, example=example)
    person_id = _organiser(ctx, actor)
    return _told(move_meeting(ctx, number, starts, actor_id=person_id, listing=LISTING))


def cancel_meeting_command(ctx: Context, actor: Actor, words: list[str]) -> Reply:
    """`/qi-forum cancel-meeting <n>`."""
    number = _number(words[0] if words else "", CANCEL_EXAMPLE)
    person_id = _organiser(ctx, actor)
    return _told(cancel_meeting(ctx, number, actor_id=person_id, listing=LISTING))


def uncancel_meeting_command(ctx: Context, actor: Actor, words: list[str]) -> Reply:
    """`/qi-forum uncancel-meeting <n>`."""
    number = _number(words[0] if words else "", UNCANCEL_EXAMPLE)
    person_id = _organiser(ctx, actor)
    return _told(uncancel_meeting(ctx, number, actor_id=person_id, listing=LISTING))


def _number(text: str, example: str) -> int:
    number = parse_id(text.removeprefix("#"))
    if number is None:
        raise Refusal(
            f"Please give the meeting's number, like this: {example}. "
            f"Type {LISTING} to see the numbers."
        )
    return number


def _organiser(ctx: Context, actor: Actor) -> int:
    # Checked in its own unit of work: the change then locks the meeting for its own.
    with ctx.sessions.begin() as session:
        person = acting_person(session, ctx, actor)
        require_admin(session, person)
        return person.id


def _told(change: MeetingChange) -> Reply:
    # The forum channel's posts about the meeting are edited once the answer is out.
    return Reply(sections=(Section(text=change.text),), refresh=(change.refresh,))
