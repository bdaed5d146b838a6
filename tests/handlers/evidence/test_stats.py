"""The evidence: weekly snapshots, back-fill from history, /qi-stats and its notes."""

import io
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import select

from bot.runtime.scheduler import Jobs
from handlers.core import ids
from handlers.core.weeks import week_start
from handlers.demo import seed_example_trust
from handlers.evidence.stats import backfill, backfill_report, take_snapshot
from handlers.nudges.weekly import NudgePolicy
from handlers.people.personal_data import erase_person, export_person
from handlers.projects.register_import import import_projects
from store import stats as stats_store
from store.models import ChartNote, JobRun, Membership, ParticipationSnapshot, Project
from store.roles import Role
from tests.conftest import person
from tests.handlers import given

FALLS, SEPSIS, DISCHARGE = "Falls prevention", "Sepsis screening", "Discharge letters"
KIM = person("Kim Lee")


def at(clock, year, month, day, hour=12):
    """Move the frozen clock to this moment (UTC)."""
    clock.current = datetime(year, month, day, hour, tzinfo=UTC)


def figures(ctx, scope=stats_store.OVERALL):
    """(week, active projects, with a service user or carer, worked out later) for a scope."""
    with ctx.sessions() as session:
        return [
            (w.week, w.active_projects, w.involved_projects, w.backfilled)
            for w in stats_store.snapshots(session, scope)
        ]


@pytest.fixture
def history(chat, ctx, clock, asha, ben, chloe):
    """A trust's autumn: projects start, a carer joins, one leaves, one project finishes.

    Week 36 (from Mon 31 Aug): Falls and Sepsis start on Tuesday.
    Week 38: Ben joins Falls as a carer.
    Week 40: Discharge starts at Riverside; Kim joins Sepsis as a service user.
    Week 42: Sepsis is completed; Ben leaves Falls.
    """
    at(clock, 2026, 9, 1)
    assert chat.say(asha, f'/qi-project new "{FALLS}" --site "Ward 7"').ok
    assert chat.say(asha, f'/qi-project new "{SEPSIS}"').ok
    at(clock, 2026, 9, 16)
    assert chat.say(ben, f"/qi-join {FALLS} as carer").ok
    at(clock, 2026, 9, 29)
    assert chat.say(chloe, f'/qi-project new "{DISCHARGE}" --site Riverside').ok
    assert chat.say(KIM, f"/qi-join {SEPSIS} as service user").ok
    at(clock, 2026, 10, 14)
    assert chat.say(asha, f'/qi-project status "{SEPSIS}" completed').ok
    assert chat.say(ben, f"/qi-leave {FALLS}").ok
    at(clock, 2026, 11, 23, 10)  # back to today, Monday of week 48


def test_week_start_is_the_monday_of_the_iso_week():
    assert week_start("2026-W48") == date(2026, 11, 23)
    assert week_start("2027-W01") == date(2027, 1, 4)


def test_backfill_works_out_each_past_week_from_history(ctx, history):
    weeks = backfill(ctx)

    assert weeks == 12  # weeks 36 to 47: this week is the live snapshot's
    assert figures(ctx)[:9] == [
        # Measured at Monday 09:30: Tuesday's new projects count from the next week.
        ("2026-W36", 0, 0, True),
        ("2026-W37", 2, 0, True),
        ("2026-W38", 2, 0, True),
        ("2026-W39", 2, 1, True),  # Ben joined Falls on the Wednesday before
        ("2026-W40", 2, 1, True),
        ("2026-W41", 3, 2, True),  # Discharge started, Kim joined Sepsis
        ("2026-W42", 3, 2, True),
        ("2026-W43", 2, 0, True),  # Sepsis completed, Ben left: neither counts any more
        ("2026-W44", 2, 0, True),
    ]
    assert figures(ctx, "site:Ward 7")[1:3] == [
        ("2026-W38", 1, 0, True),
        ("2026-W39", 1, 1, True),
    ]
    assert figures(ctx, "site:Riverside")[0] == ("2026-W41", 1, 0, True)


def test_backfill_measures_each_week_when_the_live_figure_is_taken(ctx, history):
    """With the reminders on Wednesdays at 2pm, so are the worked-out weeks' figures."""
    backfill(ctx, weekday=2, at=time(14, 0))

    # Falls and Sepsis started on Tuesday 1 September: counted in that week (week 36) now.
    assert figures(ctx)[:2] == [("2026-W36", 2, 0, True), ("2026-W37", 2, 0, True)]
    with ctx.sessions() as session:
        (first,) = [s for s in stats_store.snapshots(session) if s.week == "2026-W36"]
    assert first.taken_at.astimezone(ctx.timezone).strftime("%A %H:%M") == "Wednesday 14:00"


def test_backfill_keeps_weeks_already_recorded_unless_told_to_replace(ctx, history, clock):
    at(clock, 2026, 10, 5, 10)
    take_snapshot(ctx)  # the real snapshot of week 41, taken on the day
    at(clock, 2026, 11, 23, 10)
    with ctx.sessions.begin() as session:
        session.execute(
            ParticipationSnapshot.__table__.update()
            .where(ParticipationSnapshot.week == "2026-W41")
            .values(involved_projects=99)  # what the trust recorded then, whatever it was
        )

    backfill(ctx)
    kept = dict((w, (a, i, b)) for w, a, i, b in figures(ctx))["2026-W41"]
    backfill(ctx, replace=True)
    replaced = dict((w, (a, i, b)) for w, a, i, b in figures(ctx))["2026-W41"]

    assert kept == (3, 99, False)
    assert replaced == (3, 2, True)


