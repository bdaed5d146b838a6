"""Forum meetings as calendar entries: for e-mailed invitations and each forum's feed."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers.core.context import Context
from handlers.core.reply import CalendarEvent
from store.models import Forum, Meeting

# Meetings have a start only; calendars need an end. Most forum meetings run about this long.
MEETING_LENGTH = timedelta(minutes=90)
# A forum's feed shows meetings from this long ago on (calendars drop what a feed leaves out).
FEED_HISTORY = timedelta(days=90)
ABOUT = (
    "Staff and people with lived experience of our services meet as equals to talk about "
    "projects that are improving care. Everyone is welcome."
)


def calendar_event(meeting: Meeting) -> CalendarEvent:
    """The meeting as a calendar entry, cancelled or not; the same uid for all its versions."""
    forum: Forum = meeting.forum
    return CalendarEvent(
        uid=f"meeting-{meeting.id}",
        sequence=meeting.sequence or 0,
        starts_at=meeting.starts_at,
        ends_at=meeting.starts_at + MEETING_LENGTH,
        title=forum.name if meeting.cancelled_at is None else f"Cancelled: {forum.name}",
        location=meeting.location,
        description=ABOUT,
        cancelled=meeting.cancelled_at is not None,
    )


def forum_events(session: Session, ctx: Context, forum_id: int) -> list[CalendarEvent] | None:
    """The forum's recent and coming meetings as calendar entries; None if there is no forum."""
    if session.get(Forum, forum_id) is None:
        return None
    meetings = session.scalars(
        select(Meeting)
        .where(Meeting.forum_id == forum_id, Meeting.starts_at >= ctx.now() - FEED_HISTORY)
        .order_by(Meeting.starts_at, Meeting.id)
    )
    return [calendar_event(meeting) for meeting in meetings]


def feed_name(session: Session, forum_id: int) -> str | None:
    """The forum's name, for a calendar feed's title."""
    forum = session.get(Forum, forum_id)
    return forum.name if forum is not None else None


def changed(meeting: Meeting) -> None:
    """Note a change to the meeting that calendars must take in (moved, cancelled, back on)."""
    meeting.sequence = (meeting.sequence or 0) + 1
