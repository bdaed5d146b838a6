"""The weekly nudge: who is asked, how often, what they see, and what they can do about it."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from handlers.core import ids
from handlers.core.weeks import week_before, week_of
from handlers.core.wording import first_name
from handlers.nudges.weekly import (
    FOR_SOMEONE_ELSE,
    MORE_BROKE,
    NO_MORE_OF_YOURS,
    NUDGE_PROJECTS_SHOWN,
    NudgePolicy,
)
from store.forums import create_forum
from store.models import AuditEvent, Person
from store.projects import create_project
from store.roles import ProjectStatus
from tests.conftest import person
from tests.handlers import given
from tests.handlers.given import labels
from tests.handlers.sweeps import (
    FALLS,
    inbox,
    next_week,
    nudge_now,
    organiser,
    planned,
    project_id,
    send_all,
    start,
    state,
    sweep,
    weekly,
)

QUICK = NudgePolicy(escalate_after=1)
ASK = "Ask the forum to find a partner"
STEPS = (ASK, "Add someone already involved", "Snooze")
DAN = person("Dan Hughes")
NOT_YOURS = (
    'Only the lead of "Falls prevention" or a forum organiser can do that. '
    "If you'd like to help, you can join the team yourself with /qi-join."
)


def audit_actions(ctx):
    with ctx.sessions() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_weeks_are_iso_weeks_in_the_trusts_time_zone(ctx):
    assert week_of(datetime(2026, 11, 23, 10, tzinfo=UTC), ctx) == "2026-W48"
    # 23:30 UTC on Sunday 28 June is 00:30 on Monday in London (summer time): the next week.
    assert week_of(datetime(2026, 6, 28, 23, 30, tzinfo=UTC), ctx) == "2026-W27"
    assert week_of(datetime(2027, 1, 1, 12, tzinfo=UTC), ctx) == "2026-W53"
    before = [week_before(w) for w in ("2026-W48", "2027-W01", "2026-W01")]
    assert before == ["2026-W47", "2026-W53", "2025-W52"]


def test_the_greeting_uses_the_first_name():
    assert [first_name(n) for n in ("Asha Patel", "  Ben  Okafor ", "")] == ["Asha", "Ben", ""]


@pytest.mark.parametrize(
    ("lead_name", "hello"), [("Dr Asha Patel", "Hello Asha."), ("Dr Patel", "Hello Dr Patel.")]
)
def test_the_nudge_never_greets_a_lead_by_their_title(chat, ctx, dm, lead_name, hello):
    lead = person(lead_name, "lead")
    start(chat, lead, FALLS)

    nudge = nudge_now(ctx, dm(lead))

    assert nudge.sections[0].text.startswith(f'{hello} Your "Falls prevention" team')


# Who is nudged


def test_the_lead_of_a_project_without_lived_experience_is_nudged(chat, ctx, dm, asha, ben, chloe):
    start(chat, asha, FALLS, "Sepsis screening")
    chat.say(ben, "/qi-join Sepsis screening as carer")
    chat.say(chloe, "/qi-join Falls prevention as staff")

    plan = sweep(ctx)

    falls = project_id(ctx)
    assert planned(ctx) == [("nudge", "2026-W48", dm(asha), {"projects": [falls]})]
    assert plan.planned_new == 1
    assert [(d.project_name, d.action) for d in plan.decisions] == [(FALLS, "nudge")]
    assert state(ctx) == (1, "2026-W48", None)
    assert state(ctx, "Sepsis screening") is None


@pytest.mark.parametrize(
    "partner",
    [
        '"Kim Lee" as carer --consent --consulted',  # asked now and then: not on the team
        '"Kim Lee" as peer supporter --consent',
        None,  # a carer who joined, then left
    ],
)
def test_only_a_service_user_or_carer_on_the_team_stops_it(chat, ctx, dm, asha, ben, partner):
    start(chat, asha, FALLS)
    if partner:
        assert chat.say(asha, f'/qi-project add-member "Falls prevention" {partner}').ok
    else:
        chat.say(ben, "/qi-join Falls prevention as carer")
        assert chat.say(ben, "/qi-leave Falls prevention").ok

    sweep(ctx)

    assert [row[:3] for row in planned(ctx)] == [("nudge", "2026-W48", dm(asha))]


@pytest.mark.parametrize("status", ["completed", '"on hold"', "stopped"])
def test_projects_that_are_not_active_are_left_alone(chat, ctx, asha, status):
    start(chat, asha, FALLS)
    assert chat.say(asha, f'/qi-project status "Falls prevention" {status}').ok

    plan = sweep(ctx)

    assert (plan.decisions, planned(ctx), state(ctx)) == ([], [], None)


def test_a_project_without_a_lead_is_skipped_and_says_why(ctx):
    with ctx.sessions.begin() as session:
        create_project(
            session, name="Orphan audit", lead_id=None, site=None, status=ProjectStatus.ACTIVE,
            now=ctx.now(),
        )  # fmt: skip

    plan = sweep(ctx)

    assert [(d.project_name, d.action, d.why) for d in plan.decisions] == [
        ("Orphan audit", "skip", "no lead is recorded, so there is nobody to ask")
    ]
    assert (planned(ctx), state(ctx, "Orphan audit")) == ([], None)


def test_each_lead_gets_one_message_listing_all_their_projects(chat, ctx, dm, asha, chloe):
    start(chat, asha, "Sepsis screening", FALLS)
    start(chat, chloe, "Hand hygiene")

    sweep(ctx)

    falls, sepsis, hands = (project_id(ctx, n) for n in (FALLS, "Sepsis screening", "Hand hygiene"))
    rows = planned(ctx)
    assert len(rows) == 2
    assert {r: (kind, week, payload) for kind, week, r, payload in rows} == {
        dm(asha): ("nudge", "2026-W48", {"projects": sorted([falls, sepsis])}),
        dm(chloe): ("nudge", "2026-W48", {"projects": [hands]}),
    }


def test_weeks_in_a_row_count_one_sweep_a_week_and_start_again_after_a_gap(chat, ctx, asha):
    start(chat, asha, FALLS)
    counts = []
    for _ in range(3):
        sweep(ctx)
        next_week(ctx, days=3)
        again = sweep(ctx)  # run again the same week: nothing new, nothing counted
        counts.append((*state(ctx)[:2], again.planned_new))
        next_week(ctx, days=4)
    next_week(ctx)  # a week without a sweep (the bot was down)
    sweep(ctx)

    assert counts == [(1, "2026-W48", 0), (2, "2026-W49", 0), (3, "2026-W50", 0)]
    assert state(ctx) == (1, "2026-W52", None)
    assert [row[1] for row in planned(ctx)] == ["2026-W48", "2026-W49", "2026-W50", "2026-W52"]


def test_a_project_that_needs_it_after_the_weeks_message_gets_a_follow_up(chat, ctx, dm, asha):
    start(chat, asha, FALLS)
    sweep(ctx)
    send_all(ctx)
    start(chat, asha, "Sepsis screening")  # mid-week, after Monday's message went

    sweep(ctx)  # an organiser runs `qi-nudge remind --now`
    follow_up = inbox(ctx, dm(asha))
    sweep(ctx)  # and again

    sepsis = project_id(ctx, "Sepsis screening")
    assert [row[:4] for row in planned(ctx)] == [
        ("nudge", "2026-W48", dm(asha), {"projects": [project_id(ctx)]}),
        ("nudge", f"2026-W48+{sepsis}", dm(asha), {"projects": [sepsis]}),
    ]
    assert '"Sepsis screening"' in follow_up.text and FALLS not in follow_up.text
    assert send_all(ctx) == []
    assert state(ctx, "Sepsis screening")[:2] == (1, "2026-W48")


def test_a_withdrawn_message_does_not_count_as_telling_the_lead(chat, ctx, dm, asha, ben):
    start(chat, asha, FALLS)
    sweep(ctx)
    chat.say(ben, "/qi-join Falls prevention as carer")
    assert [reply for kind, _r, reply in send_all(ctx) if kind == "nudge"] == [None]  # withdrawn
    chat.say(ben, "/qi-leave Falls prevention")

    sweep(ctx)  # an organiser runs remind --now mid-week

    falls = project_id(ctx)
    assert [row[:4] for row in planned(ctx)][-1] == (
        "nudge",
        f"2026-W48+{falls}",
        dm(asha),
        {"projects": [falls]},
    )


# Escalation


def test_after_three_reminders_each_organiser_is_asked_once_instead(chat, ctx, dm, asha, chloe):
    start(chat, asha, FALLS)
    organiser(ctx, chloe, DAN)

    weekly(ctx, 4)
    sweep(ctx)  # run again the same week: nothing twice
    escalated_at = ctx.now()
    next_week(ctx)
    later = sweep(ctx)

    assert [row[:3] for row in planned(ctx)] == [
        ("nudge", "2026-W48", dm(asha)),
        ("nudge", "2026-W49", dm(asha)),
        ("nudge", "2026-W50", dm(asha)),
        ("escalation", "2026-W51", dm(chloe)),
        ("escalation", "2026-W51", dm(DAN)),
    ]
    assert planned(ctx)[-1][3] == {"projects": [project_id(ctx)]}
    assert state(ctx) == (4, "2026-W51", escalated_at)
    assert later.planned_new == 0
    assert [(d.action, d.why) for d in later.decisions] == [
        ("skip", "already passed to the forum organisers; waiting for a change")
    ]


def test_the_organisers_note_names_project_and_lead_and_can_ask_forum(chat, ctx, dm, asha, chloe):
    start(chat, asha, FALLS)
    organiser(ctx, chloe)
    weekly(ctx, 2, QUICK)

    note = inbox(ctx, dm(chloe), kind="escalation")
    asked = chat.press(chloe, note, 'Ask the forum for "Falls prevention"')

    assert note.sections[0].heading == "Projects that could use the forum's help"
    assert '• "Falls prevention" (lead: Asha Patel)' in note.text
    assert "I have stopped reminding their leads" in note.text
    assert asked.ok
    assert asked.text.startswith("Thank you. I've asked the forum organisers to help find")
    occurrence = f"project:{project_id(ctx)}:2026-W49"
    assert planned(ctx)[-1][:3] == ("partner_request_admin", occurrence, dm(chloe))


def test_a_project_escalated_in_a_rerun_mid_week_reaches_the_organisers_too(
    chat, ctx, dm, asha, chloe
):
    """Monday's note went already: a project escalated later that week gets one of its own."""
    start(chat, asha, FALLS)
    start(chat, DAN, "Sepsis screening")
    organiser(ctx, chloe)
    sweep(ctx, QUICK)
    chat.say(DAN, "/qi-project reminders off")
    next_week(ctx)
    sweep(ctx, QUICK)  # Falls escalated; Sepsis skipped, its lead's reminders being off
    send_all(ctx)
    chat.say(DAN, "/qi-project reminders on")
    ctx.clock.advance(hours=4)

    rerun = sweep(ctx, QUICK)  # remind --now, the same week
    told = [reply for kind, _, reply in send_all(ctx) if kind == "escalation"]

    assert ("Sepsis screening", "escalate") in [(d.project_name, d.action) for d in rerun.decisions]
    assert len(told) == 1
    assert '"Sepsis screening"' in told[0].text and FALLS not in told[0].text


