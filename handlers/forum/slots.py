"""Project teams asking for time at a forum meeting; organisers accept or decline."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from handlers.core import ids
from handlers.core.args import parse_arguments, parse_id
from handlers.core.context import Context
from handlers.core.errors import Refusal
from handlers.core.long_lists import and_more, shortlist
from handlers.core.lookup import acting_person, find_forum, find_project, require_admin
from handlers.core.reply import Actor, Button, Reply, Section, say
from handlers.core.wording import when
from handlers.forum.meetings import meeting_prefix
from store import forums as forum_store
from store import outbox
from store.audit import record
from store.memberships import current_membership
from store.models import Meeting, Person, SlotRequest
from store.people import is_admin, list_admins

SLOT_REQUEST = "slot_request"
SLOT_DECISION = "slot_decision"
# A slot_decision's payload news when the meeting was cancelled after the team asked.
CANCELLED = "cancelled"
MOVED = "moved"
RESTORED = "restored"  # the cancelled meeting is back on
TOPIC_MAX = 300
# `/qi-forum slots` shows this many requests, each with its two buttons.
SLOTS_SHOWN = 10
EXAMPLE = '/qi-forum slot "Falls prevention" "Talk through our idea for night checks"'


def handle_slot_command(ctx: Context, actor: Actor, text: str) -> Reply:
    """`/qi-forum slot "<project>" "<topic>"`: ask for time at the next meeting."""
    words = parse_arguments(text).words
    if len(words) < 2:
        raise Refusal(f"Please name the project and what you'd like to talk about: {EXAMPLE}")
    topic = " ".join(words[1:]).strip()
    if len(topic) > TOPIC_MAX:
        raise Refusal(f"Please keep the topic under {TOPIC_MAX} characters.")
    with ctx.sessions.begin() as session:
        person = acting_person(session, ctx, actor)
        project = find_project(session, words[0])
        on_team = current_membership(session, project.id, person.id) is not None
        if not (on_team or project.lead_person_id == person.id or is_admin(session, person.id)):
            raise Refusal(
                f'Only people on the "{project.name}" team can ask for a slot for it. '
                f"You can join with /qi-join {project.name}"
            )
        forum = find_forum(session, "")
        meeting = forum_store.next_meetings(session, ctx.now(), [forum.id]).get(forum.id)
        if meeting is None:
            raise Refusal(f"No {forum.name} meeting is planned yet, so there's no slot to ask for.")
        exists = session.scalar(
            select(SlotRequest).where(
                SlotRequest.meeting_id == meeting.id, SlotRequest.project_id == project.id
            )
        )
        if exists is not None:
            raise Refusal(
                f'"{project.name}" has already asked for a slot at that meeting ({exists.status}).'
            )
        slot = SlotRequest(
            meeting_id=meeting.id,
            project_id=project.id,
            topic=topic,
            requested_by_id=person.id,
            status="requested",
            created_at=ctx.now(),
        )
        session.add(slot)
        session.flush()
        occurrence = f"slot:{slot.id}"
        outbox.plan(
            session,
            [
                outbox.Planned(
                    SLOT_REQUEST, occurrence, outbox.person_recipient(a.id), {"slot": slot.id}
                )
                for a in list_admins(session)
            ],
            now=ctx.now(),
        )
        record(
            session,
            at=ctx.now(),
            actor_id=person.id,
            action="slot.requested",
            subject_type="meeting",
            subject_id=meeting.id,
            project_id=project.id,
        )
        return say(
            f'Thank you. I\'ve asked the organisers for a slot for "{project.name}" at the '
            f"{forum.name} on {when(meeting.starts_at, ctx.timezone)}. I'll tell you what they say."
        )


def list_slots_command(ctx: Context, actor: Actor) -> Reply:
    """`/qi-forum slots`: the requests still to decide, each with Accept and Decline."""
    waiting = (
        SlotRequest.status == "requested",
        Meeting.cancelled_at.is_(None),
        Meeting.starts_at > ctx.now(),
    )
    with ctx.sessions.begin() as session:
        require_admin(session, acting_person(session, ctx, actor))
        total = session.scalar(
            select(func.count()).select_from(SlotRequest).join(Meeting).where(*waiting)
        )
        slots = session.scalars(
            select(SlotRequest)
            .join(Meeting)
            .options(
                joinedload(SlotRequest.project),
                joinedload(SlotRequest.meeting).joinedload(Meeting.forum),
            )
            .where(*waiting)
            .order_by(Meeting.starts_at, SlotRequest.id)
            .limit(SLOTS_SHOWN)
        ).all()
        asked_by = {s.requested_by_id for s in slots if s.requested_by_id}
        askers = {
            person_id: name
            for person_id, name in session.execute(
                select(Person.id, Person.display_name).where(Person.id.in_(asked_by))
            )
        }
        lines = {slot.id: _waiting_line(slot, askers, ctx) for slot in slots}
    if not total:
        return say(
            "No requests for a slot are waiting for a decision.", heading="Requests for a slot"
        )
    listed = shortlist(slots, SLOTS_SHOWN, line=lambda slot: lines[slot.id], total=total)
    sections = [
        Section(text=lines[slot.id], buttons=_decision_buttons(slot.id)) for slot in listed.shown
    ]
    sections[0] = replace(sections[0], heading="Requests for a slot")
    if listed.more:
        sections.append(
            Section(
                text=f"{and_more(listed.more, 'request')}. Decide these, then type "
                "/qi-forum slots again to see the rest."
            )
        )
    return Reply(sections=tuple(sections))


def _waiting_line(slot: SlotRequest, askers: dict[int, str], ctx: Context) -> str:
    who = askers.get(slot.requested_by_id or 0, "A project team")
    return (
        f'"{slot.project.name}" at the {slot.meeting.forum.name} on '
        f"{when(slot.meeting.starts_at, ctx.timezone)}, asked by {who}: {slot.topic}"
    )


def _decision_buttons(slot_id: int) -> tuple[Button, ...]:
    return (
        Button("Accept", ids.SLOT_DECIDE, f"{slot_id}:accept", primary=True),
        Button("Decline", ids.SLOT_DECIDE, f"{slot_id}:decline"),
    )


def handle_slot_decision_button(ctx: Context, actor: Actor, value: str) -> Reply:
    """An organiser accepts or declines a slot; the team is told, the agenda updated."""
    slot_id, _, decision = value.partition(":")
    if decision not in ("accept", "decline"):
        raise Refusal("Sorry, that button didn't work.")
    with ctx.sessions.begin() as session:
        person = acting_person(session, ctx, actor)
        require_admin(session, person)
        # Locked until this unit of work ends: two organisers pressing at once take turns, and
        # the second sees the first one's decision instead of overwriting it.
        row_id = parse_id(slot_id)
        slot = None if row_id is None else session.get(SlotRequest, row_id, with_for_update=True)
        if slot is None:
            raise Refusal("That request no longer exists.")
        if slot.status != "requested":
            return say(f'The slot for "{slot.project.name}" was already {slot.status}.')
        # The meeting is locked too (as cancelling and moving lock it): a decision and a
        # cancellation at the same moment take turns, so the team hears the one that stands.
        meeting = session.get(
            Meeting, slot.meeting_id, with_for_update=True, populate_existing=True
        )
        assert meeting is not None  # a slot request belongs to a meeting (foreign key)
        if meeting.cancelled_at is not None:
            raise Refusal(
                f"The {meeting.forum.name} meeting on {when(meeting.starts_at, ctx.timezone)} "
                "was cancelled, so there is no slot to give. Nothing has changed."
            )
        if meeting.starts_at <= ctx.now():
            raise Refusal(
                f"The {meeting.forum.name} meeting on {when(meeting.starts_at, ctx.timezone)} "
                "has already started, so it's too late to decide this slot. Nothing has changed."
            )
        slot.status = "accepted" if decision == "accept" else "declined"
        slot.decided_by_id, slot.decided_at = person.id, ctx.now()
        if slot.requested_by_id is not None:
            outbox.plan_message_to(
                session,
                slot.requested_by_id,
                SLOT_DECISION,
                f"slot:{slot.id}",
                {"slot": slot.id},
                now=ctx.now(),
            )
        record(
            session,
            at=ctx.now(),
            actor_id=person.id,
            action=f"slot.{slot.status}",
            subject_type="meeting",
            subject_id=slot.meeting_id,
            project_id=slot.project_id,
        )
        return Reply(
            sections=say(
                f'The slot for "{slot.project.name}" is {slot.status}. The team will be told.'
            ).sections,
            refresh=(meeting_prefix(slot.meeting_id),),
        )


def render_slot_request(session: Session, ctx: Context, delivery: outbox.Claimed) -> Reply | None:
    """The organiser's message: which project asks, about what, with Accept and Decline."""
    slot = session.get(SlotRequest, delivery.payload.get("slot"))
    if slot is None or slot.status != "requested" or _too_late(slot, ctx):
        return None
    asker = session.get(Person, slot.requested_by_id) if slot.requested_by_id else None
    who = asker.display_name if asker else "A project team"
    return say(
        f'{who} asks for a slot for "{slot.project.name}" at the {slot.meeting.forum.name} on '
        f"{when(slot.meeting.starts_at, ctx.timezone)}, to talk about: {slot.topic}",
        buttons=_decision_buttons(slot.id),
    )


