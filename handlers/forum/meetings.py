"""Forum meetings: the next one, who is going, RSVP; organisers add meetings."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
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
from handlers.core.long_lists import LIST_TEXT_MAX, and_more, text_units
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
from store.models import NAME_MAX, Forum, Meeting, Person, Rsvp, SlotRequest
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
# One answer shows this many forums, each with its next few meetings and their buttons.
FORUMS_SHOWN = 10
MEETINGS_EACH = 3
# And this many meetings in all. In Slack (50 blocks a message) a forum's heading is one block
# and a meeting two (its words and its buttons): 10 headings, 2 x 15 meetings and the closing
# line leave room to spare. Every forum's first meeting is shown before any forum's second.
MEETINGS_SHOWN = 15
# Later meetings are shown while the words of all of them fit in this many UTF-16 units,
# counting each meeting's buttons as MEETING_MARKUP more (about 900 bytes of card markup on
# Teams, which takes 40 KB): ten forums of the longest names with one meeting each fill it.
MEETINGS_ROOM = LIST_TEXT_MAX
MEETING_MARKUP = 300
SEE_FORUMS = "Type /qi-forum and a forum's name to see its next meeting."


def meeting_prefix(meeting_id: int) -> str:
    """The outbox occurrence prefix shared by everything sent about one meeting."""
    return f"meeting:{meeting_id}@"


def agenda_line(slot: SlotRequest) -> str:
    """One item of a meeting's agenda, as announcements and invitations list it."""
    return f'• "{slot.project.name}": {slot.topic}'


def meeting_occurrence(meeting: Meeting, suffix: str) -> str:
    """An occurrence key tied to the meeting's time, so a moved meeting is announced afresh."""
    return f"{meeting_prefix(meeting.id)}{int(meeting.starts_at.timestamp())}:{suffix}"


def show_forums(ctx: Context, actor: Actor, words: list[str]) -> Reply:
    """The next few meetings of the forum named, or of each forum the person is in (or of all)."""
    with ctx.sessions() as session:
        person = known_person(session, actor)
        mine = forum_store.forums_of(session, person.id) if person else []
        if words:
            forums = [find_forum(session, " ".join(words))]
        else:
            forums = mine or forum_store.list_forums(session)
        if not forums:
            raise Refusal(NO_FORUM)
        shown = forums[:FORUMS_SHOWN]
        sections = forum_cards(
            session,
            ctx,
            person,
            shown,
            each=MEETINGS_EACH,
            most=MEETINGS_SHOWN,
            joined={f.id for f in mine},
        )
        if len(forums) > len(shown):
            more = and_more(len(forums) - len(shown), "forum")
            sections.append(Section(text=f"{more}. {SEE_FORUMS}"))
        return Reply(sections=tuple(sections))


def forum_cards(
    session: Session,
    ctx: Context,
    person: Person | None,
    forums: list[Forum],
    *,
    each: int,
    most: int,
    include: Meeting | None = None,
    joined: set[int] | None = None,
) -> list[Section]:
    """The forums' cards: each one's next `each` meetings, `most` in all, in four queries.

    Every forum's next meeting is shown; later ones, every forum's second before any forum's
    third, while they fit. `include`: a meeting to show whatever its place (one just answered).
    `joined`: the ids of the forums the person is in, if the caller knows them already.
    """
    upcoming = forum_store.upcoming_meetings(session, ctx.now(), [f.id for f in forums], each)
    candidates = {f.id: list(upcoming[f.id].meetings) if f.id in upcoming else [] for f in forums}
    if include is not None and include not in candidates.get(include.forum_id, [include]):
        candidates[include.forum_id] = sorted([*candidates[include.forum_id], include], key=_when)
    meeting_ids = [m.id for meetings in candidates.values() for m in meetings]
    tallies = forum_store.rsvp_tallies(session, meeting_ids)
    answers = forum_store.answers_of(session, meeting_ids, person.id) if person else {}
    if joined is None:
        joined = {f.id for f in forum_store.forums_of(session, person.id)} if person else set()
    cards = {
        forum.id: [
            MeetingCard(m, _meeting_lines(ctx, m, tallies[m.id], answers.get(m.id), first=not n))
            for n, m in enumerate(candidates[forum.id])
        ]
        for forum in forums
    }
    shown = _within_room(forums, cards, most, always=include)
    sections: list[Section] = []
    for forum in forums:
        found = upcoming.get(forum.id)
        total = max(found.total if found else 0, len(cards[forum.id]))
        sections.extend(
            forum_sections(
                forum,
                shown[forum.id],
                member=forum.id in joined,
                later=total - len(shown[forum.id]),
            )
        )
    return sections