def test_with_no_organiser_to_ask_the_lead_keeps_being_reminded(chat, ctx, asha):
    start(chat, asha, FALLS)

    last = weekly(ctx, 4, NudgePolicy(escalate_after=2))

    assert [row[0] for row in planned(ctx)] == ["nudge"] * 4
    assert state(ctx) == (4, "2026-W51", None)
    assert [(d.action, d.why) for d in last.decisions] == [
        ("nudge", "no service user or carer on the team (reminder 4 in a row)")
    ]


def test_a_carer_joining_clears_escalation_and_count_starts_afresh(chat, ctx, dm, asha, ben, chloe):
    start(chat, asha, FALLS)
    organiser(ctx, chloe)
    weekly(ctx, 2, QUICK)
    assert state(ctx)[2] == ctx.now()

    chat.say(ben, "/qi-join Falls prevention as carer")
    note = inbox(ctx, dm(chloe), kind="escalation")  # planned, but no longer needed
    next_week(ctx)
    settled = sweep(ctx, QUICK)
    settled_state = state(ctx)
    chat.say(ben, "/qi-leave Falls prevention")
    next_week(ctx)
    sweep(ctx, QUICK)

    assert note is None
    assert (settled.decisions, settled_state) == ([], (0, None, None))
    assert state(ctx) == (1, "2026-W51", None)
    assert planned(ctx)[-1][:3] == ("nudge", "2026-W51", dm(asha))


