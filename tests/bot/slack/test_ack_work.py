"""What one Slack request costs the database: statements and transactions per ack, and locks.

Counted with SQLAlchemy's cursor events on the engine `qi-nudge serve` uses, so a change that
adds a round trip to every sign-up shows up here as a number, not as a slower benchmark.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.engine import make_url

from handlers.core import ids
from store.engine import make_sessions
from store.models import AuditEvent, ChartNote, Membership, Project, SeenRequest
from store.names import name_key
from tests.bot.slack.conftest import SIGNING_SECRET, SlackBot, _run_bot
from tests.bot.slack.test_scheduled_messages import slack_person
from tests.bot.slack.test_slack_http import visible_text
from tests.conftest import database_url_for
from tests.fakes import block_actions_body, slack_headers, slash_command_body

CARER = "UCARER"
TRY_AGAIN = "Please try again in a minute"


@dataclass
class Work:
    """The statements sent and the transactions committed while a block ran."""

    statements: list[str] = field(default_factory=list)
    commits: int = 0

    @property
    def kinds(self) -> list[str]:
        """Each statement as its verb and table: "INSERT seen_requests", "SELECT", ..."""
        out = []
        for statement in self.statements:
            text = statement.replace('"', "")
            verb = text.split()[0].upper()
            if verb in ("INSERT", "WITH"):  # WITH: inserts chained in one statement
                out.append("INSERT " + " + ".join(re.findall(r"INSERT INTO (\w+)", text)))
            elif verb == "BEGIN":
                out.append(" ".join(text.split()))
            else:
                out.append(verb)
        return out


@contextmanager
def counted(engine: Engine) -> Iterator[Work]:
    work = Work()

    def statement(_conn, _cursor, text, _params, _context, _many) -> None:
        work.statements.append(text)

    def commit(_conn) -> None:
        work.commits += 1

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    try:
        yield work
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)


def projects(bot: SlackBot, *names: str) -> dict[str, int]:
    """Open projects with no lead (nobody to tell), by name: their ids."""
    now = bot.service.transport.bot.ctx.now()
    with make_sessions(bot.engine).begin() as session:
        made = [
            Project(name=n, name_key=name_key(n), status="active", created_at=now, updated_at=now)
            for n in names
        ]
        session.add_all(made)
        session.flush()
        return {p.name: p.id for p in made}


def a_known_carer(bot: SlackBot, fake_slack) -> int:
    """Someone the bot has seen today (their profile cached, their day noted): their id."""
    fake_slack.add_user(CARER, "Cara Jones")
    now = bot.service.transport.bot.ctx.now()
    with make_sessions(bot.engine).begin() as session:
        carer = slack_person(session, CARER, "Cara Jones", now)
        carer.identities[0].last_active_on = now.astimezone(ZoneInfo("Europe/London")).date()
        carer_id = carer.id
    bot.post(slash_command_body("/qi-help", "", user_id=CARER))  # looked up once, then cached
    return carer_id


def joined(bot: SlackBot, person_id: int) -> list[tuple[int, str]]:
    with bot.engine.connect() as connection:
        rows = connection.execute(
            select(Membership.project_id, Membership.role).where(Membership.person_id == person_id)
        )
        return [(project_id, str(role.value)) for project_id, role in rows]


def audit_lines(bot: SlackBot) -> list[tuple]:
    with bot.engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                select(
                    AuditEvent.actor_person_id,
                    AuditEvent.action,
                    AuditEvent.subject_type,
                    AuditEvent.subject_id,
                    AuditEvent.detail,
                ).order_by(AuditEvent.id)
            )
        ]


def expected_join_work(bot: SlackBot) -> list[str]:
    """One transaction: the replay key, who is asking, the project, the membership (+ audit)."""
    if bot.engine.dialect.name == "postgresql":
        # No BEGIN statement (psycopg sends it with the first), and the audit line rides on
        # the membership's INSERT.
        return ["INSERT seen_requests", "SELECT", "SELECT", "INSERT memberships + audit_events"]
    return [
        "BEGIN IMMEDIATE",
        "INSERT seen_requests",
        "SELECT",
        "SELECT",
        "INSERT memberships",
        "INSERT audit_events",
    ]


def test_a_join_is_one_transaction_with_its_replay_key_and_audit_line(slack_bot, fake_slack):
    carer = a_known_carer(slack_bot, fake_slack)
    ids_by_name = projects(slack_bot, "Falls prevention", "Sepsis")
    body = slash_command_body("/qi-join", "Falls prevention as carer", user_id=CARER)

    with counted(slack_bot.engine) as work:
        answer = slack_bot.post(body)

    assert 'Welcome to the "Falls prevention" team as a carer' in visible_text(
        answer.json()["blocks"]
    )
    assert work.kinds == expected_join_work(slack_bot), work.statements
    assert work.commits == 1
    falls = ids_by_name["Falls prevention"]
    assert joined(slack_bot, carer) == [(falls, "carer")]
    (membership_id,) = [m for (m,) in _membership_ids(slack_bot)]
    assert audit_lines(slack_bot) == [
        (
            carer,
            "membership.joined",
            "membership",
            membership_id,
            {"project_id": falls, "role": "carer"},
        )
    ]


def test_a_role_button_is_one_transaction_with_its_replay_key_and_audit_line(slack_bot, fake_slack):
    carer = a_known_carer(slack_bot, fake_slack)
    sepsis = projects(slack_bot, "Sepsis")["Sepsis"]
    body = block_actions_body(
        ids.JOIN_AS, f"{sepsis}:service_user", user_id=CARER, response_url=fake_slack.response_url()
    )

    with counted(slack_bot.engine) as work:
        answer = slack_bot.post(body)

    assert answer.status_code == 200
    assert work.kinds == expected_join_work(slack_bot), work.statements
    assert work.commits == 1
    assert joined(slack_bot, carer) == [(sepsis, "service_user")]
    assert [line[1] for line in audit_lines(slack_bot)] == ["membership.joined"]


def test_a_replayed_join_is_one_statement_and_changes_nothing(slack_bot, fake_slack):
    carer = a_known_carer(slack_bot, fake_slack)
    projects(slack_bot, "Falls prevention")
    body = slash_command_body("/qi-join", "Falls prevention as carer", user_id=CARER)
    headers = slack_headers(body, SIGNING_SECRET)
    slack_bot.http.post("/slack/events", content=body, headers=headers)

    with counted(slack_bot.engine) as work:
        replay = slack_bot.http.post("/slack/events", content=body, headers=headers)

    assert replay.status_code == 200 and replay.content == b""
    assert [k for k in work.kinds if not k.startswith("BEGIN")] == ["INSERT seen_requests"]
    assert work.commits == 0
    assert len(joined(slack_bot, carer)) == 1
    assert len(audit_lines(slack_bot)) == 1


def test_a_request_that_failed_is_not_run_again_by_a_replay(slack_bot, fake_slack, monkeypatch):
    carer = a_known_carer(slack_bot, fake_slack)
    projects(slack_bot, "Falls prevention")
    body = slash_command_body("/qi-join", "Falls prevention as carer", user_id=CARER)
    headers = slack_headers(body, SIGNING_SECRET)
    with monkeypatch.context() as patch:
        patch.setattr(
            "handlers.projects.join.as_role", lambda role: 1 / 0
        )  # fails after the writes
        first = slack_bot.http.post("/slack/events", content=body, headers=headers)

    replay = slack_bot.http.post("/slack/events", content=body, headers=headers)

    assert "Sorry, something went wrong" in first.json()["text"]
    assert replay.status_code == 200 and replay.content == b""  # acknowledged, not run
    assert joined(slack_bot, carer) == []  # the failed attempt rolled back; no second one ran
    with slack_bot.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(SeenRequest)).scalar() >= 1


def _membership_ids(bot: SlackBot) -> list[tuple[int]]:
    with bot.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(select(Membership.id))]


# --- SQLite's write lock ------------------------------------------------------------------


@pytest.fixture
def sqlite_bot(tmp_path, fake_slack, clock) -> Iterator[SlackBot]:
    with database_url_for("sqlite", tmp_path) as url:
        yield from _run_bot(url, fake_slack, clock)


@contextmanager
def write_lock_held(bot: SlackBot) -> Iterator[None]:
    """Another process writing (the weekly run, an import), for longer than anyone waits."""
    holder = sqlite3.connect(make_url(str(bot.engine.url)).database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_reading_answers_while_another_writer_holds_sqlites_lock(sqlite_bot, fake_slack):
    a_known_carer(sqlite_bot, fake_slack)
    projects(sqlite_bot, "Falls prevention", "Sepsis")
    with write_lock_held(sqlite_bot), counted(sqlite_bot.engine) as work:
        listed = sqlite_bot.post(slash_command_body("/qi-projects", "", user_id=CARER))

    shown = visible_text(listed.json()["blocks"])
    assert "Falls prevention" in shown and "Sepsis" in shown and TRY_AGAIN not in shown
    # It read in a deferred transaction; its replay key was tried once, without waiting.
    assert work.kinds[0] == "BEGIN" and work.kinds.count("BEGIN IMMEDIATE") == 1, work.kinds
    assert "INSERT seen_requests" not in work.kinds


def test_writing_still_takes_sqlites_lock(sqlite_bot, fake_slack):
    carer = a_known_carer(sqlite_bot, fake_slack)
    projects(sqlite_bot, "Falls prevention")
    join = slash_command_body("/qi-join", "Falls prevention as carer", user_id=CARER)

    with write_lock_held(sqlite_bot):
        busy = sqlite_bot.post(join)
    assert TRY_AGAIN in busy.json()["text"] and joined(sqlite_bot, carer) == []

    assert (
        "Welcome"
        in sqlite_bot.post(
            slash_command_body("/qi-join", "Falls prevention as carer", user_id=CARER)
        ).json()["text"]
    )


def test_a_reader_that_writes_after_all_runs_again_as_a_writer(sqlite_bot, fake_slack, clock):
    # /qi-stats is read-only, but "note" writes: it is stopped before writing anything in its
    # deferred transaction, then run again with the lock, and its key is kept with the note.
    from store.people import grant_admin

    ctx = sqlite_bot.service.transport.bot.ctx
    with make_sessions(sqlite_bot.engine).begin() as session:
        organiser = slack_person(session, "UORG", "Olu Admin", ctx.now())
        grant_admin(session, organiser.id, by_id=None, now=ctx.now())
    fake_slack.add_user("UORG", "Olu Admin")
    body = slash_command_body("/qi-stats", "note 2026-11-20 Forum relaunched", user_id="UORG")
    headers = slack_headers(body, SIGNING_SECRET)

    with counted(sqlite_bot.engine) as work:
        first = sqlite_bot.http.post("/slack/events", content=body, headers=headers)
    replay = sqlite_bot.http.post("/slack/events", content=body, headers=headers)

    assert "Noted on the run chart" in visible_text(first.json()["blocks"])
    assert work.kinds[0] == "BEGIN" and "BEGIN IMMEDIATE" in work.kinds
    assert work.commits == 1  # the note and its key, together
    assert replay.content == b""
    with sqlite_bot.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(ChartNote)).scalar() == 1


def test_a_role_button_loads_the_projects_lead_in_the_same_query(slack_bot, fake_slack):
    """The lead is named in the answer and told: read with the project, not by a second SELECT."""
    carer = a_known_carer(slack_bot, fake_slack)
    now = slack_bot.service.transport.bot.ctx.now()
    with make_sessions(slack_bot.engine).begin() as session:
        lead = slack_person(session, "ULEAD", "Asha Patel", now)
        session.flush()
        project = Project(
            name="Sepsis",
            name_key=name_key("Sepsis"),
            status="active",
            lead_person_id=lead.id,
            created_at=now,
            updated_at=now,
        )
        session.add(project)
        session.flush()
        sepsis = project.id
    body = block_actions_body(
        ids.JOIN_AS, f"{sepsis}:carer", user_id=CARER, response_url=fake_slack.response_url()
    )

    with counted(slack_bot.engine) as work:
        slack_bot.post(body)

    # Who is asking, and the project with its lead: no SELECT of the lead on its own.
    assert work.kinds.count("SELECT") == 2, work.statements
    assert joined(slack_bot, carer) == [(sepsis, "carer")]
    slack_bot.settle()
    (_, answer) = fake_slack.responses[-1]
    assert "Asha Patel leads it." in answer["text"]
