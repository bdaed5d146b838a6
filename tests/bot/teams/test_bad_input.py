"""Validly signed Teams activities that are not what Teams sends: 400 and one log line.

The token proves the Bot Framework sent the request, not that the activity inside is whole:
each kind the bot reads is tried with the shapes that used to end in a 500 with a traceback.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import httpx
import pytest

from bot.runtime.http import build_http_app
from bot.teams.app import build_teams_app
from bot.teams.transport import TeamsTransport
from handlers.core.context import Context
from handlers.dispatch import Dispatcher
from store.engine import make_engine, make_sessions
from store.migrate import upgrade
from store.models import ChatAddress, Membership
from tests.bot.serving import serving
from tests.bot.slack.test_bad_input import setting  # one way to break a payload, both platforms
from tests.bot.teams.conftest import teams_settings
from tests.bot.teams.test_teams_http import count, project
from tests.fakes.teams_connector import SEND_ACTIVITY
from tests.fakes.teams_signing import PRIYA

MESSAGES = {
    "no from": setting("from", ...),
    "from a string": setting("from", PRIYA.user_id),
    "from without id": setting("from.id", ...),
    "from id a number": setting("from.id", 29),
    "no conversation": setting("conversation", ...),
    "conversation a string": setting("conversation", "a:1"),
    "conversation without id": setting("conversation.id", ...),
    "no recipient": setting("recipient", ...),
    "text a number": setting("text", 5),
    "text an object": setting("text", {"a": 1}),
    "entities a string": setting("entities", "mention"),
    "entity a string": setting("entities", ["mention"]),
    "channelData a string": setting("channelData", "x"),
    "no id": setting("id", ...),
    "id an object": setting("id", {"a": 1}),
    "type a number": setting("type", 3),
}
INVOKES = {
    "unknown name": setting("name", "composeExtension/qi-nudge"),
    "no name": setting("name", ...),
    "name a number": setting("name", 7),
    "no from": setting("from", ...),
    "no conversation": setting("conversation", ...),
    "value a string": setting("value", "rsvp"),
    "action a string": setting("value.action", "Action.Execute"),
    "data a list": setting("value.action.data", [1]),
    "verb a number": setting("value.action.verb", 3),
}
UPDATES = {
    "membersAdded a string": setting("membersAdded", "28:bot"),
    "member a string": setting("membersAdded", ["28:bot"]),
    "team a string": setting("channelData.team", "19:team"),
    "no recipient": setting("recipient", ...),
    "no conversation": setting("conversation", ...),
    "no from": setting("from", ...),
}
INSTALLS = {
    "action a number": setting("action", 1),
    "no from": setting("from", ...),
    "no conversation": setting("conversation", ...),
}
MALFORMED = [
    *(pytest.param("personal", c, id=f"message: {name}") for name, c in MESSAGES.items()),
    *(pytest.param("card_action", c, id=f"invoke: {name}") for name, c in INVOKES.items()),
    *(
        pytest.param("team_added", c, id=f"conversationUpdate: {name}")
        for name, c in UPDATES.items()
    ),
    *(pytest.param("install", c, id=f"installationUpdate: {name}") for name, c in INSTALLS.items()),
]


def an_activity(fake, kind: str) -> dict[str, Any]:
    if kind == "personal":
        return fake.activity("personal", "qi-join Falls prevention as carer")
    if kind == "card_action":
        data = {"action": "rsvp", "value": "1"}
        return fake.activity("card_action", "rsvp", data, reply_to_id="1764489600000")
    return fake.activity(kind)


@pytest.mark.parametrize(("kind", "change"), MALFORMED)
def test_a_signed_malformed_activity_gets_400_and_one_warning(
    teams_bot, fake_teams, caplog, kind, change
):
    project(teams_bot, "Falls prevention")
    fake_teams.add_user(PRIYA)
    activity = an_activity(fake_teams, kind)
    change(activity)

    with caplog.at_level(logging.DEBUG):
        try:
            answer = teams_bot.http.post(
                "/api/messages", json=activity, headers=fake_teams.headers()
            )
        except httpx.TransportError as error:  # the connection reset: the worst outcome
            pytest.fail(f"the connection was dropped: {error!r}")
        teams_bot.settle()

    assert answer.status_code == 400
    assert answer.json() == {"error": "malformed request"}
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(problems) == 1, [r.getMessage() for r in problems]
    (line,) = problems
    assert line.levelno == logging.WARNING
    assert line.exc_info is None and "Traceback" not in caplog.text
    # Nothing of the activity is logged: no ids, no names, no words.
    for secret in (PRIYA.user_id, PRIYA.aad_object_id, PRIYA.name, "Falls prevention"):
        assert secret not in line.getMessage()
    assert count(teams_bot, Membership) == 0
    assert count(teams_bot, ChatAddress) == 0
    assert fake_teams.calls_to(SEND_ACTIVITY) == []
    assert teams_bot.http.get("/healthz").json() == {"status": "ok"}


@pytest.mark.parametrize("kind", ["personal", "card_action", "team_added", "install"])
def test_the_activities_the_table_starts_from_are_accepted(teams_bot, fake_teams, kind):
    """The table's activities differ from Teams' own only in the one field each changes."""
    project(teams_bot, "Falls prevention")
    fake_teams.add_user(PRIYA)

    answer = teams_bot.post(an_activity(fake_teams, kind))
    teams_bot.settle()

    assert answer.status_code == 200


@pytest.mark.parametrize("action", ["add-upgrade", "remove-upgrade"])
def test_an_app_upgrade_notice_is_acknowledged_and_changes_nothing(
    teams_bot, fake_teams, caplog, action
):
    """Teams sends these when IT uploads a new version; the SDK's models do not know them."""
    fake_teams.add_user(PRIYA)
    assert teams_bot.post(fake_teams.activity("install")).status_code == 200
    teams_bot.settle()
    addresses_before = count(teams_bot, ChatAddress)
    activity = fake_teams.activity("install")
    activity["action"] = action

    with caplog.at_level(logging.INFO):
        answer = teams_bot.post(activity)
        teams_bot.settle()

    assert answer.status_code == 200
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert count(teams_bot, ChatAddress) == addresses_before  # still installed, as before


