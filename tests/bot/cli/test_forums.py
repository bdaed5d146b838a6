"""`qi-nudge forum`, `meeting` and `stats` on the command line: times, dates, finding a forum."""

import argparse
import os
import subprocess
import sys

import pytest

from bot.cli.forums import cmd_meeting_add, cmd_meeting_change, parse_offsets
from bot.cli.stats import cmd_stats
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


# meeting add --at: read like chat's dates, and refused in the CLI's own words


def _meeting_args(at):
    return argparse.Namespace(at=at, forum=None, location=None, action="add")


def test_meeting_add_reads_dates_as_people_write_them(ctx, sessions, clock, capsys):
    with sessions.begin() as session:
        create_forum(session, name="QI Forum", channel=None, now=clock())

    assert cmd_meeting_add(ctx, _meeting_args("3 Dec 2:30pm")) == 0

    assert 'Added a "QI Forum" meeting on Thursday 3 December 2026 at 2:30pm.' in (
        capsys.readouterr().out
    )


def test_a_bad_meeting_time_shows_the_cli_syntax_on_a_day_ahead(ctx, sessions, clock):
    clock.advance(days=70)  # Monday 1 February 2027
    with sessions.begin() as session:
        create_forum(session, name="QI Forum", channel=None, now=clock())

    with pytest.raises(Refusal) as refused:
        cmd_meeting_add(ctx, _meeting_args("next Tuesday"))

    text = refused.value.reply.text
    assert text.endswith('For example: qi-nudge meeting add --at "2027-02-11 14:00"')
    assert "/qi-forum" not in text


def test_stats_since_a_day_still_to_come_is_refused_not_quietly_done(ctx):
    args = argparse.Namespace(
        chart=None, csv=None, backfill=True, since="1/1/2030", replace=False, forum=None, site=""
    )

    with pytest.raises(Refusal) as refused:
        cmd_stats(ctx, args)

    assert refused.value.reply.text.startswith("--since 2030-01-01 is still to come.")


def test_stats_since_is_read_like_every_other_date_and_refused_in_cli_words(ctx):
    args = argparse.Namespace(
        chart=None, csv=None, backfill=True, since="31/11/2026", replace=False, forum=None, site=""
    )

    with pytest.raises(Refusal) as refused:
        cmd_stats(ctx, args)

    text = refused.value.reply.text
    assert text.startswith('"31/11/2026" is not a date I can read. Dates are day first')
    assert text.endswith("For example: qi-nudge stats --backfill --since 2026-10-26")


def test_a_bad_time_to_move_a_meeting_to_shows_the_cli_move_syntax(ctx, clock):
    args = argparse.Namespace(action="move", id=5, at="later", settings=None)

    with pytest.raises(Refusal) as refused:
        cmd_meeting_change(ctx, args)

    assert refused.value.reply.text.endswith(
        'For example: qi-nudge meeting move 5 --at "2026-12-03 14:00"'
    )