def test_backfill_since_a_date_and_with_nothing_to_go_on(ctx, history):
    assert backfill(ctx, since=date(2026, 11, 4)) == 3  # weeks 45, 46, 47
    assert [w for w, *_ in figures(ctx)] == ["2026-W45", "2026-W46", "2026-W47"]


def test_with_no_projects_there_is_nothing_to_backfill(ctx):
    assert backfill(ctx) == 0
    assert figures(ctx) == []


def test_the_weekly_snapshot_is_taken_once_when_the_reminders_are_due(ctx, clock, chat, asha):
    chat.say(asha, f'/qi-project new "{FALLS}"')
    jobs = Jobs(ctx, NudgePolicy())  # Monday 09:30 London; the clock says Monday 10:00 UTC

    jobs.run_due()
    jobs.run_due()  # the next tick, or another replica
    clock.advance(days=1)
    jobs.run_due()
    clock.advance(days=6)
    jobs.run_due()

    assert figures(ctx) == [("2026-W48", 1, 0, False), ("2026-W49", 1, 0, False)]
    with ctx.sessions() as session:
        runs = session.scalars(select(JobRun.occurrence).where(JobRun.job == "weekly_snapshot"))
        assert sorted(runs) == ["2026-W48", "2026-W49"]


def test_no_snapshot_before_the_weeks_moment(ctx, clock, chat, asha):
    chat.say(asha, f'/qi-project new "{FALLS}"')
    at(clock, 2026, 11, 23, 8)  # Monday 08:00: reminders (and figures) are due at 09:30

    Jobs(ctx, NudgePolicy()).run_due()

    assert figures(ctx) == []


def test_forum_attendance_by_role_is_recorded_for_the_week_it_met(
    chat, ctx, clock, asha, ben, chloe
):
    forum_id = given.forum(ctx.sessions, ctx.now())
    meeting = given.meeting(ctx, forum_id, datetime(2026, 11, 26, 14, tzinfo=UTC))
    for actor, role in ((ben, "carer"), (chloe, "staff"), (KIM, "service user")):
        chat.say(actor, f"/qi-join forum as {role}")
        chat.bot.action(actor, ids.RSVP, f"{meeting}:going")
    chat.bot.action(asha, ids.RSVP, f"{meeting}:maybe")

    take_snapshot(ctx)

    with ctx.sessions() as session:
        (row,) = stats_store.snapshots(session, stats_store.forum_scope(forum_id))
    assert row.week == "2026-W48"
    assert row.attendance == {"carer": 1, "staff": 1, "service_user": 1}


def test_a_weeks_attendance_is_taken_again_once_its_meetings_are_over(chat, ctx, clock, ben, chloe):
    """Monday's figure comes before Thursday's meeting: next Monday's has everyone who said."""
    forum_id = given.forum(ctx.sessions, ctx.now())
    meeting = given.meeting(ctx, forum_id, datetime(2026, 11, 26, 14, tzinfo=UTC))
    chat.say(ben, "/qi-join forum as carer")
    chat.bot.action(ben, ids.RSVP, f"{meeting}:going")
    take_snapshot(ctx)  # Monday 23 November
    at(clock, 2026, 11, 25)
    chat.say(chloe, "/qi-join forum as staff")
    chat.bot.action(chloe, ids.RSVP, f"{meeting}:going")  # Wednesday, after the figure

    at(clock, 2026, 11, 30, 10)
    take_snapshot(ctx)

    with ctx.sessions() as session:
        rows = stats_store.snapshots(session, stats_store.forum_scope(forum_id))
    assert [(row.week, row.attendance) for row in rows] == [("2026-W48", {"carer": 1, "staff": 1})]


# --- /qi-stats -------------------------------------------------------------------------------


def test_stats_before_any_weekly_figures_says_so_kindly(chat, ctx, asha):
    chat.say(asha, f'/qi-project new "{FALLS}"')

    reply = chat.say(asha, "/qi-stats")

    assert reply.ok and reply.image is None
    assert reply.text.startswith("Lived experience on QI teams\n0 of 1 active project has")
    assert "There are no weekly figures yet to draw a run chart" in reply.text


def test_stats_gives_the_headline_since_the_first_week_and_a_run_chart(ctx, history, chat, ben):
    backfill(ctx)
    take_snapshot(ctx)

    reply = chat.say(ben, "/qi-stats")

    assert reply.ok
    assert (
        "0 of 2 active projects have a service user or carer on the team (0% today), the same "
        "as a baseline of 0%: the middle value of the first 12 weekly figures, September to "
        "November 2026." in reply.text
    )
    # Weeks 37 to 48 (week 36 had no projects); the headline is counted now, the chart weekly.
    assert (
        "The chart shows 12 weekly figures, up to the week of Monday 23 November 2026; the "
        "figure above is today's." in reply.text
    )
    assert reply.image is not None and reply.image.png.startswith(b"\x89PNG")
    assert "Share of active projects with a service user or carer" in reply.image.title
    # The data behind the chart: 0%, then 50% and 67% while Ben and Kim were on teams, then 0%.
    assert reply.image.alt_text.startswith(
        "Run chart from 7 September 2026 to 23 November 2026 (12 weeks)."
    )
    assert "(lowest 0%, highest 67%)" in reply.image.alt_text


