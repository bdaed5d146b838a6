"""Moving or cancelling a forum meeting: what is refused, and who is told."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from handlers.core.errors import Refusal
from handlers.forum.changes import cancel_meeting, move_meeting
from handlers.forum.meetings import add_meeting
from handlers.messages import render_delivery
from store import outbox
from store.forums import create_forum
from store.models import Delivery, Meeting
from tests.conftest import person
from tests.handlers import given


@pytest.fixture
def meeting_id(ctx, sessions, clock):
    """A QI Forum meeting a week from now."""
    with sessions.begin() as session:
        forum = create_forum(session, name="QI Forum", channel=None, now=clock())
        return add_meeting(session, ctx, forum, clock() + timedelta(days=7), None, None).id


def told(sessions, kind):
    """Who is planned to get this kind of message: [(occurrence, recipient)]."""
    with sessions() as session:
        rows = session.execute(
            select(Delivery.occurrence, Delivery.recipient)
            .where(Delivery.kind == kind)
            .order_by(Delivery.id)
        )
        return [tuple(row) for row in rows]


def test_a_meeting_that_has_started_cannot_be_moved(chat, ctx, ben, sessions, clock, meeting_id):
    assert chat.press(ben, chat.say(ben, "/qi-forum"), "I'm going").ok
    clock.advance(days=7, minutes=5)
    before = given.row_counts(sessions)

    with pytest.raises(Refusal) as refused:
        move_meeting(ctx, meeting_id, clock() + timedelta(days=7), actor_id=None)

    assert "already started" in str(refused.value) and "can't be moved" in str(refused.value)
    assert given.row_counts(sessions) == before
    assert told(sessions, "meeting_changed") == []  # nobody told
    with sessions() as session:
        assert session.get(Meeting, meeting_id).starts_at == clock() - timedelta(minutes=5)


def test_teams_with_a_slot_are_told_when_the_meeting_is_cancelled(
    chat, ctx, asha, ben, chloe, dm, sessions, clock, meeting_id
):
    given.organiser(sessions, chloe, clock())
    dan = person("Dan Hughes")
    requests = slots_asked_for(
        chat,
        sessions,
        ((asha, "Falls prevention"), (ben, "Sepsis screening"), (dan, "Diabetes care")),
    )
    falls, _sepsis, diabetes = sorted(requests)
    chat.press(chloe, render_delivery(ctx, requests[falls]), "Accept")
    chat.press(chloe, render_delivery(ctx, requests[diabetes]), "Decline")

    change = cancel_meeting(ctx, meeting_id, actor_id=None)

    cancelled = [
        (recipient, render_delivery(ctx, claimed).text)
        for recipient, claimed in slot_news(sessions)
        if claimed.occurrence.endswith(":cancelled")
    ]
    assert [recipient for recipient, _ in cancelled] == [dm(asha), dm(ben)]  # not Dan: declined
    assert cancelled[0][1].startswith(
        "Sorry: the QI Forum meeting on Monday 30 November 2026 at 10am has been cancelled, "
        'so "Falls prevention" won\'t have the time it asked for.'
    )
    assert "2 teams that asked for a slot will be told too." in change.text
    assert change.told == 0  # nobody had said they were going
    # The organisers' message about Sepsis no longer offers Accept and Decline.
    assert render_delivery(ctx, requests[_sepsis]) is None


def slots_asked_for(chat, sessions, leads_and_projects):
    """Each lead starts a project and asks for a slot: the organisers' requests, by slot id."""
    for lead, project in leads_and_projects:
        assert chat.say(lead, f'/qi-project new "{project}"').ok
        assert chat.say(lead, f'/qi-forum slot "{project}" "Our idea"').ok
    with sessions() as session:
        rows = session.scalars(select(Delivery).where(Delivery.kind == "slot_request"))
        return {outbox.as_claimed(d).payload["slot"]: outbox.as_claimed(d) for d in rows}


def slot_news(sessions):
    """Every message planned to a team about its slot: [(recipient, claimed)], oldest first."""
    with sessions() as session:
        rows = session.scalars(
            select(Delivery).where(Delivery.kind == "slot_decision").order_by(Delivery.id)
        )
        return [(d.recipient, outbox.as_claimed(d)) for d in rows]


def test_the_organiser_is_told_how_many_people_will_hear_in_plain_numbers(
    chat, ctx, ben, meeting_id
):
    assert chat.press(ben, chat.say(ben, "/qi-forum"), "I'm going").ok

    change = cancel_meeting(ctx, meeting_id, actor_id=None)

    assert change.told == 1
    assert "1 person who said they were going will be told" in change.text


def test_teams_with_a_slot_are_told_the_new_time_when_the_meeting_moves(
    chat, ctx, asha, ben, chloe, dm, sessions, clock, meeting_id
):
    given.organiser(sessions, chloe, clock())
    requests = slots_asked_for(
        chat, sessions, ((asha, "Falls prevention"), (ben, "Sepsis screening"))
    )
    falls = min(requests)
    chat.press(chloe, render_delivery(ctx, requests[falls]), "Accept")  # Sepsis still asked

    change = move_meeting(ctx, meeting_id, clock() + timedelta(days=14), actor_id=None)

    moved = [
        (recipient, render_delivery(ctx, claimed).text)
        for recipient, claimed in slot_news(sessions)
        if ":moved:" in claimed.occurrence
    ]
    assert [recipient for recipient, _ in moved] == [dm(asha), dm(ben)]
    assert moved[0][1] == (
        'The QI Forum meeting where "Falls prevention" asked for time has moved: it is now on '
        "Monday 7 December 2026 at 10am. Your slot moves with it."
    )
    assert moved[1][1].endswith("Your request for a slot stands.")
    assert "2 teams that asked for a slot will be told too." in change.text
