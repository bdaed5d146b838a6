"""Moving or cancelling a forum meeting: what is refused, and who is told."""

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from handlers.core.errors import Refusal
from handlers.forum.announcements import run_announcements
from handlers.forum.changes import cancel_meeting, move_meeting
from handlers.forum.meetings import add_meeting
from handlers.messages import render_delivery
from store import outbox
from store.forums import create_forum
from store.models import Delivery, Meeting, Rsvp
from store.roles import RsvpAnswer
from tests.conftest import person
from tests.handlers import given
from tests.handlers.sweeps import send_all
from tests.query_watch import watching


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
        if ":cancelled:" in claimed.occurrence
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


# --- organisers in chat: meeting numbers, moving, cancelling and un-cancelling -------------


def inbox_of(ctx, recipient):
    """Send everything due; the texts this recipient got, in order."""
    return [reply.text for _kind, to, reply in send_all(ctx) if to == recipient and reply]


def test_an_organiser_sees_the_meetings_numbers_and_cancels_and_uncancels_one_in_chat(
    chat, ctx, ben, chloe, dm, sessions, clock, meeting_id
):
    given.organiser(sessions, chloe, clock())
    assert chat.press(ben, chat.say(ben, "/qi-forum"), "I'm going").ok

    listed = chat.say(chloe, "/qi-forum meetings")
    cancelled = chat.say(chloe, f"/qi-forum cancel-meeting {meeting_id}")
    heard = inbox_of(ctx, dm(ben))
    listed_again = chat.say(chloe, "/qi-forum meetings")
    back = chat.say(chloe, f"/qi-forum uncancel-meeting #{meeting_id}")

    assert f"• #{meeting_id} QI Forum: Monday 30 November 2026 at 10am" in listed.text
    assert f"/qi-forum cancel-meeting {meeting_id}," in listed.text  # how, with its number
    assert cancelled.ok and cancelled.refresh == (f"meeting:{meeting_id}@",)
    assert "1 person who said they were going will be told" in cancelled.text
    assert heard == [
        "Sorry: the QI Forum meeting on Monday 30 November 2026 at 10am has been cancelled. "
        "You said you were going, so I wanted you to know."
    ]
    assert f"#{meeting_id} QI Forum: Monday 30 November 2026 at 10am (cancelled)" in (
        listed_again.text
    )
    assert back.ok and back.refresh == (f"meeting:{meeting_id}@",)
    assert back.text.startswith(
        "The QI Forum meeting on Monday 30 November 2026 at 10am is back on. 1 person"
    )
    with sessions() as session:
        assert session.get(Meeting, meeting_id).cancelled_at is None
    (news,) = inbox_of(ctx, dm(ben))
    assert news.startswith(
        "Good news: the QI Forum meeting on Monday 30 November 2026 at 10am is going ahead "
        "after all."
    )
    assert chat.say(ben, "/qi-forum").text.splitlines()[1].startswith("Next meeting: Monday 30")


def announcements_of(ctx, sessions):
    """Every announcement of the forum: [(status, rendered text or None)], oldest first."""
    with sessions() as session:
        rows = session.scalars(
            select(Delivery).where(Delivery.kind == "announce").order_by(Delivery.id)
        ).all()
        return [(d.status, outbox.as_claimed(d)) for d in rows]


def rendered(ctx, claimed):
    reply = render_delivery(ctx, claimed)
    return reply.text.splitlines()[0] if reply else None


@pytest.fixture
def announced_meeting(ctx, sessions, clock):
    """A forum announcing in its channel, meeting in three days (a week's notice is due)."""
    forum = given.forum(sessions, clock(), channel="console:forum")
    return given.meeting(ctx, forum, clock() + timedelta(days=3), "Room 4")


def test_uncancelling_puts_back_the_announcement_the_cancelling_withdrew(
    chat, ctx, chloe, sessions, clock, announced_meeting
):
    given.organiser(sessions, chloe, clock())
    run_announcements(ctx)  # planned, not posted yet
    assert chat.say(chloe, f"/qi-forum cancel-meeting {announced_meeting}").ok
    assert [status for status, _ in announcements_of(ctx, sessions)] == ["withdrawn"]

    assert chat.say(chloe, f"/qi-forum uncancel-meeting {announced_meeting}").ok

    ((status, claimed),) = announcements_of(ctx, sessions)
    assert status == "pending"
    assert rendered(ctx, claimed) == "Coming up: QI Forum"
    assert [kind for kind, _to, reply in send_all(ctx) if reply] == ["announce"]


