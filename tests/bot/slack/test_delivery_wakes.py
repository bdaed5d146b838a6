"""The sender in `serve` is woken by what planned a message, not by every request."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, event

from bot.runtime.delivery import DeliveryLoop
from tests.bot.slack.test_slack_http import CARER, LEAD, command, start_project


@contextmanager
def outbox_statements(engine: Engine) -> Iterator[list[str]]:
    """The statements sent meanwhile that touch the outbox (deliveries)."""
    seen: list[str] = []

    def note(_conn, _cursor, statement, *_args) -> None:
        if "deliveries" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def wait_for(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_reads_and_joins_that_tell_nobody_cost_the_sender_nothing_and_news_goes_when_due(
    slack_bot, fake_slack, clock
):
    service = slack_bot.service
    passes: list[int] = []
    run_once = service.deliverer.run_once

    def counted_run_once():
        try:
            return run_once()
        finally:
            passes.append(1)  # counted once its claim is over

    service.deliverer.run_once = counted_run_once  # type: ignore[method-assign]
    start_project(slack_bot, fake_slack)  # Asha leads "Falls prevention"
    # As serve runs it: no poll to speak of, so every pass below was a wake.
    loop = DeliveryLoop(service.deliverer, interval=3600).start()
    try:
        assert wait_for(lambda: passes == [1])  # the pass at start
        with outbox_statements(slack_bot.engine) as seen:
            for _ in range(5):
                assert command(slack_bot, fake_slack, LEAD, "/qi-help", "").status_code == 200
                assert command(slack_bot, fake_slack, LEAD, "/qi-projects", "").status_code == 200
                # The lead joining her own project: nobody to tell.
                joined = command(slack_bot, fake_slack, LEAD, "/qi-join", "falls as staff")
                assert joined.status_code == 200
            service.transport.after.drain()
            time.sleep(0.3)  # (a loop woken by any of them would have claimed by now)
        assert passes == [1]
        assert seen == []

        fake_slack.add_user(CARER, "Ben Okafor")
        command(slack_bot, fake_slack, CARER, "/qi-join", "falls as carer")  # Asha is told

        # Woken once, to learn when the hour's news is due; nothing goes before then.
        assert wait_for(lambda: len(passes) == 2)
        assert fake_slack.messages(LEAD) == []
        clock.advance(hours=1, minutes=1)
        loop.wake()  # (its real sleep is an hour; the test's clock jumped there)
        assert wait_for(lambda: len(fake_slack.messages(LEAD)) == 1)
        assert "Ben Okafor" in fake_slack.messages(LEAD)[0]["text"]
    finally:
        loop.stop()
    assert len(passes) == 3
