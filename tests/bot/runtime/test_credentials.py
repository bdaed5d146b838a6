"""`qi-nudge serve` with credentials the platforms refuse, or a platform it cannot reach.

Each is one plain line naming the setting to look at, and exit code 2, before it listens: a
deploy that cannot work fails at once instead of running deaf. Real processes, talking over HTTP
to the fake Slack and the fake Entra token endpoint.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.runtime.credentials import check_slack, check_teams
from bot.runtime.settings import load_settings
from tests.bot.teams.conftest import teams_env
from tests.fakes import FakeSlack
from tests.fakes.teams_connector import FakeTeams

pytestmark = pytest.mark.slow

ROUTINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO) ")


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        fake.add_token("xoxb-good")
        yield fake


@pytest.fixture
def fake_teams() -> Iterator[FakeTeams]:
    with FakeTeams() as fake:
        yield fake


def serve(folder: Path, settings: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`qi-nudge serve` with only these platform settings; it must end by itself."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLACK_", "TEAMS_", "CLIENT_", "TENANT_"))
        and key not in ("DATABASE_URL", "HOST", "PORT")
    }
    env.update(
        DATABASE_URL=f"sqlite:///{folder / 'qi.db'}",
        HOST="127.0.0.1",
        PORT=str(closed_port()),
        LOG_LEVEL="INFO",
        **settings,
    )
    try:
        return subprocess.run(
            [sys.executable, "-m", "bot.cli", "serve"],
            env=env,
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=40,
            check=False,
        )
    except subprocess.TimeoutExpired as still_running:
        output = (still_running.stderr or b"").decode(errors="replace")
        pytest.fail(f"serve started despite the bad settings:\n{output}")


def the_one_line(result: subprocess.CompletedProcess[str]) -> str:
    """Exit 2 before listening, with one plain line (and no traceback) saying why."""
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output
    assert "listening" not in output
    # Routine INFO logs (httpx notes each request it makes) are not part of what is said.
    lines = [line for line in output.splitlines() if line.strip() and not ROUTINE.match(line)]
    assert len(lines) == 1, output
    return lines[0]


def slack(fake: FakeSlack, token: str = "xoxb-good") -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": token,
        "SLACK_SIGNING_SECRET": "a-secret",
        "SLACK_API_URL": fake.base_url,
    }


def test_serve_with_a_slack_token_slack_refuses_says_so_and_exits_2(fake_slack, tmp_path):
    line = the_one_line(serve(tmp_path, slack(fake_slack, token="xoxb-wrong")))

    assert line.startswith("SLACK_BOT_TOKEN: Slack refused the token (invalid_auth).")
    assert "Install App" in line
    assert "xoxb-wrong" not in line  # never the token itself


def test_serve_that_cannot_reach_slack_says_where_it_tried_and_exits_2(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/api/"
    settings = {"SLACK_BOT_TOKEN": "xoxb-good", "SLACK_SIGNING_SECRET": "s", "SLACK_API_URL": url}

    line = the_one_line(serve(tmp_path, settings))

    assert line.startswith(f"SLACK_API_URL: could not reach Slack at {url} (connection refused).")
    assert "firewall, proxy" in line


def test_serve_with_a_teams_secret_entra_refuses_says_so_and_exits_2(fake_teams, tmp_path):
    settings = {**teams_env(fake_teams), "TEAMS_APP_PASSWORD": "not-the-secret"}

    line = the_one_line(serve(tmp_path, settings))

    assert line.startswith("TEAMS_APP_PASSWORD: Microsoft Entra refused the client secret")
    assert "not-the-secret" not in line


def test_serve_that_cannot_reach_microsoft_sign_in_says_so_and_exits_2(fake_teams, tmp_path):
    login = f"http://127.0.0.1:{closed_port()}"
    line = the_one_line(serve(tmp_path, {**teams_env(fake_teams), "TEAMS_LOGIN_URL": login}))

    assert line.startswith(f"TEAMS_LOGIN_URL: could not reach Microsoft's sign-in at {login}")


def test_a_slack_that_does_not_answer_in_time_is_named(fake_slack):
    fake_slack.delay("auth.test", 3)
    settings = load_settings(slack(fake_slack), env_file=None)

    (problem,) = check_slack(settings, timeout=1)

    assert problem.text.startswith("SLACK_API_URL: could not reach Slack")
    assert "(no answer in time)" in problem.text
    assert not problem.passing


def test_good_credentials_have_no_problems_and_teams_app_id_unknown_is_named(
    fake_slack, fake_teams
):
    assert check_slack(load_settings(slack(fake_slack), env_file=None)) == []
    assert check_teams(load_settings(teams_env(fake_teams), env_file=None)) == []
    other_app = {**teams_env(fake_teams), "TEAMS_APP_ID": "11111111-2222-3333-4444-555555555555"}

    (problem,) = check_teams(load_settings(other_app, env_file=None))

    assert problem.text.startswith("TEAMS_APP_ID: Microsoft Entra does not know this app")


def test_serve_starts_when_slack_answers_with_its_own_error_and_says_so(fake_slack, tmp_path):
    """A Slack outage (5xx) refuses nothing: serve listens, and warns, instead of failing."""
    fake_slack.fail("auth.test", 503)
    port = closed_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLACK_", "TEAMS_", "CLIENT_", "TENANT_"))
        and key not in ("DATABASE_URL", "HOST", "PORT")
    }
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'qi.db'}",
        HOST="127.0.0.1",
        PORT=str(port),
        LOG_LEVEL="INFO",
        **slack(fake_slack),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/livez", timeout=1).is_success:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert process.poll() is None, "serve stopped although Slack refused nothing"
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    assert "Slack answered with an error (HTTP 503)" in output
    assert "Starting anyway: messages wait until it answers." in output
    assert "Traceback" not in output
