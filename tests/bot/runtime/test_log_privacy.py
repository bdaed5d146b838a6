"""Nothing of what the platforms send is logged: a real `qi-nudge serve` at DEBUG, grepped.

The bot runs as a subprocess with Slack and Teams configured (against the fakes) and
LOG_LEVEL=DEBUG. People install it and sign up on both platforms, and the weekly reminder goes
to a lead on each; then every line it wrote (stdout and stderr) is searched for their names,
e-mail addresses, user ids and conversation ids.
"""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

import httpx
import pytest
from sqlalchemy import select

from store import addresses, people
from store.engine import make_engine, make_sessions
from store.forums import create_forum
from store.migrate import upgrade
from store.models import Delivery
from store.projects import create_project
from store.roles import ProjectStatus
from tests.bot.teams.conftest import teams_env
from tests.bot.teams.test_teams_process import start_serve, wait_for
from tests.bot.test_processes import schedule_just_gone, throwaway_database
from tests.fakes import FakeSlack, slack_headers
from tests.fakes.slack_api import TEAM_ID
from tests.fakes.teams_connector import FakeTeams
from tests.fakes.teams_signing import PRIYA, TENANT_ID, TeamsUser
from tests.fakes.teams_signing import personal_conversation_id as chat_with

pytestmark = pytest.mark.slow

SIGNING_SECRET = "log-privacy-secret"
TOKEN = "xoxb-log-privacy"
OMAR = TeamsUser(
    user_id="29:1Zz8Kq2Lm5Nn7Pp9Rr0Tt3Vv6Xx_OmarHaddad",
    name="Omar Haddad",
    aad_object_id="6f1c2d3e-4a5b-4c6d-8e7f-0000000000aa",
    email="omar.haddad@nhs.net",
    user_principal_name="omar.haddad@nhs.net",
)
# Slack people: (user id, name, e-mail). The lead is reminded; the other signs up.
SLACK_LEAD = ("U0LEAD7731", "Grace Mensah", "grace.mensah@example.org")
SLACK_CARER = ("U0CARE5512", "Tomasz Nowak", "tomasz.nowak@example.org")


def _seed(url: str, teams: FakeTeams) -> None:
    """Two leads (one on Slack, one on Teams) of projects with nobody with lived experience."""
    engine = make_engine(url)
    upgrade(engine)
    sessions = make_sessions(engine)
    now = datetime.now(UTC)
    with sessions.begin() as session:
        create_forum(session, name="QI Forum", channel=None, now=now)
        for platform, workspace, user_id, name, project in (
            ("slack", TEAM_ID, SLACK_LEAD[0], SLACK_LEAD[1], "Falls prevention"),
            ("teams", TENANT_ID, PRIYA.aad_object_id, PRIYA.name, "Sepsis screening"),
        ):
            lead = people.ensure_person_for_identity(
                session,
                platform=platform,
                workspace=workspace,
                user_id=user_id,
                display_name=name,
                now=now,
            )
            create_project(
                session,
                name=project,
                lead_id=lead.id,
                site=None,
                status=ProjectStatus.ACTIVE,
                now=now,
            )
        addresses.remember_address(
            session,
            platform="teams",
            workspace=TENANT_ID,
            user_id=PRIYA.aad_object_id,
            address={"serviceUrl": teams.service_url, "userId": PRIYA.user_id},
            now=now,
        )
    engine.dispose()


def _sent(url: str) -> list[Delivery]:
    engine = make_engine(url)
    try:
        with make_sessions(engine)() as session:
            return list(session.scalars(select(Delivery).where(Delivery.status == "sent")))
    finally:
        engine.dispose()


