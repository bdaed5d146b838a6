"""Project teams asking for a slot at a forum meeting; organisers deciding; the agenda."""

from datetime import timedelta

from sqlalchemy import select

from handlers.forum import add_meeting
from handlers.messages import render_delivery
from store import outbox
from store.forums import create_forum
from store.models import Delivery, SlotRequest
from store.people import grant_admin
from tests.handlers import given


def _scene(chat, asha, chloe, clock, sessions):
    """Asha leads "Falls prevention"; Chloe organises; a forum meets in a week."""
    chat.say(asha, '/qi-project new "Falls prevention"')
    with sessions.begin() as session:
        forum = create_forum(session, name="QI Forum", channel="slack:CFORUM", now=clock())
        meeting = add_meeting(session, chat.bot.ctx, forum, clock() + timedelta(days=7), None, None)
        meeting_id = meeting.id
    organiser = given.person_id(sessions, chloe, clock())
    with sessions.begin() as session:
        grant_admin(session, organiser, by_id=None, now=clock())
    return meeting_id, organiser


def _claimed(sessions, kind):
    with sessions() as session:
        return outbox.as_claimed(
            session.scalars(select(Delivery).where(Delivery.kind == kind)).one()
        )


def test_a_team_asks_for_a_slot_and_the_organiser_accepts_it(chat, asha, chloe, clock, sessions):
    meeting_id, organiser = _scene(chat, asha, chloe, clock, sessions)

    asked = chat.say(asha, '/qi-forum slot "Falls prevention" "Our idea for night checks"')
    again = chat.say(asha, '/qi-forum slot "Falls prevention" "Something else"')
    request = render_delivery(chat.bot.ctx, _claimed(sessions, "slot_request"))

    assert asked.ok and "asked the organisers for a slot" in asked.text
    assert not again.ok and "already asked" in again.text
    assert _claimed(sessions, "slot_request").recipient == f"person:{organiser}"
    assert "Our idea for night checks" in request.text

    decided = chat.press(chloe, request, "Accept")
    announcement = outbox.Claimed(
        0,
        "announce",
        f"meeting:{meeting_id}@0:10080",
        "channel:slack:CFORUM",
        {"meeting": meeting_id, "offset": 10080},
        1,
        False,
    )

    assert decided.ok and decided.refresh == (f"meeting:{meeting_id}@",)
    assert "Good news" in render_delivery(chat.bot.ctx, _claimed(sessions, "slot_decision")).text
    agenda = render_delivery(chat.bot.ctx, announcement).text
    assert 'On the agenda:\n• "Falls prevention": Our idea for night checks' in agenda
    assert render_delivery(chat.bot.ctx, _claimed(sessions, "slot_request")) is None


def test_only_the_team_may_ask_and_only_organisers_decide(chat, asha, ben, chloe, clock, sessions):
    _scene(chat, asha, chloe, clock, sessions)

    stranger = chat.say(ben, '/qi-forum slot "Falls prevention" "Hello"')
    missing_topic = chat.say(asha, '/qi-forum slot "Falls prevention"')
    chat.say(asha, '/qi-forum slot "Falls prevention" "Night checks"')
    request = render_delivery(chat.bot.ctx, _claimed(sessions, "slot_request"))
    not_admin = chat.press(asha, request, "Decline")

    assert not stranger.ok and "Only people on the" in stranger.text
    assert not missing_topic.ok and "what you'd like to talk about" in missing_topic.text
    assert not not_admin.ok
    with sessions() as session:
        assert session.scalars(select(SlotRequest.status)).all() == ["requested"]