def test_a_snooze_after_escalation_restarts_reminders_when_it_ends(chat, ctx, dm, asha, chloe):
    start(chat, asha, FALLS)
    organiser(ctx, chloe)
    nudge = nudge_now(ctx, dm(asha))
    next_week(ctx)
    sweep(ctx, QUICK)  # passed to the organisers
    assert chat.submit(asha, chat.press(asha, nudge, "Snooze"), weeks="2", reason="other").ok

    next_week(ctx, days=14)
    sweep(ctx, QUICK)

    assert state(ctx) == (1, "2026-W51", None)
    assert planned(ctx)[-1][:3] == ("nudge", "2026-W51", dm(asha))


# What the lead sees


def test_the_nudge_asks_who_is_on_the_team_and_offers_next_steps(chat, ctx, dm, asha):
    start(chat, asha, FALLS)

    nudge = nudge_now(ctx, dm(asha))

    falls = str(project_id(ctx))
    assert nudge.sections[0].heading == "Who with lived experience is on your team?"
    assert nudge.sections[0].text == (
        'Hello Asha. Your "Falls prevention" team has no service user or carer on it yet. If '
        "someone is already involved, add them. If not, the forum can help you find someone."
    )
    assert [(b.label, b.action_id, b.value) for b in nudge.buttons] == [
        (ASK, ids.ASK_FORUM, falls),
        ("Add someone already involved", ids.OPEN_ADD_MEMBER, falls),
        ("Snooze", ids.OPEN_SNOOZE, falls),
        ("Turn reminders off", ids.MUTE_NUDGES, "off"),
    ]