def _when(meeting: Meeting) -> tuple[datetime, int]:
    return meeting.starts_at, meeting.id


def _within_room(
    forums: list[Forum],
    cards: dict[int, list[MeetingCard]],
    most: int,
    *,
    always: Meeting | None,
) -> dict[int, list[MeetingCard]]:
    """Every forum's first meeting, then their seconds, thirds...: `most` in all, while they fit."""
    shown: dict[int, list[MeetingCard]] = {forum.id: [] for forum in forums}
    used = 0
    for rank in range(max((len(c) for c in cards.values()), default=0)):
        for forum in forums:
            if rank >= len(cards[forum.id]):
                continue
            card = cards[forum.id][rank]
            cost = card.cost + (text_units(forum.name) if rank == 0 else 0)
            needed = rank == 0 or card.meeting is always
            if not needed and (
                sum(map(len, shown.values())) >= most or used + cost > MEETINGS_ROOM
            ):
                continue
            if not needed and len(shown[forum.id]) < rank:
                continue  # its earlier meeting did not fit: none after it either
            shown[forum.id].append(card)
            used += cost
    return shown


@dataclass(frozen=True)
class MeetingCard:
    """One meeting's part of a forum card: the meeting and its lines."""

    meeting: Meeting
    lines: list[str]

    @property
    def cost(self) -> int:
        """What it adds to a message: its words, and its buttons' markup on Teams."""
        return sum(text_units(line) + 1 for line in self.lines) + MEETING_MARKUP


def forum_sections(
    forum: Forum, cards: list[MeetingCard], *, member: bool, later: int = 0
) -> list[Section]:
    """One forum's card: each meeting, who is going by role, your answer, its RSVP buttons.

    `later`: how many more meetings are planned than are shown.
    """
    join = () if member else (Button("Join the forum", ids.JOIN_FORUM, str(forum.id)),)
    if not cards:
        return [
            Section(
                heading=forum.name,
                text="No meeting is planned yet. Type /qi-forum again later to see the next one.",
                buttons=join,
            )
        ]
    sections: list[Section] = []
    for number, card in enumerate(cards):
        lines = list(card.lines)
        last = number == len(cards) - 1
        if last and later > 0:
            lines.append(f"{and_more(later, 'meeting')} planned later.")
        sections.append(
            Section(
                heading=forum.name if number == 0 else None,
                text="\n".join(lines),
                buttons=rsvp_buttons(card.meeting.id) + (join if last else ()),
            )
        )
    return sections


def _meeting_lines(
    ctx: Context,
    meeting: Meeting,
    tally: Counter[tuple[RsvpAnswer, Role | None]],
    answer: RsvpAnswer | None,
    *,
    first: bool,
) -> list[str]:
    start = "Next meeting" if first else "After that"
    lines = [f"{start}: {when(meeting.starts_at, ctx.timezone)}{at_place(meeting.location)}."]
    going = going_by_role(tally)
    maybe = sum(n for (said, _), n in tally.items() if said == RsvpAnswer.MAYBE)
    total = sum(going.values())
    if total:
        lines.append(f"Going: {total} ({counts_by_role(going)}).")
    else:
        lines.append("Nobody has said they're going yet.")
    if maybe:
        lines.append(f"Maybe: {maybe}.")
    lines.append(YOUR_ANSWER[answer] if answer else "Will you come?")
    return lines


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
        save_rsvp(session, ctx, person, meeting, answer, member.role if member else None)
        # The forum's card again, with this meeting on it even if others come first.
        sections = forum_cards(
            session,
            ctx,
            person,
            [meeting.forum],
            each=MEETINGS_EACH,
            most=MEETINGS_EACH,
            include=meeting,
        )
        return Reply(
            sections=tuple(sections),
            # The counts in the forum channel's announcements change with this answer.
            refresh=(meeting_prefix(meeting.id),),
        )


def save_rsvp(
    session: Session,
    ctx: Context,
    person: Person,
    meeting: Meeting,
    answer: RsvpAnswer,
    role: Role | None,
) -> None:
    """Record (or change) the person's answer for the meeting, in the role they come in."""
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
