"""Teams messages when the database stops answering: a kind answer in time, never a hang."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from tests.bot.teams.conftest import TeamsBot, run_teams_bot
from tests.bot.teams.test_teams_http import card_of, card_text, project, sent_to
from tests.conftest import postgres_behind_proxy
from tests.fakes.tcp_proxy import TcpProxy
from tests.fakes.teams_signing import PRIYA

# Asserts how long things take: runs with no other test competing for the cores (tests/solo.py).
pytestmark = pytest.mark.solo

ANSWER_WITHIN = 3.0  # seconds


def said(message: dict) -> str:
    """What a message the bot sent says: a card's text, or plain text."""
    return card_text(card_of(message)) if message.get("attachments") else message.get("text", "")


@pytest.fixture
def teams_bot_behind_proxy(tmp_path, fake_teams, clock) -> Iterator[tuple[TeamsBot, TcpProxy]]:
    """A Teams bot on PostgreSQL whose every database connection goes through a TcpProxy."""
    with postgres_behind_proxy(tmp_path) as (proxied, proxy):
        running = run_teams_bot(proxied, fake_teams, clock)
        try:
            yield next(running), proxy
        finally:
            proxy.restore()
            proxy.stop()  # a request still stuck on a dropped packet gets its error now
            for _ in running:
                pass


@pytest.mark.slow
def test_a_message_while_the_database_is_blackholed_is_answered_in_time(
    teams_bot_behind_proxy, fake_teams
):
    bot, proxy = teams_bot_behind_proxy
    fake_teams.add_user(PRIYA)
    project(bot, "Falls prevention")  # and a pooled connection, about to go dead
    proxy.blackhole()

    started = time.monotonic()
    answer = bot.post(fake_teams.activity("personal", "qi-join Falls prevention as carer"))
    took = time.monotonic() - started

    assert answer.status_code == 200
    assert took < ANSWER_WITHIN, f"answered after {took:.1f} s"
    (reply,) = sent_to(fake_teams)
    assert "Please try again in a minute" in said(reply), said(reply)

    proxy.restore()
    bot.say("qi-join Falls prevention as carer")

    assert "Falls prevention" in said(sent_to(fake_teams)[-1])


MESSAGES = 24  # three times the worker threads


@pytest.mark.slow
def test_messages_queued_for_a_worker_thread_still_answer_in_time(
    teams_bot_behind_proxy, fake_teams
):
    # Three times as many messages as worker threads, the database not answering: waiting for
    # a thread counts against each message's time, so the last ones answer at once, not after
    # three rounds of waiting (6 s). (The bound leaves room for a slow machine's Teams calls.)
    bot, proxy = teams_bot_behind_proxy
    fake_teams.add_user(PRIYA)
    project(bot, "Falls prevention")
    proxy.blackhole()
    took: list[float] = []

    def one() -> None:
        started = time.monotonic()
        answer = bot.post(fake_teams.activity("personal", "qi-join Falls prevention as carer"))
        took.append(round(time.monotonic() - started, 1))
        assert answer.status_code == 200

    threads = [threading.Thread(target=one) for _ in range(MESSAGES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(took) == MESSAGES and max(took) < ANSWER_WITHIN + 1.5, sorted(took)
    answers = sent_to(fake_teams)[-MESSAGES:]
    assert all("Please try again in a minute" in said(reply) for reply in answers)
