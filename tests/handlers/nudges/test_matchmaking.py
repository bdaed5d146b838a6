"""Matchmaking: forum members who would like a project are introduced to leads, with consent."""

import pytest
from sqlalchemy import select

from handlers.core.weeks import week_of
from handlers.nudges.weekly import plan_sweep
from handlers.people.personal_data import erase_person, export_person
from store.models import ForumMember, MatchOffer, Project
from store.roles import Involvement, ProjectStatus, Role
from tests.conftest import person
from tests.handlers import given
from tests.handlers.sweeps import (
    FALLS,
    POLICY,
    inbox,
    next_week,
    planned,
    project_id,
    send_all,
    start,
    sweep,
)

SEPSIS = "Sepsis screening"
ASK_THEM = "Yes, ask them"
JOIN = "Yes, I'd like to join"
KIM = person("Kim Lee")


@pytest.fixture
def forum_id(ctx):
    return given.forum(ctx.sessions, ctx.now())


def wants_a_project(chat, actor, role="carer"):
    """Join the forum as this role and say yes to being put in touch with a project team."""
    welcome = chat.say(actor, f"/qi-join forum as {role}")
    answer = chat.press(actor, welcome, "Yes, please")
    assert answer.ok, answer.text


def offers(ctx):
    """Every introduction so far: (project name, person name, role, status)."""
    with ctx.sessions() as session:
        rows = session.scalars(select(MatchOffer).order_by(MatchOffer.id))
        return [(o.project.name, o.person.display_name, o.role, o.status) for o in rows]


def nudge_with_offer(chat, ctx, dm, lead):
    """This week's sweep, and the lead's nudge (which carries the introduction)."""
    sweep(ctx)
    return inbox(ctx, dm(lead))


def messages_to(ctx, dm, actor):
    """Every message sent now to the actor: [(kind, reply)]."""
    return [(kind, reply) for kind, recipient, reply in send_all(ctx) if recipient == dm(actor)]


def invited(chat, ctx, dm, *, lead, carer):
    """A carer who wants a project, offered to the lead's Falls project; the lead says yes."""
    wants_a_project(chat, carer)
    start(chat, lead, FALLS)
    chat.press(lead, nudge_with_offer(chat, ctx, dm, lead), ASK_THEM)
    [(kind, invitation)] = messages_to(ctx, dm, carer)
    assert kind == "match_ask"
    return invitation


def test_a_willing_carer_is_offered_to_the_lead_without_their_name(
    chat, ctx, dm, forum_id, asha, ben
):
    wants_a_project(chat, ben)
    start(chat, asha, FALLS)

    nudge = nudge_with_offer(chat, ctx, dm, asha)

    assert "a carer from the QI forum has said they would like to join a project" in nudge.text
    assert 'Shall I ask them about "Falls prevention"?' in nudge.text
    assert "Ben" not in nudge.text  # nobody's name travels before they say yes
    assert [b.label for b in nudge.buttons][:2] == [ASK_THEM, "No, thank you"]
    assert offers(ctx) == [(FALLS, "Ben Okafor", Role.CARER, "offered")]


def test_the_matchmaker_asks_the_person_and_their_yes_puts_them_on_the_team(
    chat, ctx, dm, forum_id, asha, ben
):
    wants_a_project(chat, ben)
    start(chat, asha, FALLS)
    nudge = nudge_with_offer(chat, ctx, dm, asha)

    asked = chat.press(asha, nudge, ASK_THEM)
    [(kind, invitation)] = messages_to(ctx, dm, ben)
    joined = chat.press(ben, invitation, JOIN)
    [(result_kind, news)] = messages_to(ctx, dm, asha)

    assert asked.ok and "Ben" not in asked.text
    assert 'I\'ve asked the carer if they would like to join "Falls prevention"' in asked.text
    assert kind == "match_ask"
    assert invitation.sections[0].heading == "A project team would like you to join them"
    assert 'Asha Patel leads one called "Falls prevention"' in invitation.text
    assert "You can say no, and nobody will mind." in invitation.text
    assert [b.label for b in invitation.buttons] == [
        JOIN,
        "Not this one",
        "Stop suggesting projects",
    ]
    assert joined.ok and 'Welcome to the "Falls prevention" team as a carer' in joined.text
    assert given.team_rows(ctx.sessions, FALLS) == [
        ("Ben Okafor", Role.CARER, Involvement.TEAM_MEMBER, None)
    ]
    assert result_kind == "match_result"
    assert 'Good news: Ben Okafor, a carer from the QI forum, has joined "Falls prevention"' in (
        news.text
    )
    assert offers(ctx) == [(FALLS, "Ben Okafor", Role.CARER, "joined")]
    next_week(ctx)
    assert sweep(ctx).deliveries == []  # the project has its partner: no more reminders