def test_the_nudge_for_several_projects_names_them_all_with_buttons_for_each(chat, ctx, dm, asha):
    start(chat, asha, "Sepsis screening", FALLS)

    nudge = nudge_now(ctx, dm(asha))

    falls, sepsis = (str(project_id(ctx, n)) for n in (FALLS, "Sepsis screening"))
    # Waiting as long as each other: the one started first has waited longest.
    both = '"Sepsis screening" and "Falls prevention" have no service user or carer on them yet.'
    assert f"Your teams {both}" in nudge.text
    steps = (ASK, "Add someone already involved", "Snooze")
    assert [(b.label, b.value) for b in nudge.buttons] == [
        *((label, project) for project in (sepsis, falls) for label in steps),
        ("Turn reminders off", "off"),
    ]


def test_a_lead_with_many_projects_sees_those_waiting_longest_then_how_many_more(
    chat, ctx, dm, asha
):
    start(chat, asha, *(f"Project {n:02d}" for n in range(12)))
    nudge_now(ctx, dm(asha))
    next_week(ctx)
    start(chat, asha, "Another audit", "Brand new idea")  # first by name, but only just begun

    nudge = nudge_now(ctx, dm(asha))

    asked = [b.value for b in nudge.buttons if b.label == ASK]
    assert asked == [str(project_id(ctx, f"Project {n:02d}")) for n in range(NUDGE_PROJECTS_SHOWN)]
    assert "Hello Asha. 14 of your project teams have no service user or carer on them yet." in (
        nudge.text
    )
    assert (
        "next steps for the 10 that have waited longest for a service user or carer:" in nudge.text
    )
    assert nudge.sections[-2].text == (
        "…and 4 more of your projects also have no service user or carer on the team yet. "
        "Type /qi-projects mine to see them all."
    )
    assert labels(nudge)[-2:] == ["Show the next 4 projects", "Turn reminders off"]

    rest = chat.press(asha, nudge, "Show the next 4 projects")

    # The same order: the two reminded twice, then the two begun this week, the first first.
    waited = ["Project 10", "Project 11", "Another audit", "Brand new idea"]
    assert rest.sections[0].heading == "More of your projects"
    assert [s.text for s in rest.sections[1:]] == [f'"{name}"' for name in waited]
    assert [(b.label, b.value) for b in rest.buttons] == [
        (label, str(project_id(ctx, name))) for name in waited for label in STEPS
    ]


def waiting_projects(ctx, lead, count, name="Project"):
    return given.many_projects(
        ctx.sessions, [f"{name} {n:03d}" for n in range(count)], ctx.now(), lead_id=lead
    )


def asked_about(*replies):
    """The projects these replies offer an 'Ask the forum' button for, in order."""
    return [int(b.value) for r in replies for b in r.buttons if b.action_id == ids.ASK_FORUM]


def next_button(reply):
    """The label of the reply's 'Show the next' button, or None if it has none."""
    found = [
        b.label for b in reply.buttons if b.action_id in (ids.MORE_WAITING, ids.MORE_ESCALATED)
    ]
    return found[0] if found else None


def steps_of(reply):
    """The buttons offered for each project the reply names: one tuple of labels per project."""
    return {tuple(b.label for b in s.buttons) for s in reply.sections if s.text.startswith('"')}


def test_every_project_in_a_long_reminder_gets_its_buttons_a_few_at_a_time(chat, ctx, dm, asha):
    lead = given.person_id(ctx.sessions, asha, ctx.now())
    projects = waiting_projects(ctx, lead, 25)

    replies = [nudge_now(ctx, dm(asha))]
    while next_button(replies[-1]):
        replies.append(chat.press(asha, replies[-1], next_button(replies[-1])))

    assert asked_about(*replies) == projects
    assert [next_button(r) for r in replies] == [
        "Show the next 10 projects",
        "Show the next 5 projects",
        None,
    ]
    assert "…and 5 more of your projects also have no service user or carer" in replies[1].text
    assert "Type /qi-projects mine to see them all." in replies[1].text
    assert [steps_of(r) for r in replies] == [{STEPS}] * 3


