"""Forum meeting announcements: a week before, the day before and as it starts, each once."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers.core import ids
from handlers.core.context import Context
from handlers.core.long_lists import and_more, shortlist
from handlers.core.reply import Button, Reply, Section, say
from handlers.core.wording import at_place, counts_by_role, when
from handlers.forum import invitations
from handlers.forum.calendar import calendar_event
from handlers.forum.meetings import (
    RSVP_LABELS,
    agenda_line,
    going_by_role,
    meeting_occurrence,
    meeting_prefix,
    rsvp_buttons,
)
from store import forums as forum_store
from store import outbox
from store.models import Forum, Meeting, Rsvp
from store.roles import RsvpAnswer

ANNOUNCE = "announce"
GOING_REMINDER = "going_reminder"
MEETING_CHANGED = "meeting_changed"
# A meeting_changed payload's news when a cancelled meeting is back on (none: moved or cancelled).
UNCANCELLED = "uncancelled"
# Why a cancellation withdrew what was still to go: un-cancelling puts back exactly those.
WITHDRAWN_BY_CANCELLING = "the meeting was cancelled"
# Minutes before the start: a week, a day, and as it starts.
DEFAULT_OFFSETS = (7 * 24 * 60, 24 * 60, 0)
DAY_BEFORE = timedelta(days=1)
# Nobody announces a meeting more than 60 days ahead (also the largest offset a forum may set).
MAX_OFFSET = 60 * 24 * 60
# The announcement lists this many agenda items; the post says how many more there are.
AGENDA_SHOWN = 10
# A "starting now" note is still useful a little late, not an hour in.
STARTING_GRACE = timedelta(minutes=30)


def offsets_of(forum: Forum) -> tuple[int, ...]:
    """The forum's announcement offsets in minutes, largest first."""
    return tuple(sorted(set(forum.announce_offsets or DEFAULT_OFFSETS), reverse=True))


def plan_due_announcements(
    session: Session, ctx: Context, meeting_id: int | None = None
) -> list[outbox.Planned]:
    """What should have gone out by now about upcoming meetings (or one), from two queries."""
    now = ctx.now()
    query = (
        select(Meeting, Forum)
        .join(Forum, Forum.id == Meeting.forum_id)
        .where(
            Meeting.cancelled_at.is_(None),
            Meeting.starts_at > now - STARTING_GRACE,
            Meeting.starts_at <= now + timedelta(minutes=MAX_OFFSET),
        )
        .order_by(Meeting.starts_at)
    )
    if meeting_id is not None:
        query = query.where(Meeting.id == meeting_id)
    meetings = session.execute(query).all()
    planned: list[outbox.Planned] = []
    reminders_due: list[Meeting] = []
    invitations_due: list[tuple[Meeting, int]] = []
    for meeting, forum in meetings:
        due = [m for m in offsets_of(forum) if meeting.starts_at - timedelta(minutes=m) <= now]
        if (invite_at := invitations.invitation_offset(due)) is not None:
            invitations_due.append((meeting, invite_at))
        if forum.channel and due:
            # Only the latest milestone reached: a meeting added tomorrow is announced once,
            # not with a week-before and a day-before post together.
            latest = min(due)
            if latest > 0 or now < meeting.starts_at + STARTING_GRACE:
                planned.append(
                    outbox.Planned(
                        ANNOUNCE,
                        meeting_occurrence(meeting, str(latest)),
                        outbox.channel_recipient(forum.channel),
                        {"meeting": meeting.id, "offset": latest},
                    )
                )
        if meeting.starts_at - DAY_BEFORE <= now < meeting.starts_at:
            reminders_due.append(meeting)
    planned.extend(_going_reminders(session, reminders_due))
    planned.extend(
        invitations.plan_invitations(session, invitations_due, now=now, methods=ctx.outside_methods)
    )
    return planned


def _going_reminders(session: Session, meetings: list[Meeting]) -> list[outbox.Planned]:
    # People who said they're going by the day before get a direct message then.
    if not meetings:
        return []
    by_id = {m.id: m for m in meetings}
    rows = session.execute(
        select(Rsvp.meeting_id, Rsvp.person_id, Rsvp.answered_at).where(
            Rsvp.meeting_id.in_(list(by_id)), Rsvp.answer == RsvpAnswer.GOING
        )
    )
    return [
        outbox.Planned(
            GOING_REMINDER,
            meeting_occurrence(by_id[meeting_id], "day_before"),
            outbox.person_recipient(person_id),
            {"meeting": meeting_id},
        )
        for meeting_id, person_id, answered_at in rows
        if answered_at <= by_id[meeting_id].starts_at - DAY_BEFORE
    ]


def _day_word(starts_at: datetime, ctx: Context) -> str:
    """The heading's word (Today, Tomorrow, Coming up) by the calendar when the post is written.

    Not from the milestone: a meeting added (or moved) to later today reaches the day-before
    milestone at once, and must not be announced as tomorrow's.
    """
    days = (
        starts_at.astimezone(ctx.timezone).date() - ctx.now().astimezone(ctx.timezone).date()
    ).days
    return {0: "Today", 1: "Tomorrow"}.get(days, "Coming up")