def test_an_announcement_posted_before_cancelling_shows_the_meeting_again_once_back_on(
    chat, ctx, chloe, sessions, clock, announced_meeting
):
    given.organiser(sessions, chloe, clock())
    run_announcements(ctx)
    send_all(ctx)  # posted a week before
    assert chat.say(chloe, f"/qi-forum cancel-meeting {announced_meeting}").ok
    ((_, posted),) = announcements_of(ctx, sessions)
    assert rendered(ctx, posted) == "Cancelled: QI Forum"
    clock.advance(days=2, hours=1)  # the day before, reached while it was cancelled
    run_announcements(ctx)

    back = chat.say(chloe, f"/qi-forum uncancel-meeting {announced_meeting}")

    assert back.refresh == (f"meeting:{announced_meeting}@",)  # the posted one is edited
    (_, posted), (status, day_before) = announcements_of(ctx, sessions)
    assert rendered(ctx, posted) == "Tomorrow: QI Forum"  # no longer "Cancelled"
    assert status == "pending" and rendered(ctx, day_before) == "Tomorrow: QI Forum"


def test_people_who_never_heard_of_the_cancelling_are_not_told_it_is_back_on(
    chat, ctx, ben, chloe, dm, sessions, clock, meeting_id
):
    given.organiser(sessions, chloe, clock())
    assert chat.press(ben, chat.say(ben, "/qi-forum"), "I'm going").ok
    assert chat.say(chloe, f"/qi-forum cancel-meeting {meeting_id}").ok  # news not sent yet

    back = chat.say(chloe, f"/qi-forum uncancel-meeting {meeting_id}")

    assert "Nobody going had heard it was cancelled yet, so there is nobody to tell" in back.text
    assert inbox_of(ctx, dm(ben)) == []  # neither the cancelling nor the news it is back on


def test_someone_who_said_since_they_cant_come_is_not_told_it_is_back_on(
    chat, ctx, ben, chloe, dm, sessions, clock, meeting_id
):
    given.organiser(sessions, chloe, clock())
    assert chat.press(ben, chat.say(ben, "/qi-forum"), "I'm going").ok
    assert chat.say(chloe, f"/qi-forum cancel-meeting {meeting_id}").ok
    assert [text.split(":")[0] for text in inbox_of(ctx, dm(ben))] == ["Sorry"]
    with sessions.begin() as session:  # Ben says he can't come after all
        session.execute(update(Rsvp).values(answer=RsvpAnswer.NOT_GOING))

    assert chat.say(chloe, f"/qi-forum uncancel-meeting {meeting_id}").ok

    assert inbox_of(ctx, dm(ben)) == []


def test_cancelled_again_after_being_back_on_the_people_going_hear_each_time(
    chat, ctx, ben, chloe, dm, sessions, clock, meeting_id
):
    given.organiser(sessions, chloe, clock())
    assert chat.press(ben, chat.say(ben, "/qi-forum"), "I'm going").ok
    heard = []
    for command in ("cancel-meeting", "uncancel-meeting", "cancel-meeting"):
        assert chat.say(chloe, f"/qi-forum {command} {meeting_id}").ok
        clock.advance(minutes=1)
        heard += inbox_of(ctx, dm(ben))

    assert [text.split(":")[0] for text in heard] == ["Sorry", "Good news", "Sorry"]


