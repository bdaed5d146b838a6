"""Queries about forums, sign-ups, meetings and RSVPs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from store.models import Forum, ForumMember, Meeting, Rsvp, SlotRequest
from store.names import clean_name, name_key
from store.roles import Role, RsvpAnswer


def list_forums(session: Session) -> list[Forum]:
    """Every forum, by name."""
    return list(session.scalars(select(Forum).order_by(Forum.name_key)))


def create_forum(session: Session, *, name: str, channel: str | None, now: datetime) -> Forum:
    """Add a forum; the caller checks the name is free."""
    tidy = clean_name(name)
    forum = Forum(name=tidy, name_key=name_key(tidy), channel=channel, created_at=now)
    session.add(forum)
    session.flush()
    return forum


def current_forum_member(session: Session, forum_id: int, person_id: int) -> ForumMember | None:
    """The person's current sign-up to the forum, if any."""
    return session.scalar(
        select(ForumMember).where(
            ForumMember.forum_id == forum_id,
            ForumMember.person_id == person_id,
            ForumMember.left_at.is_(None),
        )
    )


def forums_of(session: Session, person_id: int) -> list[Forum]:
    """The forums the person is currently signed up to."""
    return list(
        session.scalars(
            select(Forum)
            .join(ForumMember, ForumMember.forum_id == Forum.id)
            .where(ForumMember.person_id == person_id, ForumMember.left_at.is_(None))
            .order_by(Forum.name_key)
        )
    )


def next_meetings(session: Session, now: datetime, forum_ids: Sequence[int]) -> dict[int, Meeting]:
    """Each forum's next meeting that has not started and is not cancelled, in one query."""
    first = (
        select(Meeting.forum_id, func.min(Meeting.starts_at).label("starts_at"))
        .where(
            Meeting.forum_id.in_(list(forum_ids)),
            Meeting.starts_at >= now,
            Meeting.cancelled_at.is_(None),
        )
        .group_by(Meeting.forum_id)
        .subquery()
    )
    meetings = session.scalars(
        select(Meeting)
        .join(
            first,
            (first.c.forum_id == Meeting.forum_id) & (first.c.starts_at == Meeting.starts_at),
        )
        .where(Meeting.cancelled_at.is_(None))
        .order_by(Meeting.id)
    )
    result: dict[int, Meeting] = {}
    for meeting in meetings:
        result.setdefault(meeting.forum_id, meeting)
    return result


def rsvp_tally(session: Session, meeting_id: int) -> Counter[tuple[RsvpAnswer, Role | None]]:
    """How many gave each answer, by the role they came in."""
    rows = session.execute(
        select(Rsvp.answer, Rsvp.role, func.count())
        .where(Rsvp.meeting_id == meeting_id)
        .group_by(Rsvp.answer, Rsvp.role)
    )
    return Counter({(answer, role): count for answer, role, count in rows})


def rsvp_of(session: Session, meeting_id: int, person_id: int) -> Rsvp | None:
    """The person's answer to the meeting, if any."""
    return session.scalar(
        select(Rsvp).where(Rsvp.meeting_id == meeting_id, Rsvp.person_id == person_id)
    )


def accepted_slots(session: Session, meeting_id: int) -> list[SlotRequest]:
    """The project slots accepted for a meeting: its agenda, in the order they were asked."""
    return list(
        session.scalars(
            select(SlotRequest)
            .options(joinedload(SlotRequest.project))
            .where(SlotRequest.meeting_id == meeting_id, SlotRequest.status == "accepted")
            .order_by(SlotRequest.id)
        )
    )
