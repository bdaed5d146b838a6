"""`qi-nudge remind --now` and `run-due` run by hand: what is sent from here, and what is not."""

import io
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from bot.runtime.scheduler import Jobs
from bot.runtime.waiting_report import report_waiting
from handlers.core.context import Context
from handlers.core.weeks import week_of
from handlers.nudges.weekly import NUDGE, NudgePolicy
from store import outbox, people
from store.engine import make_engine, make_sessions
from store.forums import create_forum
from store.migrate import upgrade
from store.models import Delivery, Person
from store.projects import create_project
from store.roles import ProjectStatus
from tests.fakes import FakeSlack
from tests.fakes.slack_api import TEAM_ID
from tests.handlers import given

BOTH = pytest.mark.parametrize("fresh_database_url", ["sqlite", "postgresql"], indirect=True)
PLATFORM_SETTINGS = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_API_URL",
    "TEAMS_APP_ID",
    "TEAMS_APP_PASSWORD",
    "TEAMS_TENANT_ID",
)
LONDON = ZoneInfo("Europe/London")


def qi(url, *args, cwd, env=None):
    """Run `qi-nudge ARGS` as an admin would, with no chat platform set up unless `env` says."""
    clean = {k: v for k, v in os.environ.items() if k not in PLATFORM_SETTINGS}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        env={**clean, "DATABASE_URL": url, "LOG_LEVEL": "WARNING", **(env or {})},
        timeout=60,
        cwd=cwd,  # a folder with no .env
        check=False,
    )


@pytest.fixture
def trust(fresh_database_url):
    """A migrated database and a context on it (real time, as the command runs)."""
    engine = make_engine(fresh_database_url)
    upgrade(engine)
    yield Context(sessions=make_sessions(engine))
    engine.dispose()


def lead(ctx: Context, name: str, platform: str, user_id: str, project: str) -> int:
    """A lead on a platform with an active project nobody with lived experience is on."""
    with ctx.sessions.begin() as session:
        person = people.ensure_person_for_identity(
            session,
            platform=platform,
            workspace=TEAM_ID if platform == "slack" else "local",
            user_id=user_id,
            display_name=name,
            now=ctx.now(),
        )
        create_project(
            session,
            name=project,
            lead_id=person.id,
            site=None,
            status=ProjectStatus.ACTIVE,
            now=ctx.now(),
        )
        return person.id


def three_leads(ctx: Context) -> dict[str, int]:
    """A lead on Slack, one on Teams and one trying the bot in the console."""
    return {
        "slack": lead(ctx, "Asha Patel", "slack", "U1", "Falls prevention"),
        "teams": lead(ctx, "Tom Baker", "teams", "29:tom", "Kinder waiting rooms"),
        "console": lead(ctx, "Carla Jones", "console", "carla-jones", "Discharge letters"),
    }


def nudge_to(ctx: Context, person_id: int) -> Delivery:
    with ctx.sessions() as session:
        return session.scalars(
            select(Delivery).where(
                Delivery.kind == NUDGE, Delivery.recipient == outbox.person_recipient(person_id)
            )
        ).one()


def untouched(delivery: Delivery) -> bool:
    """Still queued as planned: never claimed, never tried."""
    return (delivery.status, delivery.attempts, delivery.claimed_at) == ("pending", 0, None)


@BOTH
def test_remind_now_without_slack_or_teams_prints_only_console_messages_and_keeps_the_rest(
    trust, fresh_database_url, tmp_path
):
    leads = three_leads(trust)

    result = qi(fresh_database_url, "remind", "--now", cwd=tmp_path)

    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "--- Message to Carla Jones (direct message) ---" in out
    assert "Asha Patel (direct message)" not in out and "Tom Baker (direct message)" not in out
    assert "Sent 1," in out
    assert "Sent nothing to Slack or Microsoft Teams: they are not set up here." in out
    assert "2 messages for them are still waiting" in out
    assert "SLACK_BOT_TOKEN" in out and "TEAMS_APP_ID" in out and ".env.example" in out
    assert "Traceback" not in out + result.stderr
    assert nudge_to(trust, leads["console"]).status == "sent"
    assert untouched(nudge_to(trust, leads["slack"]))
    assert untouched(nudge_to(trust, leads["teams"]))


