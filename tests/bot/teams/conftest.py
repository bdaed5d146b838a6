"""The bot as `qi-nudge serve` runs it with Teams configured, talking to a fake Teams."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

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
from tests.fakes.teams_connector import FakeTeams
from tests.fakes.teams_rules import invoke_response_problems
from tests.fakes.teams_signing import APP_ID, APP_PASSWORD, CARD_ACTION_INVOKE, TENANT_ID


@pytest.fixture
def fake_teams() -> Iterator[FakeTeams]:
    with FakeTeams() as fake:
        yield fake


@dataclass
class TeamsBot:
    """A running bot: POST activities to it as Teams does and look at what it stored and sent."""

    url: str
    engine: Engine
    service: Service
    http: httpx.Client
    fake: FakeTeams

    @property
    def ctx(self) -> Context:
        """The handlers' context (sessions and clock) the bot runs with."""
        assert self.service.teams is not None
        return self.service.teams.bot.ctx

    def post(self, activity: dict[str, Any], **claims: Any) -> httpx.Response:
        """POST an activity with a token signed as the Bot Framework signs Teams' requests.

        The answer to a card action is the card Teams shows in place of the clicked one, and it
        never goes through the Connector: it is checked here against the same rules.
        """
        answer = self.http.post("/api/messages", json=activity, headers=self.fake.headers(**claims))
        if activity.get("name") == CARD_ACTION_INVOKE and answer.status_code == 200:
            problems = invoke_response_problems(answer.json(), answer.text)
            assert problems == [], f"Teams would not show this card: {problems}"
        return answer

    def say(self, text: str, kind: str = "personal", **options: Any) -> httpx.Response:
        """Type a message to the bot (1:1 chat, or an @mention in a channel) and wait for it."""
        answer = self.post(self.fake.activity(kind, text, **options))
        self.settle()
        return answer

    def press(self, verb: str, data: dict[str, Any], **options: Any) -> httpx.Response:
        """Click an Action.Execute button (or submit a form) on one of the bot's cards."""
        options.setdefault("reply_to_id", "1764489600000")
        answer = self.post(self.fake.activity("card_action", verb, data, **options))
        self.settle()
        return answer

    def settle(self) -> None:
        """Wait for the work done after answers (charts, edits) and send what it planned."""
        assert self.service.teams is not None
        assert self.service.teams.wait_idle(10)
        self.service.deliverer.drain()


@pytest.fixture(params=["sqlite", "postgresql"])
def teams_bot(request, tmp_path, fake_teams, clock) -> Iterator[TeamsBot]:
    """The service on uvicorn on 127.0.0.1 (a free port), with a fresh migrated database."""
    with database_url_for(request.param, tmp_path) as url:
        yield from run_teams_bot(url, fake_teams, clock)


def teams_env(fake: FakeTeams) -> dict[str, str]:
    """The TEAMS_* settings of the fakes' bot registration, every Microsoft URL at the fake."""
    return {
        "TEAMS_APP_ID": APP_ID,
        "TEAMS_APP_PASSWORD": APP_PASSWORD,
        "TEAMS_TENANT_ID": TENANT_ID,
        "TEAMS_LOGIN_URL": fake.login_url,
        "TEAMS_OPENID_METADATA_URL": fake.openid_metadata_url,
        "TEAMS_SERVICE_URL": fake.service_url,
    }


def teams_settings(fake: FakeTeams, url: str, **extra: str):
    """Settings for a bot on Teams only, talking to the fake."""
    return load_settings({**teams_env(fake), "DATABASE_URL": url, **extra}, env_file=None)


def run_teams_bot(url: str, fake: FakeTeams, clock, **extra: str) -> Iterator[TeamsBot]:
    engine = make_engine(url)
    upgrade(engine)
    ctx = Context(sessions=make_sessions(engine), clock=clock)
    service = build_service(teams_settings(fake, url, **extra), engine, ctx)
    # Pacing (a message a second per conversation) is tested on its own; here it would only wait.
    service.deliverer.pacer = Pacer(DeliveryPolicy(channel_interval=0, workspace_interval=0))
    with serving(service.asgi) as base, httpx.Client(base_url=base, timeout=10) as http:
        yield TeamsBot(url=base, engine=engine, service=service, http=http, fake=fake)
    service.close()
    engine.dispose()