def test_stats_says_up_from_the_baseline_and_how_it_was_chosen(chat, ctx, clock, asha, ben):
    at(clock, 2026, 3, 2, 10)
    chat.say(asha, f'/qi-project new "{FALLS}"')
    chat.say(asha, f'/qi-project new "{SEPSIS}"')
    take_snapshot(ctx)
    at(clock, 2026, 11, 23, 10)
    chat.say(ben, f"/qi-join {FALLS} as carer")
    take_snapshot(ctx)

    reply = chat.say(ben, "/qi-stats")

    # Not "up from 0 of 2 in March 2026": the baseline, here both weeks' middle value.
    assert (
        "1 of 2 active projects has a service user or carer on the team (50% today), up from "
        "a baseline of 25%: the middle value of the first 2 weekly figures, March to November 2026."
        in reply.text
    )


def test_stats_for_one_site_and_an_unknown_site(ctx, history, chat, ben):
    backfill(ctx)

    ward = chat.say(ben, '/qi-stats "Ward 7"')
    unknown = chat.say(ben, "/qi-stats Moon Base")

    assert ward.ok and ward.image is not None
    assert "on the team at Ward 7 (0% today), the same as a baseline of 0%" in ward.text
    assert not unknown.ok
    assert unknown.text == (
        'I don\'t know a site called "Moon Base". Did you mean "Riverside" or "Ward 7"? Type '
        "/qi-projects to see each project with its site."
    )


def test_organisers_mark_changes_on_the_chart(chat, ctx, asha, chloe):
    given.organiser(ctx.sessions, chloe, ctx.now())

    noted = chat.say(chloe, '/qi-stats note 2026-03-02 "Forum relaunched"')
    not_organiser = chat.say(asha, '/qi-stats note 2026-03-02 "Sneaky"')
    bad_date = chat.say(chloe, '/qi-stats note 31/2/2026 "Forum relaunched"')
    no_words = chat.say(chloe, "/qi-stats note 2026-03-02")

    assert noted.ok and noted.text == 'Noted on the run chart: 2 March 2026, "Forum relaunched".'
    assert not not_organiser.ok
    assert not bad_date.ok and '"31/2/2026" is not a date I can read' in bad_date.text
    assert not no_words.ok and "Give a date and a few words" in no_words.text
    with ctx.sessions() as session:
        assert [(n.on_date, n.text) for n in session.scalars(select(ChartNote))] == [
            (date(2026, 3, 2), "Forum relaunched")
        ]


@pytest.mark.parametrize(
    ("typed", "on"),
    [
        ("2/3/2026", date(2026, 3, 2)),  # day first, always
        ("2 March 2026", date(2026, 3, 2)),
        ("2nd Mar", date(2026, 3, 2)),  # no year: the last 2 March
        ("3 Dec", date(2025, 12, 3)),  # today is 23 November 2026: last year's
        ("23 Nov", date(2026, 11, 23)),  # today itself
    ],
)
def test_a_chart_note_takes_the_date_as_people_write_it(chat, ctx, chloe, typed, on):
    given.organiser(ctx.sessions, chloe, ctx.now())

    reply = chat.say(chloe, f"/qi-stats note {typed} Forum relaunched")

    assert reply.ok, reply.text
    with ctx.sessions() as session:
        assert [(n.on_date, n.text) for n in session.scalars(select(ChartNote))] == [
            (on, "Forum relaunched")
        ]


def test_a_note_refusal_shows_a_day_gone_by_as_its_example(chat, ctx, clock, chloe):
    clock.advance(days=70)  # Monday 1 February 2027
    given.organiser(ctx.sessions, chloe, ctx.now())

    reply = chat.say(chloe, "/qi-stats note soon please")

    assert not reply.ok
    assert "Dates are day first: 4/1/2027, 4 January 2027, 4 Jan or 2027-01-04." in reply.text
    assert '/qi-stats note 4 January 2027 "Forum relaunched"' in reply.text


def test_forum_stats_before_any_meeting_says_so_kindly(chat, ctx, ben):
    given.forum(ctx.sessions, ctx.now())

    reply = chat.say(ben, "/qi-stats forum")

    assert reply.ok and reply.image is None
    assert '"QI Forum" has not met yet, so there is no attendance to show.' in reply.text


def test_forum_stats_show_who_came_to_each_meeting(chat, ctx, clock, ben, chloe):
    forum_id = given.forum(ctx.sessions, ctx.now())
    first = given.meeting(ctx, forum_id, ctx.now() + timedelta(days=3))
    for actor, role in ((ben, "carer"), (chloe, "staff"), (KIM, "service user")):
        chat.say(actor, f"/qi-join forum as {role}")
        chat.bot.action(actor, ids.RSVP, f"{first}:going")
    clock.advance(days=4)

    reply = chat.say(ben, "/qi-stats forum")

    assert reply.ok and reply.image is not None
    assert (
        "1 meeting so far. For the last one (26 November 2026), 2 service users and carers and "
        "1 staff said they were coming." in reply.text
    )