def test_a_lead_who_says_no_thanks_never_reveals_or_bothers_the_person(
    chat, ctx, dm, forum_id, asha, ben, chloe
):
    wants_a_project(chat, ben)
    start(chat, asha, FALLS)
    nudge = nudge_with_offer(chat, ctx, dm, asha)

    declined = chat.press(asha, nudge, "No, thank you")
    start(chat, chloe, SEPSIS)
    next_week(ctx)
    sweep(ctx)

    assert declined.ok and "I'll offer them to another team" in declined.text
    assert [kind for kind, *_ in planned(ctx)].count("match_ask") == 0
    # Offered to the next team, and never to Asha's again.
    assert offers(ctx) == [
        (FALLS, "Ben Okafor", Role.CARER, "lead_declined"),
        (SEPSIS, "Ben Okafor", Role.CARER, "offered"),
    ]


def test_not_this_one_tells_the_lead_kindly_and_frees_the_person(
    chat, ctx, dm, forum_id, asha, ben, chloe
):
    invitation = invited(chat, ctx, dm, lead=asha, carer=ben)

    answer = chat.press(ben, invitation, "Not this one")
    [(kind, news)] = messages_to(ctx, dm, asha)
    start(chat, chloe, SEPSIS)
    next_week(ctx)
    sweep(ctx)

    assert answer.ok and "thank you for letting me know" in answer.text
    assert [b.label for b in answer.buttons] == ["Stop suggesting projects"]
    assert kind == "match_result"
    assert news.text.startswith('The carer I asked can\'t join "Falls prevention" this time.')
    assert "Ben" not in news.text
    assert [b.label for b in news.buttons] == ["Ask the forum to find a partner"]
    assert given.team_rows(ctx.sessions, FALLS) == []
    assert offers(ctx)[-1] == (SEPSIS, "Ben Okafor", Role.CARER, "offered")


def test_stop_suggesting_projects_turns_matching_off(chat, ctx, dm, forum_id, asha, ben, chloe):
    invitation = invited(chat, ctx, dm, lead=asha, carer=ben)

    stopped = chat.press(ben, invitation, "Stop suggesting projects")
    [(kind, _news)] = messages_to(ctx, dm, asha)
    start(chat, chloe, SEPSIS)
    next_week(ctx)
    sweep(ctx)

    assert stopped.ok and "I won't suggest any more projects" in stopped.text
    assert kind == "match_result"
    with ctx.sessions() as session:
        assert session.scalar(select(ForumMember.wants_match)) is False
    assert offers(ctx) == [(FALLS, "Ben Okafor", Role.CARER, "person_declined")]


def test_each_person_goes_to_one_team_the_longest_waiting_first(
    chat, ctx, dm, forum_id, asha, ben, chloe
):
    start(chat, asha, FALLS)
    sweep(ctx)  # Falls has now been without a partner for a week longer
    next_week(ctx)
    start(chat, chloe, SEPSIS)
    wants_a_project(chat, ben)

    plan = sweep(ctx)

    assert offers(ctx) == [(FALLS, "Ben Okafor", Role.CARER, "offered")]
    why = {d.project_name: d.why for d in plan.decisions}
    assert why[FALLS].endswith("a carer from the forum is offered")
    assert "offered" not in why[SEPSIS]


def test_the_person_who_has_waited_longest_is_offered_first(chat, ctx, dm, forum_id, asha, ben):
    wants_a_project(chat, ben)
    ctx.clock.advance(days=1)
    wants_a_project(chat, KIM, role="service user")
    start(chat, asha, FALLS)

    sweep(ctx)

    assert offers(ctx) == [(FALLS, "Ben Okafor", Role.CARER, "offered")]


