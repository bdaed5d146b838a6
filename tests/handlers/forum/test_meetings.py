"""The QI forum card, RSVPs and adding meetings: /qi-forum."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from handlers.core import ids
from handlers.core.reply import Reply
from handlers.forum.announcements import ANNOUNCE, run_announcements
from handlers.forum.meetings import MEETINGS_SHOWN, meeting_prefix
from store.forums import create_forum
from store.models import NAME_MAX, Meeting, Rsvp
from store.roles import Role, RsvpAnswer
from tests.conftest import person
from tests.handlers import given
from tests.handlers.sweeps import send_all
from tests.query_watch import watching

DEC_3_2PM = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)  # London is on GMT in December
RSVP_LABELS = ["I'm going", "Maybe", "I can't make it"]


@pytest.fixture
def forum_with_meeting(ctx, sessions, clock):
    """A forum, "QI Forum", meeting on Thursday 3 December 2026 at 2pm in Room 4."""
    forum_id = given.forum(sessions, clock())
    return given.meeting(ctx, forum_id, DEC_3_2PM, "Room 4")


def rsvps(sessions):
    with sessions() as session:
        return session.execute(select(Rsvp.answer, Rsvp.role).order_by(Rsvp.id)).all()


def test_the_card_shows_the_next_meeting_and_asks_if_you_will_come(chat, ben, forum_with_meeting):
    reply = chat.say(ben, "/qi-forum")

    assert reply.ok
    assert reply.sections[0].heading == "QI Forum"
    assert reply.sections[0].text.splitlines() == [
        "Next meeting: Thursday 3 December 2026 at 2pm at Room 4.",
        "Nobody has said they're going yet.",
        "Will you come?",
    ]
    assert given.labels(reply) == [*RSVP_LABELS, "Join the forum"]


def test_forum_members_are_not_offered_to_join_again(chat, ben, forum_with_meeting):
    chat.say(ben, "/qi-join forum as carer")

    reply = chat.say(ben, "/qi-forum")

    assert given.labels(reply) == RSVP_LABELS


def test_rsvp_records_the_answer_with_your_forum_role_and_updates_the_card(
    chat, ben, sessions, clock, forum_with_meeting
):
    chat.say(ben, "/qi-join forum as carer")
    card = chat.say(ben, "/qi-forum")

    reply = chat.press(ben, card, "I'm going")

    assert reply.ok
    assert "Going: 1 (1 carer)." in reply.text
    assert "You said you're going." in reply.text
    assert "Will you come?" not in reply.text
    with sessions() as session:
        rsvp = session.scalars(select(Rsvp)).one()
    assert (rsvp.meeting_id, rsvp.answer, rsvp.role) == (
        forum_with_meeting,
        RsvpAnswer.GOING,
        Role.CARER,
    )
    assert rsvp.answered_at == clock()


def test_the_card_counts_who_is_going_by_role(chat, asha, ben, chloe, forum_with_meeting):
    chat.say(ben, "/qi-join forum as carer")
    chat.say(chloe, "/qi-join forum as staff")
    sam, kim, lee = person("Sam Jones"), person("Kim Lo"), person("Lee Park")
    chat.say(sam, "/qi-join forum as service user")
    chat.say(kim, "/qi-join forum as service user")
    for actor in (ben, chloe, sam, kim, asha):  # Asha is not in the forum: role not said
        chat.press(actor, chat.say(actor, "/qi-forum"), "I'm going")
    chat.press(lee, chat.say(lee, "/qi-forum"), "Maybe")

    reply = chat.say(lee, "/qi-forum")

    assert "Going: 5 (2 service users, 1 carer, 1 member of staff, 1 who didn't say)." in reply.text
    assert "Maybe: 1." in reply.text
    assert "You said maybe." in reply.text


def test_changing_your_answer_updates_it_rather_than_adding_another(
    chat, ben, sessions, clock, forum_with_meeting
):
    chat.say(ben, "/qi-join forum as carer")
    card = chat.say(ben, "/qi-forum")
    chat.press(ben, card, "I'm going")
    clock.advance(days=1)

    reply = chat.press(ben, card, "I can't make it")

    assert reply.ok
    assert "You said you can't make it." in reply.text
    assert "Nobody has said they're going yet." in reply.text
    assert rsvps(sessions) == [(RsvpAnswer.NOT_GOING, Role.CARER)]
    with sessions() as session:
        assert session.scalars(select(Rsvp.answered_at)).one() == clock()


def test_pressing_the_same_answer_twice_keeps_one_answer(chat, ben, sessions, forum_with_meeting):
    card = chat.say(ben, "/qi-forum")

    chat.press(ben, card, "Maybe")
    reply = chat.press(ben, card, "Maybe")

    assert reply.ok and "Maybe: 1." in reply.text
    assert rsvps(sessions) == [(RsvpAnswer.MAYBE, None)]


def test_a_cancelled_meeting_refuses_rsvp(chat, ben, sessions, clock, forum_with_meeting):
    card = chat.say(ben, "/qi-forum")
    with sessions.begin() as session:
        session.get(Meeting, forum_with_meeting).cancelled_at = clock()
    before = given.row_counts(sessions)

    reply = chat.press(ben, card, "I'm going")

    assert not reply.ok and "That meeting has been cancelled" in reply.text
    assert given.row_counts(sessions) == before


def test_a_meeting_that_has_started_refuses_rsvp(chat, ben, sessions, clock, forum_with_meeting):
    card = chat.say(ben, "/qi-forum")
    clock.advance(days=10, hours=4, minutes=1)  # Thursday 3 December, 14:01
    before = given.row_counts(sessions)

    reply = chat.press(ben, card, "I'm going")

    assert not reply.ok and "That meeting has already started" in reply.text
    assert given.row_counts(sessions) == before


@pytest.mark.parametrize("value", ["999999:going", "x:going", "1:dancing", ""])
def test_a_broken_rsvp_button_is_refused(chat, ben, sessions, forum_with_meeting, value):
    before = given.row_counts(sessions)

    reply = chat.bot.action(ben, ids.RSVP, value)

    assert not reply.ok and "/qi-forum" in reply.text
    assert given.row_counts(sessions) == before


def test_the_next_meeting_skips_past_and_cancelled_ones(chat, ben, ctx, sessions, clock):
    forum_id = given.forum(sessions, clock())
    given.meeting(ctx, forum_id, datetime(2026, 11, 24, 14, 0, tzinfo=UTC), "Soon")
    cancelled = given.meeting(ctx, forum_id, datetime(2026, 11, 26, 14, 0, tzinfo=UTC), "Off")
    given.meeting(ctx, forum_id, datetime(2027, 1, 7, 14, 0, tzinfo=UTC), "Later")
    given.meeting(ctx, forum_id, datetime(2026, 12, 3, 14, 0, tzinfo=UTC), "Next")
    with sessions.begin() as session:
        session.get(Meeting, cancelled).cancelled_at = clock()
    assert "at Soon." in chat.say(ben, "/qi-forum").text

    clock.advance(days=2)
    reply = chat.say(ben, "/qi-forum")

    assert "Next meeting: Thursday 3 December 2026 at 2pm at Next." in reply.text


def test_with_no_meeting_planned_it_says_so_kindly(chat, ben, sessions, clock):
    given.forum(sessions, clock())

    reply = chat.say(ben, "/qi-forum")

    assert reply.ok
    assert "No meeting is planned yet." in reply.text
    assert given.labels(reply) == ["Join the forum"]


def test_with_no_forum_it_says_so_kindly(chat, ben, sessions):
    before = given.row_counts(sessions)

    reply = chat.say(ben, "/qi-forum")

    assert not reply.ok and "There is no QI forum set up here yet" in reply.text
    assert given.row_counts(sessions) == before


def test_members_see_only_their_forums_and_others_see_every_forum(
    chat, ben, chloe, sessions, clock
):
    given.forum(sessions, clock(), name="North")
    given.forum(sessions, clock(), name="South")
    assert chat.say(ben, "/qi-join forum south").ok

    member = chat.say(ben, "/qi-forum")
    newcomer = chat.say(chloe, "/qi-forum")
    named = chat.say(ben, "/qi-forum NORTH")

    assert [s.heading for s in member.sections] == ["South"]
    assert [s.heading for s in newcomer.sections] == ["North", "South"]
    assert [s.heading for s in named.sections] == ["North"]


def test_the_join_button_on_the_card_signs_you_up(chat, ben, sessions, forum_with_meeting):
    card = chat.say(ben, "/qi-forum")

    reply = chat.press(ben, card, "Join the forum")

    assert reply.ok and 'Welcome to "QI Forum"' in reply.text
    assert given.labels(chat.say(ben, "/qi-forum")) == RSVP_LABELS


# add-meeting, for organisers


def meetings(sessions):
    with sessions() as session:
        return session.execute(
            select(Meeting.starts_at, Meeting.location).order_by(Meeting.id)
        ).all()


def test_an_organiser_adds_a_meeting_in_local_time(chat, asha, sessions, clock):
    given.forum(sessions, clock())
    given.organiser(sessions, asha, clock())

    reply = chat.say(asha, '/qi-forum add-meeting 2026-12-03 14:00 at "Room 4"')

    assert reply.ok
    assert reply.text == 'Added a "QI Forum" meeting on Thursday 3 December 2026 at 2pm at Room 4.'
    assert meetings(sessions) == [(DEC_3_2PM, "Room 4")]


def test_a_summer_meeting_is_stored_an_hour_earlier_in_utc(chat, asha, sessions, clock):
    given.forum(sessions, clock())
    given.organiser(sessions, asha, clock())

    reply = chat.say(asha, "/qi-forum add-meeting 2027-07-01 14:00 at Room 4")

    assert reply.ok and "Thursday 1 July 2027 at 2pm" in reply.text
    assert meetings(sessions) == [(datetime(2027, 7, 1, 13, 0, tzinfo=UTC), "Room 4")]


def test_the_card_shows_a_summer_meeting_in_local_time(chat, asha, ben, sessions, clock):
    given.forum(sessions, clock())
    given.organiser(sessions, asha, clock())
    chat.say(asha, "/qi-forum add-meeting 01/07/2027 09:30")

    reply = chat.say(ben, "/qi-forum")

    assert "Next meeting: Thursday 1 July 2027 at 9:30am." in reply.text


def test_a_meeting_can_go_to_one_forum_of_several(chat, asha, sessions, clock):
    given.forum(sessions, clock(), name="North")
    given.forum(sessions, clock(), name="South")
    given.organiser(sessions, asha, clock())

    unclear = chat.say(asha, "/qi-forum add-meeting 2026-12-03 14:00")
    clear = chat.say(asha, "/qi-forum add-meeting 2026-12-03 14:00 south at Hall")

    assert not unclear.ok and 'There are 2 forums: "North", "South"' in unclear.text
    assert clear.ok and 'Added a "South" meeting' in clear.text
    assert len(meetings(sessions)) == 1


def test_only_organisers_may_add_meetings(chat, ben, sessions, clock):
    given.forum(sessions, clock())
    before = given.row_counts(sessions)

    reply = chat.say(ben, '/qi-forum add-meeting 2026-12-03 14:00 at "Room 4"')

    assert not reply.ok and "Only QI forum organisers can do that." in reply.text
    assert given.row_counts(sessions) == before


@pytest.mark.parametrize(
    ("when", "says"),
    [
        ("2026-11-23 09:00", "already passed"),
        ("2026-13-03 14:00", "couldn't read that date and time"),
        ("next thursday 2pm", "couldn't read that date and time"),
        ("2026-12-03", "Please give the date and time"),
        ("", "Please give the date and time"),
    ],
)
def test_a_meeting_time_that_cannot_be_used_is_explained(chat, asha, sessions, clock, when, says):
    given.forum(sessions, clock())
    given.organiser(sessions, asha, clock())
    before = given.row_counts(sessions)

    reply = chat.say(asha, f"/qi-forum add-meeting {when} at Room 4")

    assert not reply.ok and says in reply.text
    assert given.row_counts(sessions) == before


def test_an_over_long_place_is_refused_kindly(chat, asha, sessions, clock):
    given.forum(sessions, clock())
    given.organiser(sessions, asha, clock())
    before = given.row_counts(sessions)

    reply = chat.say(asha, f'/qi-forum add-meeting 2026-12-03 14:00 at "{"R" * (NAME_MAX + 1)}"')

    assert not reply.ok and "too long" in reply.text
    assert given.row_counts(sessions) == before


def test_a_place_with_markup_and_control_characters_is_tidied_not_lost(chat, asha, sessions, clock):
    given.forum(sessions, clock())
    given.organiser(sessions, asha, clock())

    reply = chat.say(asha, "/qi-forum add-meeting 2026-12-03 14:00 at <!here> St John’s\x00 room")

    assert reply.ok, reply.text
    assert meetings(sessions) == [(DEC_3_2PM, "<!here> St John's room")]


def test_rsvp_to_a_meeting_that_no_longer_exists_says_so(chat, ben):
    from handlers.core import ids

    reply = chat.bot.action(ben, ids.RSVP, "999999:going")

    assert not reply.ok
    assert "can't find that meeting" in reply.text


def test_a_time_that_does_not_exist_when_the_clocks_go_forward_is_refused(
    chat, asha, sessions, clock
):
    given.organiser(sessions, asha, clock())
    given.forum(sessions, clock())

    reply = chat.say(asha, "/qi-forum add-meeting 2027-03-28 01:30")

    assert not reply.ok
    assert "01:30 doesn't exist on 28 March because the clocks go forward" in reply.text


def test_add_meeting_may_be_typed_with_a_space(chat, asha, sessions, clock):
    given.organiser(sessions, asha, clock())
    given.forum(sessions, clock())

    reply = chat.say(asha, '/qi-forum add meeting 2027-03-28 02:30 at "Room 4"')

    assert reply.ok and "Sunday 28 March 2027 at 2:30am at Room 4" in reply.text


@pytest.mark.parametrize(
    "typed",
    [
        "3/12/2026 2pm",
        "3 December 2026 2pm",
        "3 Dec 2:00 pm",
        "3rd December 14.00",
        "2pm 3 Dec",
        "Thursday 3 December 2pm",
        "2026-12-03 14:00",
    ],
)
def test_a_meeting_time_is_read_as_people_write_it(chat, asha, sessions, clock, typed):
    given.forum(sessions, clock(), name="North")
    given.forum(sessions, clock(), name="South")
    given.organiser(sessions, asha, clock())

    reply = chat.say(asha, f'/qi-forum add-meeting {typed} South at "Room 4"')

    assert reply.ok, reply.text
    assert reply.text == 'Added a "South" meeting on Thursday 3 December 2026 at 2pm at Room 4.'
    assert meetings(sessions) == [(DEC_3_2PM, "Room 4")]


def test_a_meeting_day_without_a_year_is_the_next_such_day(chat, asha, sessions, clock):
    given.forum(sessions, clock())
    given.organiser(sessions, asha, clock())  # today is 23 November 2026

    coming = chat.say(asha, "/qi-forum add-meeting 3 Dec 2:30pm")
    gone_by = chat.say(asha, "/qi-forum add-meeting 20 November 2pm")

    assert coming.ok and "Thursday 3 December 2026 at 2:30pm" in coming.text
    assert gone_by.ok and "Saturday 20 November 2027 at 2pm" in gone_by.text


def test_a_refusal_shows_an_example_still_ahead_of_today(chat, asha, sessions, clock):
    clock.advance(days=70)  # Monday 1 February 2027
    given.forum(sessions, clock())
    given.organiser(sessions, asha, clock())

    reply = chat.say(asha, "/qi-forum add-meeting next week")

    assert not reply.ok
    assert "Dates are day first: 11/2/2027, 11 February 2027, 11 Feb or 2027-02-11." in reply.text
    assert "Times like 2pm, 2:30pm or 14:00." in reply.text
    assert '/qi-forum add-meeting 11 February 2027 2pm at "Room 4, Trust HQ"' in reply.text


@pytest.mark.parametrize(
    ("starts", "heading"),
    [
        (datetime(2026, 11, 23, 14, 0, tzinfo=UTC), "Today: QI Forum"),  # added at 10am
        (datetime(2026, 11, 24, 9, 0, tzinfo=UTC), "Tomorrow: QI Forum"),
        (datetime(2026, 11, 27, 14, 0, tzinfo=UTC), "Coming up: QI Forum"),
    ],
)
def test_an_announcement_names_the_day_by_the_calendar(ctx, sessions, clock, starts, heading):
    """A meeting added for later today reaches the day-before milestone at once: "Today"."""
    with sessions.begin() as session:
        forum = create_forum(session, name="QI Forum", channel="slack:CFORUM", now=clock())
        forum_id = forum.id
    given.meeting(ctx, forum_id, starts)

    run_announcements(ctx)
    (post,) = [reply for kind, _, reply in send_all(ctx) if kind == ANNOUNCE]

    assert post.sections[0].heading == heading


def test_a_second_meeting_at_the_same_forum_time_and_place_is_refused(chat, asha, sessions, clock):
    given.forum(sessions, clock())
    given.organiser(sessions, asha, clock())
    assert chat.say(asha, '/qi-forum add-meeting 2026-12-03 14:00 at "Room 4"').ok
    (first,) = meeting_ids(sessions)
    before = given.row_counts(sessions)

    again = chat.say(asha, '/qi-forum add-meeting 03/12/2026 14:00 at "room 4"')

    assert not again.ok
    assert again.text == (
        "There is already a QI Forum meeting on Thursday 3 December 2026 at 2pm at room 4: "
        f"#{first}. Nothing was changed."
    )
    assert given.row_counts(sessions) == before


def test_another_place_or_a_cancelled_meeting_is_no_reason_to_refuse(
    chat, ctx, asha, sessions, clock
):
    given.forum(sessions, clock())
    given.organiser(sessions, asha, clock())
    assert chat.say(asha, '/qi-forum add-meeting 2026-12-03 14:00 at "Room 4"').ok
    (first,) = meeting_ids(sessions)
    assert chat.say(asha, f"/qi-forum cancel-meeting {first}").ok

    again = chat.say(asha, '/qi-forum add-meeting 2026-12-03 14:00 at "Room 4"')
    elsewhere = chat.say(asha, '/qi-forum add-meeting 2026-12-03 14:00 at "Room 5"')
    back = chat.say(asha, f"/qi-forum uncancel-meeting {first}")

    assert again.ok and elsewhere.ok
    assert len(meeting_ids(sessions)) == 3
    # Back on, the cancelled one would be the second at that time and place.
    assert not back.ok and "There is already a QI Forum meeting on Thursday" in back.text


def test_a_meeting_moved_onto_another_at_the_same_place_is_refused(
    chat, ctx, asha, sessions, clock
):
    given.forum(sessions, clock())
    given.organiser(sessions, asha, clock())
    assert chat.say(asha, "/qi-forum add-meeting 2026-12-03 14:00").ok
    assert chat.say(asha, "/qi-forum add-meeting 2026-12-10 14:00").ok
    first, second = meeting_ids(sessions)

    moved = chat.say(asha, f"/qi-forum move-meeting {second} 2026-12-03 14:00")

    assert not moved.ok and f": #{first}. Nothing was changed." in moved.text
    assert meetings(sessions)[1][0] == datetime(2026, 12, 10, 14, 0, tzinfo=UTC)


def meeting_ids(sessions):
    with sessions() as session:
        return list(session.scalars(select(Meeting.id).order_by(Meeting.id)))


# The next few meetings, each with its own buttons


def press_for(chat, actor, reply, starts: str, label: str):
    """Press the button with this label under the meeting whose line names `starts`."""
    (section,) = [s for s in reply.sections if starts in s.text.splitlines()[0]]
    (button,) = [b for b in section.buttons if b.label == label]
    return chat.bot.action(actor, button.action_id, button.value)


@pytest.fixture
def five_meetings(ctx, sessions, clock):
    """A forum with a past meeting, a cancelled one and five to come, on Thursdays at 2pm."""
    forum_id = given.forum(sessions, clock())
    given.meeting(ctx, forum_id, datetime(2026, 11, 23, 11, 0, tzinfo=UTC), "Earlier")
    cancelled = given.meeting(ctx, forum_id, datetime(2026, 11, 26, 14, 0, tzinfo=UTC), "Off")
    with sessions.begin() as session:
        session.get(Meeting, cancelled).cancelled_at = clock()
    for day in (3, 10, 17, 24, 31):
        given.meeting(ctx, forum_id, datetime(2026, 12, day, 14, 0, tzinfo=UTC), f"Room {day}")
    clock.advance(hours=2)  # the 11am meeting has started
    return forum_id


def test_the_card_lists_the_next_few_meetings_each_with_its_own_buttons(chat, ben, five_meetings):
    reply = chat.say(ben, "/qi-forum")

    assert reply.ok
    assert [s.heading for s in reply.sections] == ["QI Forum", None, None]
    assert [s.text.splitlines()[0] for s in reply.sections] == [
        "Next meeting: Thursday 3 December 2026 at 2pm at Room 3.",
        "After that: Thursday 10 December 2026 at 2pm at Room 10.",
        "After that: Thursday 17 December 2026 at 2pm at Room 17.",
    ]
    assert reply.sections[2].text.splitlines()[-1] == "…and 2 more meetings planned later."
    assert [given.labels(Reply(sections=(s,))) for s in reply.sections] == [
        RSVP_LABELS,
        RSVP_LABELS,
        [*RSVP_LABELS, "Join the forum"],
    ]


def test_answering_a_later_meeting_records_that_meeting_and_shows_the_card_again(
    chat, ben, sessions, five_meetings
):
    chat.say(ben, "/qi-join forum as carer")
    card = chat.say(ben, "/qi-forum")

    reply = press_for(chat, ben, card, "10 December", "I'm going")

    assert reply.ok
    texts = [s.text for s in reply.sections]
    assert "Nobody has said they're going yet." in texts[0] and "Will you come?" in texts[0]
    assert "Going: 1 (1 carer)." in texts[1] and "You said you're going." in texts[1]
    with sessions() as session:
        rsvp = session.scalars(select(Rsvp)).one()
        assert session.get(Meeting, rsvp.meeting_id).location == "Room 10"
    assert reply.refresh == (meeting_prefix(rsvp.meeting_id),)  # its announcement's counts


def test_answering_a_meeting_beyond_the_next_few_keeps_it_on_the_card(
    chat, ben, sessions, five_meetings
):
    with sessions() as session:
        last = session.scalar(select(Meeting.id).where(Meeting.location == "Room 31"))

    reply = chat.bot.action(ben, ids.RSVP, f"{last}:maybe")  # from a "meeting moved" message

    assert reply.ok
    assert [s.text.splitlines()[0].split(" at ")[-1] for s in reply.sections] == [
        "Room 3.",
        "Room 10.",
        "Room 17.",
        "Room 31.",
    ]
    assert "You said maybe." in reply.sections[3].text
    assert "…and 1 more meeting planned later." in reply.sections[3].text


def test_every_forums_next_meeting_comes_before_any_forums_later_ones(chat, ben, ctx, clock):
    forum_ids = [given.forum(ctx.sessions, clock(), name=f"Forum {n:02}") for n in range(10)]
    for forum_id in forum_ids:
        for day in (3, 10, 17):
            given.meeting(ctx, forum_id, datetime(2026, 12, day, 14, 0, tzinfo=UTC))

    reply = chat.say(ben, "/qi-forum")

    firsts = [s for s in reply.sections if s.heading]
    assert [s.heading for s in firsts] == [f"Forum {n:02}" for n in range(10)]
    assert len([b for b in reply.buttons if b.label == "I'm going"]) == MEETINGS_SHOWN
    after = [s.text.count("After that: ") for s in reply.sections]
    assert sum(after) == MEETINGS_SHOWN - 10  # the second meetings of the first five forums
    assert reply.text.count("…and 2 more meetings planned later.") == 5
    assert reply.text.count("…and 1 more meeting planned later.") == 5


@pytest.mark.parametrize("forums", [1, 10])
def test_the_card_asks_the_database_the_same_few_questions_however_many_forums(
    chat, ctx, ben, sessions, clock, forums
):
    chat.say(ben, "/qi-forum")  # first contact: Ben is known from now on
    for n in range(forums):
        forum_id = given.forum(sessions, clock(), name=f"Forum {n:02}")
        meetings = [
            given.meeting(ctx, forum_id, datetime(2026, 12, day, 14, 0, tzinfo=UTC))
            for day in (3, 10, 17, 24)
        ]
        chat.say(ben, f"/qi-join Forum {n:02} as carer")
        chat.bot.action(ben, ids.RSVP, f"{meetings[0]}:going")

    with watching(sessions.kw["bind"]) as watched:
        reply = chat.say(ben, "/qi-forum")

    assert reply.text.count("Going: 1 (1 carer).") == reply.text.count("You said you're") == forums
    # Who is asking, their forums, the meetings, their counts and their answers.
    assert len(watched.statements) <= 6, [statement for statement, _ in watched.statements]