def test_erasing_an_organiser_keeps_their_chart_notes_without_their_name(chat, ctx, chloe):
    chloe_id = given.organiser(ctx.sessions, chloe, ctx.now())
    chat.say(chloe, '/qi-stats note 2026-03-02 "Forum relaunched"')

    with ctx.sessions.begin() as session:
        erase_person(session, chloe_id, now=ctx.now())

    with ctx.sessions() as session:
        assert [(n.text, n.created_by_id) for n in session.scalars(select(ChartNote))] == [
            ("Forum relaunched", None)
        ]


def test_a_member_recorded_as_there_since_a_date_counts_from_then(chat, ctx, clock, asha):
    at(clock, 2026, 11, 2, 10)
    chat.say(asha, f'/qi-project new "{FALLS}"')
    at(clock, 2026, 11, 23, 10)

    added = chat.say(
        asha, f'/qi-project add-member "{FALLS}" "Sam Jones" as carer --consent --since 2026-11-10'
    )
    backfill(ctx)

    assert added.ok
    # Week 46 began on the 9th, before Sam joined; week 47 on the 16th, after.
    assert figures(ctx) == [
        ("2026-W45", 0, 0, True),
        ("2026-W46", 1, 0, True),
        ("2026-W47", 1, 1, True),
    ]


def test_backfill_counts_each_week_by_the_role_held_that_week(chat, ctx, clock, asha, ben):
    """A role changed later does not rewrite the weeks before the change."""
    at(clock, 2026, 11, 2, 10)  # Monday of week 45, after that week's 09:30 moment
    chat.say(asha, f'/qi-project new "{FALLS}" --site "Ward 7"')
    chat.say(asha, f'/qi-project new "{SEPSIS}" --site Riverside')
    at(clock, 2026, 11, 3)
    assert chat.say(ben, f"/qi-join {FALLS} as staff").ok
    assert chat.say(KIM, f"/qi-join {SEPSIS} as carer").ok
    at(clock, 2026, 11, 11)  # Wednesday of week 46: both roles are put right
    assert "changed your role" in chat.say(ben, f"/qi-join {FALLS} as carer").text
    assert "changed your role" in chat.say(KIM, f"/qi-join {SEPSIS} as staff").text
    at(clock, 2026, 11, 23, 10)

    backfill(ctx)

    # Ben was staff, then a carer; Kim was a carer, then staff.
    assert figures(ctx, "site:Ward 7") == [
        ("2026-W46", 1, 0, True),
        ("2026-W47", 1, 1, True),
    ]
    assert figures(ctx, "site:Riverside") == [
        ("2026-W46", 1, 1, True),
        ("2026-W47", 1, 0, True),
    ]


def test_a_member_recorded_since_a_past_date_changes_the_weeks_already_recorded(
    chat, ctx, clock, asha
):
    """The weekly figures were taken without them: those weeks are worked out again."""
    at(clock, 2026, 11, 2, 10)
    chat.say(asha, f'/qi-project new "{FALLS}"')
    for day in (2, 9, 16, 23):  # the weekly figure, taken live each Monday at 10:00
        at(clock, 2026, 11, day, 10)
        take_snapshot(ctx)
    at(clock, 2026, 11, 25, 12)

    added = chat.say(
        asha, f'/qi-project add-member "{FALLS}" "Sam Jones" as carer --consent --since 2026-11-03'
    )

    assert added.ok
    assert figures(ctx) == [
        ("2026-W45", 1, 0, False),  # taken on the 2nd, before Sam joined: kept
        ("2026-W46", 1, 1, True),  # worked out again: Sam was on the team by then
        ("2026-W47", 1, 1, True),
        ("2026-W48", 1, 1, True),  # this week's too, each at its own moment
    ]


@pytest.mark.parametrize(
    ("since", "answer"),
    [
        ("31/11/2026", '"31/11/2026" is not a date I can read. Dates are day first'),
        ("2026-12-25", "the date can't be ahead"),
    ],
)
def test_a_since_date_that_cannot_be_used_is_refused_kindly(chat, ctx, asha, since, answer):
    chat.say(asha, f'/qi-project new "{FALLS}"')
    before = given.row_counts(ctx.sessions)

    reply = chat.say(
        asha, f'/qi-project add-member "{FALLS}" "Sam Jones" as carer --consent --since {since}'
    )

    assert not reply.ok and answer in reply.text
    assert given.row_counts(ctx.sessions) == before


@pytest.mark.parametrize(
    ("since", "joined"),
    [
        ("9/11/2026", date(2026, 11, 9)),
        ('"9 Nov"', date(2026, 11, 9)),
        ("2026-11-09", date(2026, 11, 9)),
    ],
)
def test_a_since_date_is_read_day_first_and_without_a_year_is_the_last_such_day(
    chat, ctx, clock, asha, since, joined
):
    clock.advance(days=-30)  # the project began before the day given (a later one is clamped)
    chat.say(asha, f'/qi-project new "{FALLS}"')
    clock.advance(days=30)

    reply = chat.say(
        asha, f'/qi-project add-member "{FALLS}" "Sam Jones" as a carer --consent --since {since}'
    )

    assert reply.ok, reply.text
    with ctx.sessions() as session:
        row = session.scalars(select(Membership).where(Membership.role == Role.CARER)).one()
        assert row.joined_at.astimezone(ctx.timezone).date() == joined


