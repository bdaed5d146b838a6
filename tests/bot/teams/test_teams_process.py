"""A real `qi-nudge serve` process with Teams (and Slack) configured, as a trust would run it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from tests.bot.teams.conftest import teams_env
from tests.fakes import FakeSlack, slack_headers
from tests.fakes.teams_connector import FakeTeams
from tests.fakes.teams_signing import APP_PASSWORD, PRIYA
from tests.fakes.teams_signing import personal_conversation_id as chat_with

SIGNING_SECRET = "process-test-secret"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def fakes() -> Iterator[tuple[FakeTeams, FakeSlack]]:
    with FakeTeams() as teams, FakeSlack() as slack:
        yield teams, slack


def start_serve(folder: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str, Path]:
    """`qi-nudge serve` in `folder` (no .env there) with only the given settings."""
    port = free_port()
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("SLACK_", "TEAMS_", "NUDGE_", "QI_", "CLIENT_", "TENANT_", "DELIVERY_", "SCHEDULER_")
        )
        and k not in ("DATABASE_URL", "HOST", "PORT", "LOG_LEVEL")
    }
    clean.update(
        DATABASE_URL=f"sqlite:///{folder / 'qi.db'}",
        HOST="127.0.0.1",
        PORT=str(port),
        PYTHONUNBUFFERED="1",
    )
    clean.update(env)  # the test's own settings win (DATABASE_URL, say)
    log = folder / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve"],
            env=clean,
            cwd=folder,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"serve exited ({process.returncode}):\n{log.read_text()}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).is_success:
                return process, base, log
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    pytest.fail(f"serve did not start:\n{log.read_text()}")


def wait_for(condition, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} after {timeout} s")
        time.sleep(0.05)


def test_serve_answers_slack_and_teams_on_one_port_and_stops_cleanly(fakes, tmp_path):
    teams, slack = fakes
    slack.add_token("xoxb-process")
    process, base, log = start_serve(
        tmp_path,
        {
            **teams_env(teams),
            "SLACK_BOT_TOKEN": "xoxb-process",
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.base_url,
        },
    )
    try:
        # Teams: a message in the 1:1 chat, signed as the Bot Framework signs it.
        activity = teams.activity("personal", "qi-help")
        answered = httpx.post(f"{base}/api/messages", json=activity, headers=teams.headers())
        forged = httpx.post(
            f"{base}/api/messages",
            json=teams.activity("personal", "qi-help"),
            headers={"Authorization": f"Bearer {teams.sign_bad('wrong_key')}"},
        )
        # Slack: a slash command, signed as Slack signs it.
        body = urlencode(
            {"command": "/qi-help", "text": "", "user_id": "U1", "team_id": "T1"}
        ).encode()
        slack_answer = httpx.post(
            f"{base}/slack/events", content=body, headers=slack_headers(body, SIGNING_SECRET)
        )

        assert answered.status_code == 200
        wait_for(lambda: len(teams.activities(chat_with(PRIYA))) == 1, "Teams answer")
        assert forged.status_code == 401
        assert slack_answer.status_code == 200
        assert "How qi-nudge works" in slack_answer.text
    finally:
        process.send_signal(signal.SIGTERM)
        status = process.wait(timeout=20)
    output = log.read_text()
    assert status == 0, output
    assert APP_PASSWORD not in output, "the Teams secret must never be logged"
    assert "Traceback" not in output


def test_serve_with_only_teams_configured_needs_no_slack(fakes, tmp_path):
    teams, _ = fakes
    process, base, log = start_serve(tmp_path, teams_env(teams))
    try:
        answer = httpx.post(
            f"{base}/api/messages",
            json=teams.activity("personal", "qi-projects"),
            headers=teams.headers(),
        )
        no_slack = httpx.post(f"{base}/slack/events", content=b"x")
    finally:
        process.send_signal(signal.SIGTERM)
        status = process.wait(timeout=20)

    assert answer.status_code == 200
    assert no_slack.status_code == 404
    assert status == 0, log.read_text()
