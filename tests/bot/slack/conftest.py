"""The bot as `qi-nudge serve` runs it, on a real port, talking to a fake Slack Web API."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import Engine

from bot.runtime.delivery import DeliveryPolicy, Pacer
from bot.runtime.serve import Service, build_service
from bot.runtime.settings import load_settings
from handlers.core.context import Context
from store.engine import make_engine, make_sessions
from store.migrate import upgrade
from tests.bot.serving import serving
from tests.conftest import database_url_for
from tests.fakes import FakeSlack, slack_headers
from tests.fakes.slack_rules import Refusal, message_refusal

SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"


FORUM_CHANNEL = "CFORUM"  # the forum's announcement channel in these tests


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        # The organisers set the forum up properly: the bot is in its channel.
        fake.add_channel(FORUM_CHANNEL, "qi-forum", bot_member=True)
        yield fake


@dataclass
class SlackBot:
    """A running bot: POST signed Slack requests to it and look at what it stored and sent."""

    url: str
    engine: Engine
    service: Service
    http: httpx.Client

    def post(self, body: bytes, *, json_body: bool = False, **header_options) -> httpx.Response:
        """POST a Slack request signed exactly as Slack signs it.

        A message in the answer (a command's ephemeral reply) is checked as Slack checks it:
        the fake Slack never sees it, but Slack would refuse it all the same.
        """
        content_type = "application/json" if json_body else "application/x-www-form-urlencoded"
        headers = slack_headers(body, SIGNING_SECRET, content_type=content_type, **header_options)
        answer = self.http.post("/slack/events", content=body, headers=headers)
        refusal = _refusal_of_answer(answer)
        assert refusal is None, f"Slack would refuse this answer: {refusal}"
        return answer

    def settle(self) -> None:
        """Wait for the work done after the ack (modals, home tabs) and send what it planned."""
        self.service.transport.forms.drain()
        self.service.transport.after.drain()
        self.service.deliverer.drain()


def _refusal_of_answer(answer: httpx.Response) -> Refusal | None:
    if answer.status_code != 200 or "json" not in answer.headers.get("content-type", ""):
        return None
    message = answer.json()
    if not isinstance(message, dict) or "response_action" in message:
        return None  # a modal's answer (errors, update), not a message
    return message_refusal(message)


@pytest.fixture(params=["sqlite", "postgresql"])
def slack_bot(request, tmp_path, fake_slack, clock) -> Iterator[SlackBot]:
    """The service on uvicorn on 127.0.0.1 (a free port), with a fresh migrated database."""
    with database_url_for(request.param, tmp_path) as url:
        yield from _run_bot(url, fake_slack, clock)


def _run_bot(url: str, fake_slack: FakeSlack, clock) -> Iterator[SlackBot]:
    engine = make_engine(url)
    upgrade(engine)
    settings = load_settings(
        {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": fake_slack.base_url,
            "DATABASE_URL": url,
        },
        env_file=None,
    )
    ctx = Context(sessions=make_sessions(engine), clock=clock)
    service = build_service(settings, engine, ctx)
    # Slack's pacing (a message a second per channel) is tested on its own; here it would
    # only make every test wait.
    service.deliverer.pacer = Pacer(DeliveryPolicy(channel_interval=0, workspace_interval=0))
    with serving(service.asgi) as base, httpx.Client(base_url=base, timeout=10) as http:
        yield SlackBot(url=base, engine=engine, service=service, http=http)
    assert service.transport is not None
    service.transport.after.drain()
    engine.dispose()
