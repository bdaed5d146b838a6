"""Leaving project teams and the forum: /qi-leave. History is kept."""

from datetime import timedelta

from sqlalchemy import insert, select

from handlers.core import ids
from handlers.projects.leave import LEAVE_CHOICES
from store.models import ForumMember, Membership
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


def test_leaving_with_no_words_and_nothing_to_leave_says_so(chat, asha, ben, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')  # Asha leads it, but is not on it
    before = given.row_counts(sessions)

    for who in (ben, asha):  # someone new, and someone known who is on no team
        reply = chat.say(who, "/qi-leave")

        assert not reply.ok
        assert reply.text == (
            "You're not on any project team or the QI forum, so there is nothing to leave. "
            "Type /qi-join to join one."
        )
    assert given.row_counts(sessions) == before  # not even the new person


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


# /qi-leave alone offers your own teams and forums; leaving offers to join again.


def test_leave_alone_offers_your_own_teams_and_forums_as_buttons(chat, asha, ben, sessions, clock):
    given.forum(sessions, clock())
    for name in ("Falls prevention", "Sepsis screening", "Kinder waiting rooms"):
        chat.say(asha, f'/qi-project new "{name}"')
    chat.say(ben, "/qi-join forum as carer")
    chat.say(ben, "/qi-join Sepsis screening as carer")
    chat.say(ben, "/qi-join Falls prevention as carer")
    chat.say(ben, "/qi-leave Falls prevention")  # left already: not offered
    chat.say(ben, "/qi-join Kinder waiting rooms as carer")
    before = given.row_counts(sessions)

    reply = chat.say(ben, "/qi-leave")

    assert reply.ok
    assert reply.text == "Which would you like to leave? You can join again afterwards."
    assert [(b.label, b.action_id) for b in reply.buttons] == [
        ("QI Forum", ids.LEAVE),
        ("Kinder waiting rooms", ids.LEAVE),
        ("Sepsis screening", ids.LEAVE),
    ]
    assert given.row_counts(sessions) == before

    left = chat.press(ben, reply, "Sepsis screening")

    assert left.ok and 'You\'ve left the "Sepsis screening" team.' in left.text
    assert given.team_rows(sessions, "Sepsis screening")[0][3] == clock()
    assert given.team_rows(sessions, "Kinder waiting rooms")[0][3] is None


def test_leave_alone_offers_the_first_few_and_says_how_to_leave_the_rest(
    chat, ben, sessions, clock
):
    me = given.person_id(sessions, ben, clock())
    names = [f"Project {n:02d}" for n in range(LEAVE_CHOICES + 3)]
    projects = given.many_projects(sessions, names, clock(), lead_id=None)
    with sessions.begin() as session:
        session.execute(
            insert(Membership),
            [
                {
                    "project_id": project,
                    "person_id": me,
                    "role": Role.CARER,
                    "involvement": Involvement.TEAM_MEMBER,
                    "joined_at": clock(),
                    "consent_recorded_at": clock(),
                }
                for project in projects
            ],
        )

    reply = chat.say(ben, "/qi-leave")

    assert [b.label for b in reply.buttons] == names[:LEAVE_CHOICES]
    assert "For the 3 not shown here, type /qi-leave and the name" in reply.text


def test_leaving_a_team_offers_to_join_it_again_in_the_same_role(chat, asha, ben, sessions, clock):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(ben, "/qi-join Falls prevention as service user")
    left = chat.say(ben, "/qi-leave Falls prevention")
    clock.advance(minutes=1)

    again = chat.press(ben, left, "Join this team again")

    assert [(b.label, b.action_id) for b in left.buttons] == [("Join this team again", ids.JOIN_AS)]
    assert again.ok and 'Welcome to the "Falls prevention" team as a service user.' in again.text
    rows = given.team_rows(sessions, "Falls prevention")
    assert [(role, left is None) for _name, role, _how, left in rows] == [
        (Role.SERVICE_USER, False),
        (Role.SERVICE_USER, True),
    ]


def test_leaving_a_finished_team_offers_no_way_back_in(chat, asha, ben):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(ben, "/qi-join Falls prevention as carer")
    chat.say(asha, '/qi-project status "Falls prevention" completed')

    left = chat.say(ben, "/qi-leave Falls prevention")

    assert left.ok and left.buttons == ()


def test_leaving_the_forum_offers_to_join_it_again_in_the_same_role(chat, ben, sessions, clock):
    given.forum(sessions, clock())
    chat.say(ben, "/qi-join forum as carer")
    left = chat.say(ben, "/qi-leave forum")

    again = chat.press(ben, left, "Join the forum again")

    assert again.ok and 'Welcome to "QI Forum"' in again.text
    with sessions() as session:
        rows = session.execute(
            select(ForumMember.role, ForumMember.left_at).order_by(ForumMember.id)
        ).all()
    assert [(role, left is None) for role, left in rows] == [
        (Role.CARER, False),
        (Role.CARER, True),
    ]


def test_leaving_by_a_loose_name_offers_your_own_teams(chat, asha, ben):
    for name in ("Falls prevention", "Falls audit", "Reducing falls at night"):
        chat.say(asha, f'/qi-project new "{name}"')
    chat.say(ben, "/qi-join Falls prevention as carer")
    chat.say(ben, "/qi-join Falls audit as carer")

    reply = chat.say(ben, "/qi-leave falls")
    left = chat.press(ben, reply, "Falls audit")

    assert not reply.ok
    assert reply.text == (
        'Which of your teams do you mean by "falls"? Did you mean "Falls audit" or '
        '"Falls prevention"?'
    )
    assert [b.label for b in reply.buttons] == ["Falls audit", "Falls prevention"]
    assert left.ok and 'You\'ve left the "Falls audit" team.' in left.text