def test_a_since_refusal_shows_a_day_gone_by_as_its_example(chat, ctx, clock, asha):
    clock.advance(days=70)  # Monday 1 February 2027
    chat.say(asha, f'/qi-project new "{FALLS}"')

    reply = chat.say(
        asha, f'/qi-project add-member "{FALLS}" "Sam Jones" as carer --consent --since soon'
    )

    assert not reply.ok and "For example: --since 4/1/2027" in reply.text


def test_a_project_counts_from_its_start_date_when_earlier_than_its_record(chat, ctx, asha):
    chat.say(asha, f'/qi-project new "{FALLS}"')  # recorded today, 23 November
    with ctx.sessions.begin() as session:
        project = session.get(Project, given.project_id(ctx.sessions, FALLS))
        project.started_on = date(2026, 11, 4)  # as a register's start date says

    backfill(ctx)

    assert figures(ctx) == [
        ("2026-W45", 0, 0, True),  # measured Monday the 2nd, before it began
        ("2026-W46", 1, 0, True),
        ("2026-W47", 1, 0, True),
    ]


def test_the_example_trust_says_each_signal_as_its_chart_alt_text_does(chat, ctx, asha):
    seed_example_trust(ctx)  # half a year of history, worked out as it is seeded

    reply = chat.say(asha, "/qi-stats")  # the demo's organiser

    # The run chart's signs (Big I and little i follow in a section of their own).
    chart_part = reply.text.split("On the team, or consulted")[0]
    signs = [line[2:] for line in chart_part.splitlines() if line.startswith("• ")]
    assert signs, reply.text
    assert reply.image is not None
    for (
        sign
    ) in signs:  # one computation: the chat's words are the alt text's, sentence for sentence
        assert sign in reply.image.alt_text
    # The trend counts a figure repeated the next week once: both numbers, said the same way.
    trend = next(sign for sign in signs if "(a trend)" in sign)
    assert trend.startswith("A steady change (a trend): going down over 11 weeks, from 20% on ")
    assert trend.endswith(", 7 different figures in a row each lower than the last.")
    # One short sentence each; the statistics are behind the button, said once there.
    assert "chance" not in reply.text.replace("more often than chance would", "")
    assert "unlikely" not in reply.text


def test_what_does_this_mean_explains_the_signs_found_once_each(chat, ctx, asha, ben):
    seed_example_trust(ctx)
    reply = chat.say(ben, "/qi-stats")  # a carer, not an organiser: everyone may ask

    meaning = chat.press(ben, reply, "What does this mean?")

    assert meaning.ok
    assert meaning.sections[0].heading == "What the run chart shows"
    assert "the middle value (the median) of the first 12 weeks" in meaning.text
    assert meaning.text.count("chance alone") == 1
    # The signs this chart shows (a shift, a trend, too few runs), each explained once.
    assert meaning.text.count("• Shift:") == meaning.text.count("• Trend:") == 1
    assert meaning.text.count("• Runs:") == 1
    assert "astronomical" not in meaning.text  # not found here, not explained


def test_an_empty_database_says_what_to_do_first(chat, asha):
    reply = chat.say(asha, "/qi-stats")

    assert reply.ok and reply.image is None
    assert "0 of 0" not in reply.text
    assert "No projects are recorded yet" in reply.text
    assert "qi-nudge import-projects FILE.csv" in reply.text
    assert "qi-nudge stats --backfill" in reply.text


def test_projects_without_weekly_figures_name_the_command_that_works_them_out(chat, asha):
    chat.say(asha, f'/qi-project new "{FALLS}"')

    reply = chat.say(asha, "/qi-stats")

    assert "whoever runs the bot can work them out from the projects' history: " in reply.text
    assert reply.text.split("\nOn the team, or consulted")[0].endswith("qi-nudge stats --backfill")


def test_the_back_fill_report_says_what_each_number_counts(ctx, clock, history):
    take_snapshot(ctx)  # this week's figure, as the weekly run takes it
    at(clock, 2026, 11, 30, 10)
    take_snapshot(ctx)  # and next week's: week 48 is now a past week, already recorded

    done = backfill_report(ctx)

    # Weeks 36 to 48 gone through; week 36 had no active project (both began on its Tuesday).
    assert (done.weeks, done.first, done.from_first_project) == (13, date(2026, 8, 31), True)
    assert (done.without_active, done.kept) == (1, 1)


def test_a_site_whose_projects_have_all_finished_says_so_not_an_old_figure(
    ctx, history, chat, chloe
):
    backfill(ctx)
    assert chat.say(chloe, f'/qi-project status "{DISCHARGE}" completed').ok
    take_snapshot(ctx)

    reply = chat.say(chloe, "/qi-stats Riverside")

    assert "No project at Riverside is active just now." in reply.text
    assert figures(ctx, "site:Riverside")[-1] == ("2026-W48", 0, 0, False)


