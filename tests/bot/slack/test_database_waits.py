"""Slack requests when the database is unreachable or busy: a kind answer in time, never a hang."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from store.models import Membership
from tests.bot.slack.conftest import SlackBot, _run_bot
from tests.conftest import database_url_for, postgres_behind_proxy
from tests.fakes import slash_command_body
from tests.fakes.tcp_proxy import TcpProxy

# Asserts how long things take: runs with no other test competing for the cores (tests/solo.py).
pytestmark = pytest.mark.solo

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
    with postgres_behind_proxy(tmp_path) as (proxied, proxy):
        running = _run_bot(proxied, fake_slack, clock)
        try:
            yield next(running), proxy
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


def at_once(calls: dict[str, Callable[[], object]]) -> dict[str, tuple[float, object]]:
    """Run every call in its own thread, all at once: name -> (seconds it took, its result)."""
    results: dict[str, tuple[float, object]] = {}

    def timed(name: str, call: Callable[[], object]) -> None:
        started = time.monotonic()
        outcome = call()
        results[name] = (time.monotonic() - started, outcome)

    threads = [threading.Thread(target=timed, args=item) for item in calls.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def probe(bot: SlackBot, path: str) -> Callable[[], int]:
    def get() -> int:
        time.sleep(0.2)  # while the commands are waiting
        return httpx.get(bot.url + path, timeout=30).status_code

    return get


@pytest.mark.slow
def test_a_held_sqlite_write_lock_stalls_neither_health_checks_nor_other_requests(
    sqlite_bot, fake_slack
):
    people = [f"UPERSON{n}" for n in range(5)]
    for n, person in enumerate(people):
        fake_slack.add_user(person, f"Person {n}")
        # Known people: their requests run on the event loop (no users.info first).
        timed_command(sqlite_bot, fake_slack, person, "/qi-help", "")
    holder = sqlite3.connect(make_url(str(sqlite_bot.engine.url)).database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process writing, for longer than anyone waits
    try:
        calls: dict[str, Callable[[], object]] = {
            person: (
                lambda person=person: timed_command(
                    sqlite_bot, fake_slack, person, "/qi-project", f'new "Project {person}"'
                )[1]
            )
            for person in people
        }
        calls |= {path: probe(sqlite_bot, path) for path in ("/livez", "/healthz")}
        results = at_once(calls)
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    assert results["/livez"][0] < 1.2 and results["/livez"][1] == 200, results["/livez"]
    assert results["/healthz"][0] < 1.2, results["/healthz"]
    for person in people:
        took, said = results[person]
        assert took < SLACK_DEADLINE, {p: round(results[p][0], 1) for p in people}
        assert TRY_AGAIN in str(said), said
    took, said = timed_command(sqlite_bot, fake_slack, people[0], "/qi-project", 'new "Later"')
    assert "Later" in said and took < 1.0, said


@pytest.mark.slow
def test_requests_queued_for_a_worker_thread_still_answer_within_slacks_time(
    bot_behind_proxy, fake_slack
):
    # Twice as many requests as worker threads, the database not answering: the wait for a
    # thread counts against each request's time, so the last ones answer at once, not late.
    bot, proxy = bot_behind_proxy
    people = [f"UPERSON{n}" for n in range(16)]
    for n, person in enumerate(people):
        fake_slack.add_user(person, f"Person {n}")
        timed_command(bot, fake_slack, person, "/qi-help", "")
    proxy.blackhole()

    results = at_once(
        {
            person: lambda person=person: timed_command(
                bot, fake_slack, person, "/qi-project", f'new "Project {person}"'
            )[1]
            for person in people
        }
    )

    took = {person: round(results[person][0], 1) for person in people}
    assert max(took.values()) < SLACK_DEADLINE, took
    assert all(TRY_AGAIN in str(results[person][1]) for person in people)


@pytest.mark.slow
def test_a_request_whose_time_went_in_the_queue_skips_the_profile_lookup(
    bot_behind_proxy, fake_slack
):
    # Eight known people fill the worker threads while the database is not answering; eight
    # people new to the bot queue behind them. Their time is gone when a thread is free:
    # asking Slack who they are first (up to a second) would make the answer late.
    bot, proxy = bot_behind_proxy
    known = [f"UKNOWN{n}" for n in range(8)]
    new = [f"UNEW{n}" for n in range(8)]
    for n, person in enumerate(known + new):
        fake_slack.add_user(person, f"Person {n}")
    for person in known:
        timed_command(bot, fake_slack, person, "/qi-help", "")
    fake_slack.delay("users.info", 5.0, times=len(new))  # slower than the lookup waits
    proxy.blackhole()

    def command(person: str, after: float) -> Callable[[], object]:
        def send() -> object:
            time.sleep(after)
            return timed_command(bot, fake_slack, person, "/qi-project", f'new "P {person}"')[1]

        return send

    results = at_once(
        {person: command(person, 0.0) for person in known}
        | {person: command(person, 0.3) for person in new}  # the threads are taken by then
    )

    took = {person: round(results[person][0], 1) for person in known + new}
    assert max(took.values()) < SLACK_DEADLINE, took
    assert all(TRY_AGAIN in str(results[person][1]) for person in known + new)
