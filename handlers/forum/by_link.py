"""Answering for a forum meeting from a link in an e-mail or text: what the page shows and records.

The link names the person and the meeting (bot/outside/links.py checked its signature); here
the same rules as the chat's RSVP buttons apply: no answer for a meeting that is cancelled,
has started or is gone, nor from someone no longer in the forum.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from handlers.core.context import Context
from handlers.core.wording import when
from handlers.forum.meetings import save_rsvp
from store import forums as forum_store
from store.models import Forum, Meeting, Person
from store.roles import RsvpAnswer

GONE = "We can't find that meeting any more. It may have been taken off the forum's calendar."
CANCELLED = "That meeting has been cancelled, so there is nothing to answer."
STARTED = "That meeting has already started, so it is too late to answer."
NOT_MEMBER = (
    "We can't record an answer for you, because you are no longer on the forum's list. "
    "If you'd like to come, please ask the forum's organiser."
)


@dataclass(frozen=True)
class MeetingByLink:
    """The meeting as the answer page shows it, and the person's answer so far."""

    forum_name: str
    when: str
    place: str | None
    answer: RsvpAnswer | None
    # Set when no answer can be given now (cancelled, started, gone, not a member): why.
    problem: str | None = None
    # After a button press: whether the answer was new or changed (a replay changes nothing).
    changed: bool = False


def meeting_by_link(ctx: Context, person_id: int, meeting_id: int) -> MeetingByLink | None:
    """What the answer page shows; None if the meeting or the person no longer exists."""
    with ctx.sessions() as session:
        found = _found(session, person_id, meeting_id)
        if found is None:
            return None
        meeting, _person = found
        return _view(session, ctx, meeting, person_id, problem=_problem(session, ctx, *found))


def answer_by_link(
    ctx: Context, person_id: int, meeting_id: int, answer: RsvpAnswer
) -> MeetingByLink | None:
    """Record the answer, with the person's forum role; None if the meeting or person is gone.

    The same answer again (a replayed request, a second press) changes nothing at all.
    """
    with ctx.sessions.begin() as session:
        found = _found(session, person_id, meeting_id)
        if found is None:
            return None
        meeting, person = found
        problem = _problem(session, ctx, meeting, person)
        if problem is not None:
            return _view(session, ctx, meeting, person_id, problem=problem)
        existing = forum_store.rsvp_of(session, meeting.id, person.id)
        if existing is not None and existing.answer == answer:
            return _view(session, ctx, meeting, person_id)
        member = forum_store.current_forum_member(session, meeting.forum_id, person.id)
        save_rsvp(session, ctx, person, meeting, answer, member.role if member else None)
        return _view(session, ctx, meeting, person_id, changed=True)


def _found(session: Session, person_id: int, meeting_id: int) -> tuple[Meeting, Person] | None:
    meeting = session.get(Meeting, meeting_id)
    person = session.get(Person, person_id)  # None once erased
    if meeting is None or person is None:
        return None
    return meeting, person


def _problem(session: Session, ctx: Context, meeting: Meeting, person: Person) -> str | None:
    if meeting.cancelled_at is not None:
        return CANCELLED
    if meeting.starts_at <= ctx.now():
        return STARTED
    if forum_store.current_forum_member(session, meeting.forum_id, person.id) is None:
        return NOT_MEMBER
    return None


def _view(
    session: Session,
    ctx: Context,
    meeting: Meeting,
    person_id: int,
    *,
    problem: str | None = None,
    changed: bool = False,
) -> MeetingByLink:
    forum: Forum = meeting.forum
    rsvp = forum_store.rsvp_of(session, meeting.id, person_id)
    return MeetingByLink(
        forum_name=forum.name,
        when=when(meeting.starts_at, ctx.timezone),
        place=meeting.location,
        answer=rsvp.answer if rsvp is not None else None,
        problem=problem,
        changed=changed,
    )
