"""Queries about forums, sign-ups, meetings and RSVPs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_, select, update
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


@dataclass(frozen=True)
class Upcoming:
    """A forum's first few meetings to come, and how many it has planned in all."""

    meetings: list[Meeting]
    total: int


def upcoming_meetings(
    session: Session, now: datetime, forum_ids: Sequence[int], most: int
) -> dict[int, Upcoming]:
    """Each forum's first `most` meetings to come (not cancelled), and how many it has.

    In one query; forums with none are left out.
    """
    ranked = (
        select(
            Meeting.id,
            func.row_number()
            .over(partition_by=Meeting.forum_id, order_by=(Meeting.starts_at, Meeting.id))
            .label("rank"),
            func.count().over(partition_by=Meeting.forum_id).label("total"),
        )
        .where(
            Meeting.forum_id.in_(list(forum_ids)),
            Meeting.starts_at >= now,
            Meeting.cancelled_at.is_(None),
        )
        .subquery()
    )
    rows = session.execute(
        select(Meeting, ranked.c.total)
        .join(ranked, ranked.c.id == Meeting.id)
        .where(ranked.c.rank <= most)
        .order_by(Meeting.forum_id, ranked.c.rank)
    )
    result: dict[int, Upcoming] = {}
    for meeting, total in rows:
        result.setdefault(meeting.forum_id, Upcoming([], total)).meetings.append(meeting)
    return result


def next_meetings(session: Session, now: datetime, forum_ids: Sequence[int]) -> dict[int, Meeting]:
    """Each forum's next meeting that has not started and is not cancelled, in one query."""
    upcoming = upcoming_meetings(session, now, forum_ids, 1)
    return {forum_id: found.meetings[0] for forum_id, found in upcoming.items()}


def rsvp_tallies(
    session: Session, meeting_ids: Sequence[int]
) -> dict[int, Counter[tuple[RsvpAnswer, Role | None]]]:
    """For each meeting, how many gave each answer, by role, in one query."""
    rows = session.execute(
        select(Rsvp.meeting_id, Rsvp.answer, Rsvp.role, func.count())
        .where(Rsvp.meeting_id.in_(list(meeting_ids)))
        .group_by(Rsvp.meeting_id, Rsvp.answer, Rsvp.role)
    )
    tallies: dict[int, Counter[tuple[RsvpAnswer, Role | None]]] = {
        meeting_id: Counter() for meeting_id in meeting_ids
    }
    for meeting_id, answer, role, count in rows:
        tallies[meeting_id][(answer, role)] = count
    return tallies


def rsvp_tally(session: Session, meeting_id: int) -> Counter[tuple[RsvpAnswer, Role | None]]:
    """How many gave each answer, by the role they come in."""
    return rsvp_tallies(session, [meeting_id])[meeting_id]


def answers_of(
    session: Session, meeting_ids: Sequence[int], person_id: int
) -> dict[int, RsvpAnswer]:
    """The person's answers to these meetings (those they gave), in one query."""
    rows = session.execute(
        select(Rsvp.meeting_id, Rsvp.answer).where(
            Rsvp.meeting_id.in_(list(meeting_ids)), Rsvp.person_id == person_id
        )
    )
    return {meeting_id: answer for meeting_id, answer in rows}


def follow_forum_role(
    session: Session, forum_id: int, person_id: int, role: Role | None, now: datetime
) -> list[int]:
    """Give the person's answers to the forum's meetings still to come their new forum role.

    The meetings they said they're going to, whose counts by role change: in two queries.
    """
    coming = (
        select(Meeting.id)
        .where(Meeting.forum_id == forum_id, Meeting.starts_at > now)
        .scalar_subquery()
    )
    mine = (Rsvp.person_id == person_id, Rsvp.meeting_id.in_(coming))
    going = list(
        session.scalars(
            select(Rsvp.meeting_id)
            .where(*mine, Rsvp.answer == RsvpAnswer.GOING, _role_differs(role))
            .order_by(Rsvp.meeting_id)
        )
    )
    session.execute(
        update(Rsvp).where(*mine, _role_differs(role)).values(role=role),
        execution_options={"synchronize_session": "fetch"},
    )
    return going


def going_to(session: Session, forum_id: int, person_id: int, now: datetime) -> list[Meeting]:
    """The forum's meetings still to come (not cancelled) the person said they're going to."""
    return list(
        session.scalars(
            select(Meeting)
            .join(Rsvp, Rsvp.meeting_id == Meeting.id)
            .where(
                Meeting.forum_id == forum_id,
                Meeting.starts_at > now,
                Meeting.cancelled_at.is_(None),
                Rsvp.person_id == person_id,
                Rsvp.answer == RsvpAnswer.GOING,
            )
            .order_by(Meeting.starts_at, Meeting.id)
        )
    )


def withdraw_going(
    session: Session, forum_id: int, person_id: int, *, answered_by: datetime, now: datetime
) -> list[int]:
    """Turn the person's "going" to the forum's meetings to come into "can't make it".

    Only answers given by `answered_by` (when they left): the meetings changed, in two queries.
    """
    coming = (
        select(Meeting.id)
        .where(
            Meeting.forum_id == forum_id,
            Meeting.starts_at > now,
            Meeting.cancelled_at.is_(None),
        )
        .scalar_subquery()
    )
    going = (
        Rsvp.person_id == person_id,
        Rsvp.meeting_id.in_(coming),
        Rsvp.answer == RsvpAnswer.GOING,
        Rsvp.answered_at <= answered_by,
    )
    changed = list(session.scalars(select(Rsvp.meeting_id).where(*going).order_by(Rsvp.meeting_id)))
    if changed:
        session.execute(
            update(Rsvp)
            .where(Rsvp.person_id == person_id, Rsvp.meeting_id.in_(changed))
            .values(answer=RsvpAnswer.NOT_GOING, answered_at=now),
            execution_options={"synchronize_session": "fetch"},
        )
    return changed


def _role_differs(role: Role | None) -> ColumnElement[bool]:
    if role is None:
        return Rsvp.role.is_not(None)
    return or_(Rsvp.role.is_(None), Rsvp.role != role)


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
