"""Moving, cancelling or un-cancelling a forum meeting: what is pending, who is told."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from handlers.core.context import Context
from handlers.core.errors import Refusal
from handlers.core.wording import plural, when
from handlers.forum import calendar
from handlers.forum.announcements import (
    cancellation_key,
    plan_meeting_back_on,
    plan_meeting_changed,
)
from handlers.forum.meetings import meeting_prefix, refuse_a_second
from handlers.forum.slots import (
    plan_slot_teams_told_of_cancelling,
    plan_slot_teams_told_of_moving,
    plan_slot_teams_told_of_restoring,
)
from store.audit import record
from store.models import Meeting


@dataclass(frozen=True)
class MeetingChange:
    """What changed, for the organiser, and which posted messages to edit."""

    text: str
    refresh: str
    told: int


# Where the organiser sees the meetings' numbers (chat says its own command).
LISTING = "qi-nudge meeting list"


def _meeting(session: Session, meeting_id: int, listing: str) -> Meeting:
    # Locked for the change: a slot decided at the same moment waits, then sees the change.
    meeting = session.get(Meeting, meeting_id, with_for_update=True)
    if meeting is None:
        raise Refusal(f"There is no meeting #{meeting_id}. See their numbers with: {listing}")
    return meeting


def cancel_meeting(
    ctx: Context, meeting_id: int, *, actor_id: int | None, listing: str = LISTING
) -> MeetingChange:
    """Cancel a meeting that has not happened yet."""
    with ctx.sessions.begin() as session:
        meeting = _meeting(session, meeting_id, listing)
        if meeting.cancelled_at is not None:
            raise Refusal(f"Meeting #{meeting_id} was already cancelled.")
        if meeting.starts_at <= ctx.now():
            raise Refusal(f"Meeting #{meeting_id} has already started, so it can't be cancelled.")
        meeting.cancelled_at = ctx.now()
        calendar.changed(meeting)
        key = cancellation_key(meeting)
        told = plan_meeting_changed(session, ctx, meeting, what=key, now=ctx.now())
        teams = plan_slot_teams_told_of_cancelling(session, meeting, key, now=ctx.now())
        record(
            session,
            at=ctx.now(),
            actor_id=actor_id,
            action="meeting.cancelled",
            subject_type="meeting",
            subject_id=meeting.id,
        )
        text = (
            f"Cancelled the {meeting.forum.name} meeting on "
            f"{when(meeting.starts_at, ctx.timezone)}. {plural(told, 'person', 'people')} who "
            "said they were going will be told, and its announcements now say it is cancelled."
        )
        if teams:
            text += f" {plural(teams, 'team')} that asked for a slot will be told too."
        return MeetingChange(text=text, refresh=meeting_prefix(meeting.id), told=told)


def move_meeting(
    ctx: Context,
    meeting_id: int,
    starts_at: datetime,
    *,
    actor_id: int | None,
    listing: str = LISTING,
) -> MeetingChange:
    """Move a meeting to a new time; it is announced afresh for the new time."""
    with ctx.sessions.begin() as session:
        meeting = _meeting(session, meeting_id, listing)
        if meeting.cancelled_at is not None:
            raise Refusal(
                f"Meeting #{meeting_id} was cancelled. Un-cancel it first, or add a new one."
            )
        if meeting.starts_at <= ctx.now():
            # It took place (or is taking place): moving it would rewrite who came, and when.
            raise Refusal(
                f"Meeting #{meeting_id} has already started, so it can't be moved. "
                "Add a new meeting instead."
            )
        if starts_at <= ctx.now():
            raise Refusal("That time has already passed. Please choose a time in the future.")
        if starts_at == meeting.starts_at:
            raise Refusal("The meeting is already at that time.")
        refuse_a_second(
            session, ctx, meeting.forum, starts_at, meeting.location, besides=meeting.id
        )
        old = meeting.starts_at
        meeting.starts_at = starts_at
        calendar.changed(meeting)
        session.flush()
        told = plan_meeting_changed(session, ctx, meeting, what="moved", now=ctx.now())
        teams = plan_slot_teams_told_of_moving(session, meeting, now=ctx.now())
        record(
            session,
            at=ctx.now(),
            actor_id=actor_id,
            action="meeting.moved",
            subject_type="meeting",
            subject_id=meeting.id,
            old=old.isoformat(),
            new=starts_at.isoformat(),
        )
        text = (
            f"Moved the {meeting.forum.name} meeting to {when(starts_at, ctx.timezone)}. "
            f"{plural(told, 'person', 'people')} who said they were going will be told."
        )
        if teams:
            text += f" {plural(teams, 'team')} that asked for a slot will be told too."
        return MeetingChange(text=text, refresh=meeting_prefix(meeting.id), told=told)


def uncancel_meeting(
    ctx: Context, meeting_id: int, *, actor_id: int | None, listing: str = LISTING
) -> MeetingChange:
    """Undo a cancellation: the meeting, its announcements, and news for those who heard."""
    with ctx.sessions.begin() as session:
        meeting = _meeting(session, meeting_id, listing)
        if meeting.cancelled_at is None:
            raise Refusal(f"Meeting #{meeting_id} is not cancelled, so there is nothing to undo.")
        if meeting.starts_at <= ctx.now():
            raise Refusal(
                f"Meeting #{meeting_id} was to start on {when(meeting.starts_at, ctx.timezone)}, "
                "so it is too late to bring it back. Add a new meeting instead."
            )
        refuse_a_second(
            session, ctx, meeting.forum, meeting.starts_at, meeting.location, besides=meeting.id
        )
        key = cancellation_key(meeting)
        meeting.cancelled_at = None
        calendar.changed(meeting)
        session.flush()
        told = plan_meeting_back_on(session, ctx, meeting, key, now=ctx.now())
        teams = plan_slot_teams_told_of_restoring(session, meeting, key, now=ctx.now())
        record(
            session,
            at=ctx.now(),
            actor_id=actor_id,
            action="meeting.uncancelled",
            subject_type="meeting",
            subject_id=meeting.id,
        )
        told_text = (
            f"{plural(told, 'person', 'people')} who said they were going and heard it was "
            "cancelled will be told it is going ahead"
            if told
            else "Nobody going had heard it was cancelled yet, so there is nobody to tell"
        )
        text = (
            f"The {meeting.forum.name} meeting on {when(meeting.starts_at, ctx.timezone)} is back "
            f"on. {told_text}, and its announcements no longer say it is cancelled."
        )
        if teams:
            text += f" {plural(teams, 'team')} that asked for a slot will be told too."
        return MeetingChange(text=text, refresh=meeting_prefix(meeting.id), told=told)
