"""`qi-nudge` as a new user runs it: a real process, a fresh database, typed commands."""

import json
import os
import subprocess
import sys

import pytest

from store.migrate import head_revision

BOTH = pytest.mark.parametrize("fresh_database_url", ["sqlite", "postgresql"], indirect=True)


def qi(url, *args, stdin="", cwd=None):
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
    env.pop("SLACK_BOT_TOKEN", None)
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=cwd,
        check=False,
    )


@BOTH
def test_demo_console_session_end_to_end(fresh_database_url):
    typed = "\n".join(
        [
            "/qi-projects",
            "/qi-join Kinder as service user",
            "/qi-forum",
            "2",  # Maybe
            "/qi-join nowhere as carer",
            ":quit",
        ]
    )
    result = qi(fresh_database_url, "console", "--demo", "--as", "Priya Shah", stdin=typed)

    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "Added an example trust: 10 projects" in out
    assert "1 of 10 active projects has a service user or carer on the team." in out
    assert 'Welcome to the "Kinder waiting rooms" team as a service user' in out
    assert "Next meeting: Thursday " in out  # forums meet on weekdays
    assert "You said maybe." in out
    assert 'I couldn\'t find a project called "nowhere"' in out
    assert "Traceback" not in out + result.stderr

    again = qi(fresh_database_url, "console", "--demo", stdin="/qi-projects\n")
    assert "already has data" in again.stdout
    assert "2 of 10 active projects have a service user or carer" in again.stdout


@BOTH
def test_admin_jobs_forum_meeting_admin_and_person_data(fresh_database_url):
    expected = f"Database schema: {head_revision()}"
    assert qi(fresh_database_url, "db", "upgrade").stdout.strip() == expected
    assert qi(fresh_database_url, "forum", "add", "QI Forum").returncode == 0
    added = qi(fresh_database_url, "meeting", "add", "--at", "2027-07-01 14:00")
    assert "Thursday 1 July 2027 at 2pm" in added.stdout

    typed = '/qi-project new "Falls" \n/qi-forum add-meeting 2027-08-01 10:00\n'
    session = qi(fresh_database_url, "console", "--as", "Asha Patel", stdin=typed)
    assert "Only QI forum organisers can do that" in session.stdout

    granted = qi(fresh_database_url, "admin", "grant", "console:Asha Patel")
    assert "is now an admin" in granted.stdout
    session = qi(
        fresh_database_url,
        "console",
        "--as",
        "Asha Patel",
        stdin="/qi-forum add-meeting 2027-08-01 10:00\n",
    )
    assert 'Added a "QI Forum" meeting on Sunday 1 August 2027 at 10am' in session.stdout

    exported = qi(fresh_database_url, "person", "export", "console:Asha Patel")
    data = json.loads(exported.stdout)
    assert data["person"]["name"] == "Asha Patel"
    assert data["projects_led"] == ["Falls"]
    assert data["admin_role"] and data["admin_role"][0]["revoked"] is None

    refused = qi(fresh_database_url, "person", "erase", "Asha Patel")
    assert refused.returncode == 1 and "--yes" in refused.stderr
    erased = qi(fresh_database_url, "person", "erase", "Asha Patel", "--yes")
    assert "Erased Asha Patel" in erased.stdout
    assert "Falls" in erased.stdout  # left without a lead, so the admin is told
    gone = qi(fresh_database_url, "person", "export", "Asha Patel")
    assert gone.returncode == 1 and 'Nobody is called "Asha Patel"' in gone.stderr


def test_bad_configuration_is_named_not_a_traceback(tmp_path):
    env = {**os.environ, "QI_TIMEZONE": "Nowhere/Atall"}
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "demo"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "QI_TIMEZONE" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_database_is_a_sentence(tmp_path):
    result = qi("postgresql://nobody@127.0.0.1:1/none", "demo", cwd=tmp_path)
    assert result.returncode == 1
    assert "Could not use the database" in result.stderr
    assert "Traceback" not in result.stderr


@BOTH
def test_person_link_merges_two_records_of_one_person(fresh_database_url):
    url = fresh_database_url
    qi(url, "console", "--as", "Asha Patel", stdin='/qi-project new "Falls"\n')
    qi(url, "console", "--as", "Ben Okafor", stdin="/qi-join falls as carer\n")
    qi(url, "console", "--as", "Ben O", stdin="/qi-join falls as carer\n")

    refused = qi(url, "person", "link", "console:Ben Okafor", "console:Ben O")
    assert refused.returncode == 1 and "--yes" in refused.stderr
    linked = qi(url, "person", "link", "console:Ben Okafor", "console:Ben O", "--yes")

    assert linked.returncode == 0, linked.stderr
    assert "Linked Ben O (#3) into Ben Okafor (#2); #3 no longer exists." in linked.stdout
    assert "Both were on 1 team: the earlier joining is kept." in linked.stdout
    data = json.loads(qi(url, "person", "export", "Ben Okafor").stdout)
    assert sorted(i["user_id"] for i in data["chat_identities"]) == ["ben o", "ben okafor"]
    assert [t["project"] for t in data["project_teams"]] == ["Falls"]
    gone = qi(url, "person", "export", "#3")
    assert gone.returncode == 1 and "nobody with the number #3" in gone.stderr


def test_routine_database_pool_lines_are_not_logged_at_info(tmp_path):
    """SQLAlchemy keeps its own pool quiet; ours (bounded waits) must be as quiet."""
    url = f"sqlite:///{tmp_path / 'qi.db'}"
    assert qi(url, "demo").returncode == 0
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "INFO"}
    env.pop("SLACK_BOT_TOKEN", None)

    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "check"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )

    assert "Database: " in result.stdout  # it ran (its exit code: no Slack or Teams here)
    assert "Pool" not in result.stderr, result.stderr


@BOTH
def test_demo_console_a_lead_gets_the_weekly_reminder_and_asks_the_forum(
    fresh_database_url, tmp_path, monkeypatch
):
    # The console's :remind keeps to the trust's own schedule, as `serve` would.
    monkeypatch.setenv("NUDGE_DAY", "tuesday")
    monkeypatch.setenv("NUDGE_TIME", "14:00")
    typed = "\n".join([":remind", "1", ":as Asha Patel", ":quit"])  # [1] Ask the forum

    result = qi(
        fresh_database_url, "console", "--demo", "--as", "Tom Hughes", stdin=typed, cwd=tmp_path
    )

    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "as the bot sends it by itself every Tuesday at 2pm" in out
    assert 'Hello Tom. Your "Pressure ulcer prevention" team has no service user' in out
    assert "I've asked the forum organisers to help find a service user or carer" in out
    assert 'Tom Hughes asked the forum to help find a service user or carer for "Pressure' in out
    # Logs (the sweep's, the deliveries') go to the log file, never where people type.
    assert "bot.runtime" not in out + result.stderr
    assert "Traceback" not in out + result.stderr