def render_slot_decision(session: Session, ctx: Context, delivery: outbox.Claimed) -> Reply | None:
    """The team's answer from the organisers, or news that the meeting was cancelled."""
    slot = session.get(SlotRequest, delivery.payload.get("slot"))
    if delivery.payload.get("news") == CANCELLED:
        return _render_slot_cancelled(slot, ctx)
    if delivery.payload.get("news") == MOVED:
        return _render_slot_moved(slot, ctx)
    if delivery.payload.get("news") == RESTORED:
        return _render_slot_restored(slot, ctx)
    if slot is None or slot.status == "requested" or _too_late(slot, ctx):
        return None
    meeting = slot.meeting
    if slot.status == "accepted":
        return say(
            f'Good news: "{slot.project.name}" has a slot at the {meeting.forum.name} on '
            f"{when(meeting.starts_at, ctx.timezone)}. It's on the agenda."
        )
    return say(
        f'The organisers couldn\'t fit "{slot.project.name}" into the {meeting.forum.name} on '
        f"{when(meeting.starts_at, ctx.timezone)}. Do ask again for a later meeting."
    )


def plan_slot_teams_told_of_cancelling(
    session: Session, meeting: Meeting, cancelled: str, *, now: datetime
) -> int:
    """Tell each team that asked for a slot at this cancelled meeting (not declined); how many.

    `cancelled` is the cancellation's news key: cancelled again after being back on, they hear
    again.
    """
    return _tell_slot_teams(session, meeting, CANCELLED, cancelled, now=now)