def test_the_next_projects_leave_out_those_that_no_longer_need_it(chat, ctx, dm, asha, ben):
    lead = given.person_id(ctx.sessions, asha, ctx.now())
    projects = waiting_projects(ctx, lead, 14)
    nudge = nudge_now(ctx, dm(asha))
    chat.say(ben, "/qi-join Project 011 as carer")
    chat.say(asha, '/qi-project status "Project 012" completed')

    rest = chat.press(asha, nudge, "Show the next 4 projects")

    assert asked_about(rest) == [projects[10], projects[13]]
    assert not any(b.action_id == ids.MORE_WAITING for b in rest.buttons)


def test_the_next_projects_of_last_weeks_reminder_are_in_this_weeks(chat, ctx, dm, asha):
    lead = given.person_id(ctx.sessions, asha, ctx.now())
    waiting_projects(ctx, lead, 12)
    last_week = nudge_now(ctx, dm(asha))
    next_week(ctx)
    this_week = nudge_now(ctx, dm(asha))

    stale = chat.press(asha, last_week, "Show the next 2 projects")
    fresh = chat.press(asha, this_week, "Show the next 2 projects")

    assert (stale.ok, stale.text) == (True, NO_MORE_OF_YOURS)
    assert len(asked_about(fresh)) == 2


def test_every_project_passed_to_the_organisers_gets_its_buttons_a_few_at_a_time(
    chat, ctx, dm, asha, chloe
):
    organiser(ctx, chloe)
    lead = given.person_id(ctx.sessions, asha, ctx.now())
    projects = waiting_projects(ctx, lead, 23)
    weekly(ctx, 2, QUICK)  # reminded once, then passed to the organisers

    note = inbox(ctx, dm(chloe), kind="escalation")
    assert labels(note)[-1] == "Show the next 10 projects"
    assert "The other 18 have buttons too, a few at a time:" in note.text
    first = chat.press(chloe, note, "Show the next 10 projects")
    second = chat.press(chloe, first, "Show the next 8 projects")

    assert asked_about(note, first, second) == projects
    assert first.sections[0].heading == "More projects that could use the forum's help"
    assert first.sections[1].text == '"Project 005" (lead: Asha Patel)'
    assert "…and 8 more projects also waiting." in first.text
    assert labels(second)[-3:] == list(STEPS)
    asked = chat.press(chloe, second, ASK)
    assert asked.ok and asked.text.startswith("Thank you. I've asked the forum organisers")


def test_an_organisers_note_with_one_project_beyond_the_buttons_says_so(chat, ctx, dm, asha, chloe):
    organiser(ctx, chloe)
    lead = given.person_id(ctx.sessions, asha, ctx.now())
    projects = waiting_projects(ctx, lead, 6)
    weekly(ctx, 2, QUICK)

    note = inbox(ctx, dm(chloe), kind="escalation")
    last = chat.press(chloe, note, "Show the next project")

    assert note.sections[-1].text == "The other one has buttons too:"
    assert asked_about(last) == projects[5:]
    assert next_button(last) is None


def test_only_the_lead_or_an_organiser_may_see_the_next_projects(chat, ctx, dm, asha, ben, chloe):
    organiser(ctx, chloe)
    given.person_id(ctx.sessions, ben, ctx.now())
    lead = given.person_id(ctx.sessions, asha, ctx.now())
    waiting_projects(ctx, lead, 12)
    nudge = nudge_now(ctx, dm(asha))
    before = given.row_counts(ctx.sessions)

    not_the_lead = [
        chat.press(ben, nudge, "Show the next 2 projects"),
        chat.press(DAN, nudge, "Show the next 2 projects"),  # never seen before
    ]

    assert [(r.ok, r.text) for r in not_the_lead] == [(False, FOR_SOMEONE_ELSE)] * 2
    assert given.row_counts(ctx.sessions) == before
    assert len(asked_about(chat.press(chloe, nudge, "Show the next 2 projects"))) == 2

    next_week(ctx)
    weekly(ctx, 1, QUICK)  # now passed to the organisers
    note = inbox(ctx, dm(chloe), kind="escalation")
    not_an_organiser = [
        chat.press(ben, note, "Show the next 7 projects"),
        chat.press(asha, note, "Show the next 7 projects"),  # their lead, but not an organiser
    ]

    assert [(r.ok, r.text) for r in not_an_organiser] == [(False, FOR_SOMEONE_ELSE)] * 2
    assert len(asked_about(chat.press(chloe, note, "Show the next 7 projects"))) == 7


