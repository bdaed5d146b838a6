"""`qi-nudge check`, as an IT admin runs it after installing and after any change.

A real process each time, against the fake Slack and the fake Entra over HTTP, and a database
that is fine, empty, out of reach, or holding messages that are late or failed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from store import leadership, outbox
from store.engine import make_engine, make_sessions
from store.migrate import current_revision, head_revision
from store.outbox import Planned
from tests.bot.teams.conftest import teams_env
from tests.conftest import BACKENDS
from tests.fakes import FakeSlack
from tests.fakes.teams_connector import FakeTeams

pytestmark = pytest.mark.slow
BOTH = pytest.mark.parametrize("fresh_database_url", BACKENDS, indirect=True)
FORUM_CHANNEL = "C0FORUM"
PRIVATE_CHANNEL = "C0SECRET"


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        fake.add_token("xoxb-good")
        fake.add_channel(FORUM_CHANNEL, "qi-forum", bot_member=True)
        fake.add_channel(PRIVATE_CHANNEL, "quiet-room", private=True)
        yield fake


def qi(url: str, folder: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """`qi-nudge ...` in `folder` (no .env there) with only these settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLACK_", "TEAMS_", "CLIENT_", "TENANT_"))
        and key not in ("DATABASE_URL", "LOG_LEVEL")
    }
    env.update(DATABASE_URL=url, LOG_LEVEL="WARNING", **settings)
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        env=env,
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def slack(fake: FakeSlack, token: str = "xoxb-good") -> dict[str, str]:
    return {"SLACK_BOT_TOKEN": token, "SLACK_SIGNING_SECRET": "s", "SLACK_API_URL": fake.base_url}


def lead_the_scheduler(url: str, *, renewed: datetime, ttl: timedelta) -> None:
    """Record the scheduler's lease as a serve replica named web-1:42 renews it."""
    engine = make_engine(url)
    with make_sessions(engine).begin() as session:
        leadership.record_sole(session, holder="web-1:42", now=renewed, ttl=ttl)
    engine.dispose()


def marked(output: str, mark: str) -> list[str]:
    """The report's lines with this mark (OK, PROBLEM or NOTE), without it."""
    return [line[len(mark) :].strip() for line in output.splitlines() if line.startswith(mark)]


@BOTH
def test_when_all_is_well_every_line_says_ok_and_it_exits_0(
    fresh_database_url, tmp_path, fake_slack
):
    url = fresh_database_url
    assert qi(url, tmp_path, "db", "upgrade").returncode == 0
    added = qi(url, tmp_path, "forum", "add", "QI Forum", "--channel", f"slack:{FORUM_CHANNEL}")
    assert added.returncode == 0, added.stderr
    lead_the_scheduler(url, renewed=datetime.now(UTC), ttl=timedelta(hours=1))

    result = qi(url, tmp_path, "check", **slack(fake_slack))

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    ok = marked(result.stdout, "OK")
    assert ok[0].startswith("Database: ") and f"schema is up to date ({head_revision()})" in ok[0]
    assert "Slack: Slack accepts SLACK_BOT_TOKEN." in ok
    assert 'Forum "QI Forum" (slack:C0FORUM): qi-nudge can post in #qi-forum.' in ok
    assert "Messages: none failing or overdue." in ok
    assert [line for line in ok if line.startswith("Scheduler: web-1:42 runs it (since ")]
    assert marked(result.stdout, "NOTE") == [
        "Teams: not set up here (no TEAMS_APP_ID).",
        "E-mail and texts: not set up here, so forum members outside chat hear nothing from the "
        "bot (see README: Reaching people outside chat).",
    ]
    assert marked(result.stdout, "PROBLEM") == []
    assert result.stdout.splitlines()[-1] == "Everything checked is working."