@pytest.mark.parametrize(
    "who",
    [
        "staff",  # matchmaking finds service users and carers
        "peer supporter",  # the organisers find them a team
        "not now",  # said no to being put in touch
        "left",  # left the forum
        "on the team",  # already consulted on this very project
        "leads it",  # a carer who leads the project is not offered to themselves
    ],
)
def test_who_is_never_offered(chat, ctx, dm, forum_id, asha, ben, who):
    start(chat, asha, FALLS)
    if who in {"staff", "peer supporter"}:
        welcome = chat.say(ben, f"/qi-join forum as {who}")
        assert "Yes, please" not in given.labels(welcome)  # only service users and carers
    elif who == "not now":
        chat.press(ben, chat.say(ben, "/qi-join forum as carer"), "Not now")
    elif who == "left":
        wants_a_project(chat, ben)
        assert chat.say(ben, "/qi-leave forum").ok
    elif who == "on the team":
        wants_a_project(chat, ben)
        chat.say(ben, "/qi-join Falls prevention as carer --consulted")
    else:
        wants_a_project(chat, asha)

    sweep(ctx)

    assert offers(ctx) == []


def test_running_the_sweep_again_in_the_week_offers_nothing_new(chat, ctx, dm, forum_id, asha, ben):
    start(chat, asha, FALLS)
    sweep(ctx)
    wants_a_project(chat, ben)  # after this week's nudge went

    sweep(ctx)
    next_week(ctx)
    sweep(ctx)

    # Not in a message already sent, so not this week; next week's nudge carries it.
    assert offers(ctx) == [(FALLS, "Ben Okafor", Role.CARER, "offered")]
    with ctx.sessions() as session:
        assert session.scalar(select(MatchOffer.week)) == week_of(ctx.now(), ctx)


def test_an_unanswered_offer_lapses_next_week_and_the_person_goes_elsewhere(
    chat, ctx, dm, forum_id, asha, ben, chloe
):
    wants_a_project(chat, ben)
    start(chat, asha, FALLS)
    old_nudge = nudge_with_offer(chat, ctx, dm, asha)
    start(chat, chloe, SEPSIS)
    next_week(ctx)

    sweep(ctx)
    late = chat.press(asha, old_nudge, ASK_THEM)

    assert offers(ctx) == [
        (FALLS, "Ben Okafor", Role.CARER, "expired"),
        (SEPSIS, "Ben Okafor", Role.CARER, "offered"),
    ]
    assert "no longer open" in late.text
    assert [kind for kind, *_ in planned(ctx)].count("match_ask") == 0


def test_an_unanswered_invitation_lapses_after_two_weeks(chat, ctx, dm, forum_id, asha, ben):
    invitation = invited(chat, ctx, dm, lead=asha, carer=ben)
    next_week(ctx)
    sweep(ctx)
    waiting = inbox(ctx, dm(asha))
    next_week(ctx)
    sweep(ctx)
    told = dict(messages_to(ctx, dm, asha))

    late = chat.press(ben, invitation, JOIN)

    # The lead, told "I'll let you know", is told: not left waiting.
    assert told["match_result"].text.startswith(
        'The carer I asked about "Falls prevention" hasn\'t answered in two weeks'
    )
    assert "I've asked the carer from the forum if they would like to join" in waiting.text
    assert ASK_THEM not in [b.label for b in waiting.buttons]
    assert offers(ctx) == [(FALLS, "Ben Okafor", Role.CARER, "expired")]
    assert "That invitation has lapsed" in late.text
    assert given.team_rows(ctx.sessions, FALLS) == []


def test_only_the_lead_answers_the_offer_and_only_the_person_the_invitation(
    chat, ctx, dm, forum_id, asha, ben, chloe
):
    wants_a_project(chat, ben)
    start(chat, asha, FALLS)
    nudge = nudge_with_offer(chat, ctx, dm, asha)

    not_lead = chat.press(chloe, nudge, ASK_THEM)
    chat.press(asha, nudge, ASK_THEM)
    [(_, invitation)] = messages_to(ctx, dm, ben)
    not_invited = chat.press(chloe, invitation, JOIN)

    assert not not_lead.ok and "Only the lead" in not_lead.text
    assert not not_invited.ok and "isn't yours to answer" in not_invited.text
    assert offers(ctx) == [(FALLS, "Ben Okafor", Role.CARER, "asked")]


def test_a_project_that_finished_is_not_joined_and_its_invitation_not_sent(
    chat, ctx, dm, forum_id, asha, ben
):
    wants_a_project(chat, ben)
    start(chat, asha, FALLS)
    chat.press(asha, nudge_with_offer(chat, ctx, dm, asha), ASK_THEM)
    assert chat.say(asha, '/qi-project status "Falls prevention" completed').ok

    assert messages_to(ctx, dm, ben) == [("match_ask", None)]  # withdrawn, not sent