@pytest.mark.parametrize(
    ("action", "value"),
    [
        (ids.MORE_WAITING, ""),
        (ids.MORE_WAITING, "2026-W48"),
        (ids.MORE_WAITING, "2026-W48:1:1"),  # an organisers' value
        (ids.MORE_WAITING, "2026-W48:x:1:1"),
        (ids.MORE_WAITING, "week:1:1:1"),
        (ids.MORE_WAITING, "2026-W48:1:1:1:1"),
        (ids.MORE_WAITING, "2026-W48:-1:1:1"),
        (ids.MORE_WAITING, "2026-W48:1:1:99999999999999999999999"),
        (ids.MORE_ESCALATED, ""),
        (ids.MORE_ESCALATED, "2026-W48:1:1:1"),  # a lead's value
        (ids.MORE_ESCALATED, "2026-W48:one:1"),
        (ids.MORE_ESCALATED, "2026-48:1:1"),
    ],
)
def test_a_next_projects_button_with_a_value_not_ours_gets_a_kind_answer(
    chat, ctx, asha, action, value
):
    given.organiser(ctx.sessions, asha, ctx.now())
    before = given.row_counts(ctx.sessions)

    reply = chat.bot.action(asha, action, value)

    assert (reply.ok, reply.text) == (False, MORE_BROKE)
    assert given.row_counts(ctx.sessions) == before


# Snooze


def test_snoozing_from_the_nudge_pauses_reminders_until_it_ends(chat, ctx, dm, asha):
    start(chat, asha, FALLS)
    opened = chat.press(asha, nudge_now(ctx, dm(asha)), "Snooze")

    done = chat.submit(asha, opened, weeks="4", reason="recruiting")

    assert opened.form.form_id == ids.SNOOZE_FORM
    weeks, reasons = ([(c.label, c.value) for c in field.choices] for field in opened.form.fields)
    assert weeks == [("2 weeks", "2"), ("4 weeks", "4"), ("8 weeks", "8")]
    assert reasons == [
        ("We're finding someone", "recruiting"),
        ("Not right for this project", "not_appropriate"),
        ("Another reason", "other"),
    ]
    assert done.ok
    assert done.text == (
        'Done: no reminders about "Falls prevention" for 4 weeks. They start again by '
        "themselves from Monday 21 December 2026."
    )
    assert audit_actions(ctx)[-1] == "nudge.snoozed"
    skipped = []
    for _ in range(3):
        next_week(ctx)
        skipped += [(d.action, d.why) for d in sweep(ctx).decisions]
    assert skipped == [("skip", "snoozed until 21 December 2026 (we're finding someone)")] * 3
    assert len(planned(ctx)) == 1
    next_week(ctx)  # 21 December, 10:00: the snooze has ended
    sweep(ctx)
    assert planned(ctx)[-1][:2] == ("nudge", "2026-W52")
    assert state(ctx)[:2] == (1, "2026-W52")


def test_a_snooze_from_mondays_nudge_ends_in_time_for_the_monday_it_names(chat, ctx, dm, asha):
    """Two weeks from the nudge is the nudge two weeks later, whatever minute it was pressed."""
    ctx.clock.current = datetime(2026, 11, 23, 9, 31, tzinfo=UTC)  # just after the sweep
    start(chat, asha, FALLS)
    nudge = nudge_now(ctx, dm(asha))
    ctx.clock.current = datetime(2026, 11, 23, 9, 45, tzinfo=UTC)
    opened = chat.press(asha, nudge, "Snooze")
    assert (
        "from Monday 7 December 2026" in chat.submit(asha, opened, weeks="2", reason="other").text
    )

    next_week(ctx)
    skipped = [d.action for d in sweep(ctx).decisions]
    ctx.clock.current = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)  # that Monday's sweep
    decided = [d.action for d in sweep(ctx).decisions]

    assert skipped == ["skip"]
    assert decided == ["nudge"]


REASON = "Please choose a reason: it helps the forum understand."


@pytest.mark.parametrize(
    ("weeks", "reason", "answer"),
    [
        ("3", "recruiting", "Please choose 2, 4 or 8 weeks."),
        ("", "recruiting", "Please choose 2, 4 or 8 weeks."),
        ("4", "", REASON),
        ("4", "bored", REASON),
    ],
)
def test_a_snooze_without_weeks_or_reason_is_refused_kindly(
    chat, ctx, dm, asha, weeks, reason, answer
):
    start(chat, asha, FALLS)
    opened = chat.press(asha, nudge_now(ctx, dm(asha)), "Snooze")
    before = given.row_counts(ctx.sessions)

    reply = chat.submit(asha, opened, weeks=weeks, reason=reason)

    assert (reply.ok, reply.text) == (False, answer)
    assert given.row_counts(ctx.sessions) == before
    assert state(ctx) == (1, "2026-W48", None)