def plan_slot_teams_told_of_restoring(
    session: Session, meeting: Meeting, cancelled: str, *, now: datetime
) -> int:
    """Tell each team told of this cancellation that the meeting is back on; how many.

    Their news of the cancellation still waiting to go is withdrawn instead: they never heard.
    """
    slots = _slots_asked(session, meeting)
    # The key before news keys carried the time: "slot:<id>:cancelled".
    keys = [f"slot:{slot.id}:{k}" for slot in slots for k in (cancelled, CANCELLED)]
    gone = outbox.gone_out(session, kind=SLOT_DECISION, occurrences=keys)
    heard = {int(occurrence.split(":")[1]) for occurrence, _ in gone}  # "slot:<id>:..."
    outbox.withdraw_waiting(
        session, kind=SLOT_DECISION, occurrences=keys, reason="the meeting is back on"
    )
    key = f"{RESTORED}:{int(now.timestamp())}"
    told = [slot for slot in slots if slot.id in heard]
    return _plan_slot_news(session, told, RESTORED, key, now=now)


def plan_slot_teams_told_of_moving(session: Session, meeting: Meeting, *, now: datetime) -> int:
    """Tell each team that asked for a slot at this meeting (not declined) its new time."""
    # Keyed by the new time: moved twice, they hear twice.
    when_key = f"{MOVED}:{meeting.starts_at.isoformat()}"
    return _tell_slot_teams(session, meeting, MOVED, when_key, now=now)


