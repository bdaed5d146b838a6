"""Project teams asking for a slot at a forum meeting; organisers deciding; the agenda."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from handlers.core import ids
from handlers.core.context import Context
from handlers.core.reply import Reply
from handlers.dispatch import Dispatcher
from handlers.forum.changes import cancel_meeting
from handlers.forum.meetings import add_meeting
from handlers.messages import render_delivery
from store import outbox
from store.engine import make_engine, make_sessions
from store.forums import create_forum
from store.migrate import upgrade
from store.models import AuditEvent, Delivery, SlotRequest
from store.people import grant_admin
from store.projects import create_project
from store.roles import ProjectStatus
from tests.conftest import person
from tests.handlers import given
from tests.query_watch import watching


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


def _asked_for(chat, asha, sessions):
    """Asha asks for a slot; the organisers' message with Accept and Decline."""
    assert chat.say(asha, '/qi-forum slot "Falls prevention" "Night checks"').ok
    return render_delivery(chat.bot.ctx, _claimed(sessions, "slot_request"))


def _decisions(sessions):
    """What the team has been planned to hear from the organisers: [(occurrence, recipient)]."""
    with sessions() as session:
        rows = session.execute(
            select(Delivery.occurrence, Delivery.recipient).where(Delivery.kind == "slot_decision")
        )
        return [tuple(row) for row in rows]


def test_a_slot_at_a_cancelled_meeting_cannot_be_accepted(chat, asha, chloe, clock, sessions):
    meeting_id, _ = _scene(chat, asha, chloe, clock, sessions)
    request = _asked_for(chat, asha, sessions)
    cancel_meeting(chat.bot.ctx, meeting_id, actor_id=None)
    before = given.row_counts(sessions)

    accepted = chat.press(chloe, request, "Accept")

    assert not accepted.ok
    assert "cancelled" in accepted.text and "Good news" not in accepted.text
    assert given.row_counts(sessions) == before
    with sessions() as session:
        assert session.scalars(select(SlotRequest.status)).all() == ["requested"]
    # The organisers' message no longer offers Accept and Decline.
    assert render_delivery(chat.bot.ctx, _claimed(sessions, "slot_request")) is None


def test_a_slot_at_a_meeting_that_has_started_cannot_be_decided(chat, asha, chloe, clock, sessions):
    _scene(chat, asha, chloe, clock, sessions)
    request = _asked_for(chat, asha, sessions)
    clock.advance(days=7)
    before = given.row_counts(sessions)

    declined = chat.press(chloe, request, "Decline")

    assert not declined.ok and "already started" in declined.text
    assert given.row_counts(sessions) == before
    assert _decisions(sessions) == []
    assert render_delivery(chat.bot.ctx, _claimed(sessions, "slot_request")) is None


def test_good_news_of_a_slot_is_not_sent_once_the_meeting_is_cancelled(
    chat, asha, chloe, clock, sessions
):
    meeting_id, _ = _scene(chat, asha, chloe, clock, sessions)
    request = _asked_for(chat, asha, sessions)
    assert chat.press(chloe, request, "Accept").ok
    decision = _claimed(sessions, "slot_decision")

    cancel_meeting(chat.bot.ctx, meeting_id, actor_id=None)

    assert render_delivery(chat.bot.ctx, decision) is None


def test_good_news_of_a_slot_is_not_sent_after_the_meeting_started(
    chat, asha, chloe, clock, sessions
):
    _scene(chat, asha, chloe, clock, sessions)
    request = _asked_for(chat, asha, sessions)
    assert chat.press(chloe, request, "Accept").ok

    clock.advance(days=7, minutes=1)

    assert render_delivery(chat.bot.ctx, _claimed(sessions, "slot_decision")) is None


def test_a_slot_already_decided_is_not_decided_again(chat, asha, ben, chloe, clock, sessions):
    _scene(chat, asha, chloe, clock, sessions)
    request = _asked_for(chat, asha, sessions)
    given.organiser(sessions, ben, clock())  # after the request, so it went to Chloe alone
    assert chat.press(chloe, request, "Accept").ok
    before = given.row_counts(sessions)

    late = chat.press(ben, request, "Decline")

    assert 'The slot for "Falls prevention" was already accepted' in late.text
    assert given.row_counts(sessions) == before
    with sessions() as session:
        assert session.scalars(select(SlotRequest.status)).all() == ["accepted"]


ROUNDS = 6