def test_only_the_lead_or_an_organiser_may_snooze_or_ask_the_forum(chat, ctx, dm, asha, ben, chloe):
    start(chat, asha, FALLS)
    organiser(ctx, chloe)
    nudge = nudge_now(ctx, dm(asha))
    form = chat.press(asha, nudge, "Snooze")
    before = given.row_counts(ctx.sessions)

    answers = [
        chat.press(ben, nudge, "Snooze"),
        chat.submit(ben, form, weeks="8", reason="other"),
        chat.press(ben, nudge, ASK),
    ]

    assert [(a.ok, a.text, a.form) for a in answers] == [(False, NOT_YOURS, None)] * 3
    assert given.row_counts(ctx.sessions) == before
    by_organiser = chat.submit(chloe, form, weeks="2", reason="other")
    next_week(ctx)
    assert by_organiser.ok and "from Monday 7 December 2026" in by_organiser.text
    assert [d.why for d in sweep(ctx).decisions] == [
        "snoozed until 7 December 2026 (another reason)"
    ]


# Turning reminders off


def test_turning_reminders_off_from_the_nudge_stops_them_until_turned_back_on(chat, ctx, dm, asha):
    start(chat, asha, FALLS)
    off = chat.press(asha, nudge_now(ctx, dm(asha)), "Turn reminders off")
    muted_at = ctx.now()
    next_week(ctx)
    muted = sweep(ctx)

    assert off.ok and off.text.startswith("Weekly reminders are off. I won't send you any more.")
    assert given.labels(off) == ["Turn reminders back on"]
    with ctx.sessions() as session:
        lead = session.get(Person, given.person_id(ctx.sessions, asha, ctx.now()))
        assert lead.nudges_muted_at == muted_at
    assert [d.why for d in muted.decisions] == ["the lead has turned weekly reminders off"]
    assert len(planned(ctx)) == 1

    on = chat.press(asha, off, "Turn reminders back on")
    next_week(ctx)
    sweep(ctx)

    assert on.ok and on.text.startswith("Weekly reminders are on.")
    assert given.labels(on) == ["Turn reminders off"]
    assert planned(ctx)[-1][:2] == ("nudge", "2026-W50")
    assert state(ctx)[0] == 1  # a fresh count after the pause
    assert audit_actions(ctx)[-2:] == ["nudge.muted", "nudge.unmuted"]


def test_reminders_off_and_on_by_command(chat, ctx, dm, asha):
    start(chat, asha, FALLS)

    off = chat.say(asha, "/qi-project reminders off")
    off_again = chat.say(asha, "/qi-project reminders OFF")
    silent = sweep(ctx)
    on = chat.say(asha, "/qi-project reminders on")
    next_week(ctx)
    sweep(ctx)

    assert off.ok and off_again.ok and off.text.startswith("Weekly reminders are off.")
    assert silent.planned_new == 0
    assert on.ok and on.text.startswith("Weekly reminders are on.")
    assert [row[:3] for row in planned(ctx)] == [("nudge", "2026-W49", dm(asha))]
    assert audit_actions(ctx).count("nudge.muted") == 1  # off twice is one change


# Asking the forum for a partner


def forum_with_channel(ctx):
    with ctx.sessions.begin() as session:
        create_forum(session, name="QI Forum", channel="slack:C0FORUM", now=ctx.now())


def test_asking_the_forum_posts_in_its_channel_and_tells_organisers(chat, ctx, dm, asha, chloe):
    forum_with_channel(ctx)
    organiser(ctx, chloe)
    start(chat, asha, FALLS)
    nudge = nudge_now(ctx, dm(asha))
    before = len(planned(ctx))

    first = chat.press(asha, nudge, ASK)
    again = chat.press(asha, nudge, ASK)

    falls = project_id(ctx)
    payload = {"project": falls, "asked_by": given.person_id(ctx.sessions, asha, ctx.now())}
    occurrence = f"project:{falls}:2026-W48"
    assert first.ok and first.text == (
        "Thank you. I've asked the QI Forum channel and the forum organisers to help find a "
        'service user or carer for "Falls prevention". They will be in touch.'
    )
    assert again.ok and again.text.startswith(
        'You asked the forum about "Falls prevention" this week already.'
    )
    assert planned(ctx)[before:] == [
        ("partner_request_admin", occurrence, dm(chloe), payload),
        ("partner_request", occurrence, "channel:slack:C0FORUM", payload),
    ]
    assert audit_actions(ctx).count("nudge.asked_forum") == 1

    next_week(ctx)
    a_week_later = chat.press(asha, nudge, ASK)
    assert a_week_later.text.startswith("Thank you.")
    assert planned(ctx)[-1][1] == f"project:{falls}:2026-W49"


