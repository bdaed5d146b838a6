"""A captured Slack request sent again within its five minutes is acknowledged, not run again.

The copy is byte for byte what Slack sent (same body, timestamp and signature), so it passes
the signature check; what stops it is the record of requests already acted on, kept in the
database so that a replay sent to another replica is refused too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest
from sqlalchemy import func, select

from bot.runtime.scheduler import Jobs
from handlers.nudges.weekly import NudgePolicy
from store.engine import make_sessions
from store.forums import create_forum
from store.models import ChartNote, Meeting, SeenRequest
from store.people import grant_admin
from tests.bot.slack.conftest import SIGNING_SECRET, SlackBot, _run_bot
from tests.bot.slack.test_scheduled_messages import slack_person
from tests.bot.slack.test_slack_http import visible_text
from tests.conftest import BACKENDS, database_url_for
from tests.fakes import event_body, slack_headers, slash_command_body

ORGANISER, LEAD = "UORG", "ULEAD"
FORUM_CHANNEL = "CFORUM"
# The clock starts on Monday 23 November 2026: this meeting is announced in this week's post.
ADD_MEETING = '2026-11-27 14:00 at "Room 4"'


def an_organiser_and_a_forum(bot: SlackBot, fake_slack) -> None:
    ctx = bot.service.transport.bot.ctx
    with make_sessions(bot.engine).begin() as session:
        organiser = slack_person(session, ORGANISER, "Olu Admin", ctx.now())
        grant_admin(session, organiser.id, by_id=None, now=ctx.now())
        create_forum(session, name="QI Forum", channel=f"slack:{FORUM_CHANNEL}", now=ctx.now())
    fake_slack.add_user(ORGANISER, "Olu Admin")


def captured(body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    """The headers of a request as Slack signed it: what someone who captured it holds."""
    return slack_headers(body, SIGNING_SECRET, timestamp=timestamp)


def count(bot: SlackBot, model) -> int:
    with bot.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(model)).scalar()


def announced(bot: SlackBot, fake_slack) -> list[dict]:
    """The forum channel's posts once the scheduler has run and the sender has sent."""
    Jobs(bot.service.transport.bot.ctx, NudgePolicy()).run_due()
    bot.service.deliverer.drain()
    return fake_slack.messages(FORUM_CHANNEL)


def test_a_replayed_add_meeting_adds_no_second_meeting_and_no_second_post(slack_bot, fake_slack):
    an_organiser_and_a_forum(slack_bot, fake_slack)
    body = slash_command_body("/qi-forum", f"add-meeting {ADD_MEETING}", user_id=ORGANISER)
    headers = captured(body)

    first = slack_bot.http.post("/slack/events", content=body, headers=headers)
    replay = slack_bot.http.post("/slack/events", content=body, headers=headers)
    slack_bot.settle()

    assert first.status_code == 200
    assert 'Added a "QI Forum" meeting' in visible_text(first.json()["blocks"])
    assert replay.status_code == 200 and replay.content == b""  # acknowledged, nothing done
    assert count(slack_bot, Meeting) == 1
    (post,) = announced(slack_bot, fake_slack)
    assert "Coming up: QI Forum" in visible_text(post["blocks"])


def test_a_replayed_chart_note_adds_no_second_note(slack_bot, fake_slack):
    an_organiser_and_a_forum(slack_bot, fake_slack)
    body = slash_command_body("/qi-stats", "note 2026-11-20 Forum relaunched", user_id=ORGANISER)
    headers = captured(body)

    first = slack_bot.http.post("/slack/events", content=body, headers=headers)
    replay = slack_bot.http.post("/slack/events", content=body, headers=headers)

    assert "Noted on the run chart" in visible_text(first.json()["blocks"])
    assert replay.status_code == 200 and replay.content == b""
    assert count(slack_bot, ChartNote) == 1