def run_announcements(ctx: Context) -> int:
    """Plan every announcement and reminder that is due; how many are new.

    An earlier milestone's announcement still waiting to go (its channel would not take it)
    gives way to the latest one: the channel gets one post about the meeting, not two.
    """
    with ctx.sessions.begin() as session:
        return _plan_replacing_earlier(session, ctx, plan_due_announcements(session, ctx))


def _plan_replacing_earlier(session: Session, ctx: Context, planned: list[outbox.Planned]) -> int:
    """Plan these; each announcement withdraws the meeting's earlier ones still waiting."""
    new = outbox.plan(session, planned, now=ctx.now())
    # One withdrawal per meeting and kind (invitations share their occurrence across people).
    latest = {
        (p.kind, p.payload["meeting"]): p.occurrence
        for p in planned
        if p.kind in (ANNOUNCE, invitations.INVITE)
    }
    for (kind, meeting_id), occurrence in latest.items():
        outbox.withdraw_pending(
            session,
            kinds=(kind,),
            occurrence_prefix=meeting_prefix(meeting_id),
            keep=occurrence,
            reason=f"a later {'announcement' if kind == ANNOUNCE else 'invitation'} of the "
            "meeting replaced it",
        )
    return new


def render_announcement(session: Session, ctx: Context, delivery: outbox.Claimed) -> Reply | None:
    """The channel post: when and where, who is going by role, the agenda and RSVP buttons."""
    meeting = session.get(Meeting, delivery.payload.get("meeting"))
    if meeting is None or meeting.starts_at + STARTING_GRACE <= ctx.now():
        return None  # over: an announcement still waiting (or an edit) helps nobody now
    forum = meeting.forum
    if not delivery.sent and delivery.recipient != outbox.channel_recipient(forum.channel or ""):
        # The forum now announces elsewhere (or nowhere): a post still waiting for its old
        # channel is dropped (the next pass plans it for the new one). One already posted there
        # is still kept true, as when the meeting is cancelled.
        return None
    if meeting.cancelled_at is not None:
        return say(
            f"This {forum.name} meeting on {when(meeting.starts_at, ctx.timezone)} has been "
            "cancelled. Sorry! The next one will be announced here.",
            heading=f"Cancelled: {forum.name}",
        )
    offset = int(delivery.payload.get("offset", 0))
    heading = "Starting now" if offset == 0 else _day_word(meeting.starts_at, ctx)
    if not delivery.occurrence.startswith(meeting_occurrence(meeting, "")):
        heading = "Moved"  # posted for the old time; it now points at the new one
    lines = [
        f"{when(meeting.starts_at, ctx.timezone)}{at_place(meeting.location)}.",
        "Staff and people with lived experience meet as equals to talk about QI projects. "
        "Everyone is welcome.",
    ]
    going = going_by_role(forum_store.rsvp_tally(session, meeting.id))
    total = sum(going.values())
    lines.append(
        f"Going so far: {total} ({counts_by_role(going)})." if total else "Nobody has said yet."
    )
    agenda = shortlist(
        forum_store.accepted_slots(session, meeting.id), AGENDA_SHOWN, line=agenda_line
    )
    if agenda.shown:
        lines.append("On the agenda:")
        lines.extend(agenda_line(slot) for slot in agenda.shown)
    if agenda.more:
        lines.append(f"{and_more(agenda.more)} on the agenda.")
    buttons = () if meeting.starts_at <= ctx.now() else rsvp_buttons(meeting.id)
    return Reply(
        sections=(
            Section(heading=f"{heading}: {forum.name}", text="\n".join(lines), buttons=buttons),
        )
    )


def render_going_reminder(session: Session, ctx: Context, delivery: outbox.Claimed) -> Reply | None:
    """The day-before message to someone who said they're going (if they still are)."""
    meeting = session.get(Meeting, delivery.payload.get("meeting"))
    person_id = outbox.recipient_person_id(delivery.recipient)
    if meeting is None or meeting.cancelled_at is not None or person_id is None:
        return None
    answer = forum_store.rsvp_of(session, meeting.id, person_id)
    if answer is None or answer.answer != RsvpAnswer.GOING:
        return None
    return _with_event(
        meeting,
        say(
            f"A reminder: the {meeting.forum.name} is {when(meeting.starts_at, ctx.timezone)}"
            f"{at_place(meeting.location)}. Looking forward to seeing you! If you can't come after "
            "all, please let us know below.",
            buttons=(
                Button(RSVP_LABELS[RsvpAnswer.NOT_GOING], ids.RSVP, f"{meeting.id}:not_going"),
            ),
        ),
    )


def _with_event(meeting: Meeting, reply: Reply) -> Reply:
    """The message with the meeting's calendar entry as it now is (moved, cancelled, back on)."""
    return replace(reply, event=calendar_event(meeting))


