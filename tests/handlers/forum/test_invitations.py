"""Invitations to forum members outside chat: planned with the forum's announcements, once each."""

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from handlers.forum.announcements import run_announcements
from handlers.forum.changes import cancel_meeting, move_meeting, uncancel_meeting
from handlers.forum.invitations import COMING, INVITE, NOT_COMING
from handlers.messages import render_delivery
from store import contacts, outbox
from store.models import Delivery, Meeting, Rsvp
from store.roles import Role, RsvpAnswer
from tests.handlers import given


@pytest.fixture
def ctx(ctx):
    """E-mail and texts set up, as in a serve with SMTP_URL or NOTIFY_API_KEY configured."""
    return replace(ctx, outside_methods=frozenset({"email", "text"}))


DAY = 24 * 60
WEEK = 7 * DAY


def invitations(sessions, status=None):
    """(recipient, offset, status) of every invitation planned, oldest first."""
    with sessions() as session:
        query = select(Delivery).where(Delivery.kind == INVITE).order_by(Delivery.id)
        if status:
            query = query.where(Delivery.status == status)
        return [
            (row.recipient, row.payload["offset"], row.status) for row in session.scalars(query)
        ]


@pytest.fixture
def forum(sessions, clock):
    return given.forum(sessions, clock(), channel="console:qi-forum")


@pytest.fixture
def meeting(ctx, forum, clock):
    """A meeting ten days from now: its week-before announcement is three days away."""
    return given.meeting(ctx, forum, clock() + timedelta(days=10), "Room 3")


def test_a_carer_outside_chat_is_invited_at_the_week_before_announcement(
    ctx, sessions, clock, forum, meeting
):
    carer = given.outside_member(sessions, forum, "Dee Carer", clock())

    run_announcements(ctx)  # not a week before yet: nothing
    assert invitations(sessions) == []
    clock.advance(days=3)
    run_announcements(ctx)

    assert invitations(sessions) == [(outbox.person_recipient(carer), WEEK, "pending")]
    run_announcements(ctx)  # the next tick plans nothing twice
    assert len(invitations(sessions)) == 1


def test_the_invitation_says_when_and_where_and_offers_both_answers(
    ctx, sessions, clock, forum, meeting
):
    carer = given.outside_member(sessions, forum, "Dee Carer", clock())
    clock.advance(days=3)
    run_announcements(ctx)
    with sessions() as session:
        row = session.scalars(select(Delivery).where(Delivery.kind == INVITE)).one()

    reply = render_delivery(ctx, outbox.as_claimed(row))

    assert reply is not None
    assert reply.sections[0].heading == "You're invited: QI Forum"
    assert "Room 3" in reply.text and "Everyone is welcome" in reply.text
    assert [(b.label, b.value) for b in reply.buttons] == [
        (COMING, f"{meeting}:going"),
        (NOT_COMING, f"{meeting}:not_going"),
    ]
    assert reply.event is not None and reply.event.uid == f"meeting-{meeting}"
    assert reply.event.sequence == 0 and not reply.event.cancelled
    assert outbox.recipient_person_id(row.recipient) == carer


def test_only_confirmed_members_outside_chat_who_have_not_answered_are_invited(
    ctx, chat, sessions, clock, forum, meeting, asha
):
    invited = given.outside_member(sessions, forum, "Invited", clock(), address="a@example.org")
    given.outside_member(sessions, forum, "Unconfirmed", clock(), confirmed=False)
    given.outside_member(sessions, forum, "Stopped", clock(), stopped=True)
    answered = given.outside_member(sessions, forum, "Answered", clock(), method="text")
    with sessions.begin() as session:
        session.add(
            Rsvp(
                meeting_id=meeting,
                person_id=answered,
                answer=RsvpAnswer.NOT_GOING,
                role=Role.CARER,
                answered_at=clock(),
            )
        )
    assert chat.say(asha, "/qi-join forum").ok  # on chat: reads the channel instead
    clock.advance(days=3)

    run_announcements(ctx)

    assert invitations(sessions) == [(outbox.person_recipient(invited), WEEK, "pending")]


def test_a_later_announcement_time_replaces_an_invitation_still_waiting(
    ctx, sessions, clock, forum, meeting
):
    carer = given.outside_member(sessions, forum, "Dee Carer", clock())
    clock.advance(days=3)
    run_announcements(ctx)  # a week before: planned, and (say) not sent yet
    clock.advance(days=6)

    run_announcements(ctx)  # the day before

    assert invitations(sessions) == [
        (outbox.person_recipient(carer), WEEK, "withdrawn"),
        (outbox.person_recipient(carer), DAY, "pending"),
    ]