def test_the_same_command_typed_again_is_not_a_replay(slack_bot, fake_slack):
    """Slack signs each request anew: only a copy of the very same request is refused."""
    an_organiser_and_a_forum(slack_bot, fake_slack)
    body = slash_command_body("/qi-stats", "note 2026-11-20 Forum relaunched", user_id=ORGANISER)
    now = int(time.time())

    for stamp in (now - 1, now):
        answer = slack_bot.http.post(
            "/slack/events", content=body, headers=captured(body, timestamp=stamp)
        )
        assert "Noted on the run chart" in visible_text(answer.json()["blocks"])

    assert count(slack_bot, ChartNote) == 2


def test_a_replay_is_logged_once_without_anything_it_carried(slack_bot, fake_slack, caplog):
    an_organiser_and_a_forum(slack_bot, fake_slack)
    body = slash_command_body("/qi-stats", "note 2026-11-20 Forum relaunched", user_id=ORGANISER)
    headers = captured(body)
    slack_bot.http.post("/slack/events", content=body, headers=headers)
    caplog.clear()

    slack_bot.http.post("/slack/events", content=body, headers=headers)

    (line,) = [r for r in caplog.records if r.name.startswith("bot.")]
    assert line.levelname == "WARNING" and "not acted on" in line.getMessage()
    for carried in (ORGANISER, "relaunched", headers["X-Slack-Signature"][3:]):
        assert carried not in caplog.text


def test_requests_are_remembered_as_digests_and_only_for_their_window(slack_bot, fake_slack):
    an_organiser_and_a_forum(slack_bot, fake_slack)
    body = slash_command_body("/qi-stats", "note 2026-11-20 Forum relaunched", user_id=ORGANISER)
    stamp = int(time.time())
    headers = captured(body, timestamp=stamp)

    slack_bot.http.post("/slack/events", content=body, headers=headers)

    with make_sessions(slack_bot.engine)() as session:
        (row,) = session.scalars(select(SeenRequest)).all()
    assert headers["X-Slack-Signature"][3:] not in row.key and str(stamp) not in row.key
    # Five minutes either side is what Slack's check accepts; a minute more for clock skew.
    assert row.expires_at.timestamp() == pytest.approx(stamp + 6 * 60)


# --- replicas ------------------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def two_replicas(request, tmp_path, fake_slack, clock) -> Iterator[tuple[SlackBot, SlackBot]]:
    """Two services as two `serve` processes run them: each its own server, one database."""
    with database_url_for(request.param, tmp_path) as url, ExitStack() as stack:
        first = stack.enter_context(contextmanager(_run_bot)(url, fake_slack, clock))
        second = stack.enter_context(contextmanager(_run_bot)(url, fake_slack, clock))
        yield first, second


def test_a_replay_sent_to_another_replica_is_refused_too(two_replicas, fake_slack):
    first_replica, second_replica = two_replicas
    an_organiser_and_a_forum(first_replica, fake_slack)
    body = slash_command_body("/qi-forum", f"add-meeting {ADD_MEETING}", user_id=ORGANISER)
    headers = captured(body)

    first = first_replica.http.post("/slack/events", content=body, headers=headers)
    replay = second_replica.http.post("/slack/events", content=body, headers=headers)
    first_replica.settle()
    second_replica.settle()

    assert 'Added a "QI Forum" meeting' in visible_text(first.json()["blocks"])
    assert replay.status_code == 200 and replay.content == b""
    assert count(first_replica, Meeting) == 1
    assert len(announced(first_replica, fake_slack)) == 1


def test_slack_retrying_an_event_on_another_replica_acts_once(two_replicas, fake_slack):
    """Slack signs each retry anew but keeps the event id: the id is what is remembered."""
    first_replica, second_replica = two_replicas
    fake_slack.add_user(LEAD, "Asha Patel")
    event = {"type": "app_home_opened", "user": LEAD, "channel": "D1", "tab": "home"}
    body = event_body(event, event_id="Ev42")
    now = int(time.time())

    first = first_replica.post(body, json_body=True, timestamp=now - 2)
    retry = second_replica.post(
        body, json_body=True, timestamp=now, retry_num=1, retry_reason="http_timeout"
    )
    first_replica.settle()
    second_replica.settle()

    assert first.status_code == 200 and retry.status_code == 200
    assert len(fake_slack.calls_to("views.publish")) == 1