def render_meeting_changed(
    session: Session, ctx: Context, delivery: outbox.Claimed
) -> Reply | None:
    """Tell someone who said they're going that the meeting moved or was cancelled."""
    meeting = session.get(Meeting, delivery.payload.get("meeting"))
    if meeting is None:
        return None
    forum = meeting.forum
    if delivery.payload.get("news") == UNCANCELLED:
        person_id = outbox.recipient_person_id(delivery.recipient)
        answer = forum_store.rsvp_of(session, meeting.id, person_id) if person_id else None
        if answer is None or answer.answer != RsvpAnswer.GOING:
            return None  # they said since that they can't come: not "you said you were going"
        return _render_back_on(meeting, ctx)
    if meeting.cancelled_at is not None:
        return _with_event(
            meeting,
            say(
                f"Sorry: the {forum.name} meeting on {when(meeting.starts_at, ctx.timezone)} has "
                "been cancelled. You said you were going, so I wanted you to know.",
            ),
        )
    return _with_event(
        meeting,
        say(
            f"The {forum.name} meeting you said you're going to has moved. It is now "
            f"{when(meeting.starts_at, ctx.timezone)}{at_place(meeting.location)}. "
            "Can you still come?",
            buttons=rsvp_buttons(meeting.id, highlight_going=False),
        ),
    )


def _render_back_on(meeting: Meeting, ctx: Context) -> Reply | None:
    # Cancelled again since, or under way: the news is no use now.
    if meeting.cancelled_at is not None or meeting.starts_at <= ctx.now():
        return None
    return _with_event(
        meeting,
        say(
            f"Good news: the {meeting.forum.name} meeting on "
            f"{when(meeting.starts_at, ctx.timezone)}"
            f"{at_place(meeting.location)} is going ahead after all. It is no longer cancelled. "
            "You said you were going, so I wanted you to know. If you can't come now, please let "
            "us know below.",
            buttons=(
                Button(RSVP_LABELS[RsvpAnswer.NOT_GOING], ids.RSVP, f"{meeting.id}:not_going"),
            ),
        ),
    )


def cancellation_key(meeting: Meeting) -> str:
    """The news key of the meeting's cancellation: each cancellation is news of its own."""
    assert meeting.cancelled_at is not None
    return f"cancelled:{int(meeting.cancelled_at.timestamp())}"


def plan_meeting_changed(
    session: Session, ctx: Context, meeting: Meeting, *, what: str, now: datetime
) -> int:
    """Withdraw what is still pending about the meeting and tell the people going; how many."""
    outbox.withdraw_pending(
        session,
        kinds=(ANNOUNCE, GOING_REMINDER, invitations.INVITE),
        occurrence_prefix=meeting_prefix(meeting.id),
        reason=WITHDRAWN_BY_CANCELLING if meeting.cancelled_at else "the meeting moved",
    )
    goers = session.scalars(
        select(Rsvp.person_id).where(Rsvp.meeting_id == meeting.id, Rsvp.answer == RsvpAnswer.GOING)
    ).all()
    planned = [
        outbox.Planned(
            MEETING_CHANGED,
            meeting_occurrence(meeting, what),
            outbox.person_recipient(person_id),
            {"meeting": meeting.id},
        )
        for person_id in goers
    ]
    return outbox.plan(session, planned, now=now)


def plan_meeting_back_on(
    session: Session, ctx: Context, meeting: Meeting, cancelled: str, *, now: datetime
) -> int:
    """A cancelled meeting is back on: its announcements again, news for those told; how many.

    `cancelled` is the cancellation's news key. Its messages still waiting are withdrawn (those
    people never heard, so there is nothing to undo); the rest are told it is going ahead.
    """
    # The key before news keys carried the time: "...:cancelled".
    keys = [meeting_occurrence(meeting, cancelled), meeting_occurrence(meeting, "cancelled")]
    heard = {to for _, to in outbox.gone_out(session, kind=MEETING_CHANGED, occurrences=keys)}
    outbox.withdraw_waiting(
        session, kind=MEETING_CHANGED, occurrences=keys, reason="the meeting is back on"
    )
    outbox.restore_withdrawn(
        session,
        kinds=(ANNOUNCE, GOING_REMINDER, invitations.INVITE),
        occurrence_prefix=meeting_occurrence(meeting, ""),
        reason=WITHDRAWN_BY_CANCELLING,
        now=now,
    )
    # A milestone reached while it was cancelled replaces the announcement put back.
    _plan_replacing_earlier(session, ctx, plan_due_announcements(session, ctx, meeting.id))
    key = f"{UNCANCELLED}:{int(now.timestamp())}"
    return outbox.plan(
        session,
        [
            outbox.Planned(
                MEETING_CHANGED,
                meeting_occurrence(meeting, key),
                recipient,
                {"meeting": meeting.id, "news": UNCANCELLED},
            )
            for recipient in sorted(heard)
        ],
        now=now,
    )