def test_nobody_is_invited_as_the_meeting_starts_when_the_forum_announces_earlier(
    ctx, sessions, clock, forum, meeting
):
    given.outside_member(sessions, forum, "Dee Carer", clock())
    clock.advance(days=10, minutes=-1)  # about to start: every announcement time is reached

    run_announcements(ctx)

    assert [offset for _, offset, _ in invitations(sessions)] == [DAY]  # not 0
    clock.advance(minutes=1)  # under way: too late to invite anyone
    with sessions() as session:
        row = session.scalars(select(Delivery).where(Delivery.kind == INVITE)).one()
    assert render_delivery(ctx, outbox.as_claimed(row)) is None


def test_an_answer_given_meanwhile_withdraws_the_invitation(ctx, sessions, clock, forum, meeting):
    carer = given.outside_member(sessions, forum, "Dee Carer", clock())
    clock.advance(days=3)
    run_announcements(ctx)
    with sessions.begin() as session:
        session.add(
            Rsvp(
                meeting_id=meeting,
                person_id=carer,
                answer=RsvpAnswer.GOING,
                role=Role.CARER,
                answered_at=clock(),
            )
        )
        row = session.scalars(select(Delivery).where(Delivery.kind == INVITE)).one()

    assert render_delivery(ctx, outbox.as_claimed(row)) is None


def test_someone_who_asked_to_stop_gets_nothing_more_of_any_kind(
    ctx, sessions, clock, forum, meeting
):
    carer = given.outside_member(sessions, forum, "Dee Carer", clock())
    clock.advance(days=3)
    run_announcements(ctx)
    with sessions() as session:
        row = session.scalars(select(Delivery).where(Delivery.kind == INVITE)).one()
    with sessions.begin() as session:
        assert contacts.stop_messages(session, carer, now=clock())
        assert not contacts.stop_messages(session, carer, now=clock())  # once is enough

    assert render_delivery(ctx, outbox.as_claimed(row)) is None
    going_reminder = outbox.Claimed(
        id=0,
        kind="going_reminder",
        occurrence="x",
        recipient=outbox.person_recipient(carer),
        payload={"meeting": meeting},
        attempts=1,
        uncertain=False,
    )
    assert render_delivery(ctx, going_reminder) is None


def test_moving_cancelling_and_restoring_raise_the_calendar_sequence_and_replan(
    ctx, sessions, clock, forum, meeting
):
    carer = given.outside_member(sessions, forum, "Dee Carer", clock())
    clock.advance(days=3)
    run_announcements(ctx)

    move_meeting(ctx, meeting, clock() + timedelta(days=8), actor_id=None)

    assert [status for _, _, status in invitations(sessions)] == ["withdrawn"]
    run_announcements(ctx)  # the new time is more than a week away: nothing yet
    assert len(invitations(sessions, "pending")) == 0
    clock.advance(days=1)
    run_announcements(ctx)
    assert invitations(sessions, "pending") == [(outbox.person_recipient(carer), WEEK, "pending")]

    cancel_meeting(ctx, meeting, actor_id=None)
    assert invitations(sessions, "pending") == []
    uncancel_meeting(ctx, meeting, actor_id=None)
    assert invitations(sessions, "pending") == [(outbox.person_recipient(carer), WEEK, "pending")]
    with sessions() as session:
        assert session.get(Meeting, meeting).sequence == 3  # moved, cancelled, back on


def test_planning_invitations_for_many_members_is_a_few_queries(
    ctx, sessions, clock, forum, meeting
):
    for n in range(50):
        given.outside_member(sessions, forum, f"Member {n}", clock(), address=f"m{n}@example.org")
    clock.advance(days=3)

    statements = []
    engine = sessions.kw["bind"]

    def count(_conn, _cursor, statement, *_):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        run_announcements(ctx)
    finally:
        event.remove(engine, "before_cursor_execute", count)

    assert len(invitations(sessions)) == 50
    assert len(statements) < 20  # set-based: not one query per member


def test_nobody_is_invited_a_way_this_bot_cannot_send(ctx, sessions, clock, forum, meeting):
    by_email = given.outside_member(sessions, forum, "Dee", clock(), address="dee@example.org")
    given.outside_member(sessions, forum, "Tess", clock(), method="text", address="+447700900123")
    clock.advance(days=3)

    run_announcements(replace(ctx, outside_methods=frozenset({"email"})))  # SMTP only
    assert invitations(sessions) == [(outbox.person_recipient(by_email), WEEK, "pending")]
    run_announcements(replace(ctx, outside_methods=frozenset()))  # the console: neither
    assert len(invitations(sessions)) == 1