def test_a_chart_note_with_dollar_signs_is_drawn_as_words(chat, ctx, history, chloe):
    given.organiser(ctx.sessions, chloe, ctx.now())
    backfill(ctx)
    chat.say(chloe, '/qi-stats note 2026-10-01 "Pay {$5} vs {$6}}"')

    reply = chat.say(chloe, "/qi-stats")

    assert reply.image is not None and reply.image.png.startswith(b"\x89PNG")


def test_a_register_that_closes_a_project_keeps_its_active_weeks_in_history(ctx, clock):
    register = "Project name,Lead,Site,Status,Start date\nFalls,Asha Patel,Ward 7,{},07/09/2026\n"
    at(clock, 2026, 10, 1)
    import_projects(ctx, io.StringIO(register.format("Active"), newline=""))
    at(clock, 2026, 10, 28)
    import_projects(ctx, io.StringIO(register.format("Completed"), newline=""))
    at(clock, 2026, 11, 23, 10)

    backfill(ctx)

    active = {week: a for week, a, _involved, _later in figures(ctx)}
    assert min(active) == "2026-W37"  # its first week: nothing is counted before it began
    assert active["2026-W37"] == 1  # from its start date in the register, Monday 7 September
    assert active["2026-W44"] == 1  # still active on Monday 26 October
    assert active["2026-W45"] == 0  # the register said completed on the 28th


def test_a_week_the_bot_was_down_is_filled_in_from_history(ctx, clock, chat, asha):
    at(clock, 2026, 11, 2, 10)  # Monday, week 45
    chat.say(asha, f'/qi-project new "{FALLS}"')
    jobs = Jobs(ctx, NudgePolicy())
    jobs.run_due()
    at(clock, 2026, 11, 23, 10)  # down for weeks 46 and 47; back on Monday of week 48

    jobs.run_due()

    assert figures(ctx) == [
        ("2026-W45", 1, 0, False),
        ("2026-W46", 1, 0, True),
        ("2026-W47", 1, 0, True),
        ("2026-W48", 1, 0, False),
    ]


def test_figures_that_fail_do_not_stop_the_weekly_reminders(ctx, chat, asha, monkeypatch):
    chat.say(asha, f'/qi-project new "{FALLS}"')

    def broken(_ctx):
        raise RuntimeError("a bug in the figures")

    monkeypatch.setattr("bot.runtime.scheduler.take_snapshot", broken)

    plan = Jobs(ctx, NudgePolicy()).run_due()

    assert plan is not None and len(plan.deliveries) == 1  # Asha's reminder is planned
    assert figures(ctx) == []


def test_an_organisers_chart_notes_are_in_their_data_export(chat, ctx, chloe):
    chloe_id = given.organiser(ctx.sessions, chloe, ctx.now())
    chat.say(chloe, '/qi-stats note 2026-03-02 "Forum relaunched"')

    with ctx.sessions() as session:
        exported = export_person(session, chloe_id)

    assert exported["run_chart_notes_written"] == [
        {"date": "2026-03-02", "note": "Forum relaunched", "written": ctx.now().isoformat()}
    ]


def statements_of(ctx, say):
    """The SQL statements run while `say()` runs."""
    from sqlalchemy import event

    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(" ".join(statement.split()))

    connection = ctx.sessions.kw["bind"]
    event.listen(connection, "before_cursor_execute", count)
    try:
        assert say().ok
    finally:
        event.remove(connection, "before_cursor_execute", count)
    return [s for s in statements if s.upper().startswith(("SELECT", "WITH"))]


@pytest.mark.parametrize("site", ["", '"Ward 7"'])
def test_stats_reads_a_few_set_based_statements_however_many_projects(
    ctx, history, chat, asha, site
):
    backfill(ctx)
    before = statements_of(ctx, lambda: chat.say(asha, f"/qi-stats {site}"))
    for number in range(20):  # a trust grows: the statements stay the same
        assert chat.say(asha, f'/qi-project new "More {number}" --site "Ward 7"').ok
    after = statements_of(ctx, lambda: chat.say(asha, f"/qi-stats {site}"))

    # One statement for the weeks, the notes and the headline; a site is looked up first.
    # And one for team members against people consulted (Big I and little i), the site
    # found again by handlers.evidence.big_and_little_i.
    assert len(after) == len(before) == (4 if site else 2)
    # Projects are counted in SQL, never read row by row (a site's headline read every
    # project and its history: O(projects) in Python on every request); the site itself is
    # found by its key, with its spelling, in one statement.
    from_projects = [s for s in after if "FROM projects" in s]
    assert from_projects and all(
        "count(*)" in s or "GROUP BY projects.site_key" in s for s in from_projects
    )


def test_the_headline_counts_as_the_project_lists_do(ctx, history):
    from store.projects import involvement_headline

    with ctx.sessions() as session:
        assert stats_store.headline(session) == involvement_headline(session) == (2, 0)
        assert stats_store.headline(session, "Riverside") == (1, 0)
        assert stats_store.headline(session, "Moon Base") == (0, 0)


