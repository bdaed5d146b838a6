"""A Teams activity sent again with its still-valid token is acknowledged, not run again.

A captured request (the activity and its token, valid for an hour) passes every check the
SDK makes; what stops the copy is the record of activities already acted on, kept in the
database so that a copy sent to another replica is refused too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest
from sqlalchemy import func, select

from store.forums import create_forum
from store.models import Meeting, Membership, SeenRequest
from store.people import grant_admin
from tests.bot.message_limits import walk
from tests.bot.teams.conftest import TeamsBot, run_teams_bot
from tests.bot.teams.test_teams_http import (
    BEN,
    card_of,
    card_text,
    inputs_of,
    project,
    sent_to,
)
from tests.bot.teams.test_teams_outbox import teams_person
from tests.conftest import BACKENDS, database_url_for

ADD_MEETING = 'qi-forum add-meeting 2026-11-27 14:00 at "Room 4"'


def an_organiser_and_a_forum(bot: TeamsBot) -> None:
    with bot.ctx.sessions.begin() as session:
        organiser = teams_person(session, BEN, bot.ctx.now(), reachable_on=bot.fake)
        grant_admin(session, organiser.id, by_id=None, now=bot.ctx.now())
        create_forum(session, name="QI Forum", channel=None, now=bot.ctx.now())


def count(bot: TeamsBot, model) -> int:
    with bot.ctx.sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


def post(bot: TeamsBot, activity: dict, headers: dict[str, str]):
    """POST exactly these bytes with exactly this token: what someone who captured them holds."""
    answer = bot.http.post("/api/messages", json=activity, headers=headers)
    bot.settle()
    return answer


def test_a_replayed_add_meeting_adds_no_second_meeting_and_no_second_answer(teams_bot, fake_teams):
    an_organiser_and_a_forum(teams_bot)
    activity = fake_teams.activity("personal", ADD_MEETING, user=BEN)
    headers = fake_teams.headers()

    first = post(teams_bot, activity, headers)
    replay = post(teams_bot, activity, headers)

    assert first.status_code == 200 and replay.status_code == 200
    assert replay.content == b""
    assert count(teams_bot, Meeting) == 1
    (answer,) = sent_to(fake_teams, BEN)
    assert 'Added a "QI Forum" meeting' in card_text(card_of(answer))


def test_a_replayed_card_action_is_acknowledged_without_acting(teams_bot, fake_teams):
    project(teams_bot, "Falls prevention")
    fake_teams.add_user(BEN)
    teams_bot.say("qi-join", user=BEN)
    form = card_of(sent_to(fake_teams, BEN)[0])
    submit = next(e for e in walk(form["body"]) if e.get("type") == "Action.Execute")
    target = next(c["value"] for c in inputs_of(form)["field:target"]["choices"])
    click = fake_teams.activity(
        "card_action",
        submit["verb"],
        submit["data"],
        inputs={"field:target": target, "field:role": "carer"},
        reply_to_id="1764489600000",
        user=BEN,
    )
    headers = fake_teams.headers()

    first = post(teams_bot, click, headers)
    replay = post(teams_bot, click, headers)

    assert "Falls prevention" in card_text(first.json()["value"])
    assert replay.status_code == 200 and replay.content == b""
    assert count(teams_bot, Membership) == 1


def test_a_replayed_install_says_hello_once(teams_bot, fake_teams):
    # Each kind of listener makes the replay check in its own worker thread: this one too.
    activity = fake_teams.activity("install")
    headers = fake_teams.headers()

    first = post(teams_bot, activity, headers)
    replay = post(teams_bot, activity, headers)

    assert first.status_code == 200 and replay.status_code == 200
    assert replay.content == b""
    assert len(sent_to(fake_teams)) == 1


def test_a_replay_is_logged_once_without_anything_it_carried(teams_bot, fake_teams, caplog):
    an_organiser_and_a_forum(teams_bot)
    activity = fake_teams.activity("personal", ADD_MEETING, user=BEN)
    headers = fake_teams.headers()
    post(teams_bot, activity, headers)
    caplog.clear()

    post(teams_bot, activity, headers)

    (line,) = [r for r in caplog.records if r.name.startswith("bot.")]
    assert line.levelname == "WARNING" and "not acted on" in line.getMessage()
    for carried in (BEN.user_id, BEN.aad_object_id, activity["conversation"]["id"]):
        assert carried not in line.getMessage()


# --- replicas ------------------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def two_replicas(request, tmp_path, fake_teams, clock) -> Iterator[tuple[TeamsBot, TeamsBot]]:
    """Two services as two `serve` processes run them: each its own server, one database."""
    with database_url_for(request.param, tmp_path) as url, ExitStack() as stack:
        first = stack.enter_context(contextmanager(run_teams_bot)(url, fake_teams, clock))
        second = stack.enter_context(contextmanager(run_teams_bot)(url, fake_teams, clock))
        yield first, second


def test_a_replay_sent_to_another_replica_is_refused_too(two_replicas, fake_teams):
    first_replica, second_replica = two_replicas
    an_organiser_and_a_forum(first_replica)
    activity = fake_teams.activity("personal", ADD_MEETING, user=BEN)
    headers = fake_teams.headers()

    post(first_replica, activity, headers)
    replay = post(second_replica, activity, headers)

    assert replay.status_code == 200 and replay.content == b""
    assert count(first_replica, Meeting) == 1
    assert len(sent_to(fake_teams, BEN)) == 1


def test_an_activity_is_remembered_as_a_digest_until_its_token_could_no_longer_pass(
    teams_bot, fake_teams
):
    an_organiser_and_a_forum(teams_bot)
    activity = fake_teams.activity("personal", ADD_MEETING, user=BEN)
    expires = int(time.time()) + 1800

    post(teams_bot, activity, fake_teams.headers(exp=expires))

    with teams_bot.ctx.sessions() as session:
        (row,) = session.scalars(select(SeenRequest)).all()
    assert activity["id"] not in row.key and BEN.user_id not in row.key
    # The SDK takes a token up to five minutes after it expires.
    assert row.expires_at.timestamp() == pytest.approx(expires + 5 * 60)