def test_a_team_told_of_the_cancelling_hears_its_slot_stands_once_back_on(
    chat, ctx, asha, chloe, dm, sessions, clock, meeting_id
):
    given.organiser(sessions, chloe, clock())
    requests = slots_asked_for(chat, sessions, ((asha, "Falls prevention"),))
    chat.press(chloe, render_delivery(ctx, requests[min(requests)]), "Accept")
    assert chat.say(chloe, f"/qi-forum cancel-meeting {meeting_id}").ok
    first = inbox_of(ctx, dm(asha))

    back = chat.say(chloe, f"/qi-forum uncancel-meeting {meeting_id}")

    # The slot's "Good news" waited and was no news once cancelled: only the cancelling.
    assert [text.split(":")[0] for text in first] == ["Sorry"]
    assert "1 team that asked for a slot will be told too." in back.text
    assert inbox_of(ctx, dm(asha)) == [
        "Good news: the QI Forum meeting on Monday 30 November 2026 at 10am is going ahead after "
        'all. "Falls prevention"\'s slot is still on the agenda.'
    ]


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("uncancel-meeting {id}", "is not cancelled, so there is nothing to undo"),
        ("uncancel-meeting", "Please give the meeting's number, like this: /qi-forum uncancel"),
        ("cancel-meeting next", "Please give the meeting's number, like this: /qi-forum cancel"),
        ("cancel-meeting 999", "There is no meeting #999. See their numbers with: /qi-forum meet"),
        ("move-meeting {id}", "Please give the meeting's number and its new date and time"),
        ("move-meeting {id} tomorrow 2pm", "For example: /qi-forum move-meeting 5 3 December"),
    ],
)
def test_a_change_that_cannot_be_made_is_explained_and_changes_nothing(
    chat, chloe, sessions, clock, meeting_id, typed, says
):
    given.organiser(sessions, chloe, clock())
    before = given.row_counts(sessions)

    reply = chat.say(chloe, "/qi-forum " + typed.format(id=meeting_id))

    assert not reply.ok and says in reply.text
    assert given.row_counts(sessions) == before


def test_only_organisers_change_or_list_meetings_in_chat(chat, ben, sessions, clock, meeting_id):
    chat.say(ben, "/qi-forum")  # known to the bot, so a refusal adds nothing
    before = given.row_counts(sessions)

    replies = [
        chat.say(ben, line)
        for line in (
            "/qi-forum meetings",
            f"/qi-forum cancel-meeting {meeting_id}",
            f"/qi-forum move-meeting {meeting_id} 2026-12-08 14:00",
        )
    ]

    assert all(not r.ok and "Only QI forum organisers can do that" in r.text for r in replies)
    assert given.row_counts(sessions) == before


def test_a_meeting_that_has_started_cannot_be_brought_back(
    chat, ctx, chloe, sessions, clock, meeting_id
):
    given.organiser(sessions, chloe, clock())
    assert chat.say(chloe, f"/qi-forum cancel-meeting {meeting_id}").ok
    clock.advance(days=7)

    reply = chat.say(chloe, f"/qi-forum uncancel-meeting {meeting_id}")

    assert not reply.ok and "too late to bring it back. Add a new meeting instead." in reply.text
    with sessions() as session:
        assert session.get(Meeting, meeting_id).cancelled_at is not None


def test_an_organiser_moves_a_meeting_in_chat_typed_either_way(
    chat, ctx, ben, chloe, dm, sessions, clock, meeting_id
):
    given.organiser(sessions, chloe, clock())
    assert chat.press(ben, chat.say(ben, "/qi-forum"), "I'm going").ok

    moved = chat.say(chloe, f"/qi-forum move-meeting {meeting_id} 2026-12-08 14:00")
    again = chat.say(chloe, f"/qi-forum move meeting {meeting_id} 09/12/2026 15:30")

    assert moved.ok and moved.refresh == (f"meeting:{meeting_id}@",)
    assert moved.text.startswith("Moved the QI Forum meeting to Tuesday 8 December 2026 at 2pm.")
    assert again.text.startswith(
        "Moved the QI Forum meeting to Wednesday 9 December 2026 at 3:30pm"
    )
    assert [t.split(".")[0] for t in inbox_of(ctx, dm(ben))] == [
        "The QI Forum meeting you said you're going to has moved",
        "The QI Forum meeting you said you're going to has moved",
    ]


def test_the_list_of_meetings_reads_the_same_few_statements_however_many_forums(
    chat, ctx, chloe, sessions, clock
):
    given.organiser(sessions, chloe, clock())
    chat.say(chloe, "/qi-forum meetings")  # known to the bot before counting
    statements = []
    for forums in (1, 6):
        for n in range(forums):
            forum = given.forum(sessions, clock(), name=f"Forum {forums}-{n}")
            given.meeting(ctx, forum, clock() + timedelta(days=n + 1))
        with watching(sessions.kw["bind"]) as watched:
            assert chat.say(chloe, "/qi-forum meetings").ok
        statements.append(len(watched.statements))

    assert statements[0] == statements[1]
