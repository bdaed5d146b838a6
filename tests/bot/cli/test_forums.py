"""`qi-nudge forum` and `meeting` on the command line: announcement times, finding a forum."""

import os
import subprocess
import sys

import pytest

from bot.cli.forums import parse_offsets
from handlers.core.errors import Refusal
from handlers.core.lookup import find_forum
from store.forums import create_forum


def test_announcement_times_are_read_in_days_hours_and_minutes():
    assert parse_offsets("7d,1d,0") == [10080, 1440, 0]
    assert parse_offsets(" 2h, 30m ,2h") == [120, 30]
    assert parse_offsets("45") == [45]


@pytest.mark.parametrize("typed", ["7x", "d", "", "61d", "-1d"])
def test_unreadable_announcement_times_are_refused_kindly(typed):
    with pytest.raises(Refusal, match="couldn't read"):
        parse_offsets(typed)


def test_a_forum_called_qi_forum_is_found_by_its_name_among_several(sessions, clock):
    with sessions.begin() as session:
        create_forum(session, name="Carers Forum", channel=None, now=clock())
        create_forum(session, name="QI Forum", channel=None, now=clock())

        assert find_forum(session, "QI Forum").name == "QI Forum"
        with pytest.raises(Refusal, match="There are 2 forums"):
            find_forum(session, "the forum")


def qi(url, *args):
    """Run `qi-nudge ARGS` in a folder of its own, with no chat platform set up."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TEAMS_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        env={**env, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"},
        timeout=60,
        check=False,
    )


def test_a_meeting_is_cancelled_and_uncancelled_and_a_second_one_refused(fresh_database_url):
    url = fresh_database_url
    qi(url, "forum", "add", "QI Forum")
    added = qi(url, "meeting", "add", "--at", "2030-07-01 14:00", "--location", "Room 4")
    twice = qi(url, "meeting", "add", "--at", "2030-07-01 14:00", "--location", "Room 4")
    cancelled = qi(url, "meeting", "cancel", "1")
    listed = qi(url, "meeting", "list")
    back = qi(url, "meeting", "uncancel", "1")
    again = qi(url, "meeting", "uncancel", "1")

    assert added.returncode == 0, added.stderr
    assert twice.returncode == 1
    assert "There is already a QI Forum meeting on Monday 1 July 2030 at 2pm at Room 4: #1" in (
        twice.stderr
    )
    assert cancelled.returncode == 0
    assert "#1 QI Forum: Monday 1 July 2030 at 2pm at Room 4 (cancelled)" in listed.stdout
    assert back.returncode == 0, back.stderr
    assert back.stdout.startswith("The QI Forum meeting on Monday 1 July 2030 at 2pm is back on.")
    assert "(cancelled)" not in qi(url, "meeting", "list").stdout
    assert again.returncode == 1 and "is not cancelled, so there is nothing to undo" in again.stderr