@BOTH
def test_run_due_without_slack_or_teams_leaves_a_slack_channel_post_for_serve(
    trust, fresh_database_url, tmp_path
):
    with trust.sessions.begin() as session:
        on_slack = create_forum(session, name="QI Forum", channel="slack:CFORUM", now=trust.now())
        here = create_forum(session, name="Try-out", channel="console:try-out", now=trust.now())
    given.meeting(trust, on_slack.id, trust.now() + timedelta(days=6))
    given.meeting(trust, here.id, trust.now() + timedelta(days=6))

    result = qi(fresh_database_url, "run-due", cwd=tmp_path)

    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "--- Message in try-out ---" in out
    assert "CFORUM" not in out
    # Only Slack is named: no message waits for Teams.
    assert "Sent nothing to Slack: it is not set up here." in out
    assert "Microsoft Teams" not in out and "TEAMS_APP_ID" not in out
    with trust.sessions() as session:
        waiting = session.scalars(
            select(Delivery).where(Delivery.recipient == "channel:slack:CFORUM")
        ).all()
    assert waiting and all(untouched(delivery) for delivery in waiting)


@BOTH
def test_remind_now_with_only_slack_sends_to_slack_and_keeps_the_teams_message(
    trust, fresh_database_url, tmp_path
):
    leads = {
        "slack": lead(trust, "Asha Patel", "slack", "U1", "Falls prevention"),
        "teams": lead(trust, "Tom Baker", "teams", "29:tom", "Kinder waiting rooms"),
    }
    slack_only = {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": "secret",
        "SLACK_API_URL": "",
    }
    with FakeSlack() as fake:
        slack_only["SLACK_API_URL"] = fake.base_url
        result = qi(fresh_database_url, "remind", "--now", cwd=tmp_path, env=slack_only)
        (nudge,) = fake.messages("DU1")

    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "Falls prevention" in nudge["text"]
    assert "Sent nothing to Microsoft Teams: it is not set up here." in out
    assert "Sent 1, no longer needed 0, failed 0" in out
    assert "1 message for it is still waiting" in out
    assert "set TEAMS_APP_ID, TEAMS_TENANT_ID and TEAMS_APP_PASSWORD" in out
    assert "Traceback" not in out + result.stderr
    assert nudge_to(trust, leads["slack"]).status == "sent"
    assert untouched(nudge_to(trust, leads["teams"]))


@BOTH
def test_after_a_crash_remind_now_says_what_is_still_held_and_when_it_goes_and_fails(
    trust, fresh_database_url, tmp_path
):
    for n in range(3):
        lead(trust, f"Lead {n}", "console", f"lead-{n}", f"Project {n}")
    # A run that planned and claimed this week's reminders, then died before sending them.
    Jobs(trust, NudgePolicy()).sweep(week_of(trust.now(), trust))
    with trust.sessions.begin() as session:
        claimed = outbox.claim_due(session, now=datetime.now(UTC))
    assert len(claimed) == 3
    with trust.sessions() as session:
        claimed_at = session.scalar(select(Delivery.claimed_at).limit(1))
    frees_at = (claimed_at + outbox.CLAIM_LEASE).astimezone(LONDON).strftime("%H:%M")

    result = qi(fresh_database_url, "remind", "--now", cwd=tmp_path)

    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "Sent 0," in out
    assert "3 of this week's messages are still held by another qi-nudge process" in out
    assert f"they can be sent from {frees_at}" in out
    assert "Traceback" not in out + result.stderr