def test_the_same_figures_are_worked_out_once_and_answered_the_same(
    ctx, history, chat, asha, chloe, monkeypatch
):
    import handlers.evidence.stats

    backfill(ctx)
    drawn_up = []
    real_run_chart = handlers.evidence.stats.run_chart
    monkeypatch.setattr(
        handlers.evidence.stats,
        "run_chart",
        lambda *args, **kwargs: drawn_up.append(1) or real_run_chart(*args, **kwargs),
    )
    getattr(handlers.evidence.stats._chart_reply, "cache_clear", lambda: None)()  # (a test before)

    first, second = (chat.say(asha, "/qi-stats") for _ in range(2))
    assert len(drawn_up) == 1  # findings, alt text and fingerprint: once for the same figures
    assert (first.text, first.image.alt_text) == (second.text, second.image.alt_text)
    assert first.image.drawn_from == second.image.drawn_from
    assert first.image is not second.image  # handed out undrawn: no bytes kept with the words

    # Any change to what it says is worked out afresh: a note, or a new project today.
    given.organiser(ctx.sessions, chloe, ctx.now())
    assert chat.say(chloe, '/qi-stats note 2026-03-02 "Forum relaunched"').ok
    noted = chat.say(asha, "/qi-stats")
    assert chat.say(asha, '/qi-project new "Another one" --site "Ward 7"').ok
    grown = chat.say(asha, "/qi-stats")
    assert len(drawn_up) == 3
    assert noted.image.drawn_from != first.image.drawn_from
    assert grown.text != noted.text


def chart_notes(ctx):
    with ctx.sessions() as session:
        return [(n.id, n.on_date, n.text) for n in session.scalars(select(ChartNote))]


def test_organisers_list_edit_and_delete_chart_notes_by_number(chat, ctx, asha, chloe):
    given.organiser(ctx.sessions, chloe, ctx.now())
    assert chat.say(chloe, '/qi-stats note 2026-03-02 "Forum relaunched"').ok
    assert chat.say(chloe, '/qi-stats note 2026-06-01 "Evening meetings"').ok
    (relaunch, _), (evening, _) = [(n, t) for n, _d, t in chart_notes(ctx)]

    listed = chat.say(asha, "/qi-stats notes")  # anyone may see what the chart marks
    edited = chat.say(chloe, f'/qi-stats note edit #{relaunch} 2026-03-09 "Forum relaunched!"')
    deleted = chat.say(chloe, f"/qi-stats note delete {evening}")

    assert listed.sections[0].text.splitlines() == [
        f'• #{evening} 1 June 2026: "Evening meetings"',
        f'• #{relaunch} 2 March 2026: "Forum relaunched"',
    ]
    assert f"/qi-stats note edit {evening} 26 October 2026" in listed.text  # the latest's number
    assert edited.text == (
        f'Changed note #{relaunch} on the run chart to: 9 March 2026, "Forum relaunched!".'
    )
    assert deleted.text == 'Took the note off the run chart: 1 June 2026, "Evening meetings".'
    assert chart_notes(ctx) == [(relaunch, date(2026, 3, 9), "Forum relaunched!")]


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("note delete", "Please give the note's number, like this: /qi-stats note delete 3."),
        ("note delete 999", "There is no note #999 on the run chart. Type /qi-stats notes"),
        ("note edit {n}", "Give a date and a few words, for example: /qi-stats note edit 3"),
        ('note edit {n} soon "x"', '"soon" is not a date I can read.'),
        ('note edit first 2026-03-09 "x"', "Please give the note's number"),
    ],
)
def test_a_note_change_that_cannot_be_made_is_explained_and_changes_nothing(
    chat, ctx, chloe, typed, says
):
    given.organiser(ctx.sessions, chloe, ctx.now())
    assert chat.say(chloe, '/qi-stats note 2026-03-02 "Forum relaunched"').ok
    ((number, _, _),) = chart_notes(ctx)
    before = given.row_counts(ctx.sessions)

    reply = chat.say(chloe, "/qi-stats " + typed.format(n=number))

    assert not reply.ok and says in reply.text
    assert given.row_counts(ctx.sessions) == before
    assert chart_notes(ctx) == [(number, date(2026, 3, 2), "Forum relaunched")]


def test_only_organisers_edit_or_delete_a_note(chat, ctx, asha, chloe):
    given.organiser(ctx.sessions, chloe, ctx.now())
    assert chat.say(chloe, '/qi-stats note 2026-03-02 "Forum relaunched"').ok
    ((number, _, _),) = chart_notes(ctx)

    edit = chat.say(asha, f'/qi-stats note edit {number} 2026-03-02 "Mine now"')
    delete = chat.say(asha, f"/qi-stats note delete {number}")

    assert not edit.ok and not delete.ok and "Only QI forum organisers" in delete.text
    assert chart_notes(ctx) == [(number, date(2026, 3, 2), "Forum relaunched")]


def test_with_no_notes_the_list_says_how_to_add_one(chat, ctx, asha):
    reply = chat.say(asha, "/qi-stats notes")

    assert reply.ok and "There are no notes on the run chart yet." in reply.text
    assert "Organisers can add one: /qi-stats note 26 October 2026" in reply.text


# --- sites: found and counted as /qi-projects finds and counts them -----------------------