@BOTH
def test_each_thing_wrong_is_a_line_and_it_exits_1(fresh_database_url, tmp_path, fake_slack):
    url = fresh_database_url
    assert qi(url, tmp_path, "db", "upgrade").returncode == 0
    qi(url, tmp_path, "forum", "add", "Carers Forum", "--channel", f"slack:{PRIVATE_CHANNEL}")
    engine = make_engine(url)
    now = datetime.now(UTC)
    with make_sessions(engine).begin() as session:
        late = [Planned("nudge", "2026-W48", outbox.person_recipient(n)) for n in (1, 2)]
        outbox.plan(session, late, now=now - timedelta(hours=2))
        outbox.plan(session, [Planned("nudge", "2026-W49", "person:3")], now=now)
        (failed,) = [d.id for d in outbox.deliveries(session) if d.occurrence == "2026-W49"]
        outbox.mark_failed(session, failed, error="user_not_found")
    engine.dispose()
    # The last serve stopped two hours ago, and none has led since.
    lead_the_scheduler(url, renewed=now - timedelta(hours=2), ttl=timedelta(seconds=150))
    fake_teams = FakeTeams().start()
    try:
        settings = {**slack(fake_slack, token="xoxb-wrong"), **teams_env(fake_teams)}
        result = qi(url, tmp_path, "check", **{**settings, "TEAMS_APP_PASSWORD": "old-secret"})
    finally:
        fake_teams.close()

    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    problems = marked(result.stdout, "PROBLEM")
    assert problems[0].startswith("SLACK_BOT_TOKEN: Slack refused the token (invalid_auth).")
    assert problems[1].startswith("TEAMS_APP_PASSWORD: Microsoft Entra refused the client secret")
    assert problems[2].startswith("Scheduler: nobody has run it since ")
    assert "(it was web-1:42), so nothing is reminded or announced." in problems[2]
    assert problems[3].startswith("Messages: 2 messages overdue (the oldest was due ")
    assert "Is qi-nudge serve running?" in problems[3]
    assert problems[4] == (
        "Messages: 1 message failed in the last 7 days. qi-nudge deliveries --failed says why."
    )
    assert len(problems) == 5
    # Slack refused the token: its channels are not asked about again (each would wait).
    assert (
        'Forum "Carers Forum" (slack:C0SECRET): not checked, since Slack is not working '
        "(see above)." in marked(result.stdout, "NOTE")
    )
    assert fake_slack.calls_to("conversations.info") == []
    assert marked(result.stdout, "OK")[0].startswith("Database: ")
    assert result.stdout.splitlines()[-1].startswith("5 problems found")


def test_a_database_no_serve_has_ever_led_on_says_to_start_serve(tmp_path, fake_slack):
    url = f"sqlite:///{tmp_path / 'qi.db'}"
    assert qi(url, tmp_path, "db", "upgrade").returncode == 0

    result = qi(url, tmp_path, "check", **slack(fake_slack))

    assert result.returncode == 1
    assert marked(result.stdout, "PROBLEM") == [
        "Scheduler: no qi-nudge serve has run the scheduler on this database yet, so nothing is "
        "reminded or announced. Start qi-nudge serve, then check again."
    ]


@BOTH
def test_an_empty_database_is_said_and_left_as_it_is(fresh_database_url, tmp_path, fake_slack):
    url = fresh_database_url
    if url.startswith("sqlite"):
        make_engine(url).connect().close()  # an empty file, as before any `db upgrade`

    result = qi(url, tmp_path, "check", **slack(fake_slack))

    assert result.returncode == 1
    (problem,) = marked(result.stdout, "PROBLEM")
    assert problem.endswith("answers but is empty (no tables yet). Run: qi-nudge db upgrade")
    assert "Forum channels: not checked, since the database is not ready." in marked(
        result.stdout, "NOTE"
    )
    assert "Slack: Slack accepts SLACK_BOT_TOKEN." in marked(result.stdout, "OK")
    engine = make_engine(url)
    assert current_revision(engine) is None  # check looks, it never migrates
    engine.dispose()


def test_a_database_out_of_reach_is_a_line_not_a_crash(tmp_path, fake_slack):
    result = qi("postgresql://nobody@127.0.0.1:1/none", tmp_path, "check", **slack(fake_slack))

    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    (problem,) = marked(result.stdout, "PROBLEM")
    assert problem.startswith("Database: could not connect to postgresql://nobody@127.0.0.1:1/none")
    assert "Check DATABASE_URL" in problem
    assert "Slack: Slack accepts SLACK_BOT_TOKEN." in marked(result.stdout, "OK")


def test_a_sqlite_database_that_is_not_there_is_named_and_not_created(tmp_path, fake_slack):
    result = qi("sqlite:///missing.db", tmp_path, "check", **slack(fake_slack))

    assert result.returncode == 1
    (problem,) = marked(result.stdout, "PROBLEM")
    assert problem.startswith("Database: there is no database file at missing.db.")
    assert not (tmp_path / "missing.db").exists()
