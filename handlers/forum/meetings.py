"""Forum meetings: the next one, who is going, RSVP; organisers add meetings."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from handlers.core import ids
from handlers.core.context import Context
from handlers.core.dates import (
    NoYear,
    example_meeting_day,
    leading_date_time,
    local_moment,
    local_today,
    long_date,
    read_meeting_time,
    unreadable_moment,
)
from handlers.core.errors import Refusal
from handlers.core.long_lists import and_more
from handlers.core.lookup import (
    NO_FORUM,
    acting_person,
    find_forum,
    get_by_id,
    known_person,
    require_admin,
)
from handlers.core.reply import Actor, Button, Reply, Section, say
from handlers.core.wording import at_place, counts_by_role, when
from store import forums as forum_store
from store.audit import record
from store.models import NAME_MAX, Forum, Meeting, Person, Rsvp
from store.names import clean_name
from store.roles import Role, RsvpAnswer

RSVP_LABELS = {
    RsvpAnswer.GOING: "I'm going",
    RsvpAnswer.MAYBE: "Maybe",
    RsvpAnswer.NOT_GOING: "I can't make it",
}
YOUR_ANSWER = {
    RsvpAnswer.GOING: "You said you're going.",
    RsvpAnswer.MAYBE: "You said maybe.",
    RsvpAnswer.NOT_GOING: "You said you can't make it.",
}
# One answer shows this many forums' next meetings (three blocks each in Slack, which takes 50).
FORUMS_SHOWN = 10
SEE_FORUMS = "Type /qi-forum and a forum's name to see its next meeting."


def meeting_prefix(meeting_id: int) -> str:
    """The outbox occurrence prefix shared by everything sent about one meeting."""
    return f"meeting:{meeting_id}@"


def show_forums(ctx: Context, actor: Actor, words: list[str]) -> Reply:
    """The next meeting of the forum named, or of each forum the person is in (or of all)."""
    with ctx.sessions() as session:
        person = known_person(session, actor)
        if words:
            forums = [find_forum(session, " ".join(words))]
        else:
            mine = forum_store.forums_of(session, person.id) if person else []
            forums = mine or forum_store.list_forums(session)
        if not forums:
            raise Refusal(NO_FORUM)
        shown = forums[:FORUMS_SHOWN]
        meetings = forum_store.next_meetings(session, ctx.now(), [f.id for f in shown])
        sections: list[Section] = []
        for forum in shown:
            sections.extend(forum_sections(session, ctx, person, forum, meetings.get(forum.id)))
        if len(forums) > len(shown):
            more = and_more(len(forums) - len(shown), "forum")
            sections.append(Section(text=f"{more}. {SEE_FORUMS}"))
        return Reply(sections=tuple(sections))


def forum_sections(
    session: Session, ctx: Context, person: Person | None, forum: Forum, meeting: Meeting | None
) -> list[Section]:
    """One forum's card: next meeting, who is going by role, your answer, RSVP buttons."""
    member = forum_store.current_forum_member(session, forum.id, person.id) if person else None
    join = () if member else (Button("Join the forum", ids.JOIN_FORUM, str(forum.id)),)
    if meeting is None:
        return [
            Section(
                heading=forum.name,
                text="No meeting is planned yet. Type /qi-forum again later to see the next one.",
                buttons=join,
            )
        ]
    tally = forum_store.rsvp_tally(session, meeting.id)
    going = going_by_role(tally)
    maybe = sum(n for (answer, _), n in tally.items() if answer == RsvpAnswer.MAYBE)
    lines = [f"Next meeting: {when(meeting.starts_at, ctx.timezone)}{at_place(meeting.location)}."]
    total = sum(going.values())
    if total:
        lines.append(f"Going: {total} ({counts_by_role(going)}).")
    else:
        lines.append("Nobody has said they're going yet.")
    if maybe:
        lines.append(f"Maybe: {maybe}.")
    mine = forum_store.rsvp_of(session, meeting.id, person.id) if person else None
    lines.append(YOUR_ANSWER[mine.answer] if mine else "Will you come?")
    return [
        Section(heading=forum.name, text="\n".join(lines), buttons=rsvp_buttons(meeting.id) + join)
    ]


def going_by_role(tally: Counter[tuple[RsvpAnswer, Role | None]]) -> Counter[Role | None]:
    """From an RSVP tally, how many are going in each role."""
    return Counter({role: n for (answer, role), n in tally.items() if answer == RsvpAnswer.GOING})


def rsvp_buttons(meeting_id: int, *, highlight_going: bool = True) -> tuple[Button, ...]:
    """I'm going / Maybe / I can't make it, for one meeting."""
    return tuple(
        Button(
            label,
            ids.RSVP,
            f"{meeting_id}:{answer.value}",
            primary=highlight_going and answer == RsvpAnswer.GOING,
        )
        for answer, label in RSVP_LABELS.items()
    )