def _slots_asked(session: Session, meeting: Meeting) -> list[SlotRequest]:
    """The meeting's slots asked for and not declined, by someone still known."""
    return list(
        session.scalars(
            select(SlotRequest)
            .where(
                SlotRequest.meeting_id == meeting.id,
                SlotRequest.status.in_(("requested", "accepted")),
                SlotRequest.requested_by_id.is_not(None),
            )
            # In the order asked, so that they hear in that order (and the same everywhere).
            .order_by(SlotRequest.id)
        )
    )


def _tell_slot_teams(
    session: Session, meeting: Meeting, news: str, key: str, *, now: datetime
) -> int:
    return _plan_slot_news(session, _slots_asked(session, meeting), news, key, now=now)


def _plan_slot_news(
    session: Session, slots: list[SlotRequest], news: str, key: str, *, now: datetime
) -> int:
    """One message of `news` to each slot's team (keyed by `key`: each news once); how many."""
    return outbox.plan(
        session,
        [
            outbox.Planned(
                SLOT_DECISION,
                f"slot:{slot.id}:{key}",
                outbox.person_recipient(slot.requested_by_id),
                {"slot": slot.id, "news": news},
            )
            for slot in slots
            if slot.requested_by_id is not None
        ],
        now=now,
    )


def _render_slot_cancelled(slot: SlotRequest | None, ctx: Context) -> Reply | None:
    # A team whose slot was declined was told so already: nothing more to say.
    if slot is None or slot.meeting.cancelled_at is None or slot.status == "declined":
        return None
    meeting, project = slot.meeting, slot.project
    return say(
        f"Sorry: the {meeting.forum.name} meeting on {when(meeting.starts_at, ctx.timezone)} has "
        f'been cancelled, so "{project.name}" won\'t have the time it asked for. When the next '
        f'meeting is planned, you can ask again: /qi-forum slot "{project.name}" '
        '"what you\'d like to talk about"'
    )


def _render_slot_moved(slot: SlotRequest | None, ctx: Context) -> Reply | None:
    # Declined, cancelled since, or already under way: the new time is no news to them.
    if slot is None or slot.status == "declined" or _too_late(slot, ctx):
        return None
    meeting, project = slot.meeting, slot.project
    stands = "slot moves with it" if slot.status == "accepted" else "request for a slot stands"
    return say(
        f'The {meeting.forum.name} meeting where "{project.name}" asked for time has moved: it '
        f"is now on {when(meeting.starts_at, ctx.timezone)}. Your {stands}."
    )


def _render_slot_restored(slot: SlotRequest | None, ctx: Context) -> Reply | None:
    # Declined since, cancelled again, or under way: nothing to say now.
    if slot is None or slot.status == "declined" or _too_late(slot, ctx):
        return None
    meeting, project = slot.meeting, slot.project
    stands = (
        "slot is still on the agenda"
        if slot.status == "accepted"
        else "request for a slot stands, and the organisers will decide it"
    )
    return say(
        f"Good news: the {meeting.forum.name} meeting on {when(meeting.starts_at, ctx.timezone)} "
        f'is going ahead after all. "{project.name}"\'s {stands}.'
    )


def _too_late(slot: SlotRequest, ctx: Context) -> bool:
    """Whether the slot's meeting was cancelled or has started: news of the slot is no use."""
    meeting = slot.meeting
    return meeting.cancelled_at is not None or meeting.starts_at <= ctx.now()
