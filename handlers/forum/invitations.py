"""Forum invitations by e-mail or text, to members who are not on chat.

They follow the forum's announcement times, as its channel posts do: one invitation at the
latest time reached (never one as the meeting starts, when an e-mail is no use), and none to
anyone who has already answered. Only the person's own "I'm coming" or "I can't come", pressed
on the web page the links open, records an answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers.core import ids
from handlers.core.context import Context
from handlers.core.long_lists import and_more, shortlist
from handlers.core.reply import Button, Reply, Section
from handlers.core.wording import at_place, when
from handlers.forum.calendar import ABOUT, calendar_event
from handlers.forum.meetings import agenda_line, meeting_occurrence
from store import contacts, outbox
from store import forums as forum_store
from store.models import Forum, Meeting, Rsvp
from store.roles import RsvpAnswer

INVITE = "forum_invite"
COMING = "I'm coming"
NOT_COMING = "I can't come"
# The invitation lists this many agenda items (an e-mail, not a channel post: fewer).
AGENDA_SHOWN = 5


def invitation_offset(due: Sequence[int]) -> int | None:
    """Of the announcement times reached (minutes before), the one to invite at, if any.

    The latest reached, but never "as it starts" when the forum announces earlier too.
    """
    before = [m for m in due if m > 0]
    if before:
        return min(before)
    return min(due) if due else None


def plan_invitations(
    session: Session,
    due: Sequence[tuple[Meeting, int]],
    *,
    now: datetime,
    methods: frozenset[str],
) -> list[outbox.Planned]:
    """Invitations for meetings at their invitation offset, to members not yet answered.

    Only by `methods`, the ways of sending set up here (Context.outside_methods): a message
    nothing here can send would only fail. Someone reached by a way set up later is invited
    from the next announcement time on. Two queries, whatever the number of meetings and
    members: who can be reached in those forums, and who has answered already.
    """
    if not methods:
        return []
    upcoming = [(m, offset) for m, offset in due if m.starts_at > now]
    if not upcoming:
        return []
    forum_ids = sorted({m.forum_id for m, _ in upcoming})
    members: dict[int, list[int]] = {}
    for forum_id, person_id in contacts.reachable_members(session, forum_ids, methods):
        members.setdefault(forum_id, []).append(person_id)
    if not members:
        return []
    answered = set(
        session.execute(
            select(Rsvp.meeting_id, Rsvp.person_id).where(
                Rsvp.meeting_id.in_([m.id for m, _ in upcoming])
            )
        ).all()
    )
    return [
        outbox.Planned(
            INVITE,
            meeting_occurrence(meeting, f"invite:{offset}"),
            outbox.person_recipient(person_id),
            {"meeting": meeting.id, "offset": offset},
        )
        for meeting, offset in upcoming
        for person_id in members.get(meeting.forum_id, ())
        if (meeting.id, person_id) not in answered
    ]


def invitation_buttons(meeting_id: int) -> tuple[Button, ...]:
    """I'm coming / I can't come: links to the answer page by e-mail or text."""
    return (
        Button(COMING, ids.RSVP, f"{meeting_id}:{RsvpAnswer.GOING.value}", primary=True),
        Button(NOT_COMING, ids.RSVP, f"{meeting_id}:{RsvpAnswer.NOT_GOING.value}"),
    )


def render_invitation(session: Session, ctx: Context, delivery: outbox.Claimed) -> Reply | None:
    """The invitation: when and where, what it is, the agenda, and the two answers."""
    meeting = session.get(Meeting, delivery.payload.get("meeting"))
    person_id = outbox.recipient_person_id(delivery.recipient)
    if meeting is None or person_id is None:
        return None
    if meeting.cancelled_at is not None or meeting.starts_at <= ctx.now():
        return None
    if forum_store.rsvp_of(session, meeting.id, person_id) is not None:
        return None  # they answered meanwhile (perhaps from an earlier invitation)
    forum: Forum = meeting.forum
    member = forum_store.current_forum_member(session, forum.id, person_id)
    if member is None:
        return None  # no longer a member
    lines = [
        f"You're invited to the {forum.name}: "
        f"{when(meeting.starts_at, ctx.timezone)}{at_place(meeting.location)}.",
        ABOUT,
    ]
    agenda = shortlist(
        forum_store.accepted_slots(session, meeting.id), AGENDA_SHOWN, line=agenda_line
    )
    if agenda.shown:
        lines.append("Some of what we will talk about:")
        lines.extend(agenda_line(slot) for slot in agenda.shown)
    if agenda.more:
        lines.append(f"{and_more(agenda.more)} on the agenda.")
    lines.append("Can you come? Please tell us, so we know who to expect.")
    return Reply(
        sections=(
            Section(
                heading=f"You're invited: {forum.name}",
                text="\n".join(lines),
                buttons=invitation_buttons(meeting.id),
            ),
        ),
        event=calendar_event(meeting),
    )