def handle_rsvp_button(ctx: Context, actor: Actor, value: str) -> Reply:
    """An RSVP button: record the answer (changing it is fine) and show the updated counts."""
    meeting_id, _, answer_text = value.partition(":")
    try:
        answer = RsvpAnswer(answer_text)
    except ValueError:
        raise Refusal("Sorry, that button didn't work. Type /qi-forum to try again.") from None
    with ctx.sessions.begin() as session:
        person = acting_person(session, ctx, actor)
        meeting = get_by_id(session, Meeting, meeting_id)
        if meeting is None:
            raise Refusal("I can't find that meeting any more. Type /qi-forum to see what's next.")
        if meeting.cancelled_at is not None:
            raise Refusal("That meeting has been cancelled. Type /qi-forum to see what's next.")
        if meeting.starts_at < ctx.now():
            raise Refusal("That meeting has already started. Type /qi-forum to see what's next.")
        member = forum_store.current_forum_member(session, meeting.forum_id, person.id)
        _save_rsvp(session, ctx, person, meeting, answer, member.role if member else None)
        forum = meeting.forum
        return Reply(
            sections=tuple(forum_sections(session, ctx, person, forum, meeting)),
            # The counts in the forum channel's announcements change with this answer.
            refresh=(meeting_prefix(meeting.id),),
        )


def _save_rsvp(
    session: Session,
    ctx: Context,
    person: Person,
    meeting: Meeting,
    answer: RsvpAnswer,
    role: Role | None,
) -> None:
    now = ctx.now()
    existing = forum_store.rsvp_of(session, meeting.id, person.id)
    if existing is None:
        try:
            # A double click can race on PostgreSQL; the savepoint lets us fall back to update.
            with session.begin_nested():
                session.add(
                    Rsvp(
                        meeting_id=meeting.id,
                        person_id=person.id,
                        answer=answer,
                        role=role,
                        answered_at=now,
                    )
                )
        except IntegrityError:
            existing = forum_store.rsvp_of(session, meeting.id, person.id)
    if existing is not None:
        existing.answer, existing.role, existing.answered_at = answer, role, now
    record(
        session,
        at=now,
        actor_id=person.id,
        action="rsvp.answered",
        subject_type="meeting",
        subject_id=meeting.id,
        answer=answer.value,
    )


def add_meeting_example(ctx: Context) -> str:
    """The command to add a meeting, on a day still ahead."""
    day = long_date(example_meeting_day(ctx))
    return f'/qi-forum add-meeting {day} 2pm at "Room 4, Trust HQ"'


def parse_local_time(text: str, ctx: Context, *, example: str | None = None) -> datetime:
    """Read '3 December 2pm' (or 2026-12-03 14:00) as the trust's local time."""
    return read_meeting_time(text, ctx, example=example or add_meeting_example(ctx))


def add_meeting_command(ctx: Context, actor: Actor, words: list[str]) -> Reply:
    """`add-meeting <date> <time> [<forum>] [at <place>]`, for organisers."""
    before, place_words = _split_at(words)
    if len(before) < 2:
        raise Refusal(f"Please give the date and time, like this: {add_meeting_example(ctx)}")
    found = leading_date_time(before, today=local_today(ctx), no_year=NoYear.NEXT)
    if found is None:
        raise unreadable_moment(ctx, add_meeting_example(ctx))
    naive, forum_words = found
    starts = local_moment(naive, ctx)
    forum_name = " ".join(forum_words)
    with ctx.sessions.begin() as session:
        person = acting_person(session, ctx, actor)
        require_admin(session, person)
        forum = find_forum(session, forum_name)
        meeting = add_meeting(session, ctx, forum, starts, " ".join(place_words) or None, person.id)
        return say(
            f'Added a "{forum.name}" meeting on {when(meeting.starts_at, ctx.timezone)}'
            f"{at_place(meeting.location)}."
        )


def _split_at(words: list[str]) -> tuple[list[str], list[str]]:
    for index, word in enumerate(words):
        if word.casefold() == "at":
            return words[:index], words[index + 1 :]
    return words, []


def add_meeting(
    session: Session,
    ctx: Context,
    forum: Forum,
    starts_at: datetime,
    location: str | None,
    actor_id: int | None,
) -> Meeting:
    """Add a future meeting to a forum."""
    if starts_at <= ctx.now():
        raise Refusal("That time has already passed. Please choose a time in the future.")
    location = clean_name(location or "") or None
    if location is not None and len(location) > NAME_MAX:
        raise Refusal(f"That place is too long. Please keep it under {NAME_MAX} characters.")
    refuse_a_second(session, ctx, forum, starts_at, location)
    meeting = Meeting(
        forum_id=forum.id, starts_at=starts_at, location=location, created_at=ctx.now()
    )
    session.add(meeting)
    session.flush()
    record(
        session,
        at=ctx.now(),
        actor_id=actor_id,
        action="meeting.added",
        subject_type="meeting",
        subject_id=meeting.id,
        forum_id=forum.id,
    )
    return meeting


def refuse_a_second(
    session: Session,
    ctx: Context,
    forum: Forum,
    starts_at: datetime,
    location: str | None,
    *,
    besides: int | None = None,
) -> None:
    """Refuse a meeting that would be a second one at the same forum, time and place."""
    same_time = session.scalars(
        select(Meeting).where(
            Meeting.forum_id == forum.id,
            Meeting.starts_at == starts_at,
            Meeting.cancelled_at.is_(None),
            Meeting.id != (besides or 0),
        )
    )
    place = (location or "").casefold()
    for other in same_time:
        if (other.location or "").casefold() == place:
            raise Refusal(
                f"There is already a {forum.name} meeting on {when(starts_at, ctx.timezone)}"
                f"{at_place(location)}: #{other.id}. Nothing was changed."
            )


def handle_show_forum_button(ctx: Context, actor: Actor, value: str) -> Reply:
    """The 'See the next forum meeting' button."""
    return show_forums(ctx, actor, [])
