"""Slack's signature is checked once, before Bolt, and Bolt hands listeners our one client.

bot.runtime.http checks every request's signature before reading it; the Bolt app no longer
checks it again. These tests pin both halves: a request not signed by Slack still never reaches a
listener, and a signed one costs one HMAC, not two.
"""

from __future__ import annotations

import time

import pytest
from slack_bolt import App, BoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.runtime.http import build_http_app
from handlers.core import ids
from tests.fakes import block_actions_body, slash_command_body, view_submission_body

FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def signatures(monkeypatch) -> list[str]:
    """Every signature computed in this process while the test runs."""
    made: list[str] = []
    original = SignatureVerifier.generate_signature

    def counting(self, *, timestamp, body):
        made.append(timestamp)
        return original(self, timestamp=timestamp, body=body)

    monkeypatch.setattr(SignatureVerifier, "generate_signature", counting)
    return made


@pytest.fixture
def listened(slack_bot, monkeypatch) -> list[str]:
    """Which kinds of request reached the handlers (commands, buttons, forms)."""
    reached: list[str] = []
    bot = slack_bot.service.transport.bot
    for name in ("command", "action", "submit"):
        original = getattr(bot, name)

        def spy(*args, _name=name, _original=original, **kwargs):
            reached.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(bot, name, spy)
    return reached


def test_a_signed_request_has_its_signature_computed_once(slack_bot, fake_slack, signatures):
    fake_slack.add_user("U123", "Ben Okafor")

    answer = slack_bot.post(slash_command_body("/qi-help", ""))

    assert answer.status_code == 200
    assert len(signatures) == 1


@pytest.mark.parametrize(
    "body",
    [
        slash_command_body("/qi-project", 'new "Sneaky"'),
        block_actions_body(ids.JOIN_AS, "1:carer"),
        view_submission_body(ids.JOIN_FORM, {}),
    ],
    ids=["command", "button", "form"],
)
def test_a_badly_signed_request_is_refused_and_reaches_no_listener(slack_bot, listened, body):
    stamp = str(int(time.time()))
    wrong = SignatureVerifier("not-the-secret").generate_signature(timestamp=stamp, body=body)
    signed_otherwise = slack_bot.http.post(
        "/slack/events",
        content=body,
        headers={
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": wrong,
            "Content-Type": FORM,
        },
    )
    unsigned = slack_bot.http.post("/slack/events", content=body, headers={"Content-Type": FORM})
    stale = slack_bot.post(body, timestamp=int(time.time()) - 6 * 60)

    assert [signed_otherwise.status_code, unsigned.status_code, stale.status_code] == [401] * 3
    assert listened == []


def test_a_well_signed_request_still_reaches_its_listener(slack_bot, fake_slack, listened):
    fake_slack.add_user("U123", "Ben Okafor")

    assert slack_bot.post(slash_command_body("/qi-help", "")).status_code == 200
    assert listened == ["command"]


def test_listeners_get_the_transports_own_client(slack_bot, fake_slack):
    fake_slack.add_user("U123", "Ben Okafor")
    clients = []
    app = slack_bot.service.slack_app

    @app.middleware
    def note_client(context, next):
        clients.append(context.client)
        next()

    slack_bot.post(slash_command_body("/qi-help", ""))
    slack_bot.post(slash_command_body("/qi-help", ""))

    assert clients == [slack_bot.service.transport.client] * 2


def test_the_request_context_has_what_bolts_own_would_hold(slack_bot):
    """Bolt's context keys, per request, as Bolt itself sets them (but the client is shared)."""
    app = slack_bot.service.slack_app
    ours, theirs = (BoltRequest(body=slash_command_body("/qi-help", "").decode()) for _ in "ab")

    app._init_context(ours)
    App._init_context(app, theirs)

    assert set(ours.context) == set(theirs.context)
    assert ours.context.client is slack_bot.service.transport.client
    assert ours.context.token == theirs.context.token
    assert ours.context.client.base_url == theirs.context.client.base_url


def test_a_slack_endpoint_is_never_built_without_its_secret(slack_bot):
    with pytest.raises(ValueError, match="signing secret"):
        build_http_app(slack_bot.service.slack_app, slack_bot.engine)
