"""Correctly signed Slack requests whose payload is not what Slack sends: 400 and one log line.

Someone holding the signing secret (or a proxy that mangles bodies) can send anything that
verifies. Each kind of payload the bot reads is tried with the shapes that used to end in a
500 with a traceback, or on SQLite in a reset connection.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from slack_bolt import App
from slack_sdk import WebClient

from bot.runtime.http import build_http_app
from bot.slack.app import refuse_unreadable
from store.engine import make_engine
from store.migrate import upgrade
from store.models import Project
from tests.bot.serving import serving
from tests.bot.slack.conftest import BOT_TOKEN, SIGNING_SECRET
from tests.bot.slack.test_slack_http import count
from tests.fakes import (
    block_actions_body,
    event_body,
    slack_headers,
    slash_command_body,
    view_submission_body,
)


def headers_for(body: bytes) -> dict[str, str]:
    return slack_headers(body, SIGNING_SECRET)


def command_without(*fields: str, **replaced: str) -> bytes:
    """A slash command with some form fields left out or replaced."""
    form = dict(parse_qsl(slash_command_body("/qi-project", 'new "Sneaky"').decode()))
    form.update(replaced)
    return urlencode({k: v for k, v in form.items() if k not in fields}).encode()


def payload_with(body: bytes, change: Callable[[dict[str, Any]], None]) -> bytes:
    """An interactivity body whose `payload` JSON was changed by `change`."""
    payload = json.loads(dict(parse_qsl(body.decode()))["payload"])
    change(payload)
    return urlencode({"payload": json.dumps(payload)}).encode()


def button(change: Callable[[dict[str, Any]], None]) -> bytes:
    return payload_with(block_actions_body("rsvp#1", "1"), change)


def home_button(change: Callable[[dict[str, Any]], None]) -> bytes:
    body = block_actions_body(
        "show_forum", "-", view={"id": "V1", "type": "home"}, channel_id=None, response_url=None
    )
    return payload_with(body, change)


def form(change: Callable[[dict[str, Any]], None]) -> bytes:
    body = view_submission_body("join_form", {"project": {"field": {"type": "x", "value": "a"}}})
    return payload_with(body, change)


def event(change: Callable[[dict[str, Any]], None]) -> bytes:
    envelope = json.loads(event_body({"type": "app_home_opened", "user": "U1", "tab": "home"}))
    change(envelope)
    return json.dumps(envelope).encode()


def setting(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change that sets (or, with value ..., removes) the field at a dotted path."""

    def change(payload: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = payload
        for name in parents:
            target = target[name]
        if value is ...:
            target.pop(last, None)
        else:
            target[last] = value

    return change


COMMANDS = {
    "no user_id": command_without("user_id"),
    "empty user_id": command_without(user_id=""),
    "no command": command_without("command"),
    "no team_id": command_without("team_id"),
}
BUTTONS = {
    "user a string": button(setting("user", "U123")),
    "no user": button(setting("user", ...)),
    "user id a number": button(setting("user.id", 7)),
    "user id null": button(setting("user.id", None)),
    "actions empty": button(setting("actions", [])),
    "actions null": button(setting("actions", None)),
    "actions an object": button(setting("actions", {"action_id": "rsvp#1"})),
    "action a string": button(setting("actions", ["rsvp#1"])),
    "action_id a number": button(lambda p: p["actions"][0].update(action_id=5)),
    "no action_id": button(lambda p: p["actions"][0].pop("action_id")),
    "value an object": button(lambda p: p["actions"][0].update(value={"a": 1})),
    "no team": button(lambda p: (p.pop("team"), p["user"].pop("team_id"))),
    "team a string": button(setting("team", "T1")),
    "channel a string": button(setting("channel", "C123")),
    "container a string": button(setting("container", "message")),
    "response_url a number": button(setting("response_url", 12)),
    "trigger_id a list": button(setting("trigger_id", ["t"])),
    "view a string": home_button(setting("view", "V1")),
    "type a number": button(setting("type", 3)),
}
FORMS = {
    "view a string": form(setting("view", "V1")),
    "no view": form(setting("view", ...)),
    "state a string": form(setting("view.state", "s")),
    "values a list": form(setting("view.state.values", [1])),
    "field a string": form(setting("view.state.values.project", "a")),
    "field value an object": form(setting("view.state.values.project.field", {"value": {}})),
    "option a string": form(setting("view.state.values.project.field", {"selected_option": "a"})),
    "callback_id a number": form(setting("view.callback_id", 4)),
    "no callback_id": form(setting("view.callback_id", ...)),
    "private_metadata a number": form(setting("view.private_metadata", 4)),
    "user a string": form(setting("user", "U123")),
    "no user": form(setting("user", ...)),
    "no team": form(lambda p: (p.pop("team"), p["user"].pop("team_id"))),
}
EVENTS = {
    "event a string": event(setting("event", "app_home_opened")),
    "event null": event(setting("event", None)),
    "no event": event(setting("event", ...)),
    "event type a number": event(setting("event.type", 1)),
    "no event type": event(setting("event.type", ...)),
    "user an object": event(setting("event.user", {"id": "U1"})),
    "no user": event(setting("event.user", ...)),
    "tab a number": event(setting("event.tab", 1)),
    "event_id a number": event(setting("event_id", 9)),
    "no team_id": event(lambda p: (p.pop("team_id"), p.pop("authorizations"))),
    "authorizations a string": event(setting("authorizations", "x")),
}
MALFORMED = [
    *(pytest.param(body, False, id=f"command: {name}") for name, body in COMMANDS.items()),
    *(pytest.param(body, False, id=f"block_actions: {name}") for name, body in BUTTONS.items()),
    *(pytest.param(body, False, id=f"view_submission: {name}") for name, body in FORMS.items()),
    *(pytest.param(body, True, id=f"event_callback: {name}") for name, body in EVENTS.items()),
    pytest.param(b'{"type": "url_verification"}', True, id="url_verification: no challenge"),
    pytest.param(
        b'{"type": "url_verification", "challenge": {"a": 1}}', True, id="url_verification: object"
    ),
]


@pytest.mark.parametrize(("body", "json_body"), MALFORMED)
def test_a_signed_malformed_payload_gets_400_and_one_warning(
    slack_bot, fake_slack, caplog, body, json_body
):
    calls_before = len(fake_slack.calls)
    with caplog.at_level(logging.DEBUG):
        try:
            answer = slack_bot.post(body, json_body=json_body)
        except httpx.TransportError as error:  # the connection reset: the worst outcome
            pytest.fail(f"the connection was dropped: {error!r}")
        slack_bot.settle()

    assert answer.status_code == 400
    assert answer.json() == {"error": "malformed request"}
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(problems) == 1, [r.getMessage() for r in problems]
    (line,) = problems
    assert line.levelno == logging.WARNING
    assert line.exc_info is None and "Traceback" not in caplog.text
    # Nothing of the payload is logged: no ids, no words.
    assert "U123" not in caplog.text and "Sneaky" not in caplog.text
    assert count(slack_bot, Project) == 0
    assert len(fake_slack.calls) == calls_before  # nothing was asked of Slack
    assert slack_bot.http.get("/healthz").json() == {"status": "ok"}


def test_the_well_formed_payloads_the_table_starts_from_are_accepted(slack_bot, fake_slack):
    """The table's bodies differ from Slack's own only in the one field each changes."""
    fake_slack.add_user("U123", "Ben Okafor")
    assert slack_bot.post(command_without()).status_code == 200
    assert count(slack_bot, Project) == 1
    assert slack_bot.post(button(lambda p: None)).status_code == 200
    assert slack_bot.post(home_button(lambda p: None)).status_code == 200
    assert slack_bot.post(form(lambda p: None)).status_code == 200
    assert slack_bot.post(event(lambda p: None), json_body=True).status_code == 200


# --- the last resort -----------------------------------------------------------------------


@contextmanager
def bolt_app_failing_in(where: str, folder: Path, fake_slack) -> Iterator[httpx.Client]:
    """A Bolt app served as serve serves qi-nudge's, failing where an unforeseen shape would.

    "listener": inside a listener (Bolt's own answer would be a 500 and a traceback);
    "offload": in the choice of thread, before Bolt (on SQLite, this reset the connection).
    "listener, not the payload": inside a listener, for a reason that is not the payload's.
    """
    app = App(
        signing_secret=SIGNING_SECRET,
        client=WebClient(token=BOT_TOKEN, base_url=fake_slack.base_url),
        process_before_response=True,
    )

    def fails(ack, body):
        if where == "listener, not the payload":
            raise RuntimeError("something of ours broke")
        return body["no such field"]

    app.command("/qi-help")(fails)
    app.error(refuse_unreadable)

    def offload(request) -> bool:
        if where == "offload":
            return request.body["user"]["id"]  # "user" is not there: KeyError
        return False

    engine = make_engine(f"sqlite:///{folder / 'qi.db'}")
    upgrade(engine)
    asgi = build_http_app(app, engine, signing_secret=SIGNING_SECRET, offload=offload)
    with serving(asgi) as base, httpx.Client(base_url=base, timeout=10) as http:
        yield http
    engine.dispose()


@pytest.mark.parametrize("where", ["listener", "offload"])
def test_a_failure_no_check_foresaw_is_a_400_and_one_line_not_a_traceback(
    where, tmp_path, fake_slack, caplog
):
    body = slash_command_body("/qi-help", "", user_id="U123")
    with bolt_app_failing_in(where, tmp_path, fake_slack) as http, caplog.at_level(logging.INFO):
        answer = http.post("/slack/events", content=body, headers=headers_for(body))

        assert answer.status_code == 400
        assert answer.json() == {"error": "malformed request"}
        assert http.get("/healthz").status_code == 200  # and the server is still there
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    (line,) = problems
    # What failed and where, for whoever looks after the bot; nothing of what was sent.
    assert re.fullmatch(
        r"malformed Slack request refused: KeyError at test_bad_input\.py:\d+", line.getMessage()
    )
    assert (
        line.levelno == logging.WARNING and line.exc_info is None and "Traceback" not in caplog.text
    )
    assert "U123" not in caplog.text


def test_a_failure_that_is_not_about_the_payload_is_still_a_500(tmp_path, fake_slack, caplog):
    """Not the sender's fault: no 400 to hide it, and the traceback is there for IT."""
    body = slash_command_body("/qi-help", "", user_id="U123")
    with bolt_app_failing_in("listener, not the payload", tmp_path, fake_slack) as http:
        answer = http.post("/slack/events", content=body, headers=headers_for(body))

    assert answer.status_code == 500
    (line,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert line.levelno == logging.ERROR and line.exc_info is not None
