"""Slack requests when the database is unreachable or busy: a kind answer in time, never a hang."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from store.models import Membership
from tests.bot.slack.conftest import SlackBot, _run_bot
from tests.conftest import database_url_for
from tests.fakes import slash_command_body
from tests.fakes.tcp_proxy import TcpProxy

LEAD, CARER = "ULEAD", "UCARER"
SLACK_DEADLINE = 3.0  # seconds: Slack shows the person an error after this
TRY_AGAIN = "Please try again in a minute"


def visible_text(answer: dict) -> str:
    """Every text in an answer's blocks, in order."""
    return "\n".join(block["text"]["text"] for block in answer.get("blocks", []) if "text" in block)


def timed_command(bot: SlackBot, fake, user: str, name: str, text: str) -> tuple[float, str]:
    """Send a slash command as Slack does; (seconds until the answer, what the person sees)."""
    body = slash_command_body(
        name, text, user_id=user, response_url=fake.response_url(), trigger_id="t"
    )
    started = time.monotonic()
    answer = bot.post(body)
    took = time.monotonic() - started
    assert answer.status_code == 200
    return took, visible_text(answer.json())


def members(bot: SlackBot) -> int:
    with bot.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(Membership)).scalar()


@pytest.fixture
def bot_behind_proxy(tmp_path, fake_slack, clock) -> Iterator[tuple[SlackBot, TcpProxy]]:
    """A bot on PostgreSQL whose every database connection goes through a TcpProxy."""
    with database_url_for("postgresql", tmp_path) as url, TcpProxy("127.0.0.1", 5432) as proxy:
        proxied = make_url(url).set(port=proxy.port).render_as_string(hide_password=False)
        running = _run_bot(proxied, fake_slack, clock)
        bot = next(running)
        try:
            yield bot, proxy
        finally:
            proxy.restore()
            proxy.stop()  # a request still stuck on a dropped packet gets its error now
            for _ in running:
                pass


@pytest.mark.slow
@pytest.mark.parametrize("pooled", [True, False], ids=["pooled-connection", "new-connection"])
def test_a_blackholed_database_gets_a_kind_answer_in_time_then_works_again(
    bot_behind_proxy, fake_slack, caplog, pooled
):
    bot, proxy = bot_behind_proxy
    fake_slack.add_user(LEAD, "Asha Patel")
    fake_slack.add_user(CARER, "Ben Okafor")
    timed_command(bot, fake_slack, LEAD, "/qi-project", 'new "Falls prevention"')
    if not pooled:
        bot.engine.dispose()  # the next request must open a connection through the dead path
    proxy.blackhole()

    with caplog.at_level(logging.WARNING):
        took, said = timed_command(bot, fake_slack, CARER, "/qi-join", "falls as carer")

    assert took < SLACK_DEADLINE, f"answered after {took:.1f} s"
    assert "can't reach my records" in said and TRY_AGAIN in said, said
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert warnings[0].levelno == logging.WARNING and warnings[0].exc_info is None

    proxy.restore()
    took, said = timed_command(bot, fake_slack, CARER, "/qi-join", "falls as carer")

    assert 'Welcome to the "Falls prevention" team as a carer' in said, said
    assert took < SLACK_DEADLINE
    assert members(bot) == 1


# --- SQLite: a large register import beside chat -----------------------------------------

IMPORT_ROWS = 80_000


def write_register(path: Path, rows: int) -> None:
    """A register of `rows` projects, with 3,000 leads given by e-mail."""
    with path.open("w", encoding="utf-8") as out:
        out.write("Project name,Lead,Site,Status\n")
        for n in range(rows):
            out.write(f"Project number {n},lead{n % 3000}@nhs.net,Ward {n % 40},Active\n")


@pytest.fixture
def sqlite_bot(tmp_path, fake_slack, clock) -> Iterator[SlackBot]:
    with database_url_for("sqlite", tmp_path) as url:
        yield from _run_bot(url, fake_slack, clock)


def start_import(bot: SlackBot, register: Path, folder: Path) -> subprocess.Popen[str]:
    """`qi-nudge import-projects` as IT runs it, in its own process, on the bot's database."""
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "import-projects", str(register)],
        env={"DATABASE_URL": str(bot.engine.url), "PATH": "/usr/bin:/bin"},
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_chat_answers_in_time_while_a_large_register_is_imported(sqlite_bot, fake_slack, tmp_path):
    register = tmp_path / "register.csv"
    write_register(register, IMPORT_ROWS)
    fake_slack.add_user(LEAD, "Asha Patel")
    timed_command(sqlite_bot, fake_slack, LEAD, "/qi-project", 'new "Falls prevention"')
    importing = start_import(sqlite_bot, register, tmp_path)
    try:
        # The file is read first; writing begins once every row has been read.
        assert importing.stderr is not None
        for line in importing.stderr:
            if f"{IMPORT_ROWS} rows read" in line:
                break
        time.sleep(1.0)  # well into the writing

        timings = []
        for n in range(3):
            carer = f"UCARER{n}"
            fake_slack.add_user(carer, f"Carer {n}")
            took, said = timed_command(sqlite_bot, fake_slack, carer, "/qi-join", "falls as carer")
            assert "Welcome to the" in said, said
            timings.append(took)
            time.sleep(0.3)

        assert importing.poll() is None, "the import ended before chat was tried beside it"
        assert max(timings) < SLACK_DEADLINE, timings
        assert members(sqlite_bot) == 3
    finally:
        importing.kill()
        importing.wait(timeout=10)
