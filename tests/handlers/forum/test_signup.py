"""Signing up to the QI forum and saying whether you'd like to be matched with a project."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from handlers.core import ids
from handlers.forum.meetings import meeting_prefix
from store.models import AuditEvent, ForumMember, Meeting, Rsvp
from store.roles import Role, RsvpAnswer
from tests.handlers import given

MATCH_QUESTION = "Would you like us to put you in touch with one?"


@pytest.fixture
def forum_id(sessions, clock):
    return given.forum(sessions, clock())


def sign_ups(sessions):
    """Every sign-up, left ones too: (role, wants_match, still signed up)."""
    with sessions() as session:
        rows = session.execute(
            select(ForumMember.role, ForumMember.wants_match, ForumMember.left_at).order_by(
                ForumMember.id
            )
        )
        return [(role, wants, left is None) for role, wants, left in rows]


ROLE_LABELS = ["Staff", "Service user", "Carer", "Peer supporter", "Other", "I'd rather not say"]


def test_joining_the_forum_welcomes_you_and_asks_how_you_come_first(chat, ben, sessions, forum_id):
    reply = chat.say(ben, "/qi-join forum")

    assert reply.ok
    assert reply.text.startswith('Welcome to "QI Forum".')
    assert "staff and people with lived experience meet as equals" in reply.text
    assert "How do you come to the forum?" in reply.text
    assert MATCH_QUESTION not in reply.text
    assert given.labels(reply) == ROLE_LABELS
    assert sign_ups(sessions) == [(None, False, True)]  # signed up, whatever they answer


@pytest.mark.parametrize("role", ["Service user", "Carer"])
def test_service_users_and_carers_are_then_asked_about_a_project(
    chat, ben, sessions, forum_id, role
):
    asked = chat.press(ben, chat.say(ben, "/qi-join forum"), role)

    assert asked.ok and f"I've noted that you come as a {role.lower()}." in asked.text
    assert MATCH_QUESTION in asked.text
    assert given.labels(asked) == ["Yes, please", "Not now"]

    answer = chat.press(ben, asked, "Yes, please")

    assert answer.ok and "I'll ask you first" in answer.text
    assert sign_ups(sessions) == [(Role(role.lower().replace(" ", "_")), True, True)]


@pytest.mark.parametrize("role", ["Staff", "Peer supporter", "Other"])
def test_everyone_else_is_not_asked_about_a_project(chat, ben, sessions, forum_id, role):
    reply = chat.press(ben, chat.say(ben, "/qi-join forum"), role)

    assert reply.ok and "I've noted that you come " in reply.text
    assert MATCH_QUESTION not in reply.text
    assert given.labels(reply) == ["See the next meeting"]
    assert sign_ups(sessions)[0][:2] == (Role(role.lower().replace(" ", "_")), False)


def test_you_may_rather_not_say_how_you_come(chat, ben, sessions, forum_id):
    before = given.row_counts(sessions)
    welcome = chat.say(ben, "/qi-join forum")

    reply = chat.press(ben, welcome, "I'd rather not say")

    assert reply.ok and "That's fine." in reply.text
    assert MATCH_QUESTION not in reply.text
    assert given.labels(reply) == ["See the next meeting"]
    assert sign_ups(sessions) == [(None, False, True)]
    after = given.row_counts(sessions)
    assert after["forum_members"] == before["forum_members"] + 1


@pytest.mark.parametrize("typed", ["forum", "the forum", "QI forum", "The QI Forum", "FORUM"])
def test_the_forum_can_be_named_in_several_ways(chat, ben, sessions, forum_id, typed):
    reply = chat.say(ben, f"/qi-join {typed}")

    assert reply.ok, reply.text
    assert len(sign_ups(sessions)) == 1


def test_an_old_yes_button_from_someone_who_has_not_said_asks_how_they_come(
    chat, ben, sessions, forum_id
):
    """Before the role was asked first, people said yes to a project first."""
    chat.say(ben, "/qi-join forum")
    with sessions() as session:
        member_id = session.scalar(select(ForumMember.id))

    question = chat.bot.action(ben, ids.FORUM_MATCH, f"{member_id}:yes")

    assert question.ok and "How do you come to the forum?" in question.text
    assert given.labels(question) == ROLE_LABELS
    assert sign_ups(sessions) == [(None, True, True)]

    answer = chat.press(ben, question, "Carer")

    assert answer.ok and "I've noted that you come as a carer" in answer.text
    assert "I'll ask you first" in answer.text
    assert given.labels(answer) == []
    assert sign_ups(sessions) == [(Role.CARER, True, True)]


@pytest.mark.parametrize("role", ["carer", "service user"])
def test_saying_yes_with_a_role_says_what_happens_next(chat, ben, sessions, forum_id, role):
    welcome = chat.say(ben, f"/qi-join forum as {role}")

    reply = chat.press(ben, welcome, "Yes, please")

    assert reply.ok and "I'll ask you first" in reply.text
    assert given.labels(reply) == []
    assert sign_ups(sessions)[0][1] is True


def test_not_now_leaves_you_unmatched(chat, ben, sessions, forum_id):
    welcome = chat.say(ben, "/qi-join forum as carer")

    reply = chat.press(ben, welcome, "Not now")

    assert reply.ok and "change your mind any time" in reply.text
    assert sign_ups(sessions) == [(Role.CARER, False, True)]


def test_changing_your_mind_to_not_now_turns_matching_off(chat, ben, sessions, forum_id):
    welcome = chat.say(ben, "/qi-join forum as carer")
    chat.press(ben, welcome, "Yes, please")

    chat.press(ben, welcome, "Not now")

    assert sign_ups(sessions) == [(Role.CARER, False, True)]


def test_the_match_preference_is_audited_only_when_it_changes(chat, ben, sessions, forum_id):
    welcome = chat.say(ben, "/qi-join forum as carer")
    chat.press(ben, welcome, "Yes, please")
    chat.press(ben, welcome, "Yes, please")

    with sessions() as session:
        actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions == ["forum_member.joined", "forum_member.match_preference"]


def test_staff_are_not_asked_about_being_matched(chat, chloe, sessions, forum_id):
    reply = chat.say(chloe, "/qi-join forum as staff")

    assert reply.ok and MATCH_QUESTION not in reply.text
    assert given.labels(reply) == ["See the next meeting"]
    assert sign_ups(sessions) == [(Role.STAFF, False, True)]


def test_joining_the_forum_again_is_not_an_error(chat, ben, sessions, forum_id):
    chat.say(ben, "/qi-join forum as carer")

    reply = chat.say(ben, "/qi-join forum")

    assert reply.ok and 'You\'re already signed up to "QI Forum".' in reply.text
    assert MATCH_QUESTION in reply.text
    assert len(sign_ups(sessions)) == 1


def test_joining_again_without_having_said_asks_how_you_come_again(chat, ben, sessions, forum_id):
    chat.say(ben, "/qi-join forum")

    reply = chat.say(ben, "/qi-join forum")

    assert reply.ok and "already signed up" in reply.text
    assert given.labels(reply) == ROLE_LABELS
    assert len(sign_ups(sessions)) == 1


def test_joining_again_with_a_role_records_the_role(chat, ben, sessions, forum_id):
    chat.say(ben, "/qi-join forum")

    reply = chat.say(ben, "/qi-join forum as service user")

    assert "already signed up" in reply.text
    assert "I've noted that you come as a service user." in reply.text
    assert MATCH_QUESTION in reply.text
    assert sign_ups(sessions) == [(Role.SERVICE_USER, False, True)]


def test_joining_again_without_a_role_keeps_the_role(chat, ben, sessions, forum_id):
    chat.say(ben, "/qi-join forum as carer")

    reply = chat.say(ben, "/qi-join forum")

    assert "I've noted" not in reply.text
    assert sign_ups(sessions) == [(Role.CARER, False, True)]


def test_once_matched_joining_again_does_not_ask_again(chat, ben, sessions, forum_id):
    welcome = chat.say(ben, "/qi-join forum as carer")
    chat.press(ben, welcome, "Yes, please")

    reply = chat.say(ben, "/qi-join forum")

    assert MATCH_QUESTION not in reply.text
    assert given.labels(reply) == ["See the next meeting"]


def test_an_unknown_forum_role_is_refused_and_nothing_is_stored(chat, ben, sessions, forum_id):
    before = given.row_counts(sessions)

    reply = chat.say(ben, "/qi-join forum as wizard")

    assert not reply.ok and 'I don\'t know the role "wizard"' in reply.text
    assert given.row_counts(sessions) == before


# Buttons are only usable by the person they were offered to.


def test_someone_elses_match_button_is_refused(chat, asha, ben, sessions, forum_id):
    chat.say(asha, "/qi-join forum as carer")
    welcome = chat.say(ben, "/qi-join forum as carer")
    before = given.row_counts(sessions)

    reply = chat.press(asha, welcome, "Yes, please")

    assert (
        not reply.ok
        and "This button was for someone else, or you have left the forum since." in reply.text
    )
    assert sign_ups(sessions) == [(Role.CARER, False, True), (Role.CARER, False, True)]
    assert given.row_counts(sessions) == before


def test_someone_elses_role_button_is_refused(chat, asha, ben, sessions, forum_id):
    chat.say(asha, "/qi-join forum")
    question = chat.say(ben, "/qi-join forum")
    before = given.row_counts(sessions)

    reply = chat.press(asha, question, "Carer")

    assert not reply.ok and "This button was for someone else" in reply.text
    assert sign_ups(sessions) == [(None, False, True), (None, False, True)]
    assert given.row_counts(sessions) == before


def test_old_buttons_stop_working_after_leaving_the_forum(chat, ben, sessions, forum_id):
    welcome = chat.say(ben, "/qi-join forum")
    chat.say(ben, "/qi-leave forum")

    reply = chat.press(ben, welcome, "Carer")

    assert not reply.ok and "/qi-join forum" in reply.text
    assert sign_ups(sessions) == [(None, False, False)]


@pytest.mark.parametrize(
    ("action", "value"),
    [
        (ids.FORUM_MATCH, "abc:yes"),
        (ids.FORUM_MATCH, "999999:yes"),
        (ids.FORUM_ROLE, "1:wizard"),
        (ids.FORUM_ROLE, ""),
        (ids.FORUM_ROLE, "999999:unsaid"),
        (ids.JOIN_FORUM, "999999"),
        (ids.JOIN_FORUM, "north"),
    ],
)
def test_a_broken_button_is_refused_kindly(chat, ben, sessions, forum_id, action, value):
    before = given.row_counts(sessions)

    reply = chat.bot.action(ben, action, value)

    assert not reply.ok and "/qi-" in reply.text
    assert given.row_counts(sessions) == before


# Several forums


def test_with_several_forums_you_are_asked_which(chat, ben, sessions, clock):
    given.forum(sessions, clock(), name="North")
    given.forum(sessions, clock(), name="South")
    before = given.row_counts(sessions)

    unclear = chat.say(ben, "/qi-join forum")
    named = chat.say(ben, "/qi-join forum North")
    by_name = chat.say(ben, "/qi-join South as carer")

    assert not unclear.ok and 'There are 2 forums: "North", "South"' in unclear.text
    assert named.ok and 'Welcome to "North"' in named.text
    assert by_name.ok and 'Welcome to "South"' in by_name.text
    assert given.row_counts(sessions)["forum_members"] == before["forum_members"] + 2


def test_joining_the_forum_when_there_is_none_says_so(chat, ben, sessions):
    before = given.row_counts(sessions)

    reply = chat.say(ben, "/qi-join forum")

    assert not reply.ok and "There is no QI forum set up here yet" in reply.text
    assert given.row_counts(sessions) == before


# Answers to meetings follow the person's forum role


def answers(sessions):
    """Every RSVP: (where, answer, role), by meeting."""
    with sessions() as session:
        rows = session.execute(
            select(Meeting.location, Rsvp.answer, Rsvp.role)
            .join(Meeting, Meeting.id == Rsvp.meeting_id)
            .order_by(Meeting.starts_at)
        )
        return [tuple(row) for row in rows]


@pytest.fixture
def three_meetings(ctx, clock, forum_id):
    """Meetings tomorrow (Tuesday), and on Thursday 3 and 10 December 2026."""
    return [
        given.meeting(ctx, forum_id, clock() + timedelta(days=1), "Tomorrow"),
        given.meeting(ctx, forum_id, datetime(2026, 12, 3, 14, 0, tzinfo=UTC), "Room 3"),
        given.meeting(ctx, forum_id, datetime(2026, 12, 10, 14, 0, tzinfo=UTC), "Room 10"),
    ]


def test_changing_your_forum_role_changes_your_answers_to_meetings_to_come(
    chat, ben, sessions, clock, three_meetings
):
    chat.say(ben, "/qi-join forum as staff")
    for meeting, answer in zip(three_meetings, ("going", "going", "maybe"), strict=True):
        assert chat.bot.action(ben, ids.RSVP, f"{meeting}:{answer}").ok
    clock.advance(days=2)  # tomorrow's meeting has been and gone

    reply = chat.say(ben, "/qi-join forum as carer")

    assert reply.ok and "I've noted that you come as a carer." in reply.text
    assert answers(sessions) == [
        ("Tomorrow", RsvpAnswer.GOING, Role.STAFF),  # who came, as they came, is kept
        ("Room 3", RsvpAnswer.GOING, Role.CARER),
        ("Room 10", RsvpAnswer.MAYBE, Role.CARER),
    ]
    # The forum channel's announcement of the meeting they're going to shows the new counts.
    assert reply.refresh == (meeting_prefix(three_meetings[1]),)
    card = chat.say(ben, "/qi-forum")
    assert "Going: 1 (1 carer)." in card.sections[0].text


def test_answers_given_before_joining_count_in_the_role_you_join_in(
    chat, ben, sessions, three_meetings
):
    chat.press(ben, chat.say(ben, "/qi-forum"), "I'm going")
    assert answers(sessions) == [("Tomorrow", RsvpAnswer.GOING, None)]

    reply = chat.say(ben, "/qi-join forum as service user")

    assert answers(sessions) == [("Tomorrow", RsvpAnswer.GOING, Role.SERVICE_USER)]
    assert reply.refresh == (meeting_prefix(three_meetings[0]),)


def test_saying_how_you_come_after_answering_counts_your_answers_that_way(
    chat, ben, sessions, three_meetings
):
    welcome = chat.say(ben, "/qi-join forum")
    chat.press(ben, chat.say(ben, "/qi-forum"), "I'm going")

    reply = chat.press(ben, welcome, "Peer supporter")

    assert answers(sessions) == [("Tomorrow", RsvpAnswer.GOING, Role.PEER_SUPPORTER)]
    assert reply.refresh == (meeting_prefix(three_meetings[0]),)
    assert "Going: 1 (1 peer supporter)." in chat.say(ben, "/qi-forum").text


def test_the_same_role_again_changes_nothing_and_refreshes_nothing(
    chat, ben, sessions, three_meetings
):
    chat.say(ben, "/qi-join forum as carer")
    chat.press(ben, chat.say(ben, "/qi-forum"), "I'm going")
    before = given.row_counts(sessions)

    reply = chat.say(ben, "/qi-join forum as carer")

    assert reply.refresh == ()
    assert given.row_counts(sessions) == before
    assert answers(sessions) == [("Tomorrow", RsvpAnswer.GOING, Role.CARER)]