def test_the_dry_run_says_who_would_be_offered(chat, ctx, forum_id, asha, ben):
    wants_a_project(chat, ben)
    start(chat, asha, FALLS)

    with ctx.sessions() as session:
        plan = plan_sweep(session, ctx, week=week_of(ctx.now(), ctx), policy=POLICY)
        session.rollback()

    assert plan.decisions[0].why.endswith("; a carer from the forum is offered")
    assert offers(ctx) == []


def test_introductions_are_exported_and_erased_with_the_person(chat, ctx, dm, forum_id, asha, ben):
    wants_a_project(chat, ben)
    start(chat, asha, FALLS)
    sweep(ctx)
    ben_id = given.person_id(ctx.sessions, ben, ctx.now())

    with ctx.sessions() as session:
        exported = export_person(session, ben_id)
    with ctx.sessions.begin() as session:
        erase_person(session, ben_id, now=ctx.now())

    assert exported["project_introductions"] == [
        {
            "project": FALLS,
            "as": "carer",
            "status": "offered",
            "offered": ctx.now().isoformat(),
            "last_changed": ctx.now().isoformat(),
        }
    ]
    assert offers(ctx) == []
    assert project_id(ctx)  # the project itself stays


def test_a_lead_who_says_yes_after_the_project_went_on_hold_is_told_why(
    chat, ctx, dm, forum_id, asha, ben
):
    wants_a_project(chat, ben)
    start(chat, asha, FALLS)
    nudge = nudge_with_offer(chat, ctx, dm, asha)
    assert chat.say(asha, '/qi-project status "Falls prevention" on hold').ok

    answer = chat.press(asha, nudge, ASK_THEM)

    assert answer.text.startswith('"Falls prevention" is on hold now, so I haven\'t asked them.')
    assert messages_to(ctx, dm, ben) == []


def lead_was_told(ctx, dm, lead):
    """The kinds of message planned so far to the lead."""
    return [
        kind for kind, _occurrence, recipient, _payload in planned(ctx) if recipient == dm(lead)
    ]


@pytest.mark.parametrize("status", ["completed", "stopped", "on hold"])
def test_a_project_that_stops_frees_the_person_it_invited_at_once(
    chat, ctx, dm, forum_id, asha, ben, chloe, status
):
    invited(chat, ctx, dm, lead=asha, carer=ben)

    assert chat.say(asha, f'/qi-project status "Falls prevention" {status}').ok
    start(chat, chloe, SEPSIS)
    next_week(ctx)
    sweep(ctx)

    # Ben is free for Sepsis the next week, not held by Falls for two weeks.
    assert offers(ctx) == [
        (FALLS, "Ben Okafor", Role.CARER, "expired"),
        (SEPSIS, "Ben Okafor", Role.CARER, "offered"),
    ]
    for _ in range(3):
        next_week(ctx)
        sweep(ctx)
    # Asha is not told her project's invitation went unanswered and someone else will be found.
    assert "match_result" not in lead_was_told(ctx, dm, asha)


def test_a_stopped_project_s_lead_is_not_promised_someone_else(chat, ctx, dm, forum_id, asha, ben):
    invitation = invited(chat, ctx, dm, lead=asha, carer=ben)
    chat.press(ben, invitation, "Not this one")

    assert chat.say(asha, '/qi-project status "Falls prevention" stopped').ok

    assert messages_to(ctx, dm, asha) == [("match_result", None)]  # withdrawn, not sent


def test_an_invitation_of_a_project_already_inactive_lapses_without_telling_its_lead(
    chat, ctx, dm, forum_id, asha, ben
):
    invited(chat, ctx, dm, lead=asha, carer=ben)
    with ctx.sessions.begin() as session:  # put on hold before introductions were freed
        session.get(Project, project_id(ctx)).status = ProjectStatus.ON_HOLD

    for _ in range(3):
        next_week(ctx)
        sweep(ctx)

    assert offers(ctx) == [(FALLS, "Ben Okafor", Role.CARER, "expired")]
    assert "match_result" not in lead_was_told(ctx, dm, asha)


def test_a_yes_after_the_project_finished_is_thanked_and_explained(
    chat, ctx, dm, forum_id, asha, ben
):
    invitation = invited(chat, ctx, dm, lead=asha, carer=ben)
    assert chat.say(asha, '/qi-project status "Falls prevention" completed').ok

    late = chat.press(ben, invitation, JOIN)

    assert late.text.startswith('Thank you for saying yes. Sorry: "Falls prevention" is completed')
    assert given.team_rows(ctx.sessions, FALLS) == []