def test_the_forum_post_offers_joining_and_names_who_asked(chat, ctx, dm, asha, ben, chloe):
    forum_with_channel(ctx)
    organiser(ctx, chloe)
    start(chat, asha, FALLS)
    chat.press(asha, nudge_now(ctx, dm(asha)), ASK)

    sent = {(kind, recipient): reply for kind, recipient, reply in send_all(ctx)}
    post = sent["partner_request", "channel:slack:C0FORUM"]
    note = sent["partner_request_admin", dm(chloe)]
    joined = chat.press(ben, post, "Join as carer")

    falls = project_id(ctx)
    assert post.sections[0].heading == "A project team would like a partner with lived experience"
    assert post.sections[0].text == (
        'The "Falls prevention" team would like a service user or carer to join them. '
        "Asha Patel leads it. Could you help, or do you know someone who might?"
    )
    assert [(b.label, b.action_id, b.value) for b in post.buttons] == [
        ("Join as service user", ids.JOIN_AS, f"{falls}:service_user"),
        ("Join as carer", ids.JOIN_AS, f"{falls}:carer"),
    ]
    assert note.text == (
        'Asha Patel asked the forum to help find a service user or carer for "Falls prevention". '
        "Could you put them in touch with someone from the forum?"
    )
    assert joined.ok
    assert [row[:2] for row in given.team_rows(ctx.sessions, FALLS)] == [("Ben Okafor", "carer")]
    next_week(ctx)
    assert sweep(ctx).decisions == []


def test_asking_needs_a_channel_or_organisers_to_hear(chat, ctx, dm, asha, chloe):
    given.forum(ctx.sessions, ctx.now())  # a forum without a channel, and no organisers
    start(chat, asha, FALLS)
    nudge = nudge_now(ctx, dm(asha))
    before = given.row_counts(ctx.sessions)

    refused = chat.press(asha, nudge, ASK)
    after_refusal = given.row_counts(ctx.sessions)
    organiser(ctx, chloe)
    asked = chat.press(asha, nudge, ASK)

    assert not refused.ok
    assert refused.text.startswith("There's no QI forum channel or organiser set up yet")
    assert asked.ok and asked.text.startswith(
        "Thank you. I've asked the forum organisers to help find"
    )
    assert [row[:3:2] for row in planned(ctx)[1:]] == [("partner_request_admin", dm(chloe))]
    assert after_refusal == before


def test_with_a_channel_but_no_organisers_the_answer_names_only_the_channel(chat, ctx, dm, asha):
    forum_with_channel(ctx)
    start(chat, asha, FALLS)

    asked = chat.press(asha, nudge_now(ctx, dm(asha)), ASK)

    assert asked.ok and asked.text == (
        "Thank you. I've asked the QI Forum channel to help find a service user or carer for "
        '"Falls prevention". Anyone who can help will be in touch.'
    )
    assert [row[0] for row in planned(ctx)[1:]] == ["partner_request"]


def test_a_finished_project_cannot_ask_the_forum(chat, ctx, dm, asha, chloe):
    forum_with_channel(ctx)
    organiser(ctx, chloe)
    start(chat, asha, FALLS)
    nudge = nudge_now(ctx, dm(asha))
    assert chat.say(asha, '/qi-project status "Falls prevention" completed').ok

    refused = chat.press(asha, nudge, ASK)

    assert not refused.ok and "is completed, so it is not taking new members" in refused.text
    assert [row[0] for row in planned(ctx)] == ["nudge"]


def test_a_project_escalated_then_paused_and_restarted_is_reminded_afresh(
    chat, ctx, dm, asha, chloe
):
    organiser(ctx, chloe)
    start(chat, asha, FALLS)
    weekly(ctx, 4)  # passed to the organisers
    assert state(ctx)[2] is not None
    assert chat.say(asha, '/qi-project status "Falls prevention" on hold').ok
    next_week(ctx, days=120)
    assert chat.say(asha, '/qi-project status "Falls prevention" active').ok

    plan = sweep(ctx)

    week = week_of(ctx.now(), ctx)
    assert [(d.action, d.why) for d in plan.decisions] == [
        ("nudge", "no service user or carer on the team (reminder 1 in a row)")
    ]
    assert planned(ctx)[-1][:3] == ("nudge", week, dm(asha))
    assert state(ctx) == (1, week, None)


def test_a_snooze_still_running_is_kept_when_the_status_changes(chat, ctx, dm, asha):
    start(chat, asha, FALLS)
    nudge = nudge_now(ctx, dm(asha))
    assert chat.submit(asha, chat.press(asha, nudge, "Snooze"), weeks="4", reason="other").ok
    assert chat.say(asha, '/qi-project status "Falls prevention" on hold').ok
    assert chat.say(asha, '/qi-project status "Falls prevention" active').ok
    next_week(ctx)

    plan = sweep(ctx)

    assert [d.action for d in plan.decisions] == ["skip"]
    assert "snoozed until" in plan.decisions[0].why