def _slack_command(base: str, user_id: str, command: str, text: str) -> httpx.Response:
    body = urlencode(
        {"command": command, "text": text, "user_id": user_id, "team_id": TEAM_ID}
    ).encode()
    return httpx.post(
        f"{base}/slack/events", content=body, headers=slack_headers(body, SIGNING_SECRET)
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_debug_run_logs_no_name_address_or_id_of_anyone(backend, tmp_path):
    with (
        throwaway_database(backend, tmp_path) as url,
        FakeTeams() as teams,
        FakeSlack() as slack,
    ):
        slack.add_token(TOKEN)
        for user_id, name, email in (SLACK_LEAD, SLACK_CARER):
            slack.add_user(user_id, name, email=email)
        teams.add_user(PRIYA)
        teams.add_user(OMAR)
        _seed(url, teams)
        process, base, log = start_serve(
            tmp_path,
            {
                **teams_env(teams),
                **schedule_just_gone(),
                "DATABASE_URL": url,
                "LOG_LEVEL": "DEBUG",
                "SCHEDULER_TICK_SECONDS": "1",
                "SLACK_BOT_TOKEN": TOKEN,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_API_URL": slack.base_url,
            },
        )
        try:
            # The weekly reminder reaches both leads: a Slack DM, and a new Teams 1:1 chat.
            wait_for(lambda: len(_sent(url)) >= 2, "reminders sent")
            # Omar installs the app on Teams and looks around; Priya signs up to the forum.
            for activity in (
                teams.activity("install", user=OMAR),
                teams.activity("personal", "qi-projects mine", user=OMAR),
                teams.activity("personal", "qi-join forum as carer"),
            ):
                answer = httpx.post(f"{base}/api/messages", json=activity, headers=teams.headers())
                assert answer.status_code == 200, answer.text
            wait_for(lambda: len(teams.activities(chat_with(OMAR))) >= 2, "answers to Omar")
            # On Slack, a carer signs up and the lead looks at her projects.
            assert _slack_command(base, SLACK_CARER[0], "/qi-join", "forum as carer").is_success
            assert _slack_command(base, SLACK_LEAD[0], "/qi-projects", "mine").is_success
            time.sleep(1.5)  # what follows the answers (news for leads, a scheduler tick)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=20)
        output = log.read_text(errors="replace")
        conversations = {d.channel_id for d in _sent(url) if d.channel_id}

    assert "DEBUG" in output  # the level took effect: this is a full debug log
    personal = {
        *(value for user in (PRIYA, OMAR) for value in _teams_values(user)),
        *(value for person in (SLACK_LEAD, SLACK_CARER) for value in person),
        *conversations,
    }
    found = sorted(
        value
        for value in personal
        if value.lower() in output.lower() or quote(value, safe="").lower() in output.lower()
    )
    assert found == [], f"personal identifiers in the log: {found}\n{output[-4000:]}"


def _teams_values(user: TeamsUser) -> tuple[str, ...]:
    return (
        user.user_id,
        user.aad_object_id,
        user.name,
        user.email or "",
        chat_with(user),
    )


@pytest.mark.parametrize(
    "line",
    [
        "GET /v3/conversations/a:1xIFl5AEmcq06ZAHHuEr8pSJW9yf/members/29:1Pq7m3Yd0gXkz2Vh8uJ",
        "Client error '403' for url '/conversations/19:b7c2a1f0e3d54e5f@thread.tacv2/activities'",
        "member 6f1c2d3e-4a5b-4c6d-8e7f-000000000001 not found",
        "users.info failed for U0LEAD7731 in DU0LEAD7731",
        "no such user: priya.shah@nhs.net",
        "conversations%2Fa%3A1xIFl5AEmcq06ZAHHuEr8pSJW9yf",
    ],
)
def test_ids_and_addresses_are_redacted_from_any_line(line):
    from bot.runtime.log_privacy import REDACTED, redact

    cleaned = redact(line)

    assert REDACTED in cleaned
    for secret in ("1xIFl5AE", "1Pq7m3Yd", "b7c2a1f0", "000000000001", "U0LEAD", "priya"):
        assert secret not in cleaned


def test_times_and_shouted_words_are_left_alone():
    from bot.runtime.log_privacy import redact

    line = "DEPRECATED: the reminder at 19:30 on 2026-12-07T19:30:00 went to 12 leads"
    assert redact(line) == line