@BOTH
def test_a_retry_waiting_for_its_time_is_said_with_its_time_and_is_not_a_failure(
    trust, fresh_database_url, tmp_path
):
    lead(trust, "Lead", "console", "lead", "Project")
    Jobs(trust, NudgePolicy()).sweep(week_of(trust.now(), trust))
    later = datetime.now(UTC) + timedelta(minutes=20)
    with trust.sessions.begin() as session:
        session.execute(update(Delivery).values(next_attempt_at=later, error="Slack said 503"))

    result = qi(fresh_database_url, "remind", "--now", cwd=tmp_path)

    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    expected = later.astimezone(LONDON).strftime("%H:%M")
    assert "1 of this week's messages is still waiting to be tried again at " + expected in out


def test_a_message_planned_for_later_is_said_as_planned_not_as_a_retry(trust):
    lead_id = lead(trust, "Lead", "console", "lead", "Project")
    later = trust.now() + timedelta(minutes=40)
    with trust.sessions.begin() as session:
        outbox.plan_message_to(
            session, lead_id, "member_joined", "joins:hour", {}, now=trust.now(), due_at=later
        )
    said: list[str] = []

    overdue = report_waiting(trust, elsewhere=None, lease=timedelta(minutes=5), say=said.append)

    expected = later.astimezone(LONDON).strftime("%H:%M")
    (line,) = said
    assert line.startswith(
        f"1 of this week's messages is still planned for later: they go at {expected}"
    )
    assert not overdue


@BOTH
def test_run_due_reports_a_channel_post_stuck_since_last_week_and_fails(
    trust, fresh_database_url, tmp_path
):
    """serve has been down since last week: its forum post is still owed, whatever its date."""
    planned = outbox.Planned("announce", "meeting:1:7d", "channel:slack:CFORUM", {})
    with trust.sessions.begin() as session:
        outbox.plan(session, [planned], now=datetime.now(UTC) - timedelta(days=8))

    result = qi(fresh_database_url, "run-due", cwd=tmp_path)

    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "Nothing is due to be sent." not in out
    assert "Nothing was sent." in out
    assert "Sent nothing to Slack: it is not set up here. 1 message for it is still waiting" in out


@BOTH
def test_run_due_does_not_say_nothing_is_due_when_a_held_message_is_overdue(
    trust, fresh_database_url, tmp_path
):
    lead(trust, "Lead", "console", "lead", "Project")
    Jobs(trust, NudgePolicy()).sweep(week_of(trust.now(), trust))
    with trust.sessions.begin() as session:
        old = datetime.now(UTC) - timedelta(days=8)  # planned last week, claimed by serve
        session.execute(update(Delivery).values(created_at=old))
        assert len(outbox.claim_due(session, now=datetime.now(UTC))) == 1

    result = qi(fresh_database_url, "run-due", cwd=tmp_path)

    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "Nothing is due to be sent." not in out
    assert out.startswith("Nothing was sent.\n") or "\nNothing was sent.\n" in out
    assert "1 message is still held by another qi-nudge process" in out  # not "this week's"


# --- remind --dry-run: what this week's reminder will really do --------------------------------

DRY_REGISTER = (
    "Project name,Lead,Lead email,Site,Status\n"
    "Discharge letters,Tom Baker,tom.baker@nhs.net,Hillside,In progress\n"
    "Kinder waiting rooms,Tom Baker,tom.baker@nhs.net,Hillside,In progress\n"
    "Sepsis screening,Tom Baker,tom.baker@nhs.net,Hillside,On hold\n"
    "Old audit,Tom Baker,tom.baker@nhs.net,Hillside,Completed\n"
)


def dry_run(ctx, *options):
    """`qi-nudge remind --dry-run` in this process, on the test database and clock."""
    from bot.cli.main import build_parser
    from bot.runtime.settings import load_settings

    args = build_parser().parse_args(["remind", "--dry-run", *options])
    args.settings = load_settings({}, env_file=None)
    return args.handler(ctx, args)