# --- the last resort -----------------------------------------------------------------------


class TransportFailingOnMessages(TeamsTransport):
    """The real transport, except that reading a message fails as an unforeseen shape would."""

    async def on_message(self, ctx: Any) -> None:
        return ctx.activity.channel_data.no_such_field


def test_a_failure_no_check_foresaw_is_a_400_and_one_line_not_a_traceback(
    tmp_path, fake_teams, clock, caplog
):
    url = f"sqlite:///{tmp_path / 'qi.db'}"
    engine = make_engine(url)
    upgrade(engine)
    transport = TransportFailingOnMessages(
        Dispatcher(Context(sessions=make_sessions(engine), clock=clock))
    )
    _, routes = build_teams_app(teams_settings(fake_teams, url), transport)
    asgi = build_http_app(None, engine, extra_routes=routes)
    activity = fake_teams.activity("personal", "qi-help")

    with serving(asgi) as base, httpx.Client(base_url=base, timeout=10) as http:
        with caplog.at_level(logging.INFO):
            answer = http.post("/api/messages", json=activity, headers=fake_teams.headers())
        assert http.get("/healthz").status_code == 200  # and the server is still there
    engine.dispose()

    assert answer.status_code == 400
    assert answer.json() == {"error": "malformed request"}
    (line,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert re.fullmatch(
        r"malformed Teams request refused: AttributeError at test_bad_input\.py:\d+",
        line.getMessage(),
    )
    assert line.exc_info is None and "Traceback" not in caplog.text
