"""Leaving project teams and the forum: /qi-leave. History is kept."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from handlers.core import ids
from handlers.core import ids as ids_module
from handlers.forum.announcements import ANNOUNCE, run_announcements
from handlers.forum.meetings import meeting_prefix
from handlers.projects.leave import LEAVE_CHOICES
from store.models import ForumMember, Meeting, Membership, Rsvp
from store.roles import Involvement, Role, RsvpAnswer
from tests.handlers import given
from tests.handlers.sweeps import send_all


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


# Leaving the forum with meetings to come you said you're going to


def going_to_forum(chat, ctx, actor, role="carer", meetings=2):
    """A forum (announcing in a channel), meetings on Thursdays from 3 December 2026, and
    the actor signed up in `role` and going to them all; the meeting ids."""
    forum_id = given.forum(ctx.sessions, ctx.now(), channel="console:forum")
    ids = [
        given.meeting(ctx, forum_id, datetime(2026, 12, 3, 14, 0, tzinfo=UTC) + timedelta(weeks=n))
        for n in range(meetings)
    ]
    chat.say(actor, f"/qi-join forum as {role}")
    for meeting_id in ids:
        assert chat.bot.action(actor, ids_module.RSVP, f"{meeting_id}:going").ok
    return ids


def answers(sessions):
    with sessions() as session:
        return [
            tuple(row)
            for row in session.execute(
                select(Rsvp.meeting_id, Rsvp.answer, Rsvp.role).order_by(Rsvp.meeting_id, Rsvp.id)
            )
        ]


def test_leaving_the_forum_asks_about_the_meetings_you_said_you_are_going_to(chat, ctx, ben):
    going_to_forum(chat, ctx, ben)

    reply = chat.say(ben, "/qi-leave forum")

    assert reply.ok and 'You\'ve left "QI Forum"' in reply.text
    assert reply.sections[1].text.splitlines() == [
        "You said you're going to these meetings:",
        "• Thursday 3 December 2026 at 2pm",
        "• Thursday 10 December 2026 at 2pm",
        "Are you still coming? You're welcome either way.",
    ]
    assert given.labels(reply) == ["Join the forum again", "I'm still coming", "Take my name off"]


def test_still_coming_keeps_your_name_down_in_your_role(chat, ctx, ben, sessions):
    meetings = going_to_forum(chat, ctx, ben)
    left = chat.say(ben, "/qi-leave forum")
    before = given.row_counts(sessions)

    reply = chat.press(ben, left, "I'm still coming")

    assert reply.ok and "see you there" in reply.text
    assert answers(sessions) == [(m, RsvpAnswer.GOING, Role.CARER) for m in meetings]
    assert given.row_counts(sessions) == before
    assert "Going: 1 (1 carer)." in chat.say(ben, "/qi-forum").text


def test_take_my_name_off_changes_the_counts_and_the_channels_announcements(
    chat, ctx, ben, chloe, sessions, clock
):
    meetings = going_to_forum(chat, ctx, ben)
    chat.say(chloe, "/qi-join forum as staff")
    chat.press(chloe, chat.say(chloe, "/qi-forum"), "I'm going")
    left = chat.say(ben, "/qi-leave forum")
    clock.advance(hours=1)

    reply = chat.press(ben, left, "Take my name off")

    assert reply.ok and "I've taken your name off 2 meetings." in reply.text
    assert reply.refresh == tuple(meeting_prefix(m) for m in meetings)
    assert answers(sessions) == [
        (meetings[0], RsvpAnswer.NOT_GOING, Role.CARER),
        (meetings[0], RsvpAnswer.GOING, Role.STAFF),  # Chloe's
        (meetings[1], RsvpAnswer.NOT_GOING, Role.CARER),
    ]
    card = chat.say(chloe, "/qi-forum")
    assert "Going: 1 (1 member of staff)." in card.sections[0].text
    assert "Nobody has said they're going yet." in card.sections[1].text
    # What the transport edits the forum channel's announcement to, on that refresh:
    clock.advance(days=3, hours=4)  # a week before the first meeting: it is announced
    run_announcements(ctx)
    (post,) = [reply for kind, _, reply in send_all(ctx) if kind == ANNOUNCE]
    assert "Going so far: 1 (1 member of staff)." in post.text


def test_take_my_name_off_leaves_answers_given_after_leaving(chat, ctx, ben, sessions, clock):
    _, second = going_to_forum(chat, ctx, ben)
    left = chat.say(ben, "/qi-leave forum")
    clock.advance(minutes=5)
    chat.bot.action(ben, ids_module.RSVP, f"{second}:maybe")
    chat.bot.action(ben, ids_module.RSVP, f"{second}:going")  # decided afresh, after leaving

    reply = chat.press(ben, left, "Take my name off")

    assert reply.ok and "I've taken your name off 1 meeting." in reply.text
    assert [answer for _, answer, _ in answers(sessions)] == [
        RsvpAnswer.NOT_GOING,
        RsvpAnswer.GOING,
    ]


def test_take_my_name_off_twice_says_there_is_nothing_left(chat, ctx, ben, sessions):
    going_to_forum(chat, ctx, ben)
    left = chat.say(ben, "/qi-leave forum")
    chat.press(ben, left, "Take my name off")
    before = given.row_counts(sessions)

    again = chat.press(ben, left, "Take my name off")

    assert again.ok and "not down for any meeting to come" in again.text
    assert again.refresh == ()
    assert given.row_counts(sessions) == before


def test_leaving_without_saying_you_are_going_asks_nothing(chat, ctx, ben, sessions):
    forum_id = given.forum(sessions, ctx.now())
    meeting = given.meeting(ctx, forum_id, datetime(2026, 12, 3, 14, 0, tzinfo=UTC))
    chat.say(ben, "/qi-join forum as carer")
    chat.bot.action(ben, ids_module.RSVP, f"{meeting}:maybe")

    reply = chat.say(ben, "/qi-leave forum")

    assert reply.ok and len(reply.sections) == 1
    assert given.labels(reply) == ["Join the forum again"]


def test_meetings_past_or_cancelled_are_not_asked_about(chat, ctx, ben, sessions, clock):
    _, second, _ = going_to_forum(chat, ctx, ben, meetings=3)
    with sessions.begin() as session:
        session.get(Meeting, second).cancelled_at = clock()
    clock.advance(days=10, hours=5)  # the first has been

    reply = chat.say(ben, "/qi-leave forum")

    assert reply.sections[1].text.splitlines()[:2] == [
        "You said you're going to this meeting:",
        "• Thursday 17 December 2026 at 2pm",
    ]
    chat.press(ben, reply, "Take my name off")
    assert [answer for _, answer, _ in answers(sessions)] == [
        RsvpAnswer.GOING,  # who came is kept
        RsvpAnswer.GOING,  # cancelled: nothing to count
        RsvpAnswer.NOT_GOING,
    ]


def test_someone_elses_still_coming_buttons_are_refused(chat, ctx, asha, ben, sessions):
    going_to_forum(chat, ctx, ben)
    left = chat.say(ben, "/qi-leave forum")
    before = given.row_counts(sessions)

    reply = chat.press(asha, left, "Take my name off")

    assert not reply.ok and "This button was for someone else" in reply.text
    assert given.row_counts(sessions) == before


@pytest.mark.parametrize("value", ["", "1", "1:maybe", "abc:off", "999999:off"])
def test_a_broken_still_coming_button_is_refused(chat, ctx, ben, sessions, value):
    going_to_forum(chat, ctx, ben)
    chat.say(ben, "/qi-leave forum")
    before = given.row_counts(sessions)

    reply = chat.bot.action(ben, ids_module.LEFT_FORUM_GOING, value)

    assert not reply.ok and "/qi-forum" in reply.text
    assert given.row_counts(sessions) == before