@pytest.fixture
def week_of_a_trust(ctx, chat, asha, ben, chloe):
    """Asha's two projects (one with a carer), Chloe's snoozed one, Ben's (he muted reminders),
    and Tom's from the register: he has never used chat."""
    from handlers.projects.register_import import import_projects
    from store import nudges as nudge_store
    from tests.handlers.sweeps import project_id, start

    start(chat, asha, "Falls prevention", "Tea trolley")
    start(chat, chloe, "Kind words")
    start(chat, ben, "Ben's bench")
    chat.say(ben, "/qi-join tea trolley as carer")
    import_projects(ctx, io.StringIO(DRY_REGISTER, newline=""))
    with ctx.sessions.begin() as session:
        nudge_store.snooze(
            session,
            project_id(ctx, "Kind words"),
            until=datetime(2027, 1, 4, 9, tzinfo=UTC),
            reason="recruiting",
        )
        nudge_store.set_muted(
            session, given.person_id(ctx.sessions, ben, ctx.now()), muted_at=ctx.now()
        )


def test_dry_run_says_who_is_reminded_skipped_and_unreachable_with_totals_and_changes_nothing(
    ctx, week_of_a_trust, capsys
):
    before = given.row_counts(ctx.sessions)

    assert dry_run(ctx) == 0

    out = capsys.readouterr().out
    assert out.splitlines() == [
        "This week's reminder (2026-W48) was due on Monday 23 November 2026 at 09:30: it goes "
        "within a minute while qi-nudge serve is running, or with qi-nudge remind --now.",
        "Week 2026-W48: 5 active projects without a service user or carer.",
        '  Would remind: "Falls prevention" (lead: Asha Patel): no service user or carer on the '
        "team (reminder 1 in a row)",
        '  Skip: "Kind words" (lead: Chloe Evans): snoozed until 4 January 2027 (we\'re finding '
        "someone)",
        '  Skip: "Ben\'s bench" (lead: Ben Okafor): the lead has turned weekly reminders off',
        '  Would remind: "Discharge letters" (lead: Tom Baker): no service user or carer on the '
        "team (reminder 1 in a row)",
        '  Would remind: "Kinder waiting rooms" (lead: Tom Baker): no service user or carer on '
        "the team (reminder 1 in a row)",
        "Cannot be reached yet (from the project register, never seen on chat): their message "
        "will be marked failed; they get reminders once they have used qi-nudge on Slack or Teams.",
        "  Tom Baker <tom.baker@nhs.net>",
        "Totals: 2 messages; 2 leads reminded about 3 projects; 0 projects passed to the "
        "organisers; 2 projects skipped (1 lead turned reminders off, 1 snoozed); 1 lead cannot "
        "be reached yet. Not asked: 1 already have a service user or carer, 1 on hold, "
        "1 completed or stopped.",
    ]
    assert given.row_counts(ctx.sessions) == before


def test_dry_run_after_this_weeks_reminder_went_says_when_and_when_the_next_is_due(
    ctx, week_of_a_trust, capsys
):
    Jobs(ctx, NudgePolicy()).sweep(week_of(ctx.now(), ctx))
    ctx.clock.advance(hours=3)

    assert dry_run(ctx) == 0

    assert capsys.readouterr().out == (
        "This week's reminder (2026-W48) went on Monday 23 November 2026 at 10:00. Nothing more "
        "will be sent this week. The next is due on Monday 30 November 2026 at 09:30.\n"
    )


def test_dry_run_before_the_reminder_is_due_says_when_it_goes(ctx, week_of_a_trust, capsys):
    ctx.clock.advance(hours=-1)  # 09:00, half an hour before it is due

    dry_run(ctx)

    out = capsys.readouterr().out
    assert out.startswith(
        "This week's reminder (2026-W48) goes on Monday 23 November 2026 at 09:30. If it went "
        "now:\n"
    )


