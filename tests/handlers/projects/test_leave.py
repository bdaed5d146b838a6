"""Leaving project teams and the forum: /qi-leave. History is kept."""

from datetime import timedelta

from sqlalchemy import select

from store.models import ForumMember
from store.roles import Involvement, Role
from tests.handlers import given


def test_leaving_a_project_keeps_the_membership_as_history(chat, asha, ben, sessions, clock):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(ben, "/qi-join Falls prevention as carer")
    clock.advance(days=30)

    reply = chat.say(ben, "/qi-leave falls prevention")

    assert reply.ok
    assert 'You\'ve left the "Falls prevention" team. Thank you for your help.' in reply.text
    assert given.team_rows(sessions, "Falls prevention") == [
        ("Ben Okafor", Role.CARER, Involvement.TEAM_MEMBER, clock())
    ]


def test_rejoining_after_leaving_starts_a_new_membership(chat, asha, ben, sessions, clock):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(ben, "/qi-join Falls prevention as carer")
    clock.advance(days=1)
    chat.say(ben, "/qi-leave Falls prevention")
    left = clock()
    clock.advance(days=1)

    reply = chat.say(ben, "/qi-join Falls prevention as service user")

    assert reply.ok and "Welcome" in reply.text
    assert given.team_rows(sessions, "Falls prevention") == [
        ("Ben Okafor", Role.CARER, Involvement.TEAM_MEMBER, left),
        ("Ben Okafor", Role.SERVICE_USER, Involvement.TEAM_MEMBER, None),
    ]


def test_leaving_a_team_you_are_not_on_is_refused_and_changes_nothing(chat, asha, ben, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(ben, "/qi-join Falls prevention as carer")
    chat.say(ben, "/qi-leave Falls prevention")
    before = given.row_counts(sessions)

    again = chat.say(ben, "/qi-leave Falls prevention")

    assert not again.ok
    assert 'not on the "Falls prevention" team, so there is nothing to leave' in again.text
    assert given.row_counts(sessions) == before


def test_leaving_with_no_words_explains_how(chat, ben, sessions):
    before = given.row_counts(sessions)

    reply = chat.say(ben, "/qi-leave")

    assert not reply.ok
    assert "/qi-leave Falls prevention" in reply.text and "/qi-leave forum" in reply.text
    assert given.row_counts(sessions) == before


def test_a_finished_project_can_still_be_left(chat, asha, ben, sessions, clock):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(ben, "/qi-join Falls prevention as carer")
    chat.say(asha, '/qi-project status "Falls prevention" completed')

    reply = chat.say(ben, "/qi-leave Falls prevention")

    assert reply.ok
    assert given.team_rows(sessions, "Falls prevention")[0][3] == clock()


def test_the_lead_leaving_the_team_is_reminded_they_still_lead_it(chat, asha, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(asha, "/qi-join Falls prevention as staff")

    reply = chat.say(asha, "/qi-leave Falls prevention")

    assert reply.ok and "You still lead it" in reply.text


def test_the_leave_button_on_the_welcome_leaves_the_team(chat, asha, ben, sessions, clock):
    chat.say(asha, '/qi-project new "Falls prevention"')
    welcome = chat.say(ben, "/qi-join Falls prevention as carer")

    reply = chat.press(ben, welcome, "Leave this team")

    assert reply.ok and "You've left" in reply.text
    assert given.team_rows(sessions, "Falls prevention")[0][3] == clock()


def test_someone_elses_leave_button_does_not_remove_its_owner(chat, asha, ben, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    welcome = chat.say(ben, "/qi-join Falls prevention as carer")
    before = given.row_counts(sessions)

    reply = chat.press(asha, welcome, "Leave this team")

    assert not reply.ok and "nothing to leave" in reply.text
    assert given.team_rows(sessions, "Falls prevention")[0][3] is None
    assert given.row_counts(sessions) == before


def test_leaving_an_unknown_project_suggests_the_closest(chat, asha, ben, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')

    reply = chat.say(ben, "/qi-leave Fals prevension")

    assert not reply.ok and 'Did you mean "Falls prevention"?' in reply.text


def test_leaving_the_forum_keeps_the_sign_up_and_stops_matching(chat, ben, sessions, clock):
    given.forum(sessions, clock())
    signup = chat.say(ben, "/qi-join forum as carer")
    chat.press(ben, signup, "Yes, please")
    clock.advance(days=3)

    reply = chat.say(ben, "/qi-leave forum")

    assert reply.ok and 'You\'ve left "QI Forum"' in reply.text
    with sessions() as session:
        member = session.scalars(select(ForumMember)).one()
        assert member.left_at == clock()
        assert member.wants_match is False


def test_rejoining_the_forum_creates_a_new_sign_up(chat, ben, sessions, clock):
    given.forum(sessions, clock())
    chat.say(ben, "/qi-join forum as carer")
    chat.say(ben, "/qi-leave the forum")
    clock.advance(hours=1)

    reply = chat.say(ben, "/qi-join forum")

    assert reply.ok and "Welcome" in reply.text
    with sessions() as session:
        rows = session.execute(
            select(ForumMember.left_at, ForumMember.joined_at).order_by(ForumMember.id)
        ).all()
    assert [left is None for left, _ in rows] == [False, True]
    assert rows[1][1] - rows[0][1] == timedelta(hours=1)


def test_leaving_a_forum_you_are_not_in_is_refused(chat, ben, sessions, clock):
    given.forum(sessions, clock())
    before = given.row_counts(sessions)

    reply = chat.say(ben, "/qi-leave forum")

    assert not reply.ok and 'not signed up to "QI Forum"' in reply.text
    assert given.row_counts(sessions) == before


def test_leaving_the_forum_when_there_is_none_says_so(chat, ben):
    reply = chat.say(ben, "/qi-leave forum")

    assert not reply.ok and "There is no QI forum set up here yet" in reply.text


def test_leaving_the_forum_by_its_own_name(chat, ben, sessions, clock):
    given.forum(sessions, clock(), name="North QI Forum")
    given.forum(sessions, clock(), name="South QI Forum")
    chat.say(ben, "/qi-join North QI Forum")

    reply = chat.say(ben, "/qi-leave north qi forum")

    assert reply.ok and 'left "North QI Forum"' in reply.text


def test_leave_prefers_the_team_you_are_on(chat, asha, ben):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(asha, '/qi-project new "Reducing falls on Ward 7"')
    chat.say(ben, "/qi-join reducing falls as carer")

    reply = chat.say(ben, "/qi-leave falls")

    assert reply.ok, reply.text
    assert 'left the "Reducing falls on Ward 7" team' in reply.text


def test_leave_forum_means_the_one_you_are_in(chat, ben, sessions, clock):
    given.forum(sessions, clock(), "North QI Forum")
    given.forum(sessions, clock(), "South QI Forum")
    chat.say(ben, "/qi-join forum south")

    reply = chat.say(ben, "/qi-leave forum")

    assert reply.ok and 'left "South QI Forum"' in reply.text