RIVERSIDE_NOW = [  # the active projects at Riverside Hospital in the `sites` trust
    "Quicker discharge letters",
    "Reducing falls on Ward 7",
    "Smoother handovers",
]


@pytest.fixture
def sites(chat, ctx, clock, asha, ben):
    """Riverside Hospital typed three ways, a finished project there, Oak Lodge, and a project
    named for the river that is at no site. Ben, a carer, is on the falls project's team.
    """
    at(clock, 2026, 11, 2)
    for line in [
        '/qi-project new "Reducing falls on Ward 7" --site "Riverside Hospital"',
        '/qi-project new "Quicker discharge letters" --site "riverside  HOSPITAL"',
        '/qi-project new "Smoother handovers" --site "Riverside Hospital."',
        '/qi-project new "Old audit" --site "Riverside Hospital"',
        '/qi-project new "Better sleep" --site "Oak Lodge"',
        '/qi-project new "Riverside walks"',
    ]:
        assert chat.say(asha, line).ok
    assert chat.say(asha, '/qi-project status "Old audit" completed').ok
    assert chat.say(ben, "/qi-join Reducing falls on Ward 7 as carer").ok
    at(clock, 2026, 11, 23, 10)
    backfill(ctx)


def listed_names(reply):
    """The names of the projects a list shows (the names here have no colon or bracket)."""
    lines = [line for line in reply.text.splitlines() if line.startswith("• ")]
    return [line[2:].split(":")[0].split(" (")[0] for line in lines]


def test_a_site_typed_any_way_is_one_site_with_one_spelling(ctx, sites):
    with ctx.sessions() as session:
        spelled = set(session.scalars(select(Project.site).where(Project.site.is_not(None))))
        scopes = stats_store.scopes(session)

    assert spelled == {"Riverside Hospital", "Oak Lodge"}
    site_scopes = [s for s in scopes if s.startswith("site:")]
    assert site_scopes == ["site:Oak Lodge", "site:Riverside Hospital"]
    assert figures(ctx, "site:Riverside Hospital")[-1] == ("2026-W47", 3, 1, True)


@pytest.mark.parametrize(
    "typed", ["Riverside Hospital", "riverside hospital", "RIVERSIDE", "river", "hospital"]
)
def test_stats_and_the_project_list_count_the_same_projects_at_a_site(chat, sites, ben, typed):
    stats = chat.say(ben, f"/qi-stats {typed}")
    listing = chat.say(ben, f"/qi-projects {typed}")

    headline = "1 of 3 active projects has a service user or carer on the team"
    assert stats.ok and f"{headline} at Riverside Hospital (" in stats.text
    assert stats.image is not None and stats.image.title.endswith("(Riverside Hospital)")
    assert listing.sections[0].heading == "Active QI projects at Riverside Hospital"
    assert listing.sections[0].text == f"{headline}."
    assert listed_names(listing) == RIVERSIDE_NOW  # not "Riverside walks", at no site


def test_a_site_named_by_a_word_of_it_is_that_site_in_stats_and_lists(chat, sites, ben):
    stats = chat.say(ben, "/qi-stats lodge")
    listing = chat.say(ben, "/qi-projects lodge")

    assert "0 of 1 active project has a service user or carer on the team at Oak Lodge" in (
        stats.text
    )
    assert listed_names(listing) == ["Better sleep"]


def test_a_site_that_could_be_several_or_none_is_asked_about_kindly(chat, ben, asha, sites):
    assert chat.say(asha, '/qi-project new "Eye tests" --site "Riverside Clinic"').ok

    several = chat.say(ben, "/qi-stats riverside")
    mistyped = chat.say(ben, "/qi-stats Rivreside Hospital")
    searched = chat.say(ben, "/qi-projects riverside")

    assert not several.ok
    assert several.text == (
        'More than one site matches "riverside". Did you mean "Riverside Clinic" or '
        '"Riverside Hospital"? Type a little more of the site\'s name.'
    )
    assert not mistyped.ok
    assert mistyped.text == (
        'I don\'t know a site called "Rivreside Hospital". Did you mean "Riverside Hospital"? '
        "Type /qi-projects to see each project with its site."
    )
    # Not one site: /qi-projects searches names and sites for the word, as it always has.
    assert searched.sections[0].heading == 'Active QI projects matching "riverside"'
    assert listed_names(searched) == [
        "Eye tests",
        "Quicker discharge letters",
        "Reducing falls on Ward 7",
        "Riverside walks",
        "Smoother handovers",
    ]


def test_the_example_trusts_sites_agree_in_stats_and_lists(chat, ctx, asha):
    seed_example_trust(ctx)

    stats = chat.say(asha, "/qi-stats Riverside Hospital")
    listing = chat.say(asha, "/qi-projects Riverside Hospital")

    # Its falls project is on Ward 7 of Riverside Hospital: one site, not two.
    headline = "1 of 3 active projects has a service user or carer on the team"
    assert f"{headline} at Riverside Hospital" in stats.text
    assert listing.sections[0].text == f"{headline}."
    assert listed_names(listing) == [
        "Quicker discharge letters",
        "Reducing falls on Ward 7",
        "Smoother handovers at night",
    ]