def test_dry_run_show_prints_each_message_exactly_as_it_is_then_sent(ctx, week_of_a_trust, capsys):
    from bot.console.sender import printed
    from tests.handlers.sweeps import send_all

    dry_run(ctx, "--show")
    shown = capsys.readouterr().out.split("\n--- Message ")[1:]

    Jobs(ctx, NudgePolicy()).sweep(week_of(ctx.now(), ctx))
    sent = {recipient: printed(reply) for kind, recipient, reply in send_all(ctx) if kind == NUDGE}
    with ctx.sessions() as session:
        ids = dict(session.execute(select(Person.display_name, Person.id)).all())
    asha, tom = (outbox.person_recipient(ids[name]) for name in ("Asha Patel", "Tom Baker"))
    assert shown == [
        f"to Asha Patel (direct message) ---\n{sent[asha]}\n",
        f"to Tom Baker (direct message) ---\n{sent[tom]}\n",
    ]
    assert "Falls prevention" in sent[asha] and "Kinder waiting rooms" in sent[tom]


def test_dry_run_reads_as_many_times_for_many_projects_as_for_a_few(ctx, chat, asha, capsys):
    from sqlalchemy import event

    from tests.handlers.sweeps import start

    def selects_for_projects(count: int) -> int:
        start(chat, asha, *(f"Project {len(names) + n}" for n in range(count)))
        names.extend(range(count))
        statements = []

        def seen(conn, cursor, statement, parameters, context, executemany):
            statements.append(statement)

        connection = ctx.sessions.kw["bind"]
        event.listen(connection, "before_cursor_execute", seen)
        try:
            dry_run(ctx)
        finally:
            event.remove(connection, "before_cursor_execute", seen)
        return len(statements)

    names: list[int] = []
    assert selects_for_projects(2) == selects_for_projects(40)
    assert "Totals: 1 message; 1 lead reminded about 42 projects" in capsys.readouterr().out


def test_show_without_dry_run_is_refused_and_sends_nothing(ctx, week_of_a_trust):
    from bot.cli.main import build_parser
    from bot.runtime.settings import load_settings
    from handlers.core.errors import Refusal

    args = build_parser().parse_args(["remind", "--now", "--show"])
    args.settings = load_settings({}, env_file=None)
    with pytest.raises(Refusal, match="--show goes with --dry-run"):
        args.handler(ctx, args)
    with ctx.sessions() as session:
        assert session.scalar(select(Delivery.id).where(Delivery.kind == NUDGE)) is None


def test_dry_run_of_a_week_whose_reminder_was_missed_says_it_is_skipped(
    ctx, week_of_a_trust, capsys
):
    ctx.clock.advance(days=4)  # Friday: qi-nudge was not running on Monday

    dry_run(ctx)

    assert capsys.readouterr().out.startswith(
        "This week's reminder (2026-W48) was due on Monday 23 November 2026 at 09:30 and was "
        "missed (qi-nudge was not running). It is skipped, so as not to remind people twice in a "
        "few days; the next is due on Monday 30 November 2026 at 09:30."
    )


# --- remind --now records the week's figures, as the scheduler does before its reminders -----


def remind_now(ctx):
    """`qi-nudge remind --now` in this process, on the test database and clock."""
    from bot.cli.main import build_parser
    from bot.runtime.settings import load_settings

    args = build_parser().parse_args(["remind", "--now"])
    args.settings = load_settings({}, env_file=None)
    return args.handler(ctx, args)


def test_remind_now_before_the_weeks_moment_records_the_weeks_figures(ctx, week_of_a_trust, capsys):
    from store import stats as stats_store

    ctx.clock.advance(days=7, hours=-2)  # Monday 08:00: the weekly job records them at 09:30

    remind_now(ctx)

    out = capsys.readouterr().out
    assert out.startswith(
        "This week's figures are recorded: /qi-stats and the run chart show them.\n"
        "Week 2026-W49: 5 active projects without a service user or carer.\n"
    )
    with ctx.sessions() as session:
        last = stats_store.snapshots(session)[-1]
    assert (last.week, last.active_projects, last.involved_projects) == ("2026-W49", 6, 1)