@pytest.mark.parametrize("fresh_database_url", ["sqlite", "postgresql"], indirect=True)
def test_two_organisers_deciding_at_once_one_decision_stands(fresh_database_url, clock):
    engine = make_engine(fresh_database_url, pool_size=2, max_overflow=0)
    upgrade(engine)
    sessions = make_sessions(engine)
    ctx = Context(sessions=sessions, clock=clock)
    bot = Dispatcher(ctx)
    chloe, dan = person("Chloe Evans"), person("Dan Hughes")
    given.organiser(sessions, chloe, clock())
    given.organiser(sessions, dan, clock())
    with sessions.begin() as session:
        forum = create_forum(session, name="QI Forum", channel=None, now=clock())
        meetings = [
            add_meeting(session, ctx, forum, clock() + timedelta(days=7 + n), None, None).id
            for n in range(ROUNDS)
        ]
        project = create_project(
            session,
            name="Falls prevention",
            lead_id=None,
            site=None,
            status=ProjectStatus.ACTIVE,
            now=clock(),
        )
        slots = []
        for meeting_id in meetings:
            slot = SlotRequest(
                meeting_id=meeting_id,
                project_id=project.id,
                topic="Night checks",
                requested_by_id=None,
                status="requested",
                created_at=clock(),
            )
            session.add(slot)
            session.flush()
            slots.append(slot.id)

    for slot_id in slots:
        barrier = threading.Barrier(2)
        replies = []

        def decide(actor, decision, slot_id=slot_id, barrier=barrier, replies=replies):
            barrier.wait()
            replies.append(bot.action(actor, ids.SLOT_DECIDE, f"{slot_id}:{decision}"))

        workers = [
            threading.Thread(target=decide, args=(chloe, "accept")),
            threading.Thread(target=decide, args=(dan, "decline")),
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=30)

        told = [r.text for r in replies if "The team will be told" in r.text]
        already = [r.text for r in replies if "was already" in r.text]
        assert len(told) == 1 and len(already) == 1, [r.text for r in replies]

    with sessions() as session:
        decided = select(func.count()).where(
            AuditEvent.action.in_(("slot.accepted", "slot.declined"))
        )
        assert session.scalar(decided) == ROUNDS  # one decision each, not two
    engine.dispose()


def test_organisers_list_the_requests_waiting_and_decide_them_in_chat(
    chat, asha, ben, chloe, clock, sessions
):
    meeting_id, _ = _scene(chat, asha, chloe, clock, sessions)
    chat.say(ben, '/qi-project new "Sepsis screening"')
    assert chat.say(asha, '/qi-forum slot "Falls prevention" "Night checks"').ok
    assert chat.say(ben, '/qi-forum slot "Sepsis screening" "Our audit"').ok

    listed = chat.say(chloe, "/qi-forum slots")
    accepted = chat.press(chloe, Reply(sections=listed.sections[:1]), "Accept")
    declined = chat.press(chloe, Reply(sections=listed.sections[1:]), "Decline")
    after = chat.say(chloe, "/qi-forum slots")

    assert listed.sections[0].heading == "Requests for a slot"
    assert [s.text for s in listed.sections] == [
        '"Falls prevention" at the QI Forum on Monday 30 November 2026 at 10am, asked by '
        "Asha Patel: Night checks",
        '"Sepsis screening" at the QI Forum on Monday 30 November 2026 at 10am, asked by '
        "Ben Okafor: Our audit",
    ]
    assert given.labels(listed) == ["Accept", "Decline", "Accept", "Decline"]
    assert accepted.ok and accepted.refresh == (f"meeting:{meeting_id}@",)
    assert declined.ok and "is declined" in declined.text
    with sessions() as session:
        assert session.scalars(select(SlotRequest.status).order_by(SlotRequest.id)).all() == [
            "accepted",
            "declined",
        ]
    assert after.text == "Requests for a slot\nNo requests for a slot are waiting for a decision."


def test_the_list_leaves_out_cancelled_and_past_meetings_and_only_organisers_see_it(
    chat, asha, chloe, clock, sessions
):
    meeting_id, _ = _scene(chat, asha, chloe, clock, sessions)
    assert chat.say(asha, '/qi-forum slot "Falls prevention" "Night checks"').ok
    before = given.row_counts(sessions)

    not_organiser = chat.say(asha, "/qi-forum slots")
    cancel_meeting(chat.bot.ctx, meeting_id, actor_id=None)
    cancelled = chat.say(chloe, "/qi-forum slots")

    assert not not_organiser.ok and "Only QI forum organisers" in not_organiser.text
    assert "No requests for a slot are waiting" in cancelled.text
    assert given.row_counts(sessions)["slot_requests"] == before["slot_requests"]


def test_the_slots_waiting_are_read_in_the_same_few_statements_however_many(
    chat, asha, chloe, clock, sessions
):
    _scene(chat, asha, chloe, clock, sessions)
    chat.say(chloe, "/qi-forum slots")  # known to the bot before counting
    statements = []
    for teams in (1, 5):
        for n in range(teams):
            lead = person(f"Lead {teams}-{n}")
            assert chat.say(lead, f'/qi-project new "Project {teams}-{n}"').ok
            assert chat.say(lead, f'/qi-forum slot "Project {teams}-{n}" "Idea"').ok
        with watching(sessions.kw["bind"]) as watched:
            assert chat.say(chloe, "/qi-forum slots").ok
        statements.append(len(watched.statements))

    assert statements[0] == statements[1]


def test_a_slot_for_a_loosely_named_project_offers_it_as_a_button(
    chat, asha, chloe, clock, sessions
):
    _scene(chat, asha, chloe, clock, sessions)

    reply = chat.say(asha, '/qi-forum slot "prevention of falls" "Our idea for night checks"')
    asked = chat.press(asha, reply, "Falls prevention")

    assert not reply.ok and [b.label for b in reply.buttons] == ["Falls prevention"]
    assert asked.ok, asked.text
    with sessions() as session:
        assert session.scalars(select(SlotRequest.topic)).all() == ["Our idea for night checks"]
