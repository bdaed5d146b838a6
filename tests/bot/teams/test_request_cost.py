"""What one Teams activity costs the bot: one token check per token, one trip to a worker thread.

Wall-clock time is not asserted (the machine may be shared); the work done is.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import anyio.to_thread
import jwt
import pytest
from microsoft_teams.apps.auth.token_validator import TokenValidator

from bot.teams.token_cache import KEEP_SECONDS, CachedTokenValidator
from store.models import Membership
from tests.bot.teams.test_teams_http import BEN, count, project, sent_to


@pytest.fixture
def token_checks(monkeypatch) -> list[str]:
    """The tokens the SDK checked in full (signature and claims), in order."""
    checked: list[str] = []
    real = TokenValidator.validate_token

    async def counting(self, raw_token, service_url=None, scope=None):
        checked.append(raw_token)
        return await real(self, raw_token, service_url, scope)

    monkeypatch.setattr(TokenValidator, "validate_token", counting)
    return checked


def test_a_token_teams_reuses_is_checked_in_full_once(teams_bot, fake_teams, token_checks):
    headers = fake_teams.headers()
    for _ in range(3):
        answer = teams_bot.http.post(
            "/api/messages", json=fake_teams.activity("personal", "qi-help"), headers=headers
        )
        assert answer.status_code == 200
    teams_bot.settle()

    assert len(token_checks) == 1
    assert len(sent_to(fake_teams)) == 3


def test_a_new_or_forged_token_is_still_checked_and_refused(teams_bot, fake_teams, token_checks):
    good = fake_teams.headers()
    teams_bot.http.post("/api/messages", json=fake_teams.activity("personal", "hi"), headers=good)
    forged = {"Authorization": f"Bearer {fake_teams.sign_bad('wrong_key')}"}
    other = fake_teams.headers(serviceurl=fake_teams.service_url.rstrip("/") + "/x/")

    refused = teams_bot.http.post(
        "/api/messages", json=fake_teams.activity("personal", "hi"), headers=forged
    )
    mismatched = teams_bot.http.post(
        "/api/messages", json=fake_teams.activity("personal", "hi"), headers=other
    )

    assert refused.status_code == 401 and mismatched.status_code == 401
    assert len(token_checks) == 3


def test_an_activity_makes_one_trip_to_a_worker_thread(teams_bot, fake_teams, monkeypatch):
    project(teams_bot, "Falls prevention")
    teams_bot.say("qi-help", user=BEN)  # met once: no first contact below
    trips: list[Any] = []
    real = anyio.to_thread.run_sync

    async def counting(func, *args, **kwargs):
        trips.append(func)
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    teams_bot.say("qi-join Falls prevention as carer", user=BEN)

    assert len(trips) == 1  # the replay check, the address and the join, in one thread
    assert count(teams_bot, Membership) == 1
    assert "Falls prevention" in str(sent_to(fake_teams, BEN)[-1])


class _Inner:
    """Stands in for the SDK's validator: passes tokens named "good", counts every call."""

    def __init__(self, claims: dict[str, Any]) -> None:
        self.claims = claims
        self.calls = 0

    async def validate_token(self, raw_token: str, service_url: str | None = None):
        self.calls += 1
        if not raw_token.startswith("good"):
            raise jwt.InvalidTokenError("no")
        return self.claims


def _check(cache: CachedTokenValidator, token: str, url: str | None = "https://smba/") -> Any:
    return asyncio.run(cache.validate_token(token, url))


def test_a_token_is_checked_again_once_its_time_is_up():
    now = [1_000_000.0]
    inner = _Inner({"exp": now[0] + 60})
    cache = CachedTokenValidator(inner, clock=lambda: now[0])

    _check(cache, "good")
    _check(cache, "good")
    assert inner.calls == 1
    _check(cache, "good", "https://elsewhere/")  # the service URL is part of the check
    assert inner.calls == 2
    now[0] += 60 + 300  # past expiry and the SDK's 5-minute leeway
    _check(cache, "good")
    assert inner.calls == 3


def test_an_answer_is_kept_no_longer_than_the_sdk_keeps_its_keys():
    now = [1_000_000.0]
    inner = _Inner({"exp": now[0] + 3600})
    cache = CachedTokenValidator(inner, clock=lambda: now[0])
    _check(cache, "good")
    now[0] += KEEP_SECONDS
    _check(cache, "good")
    assert inner.calls == 2


def test_a_refused_token_or_one_without_expiry_is_never_remembered():
    inner = _Inner({})
    cache = CachedTokenValidator(inner)
    for token in ("bad", "bad", "good-no-exp", "good-no-exp"):
        with contextlib.suppress(jwt.InvalidTokenError):
            _check(cache, token)
    assert inner.calls == 4
