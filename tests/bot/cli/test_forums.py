"""`qi-nudge forum`, `meeting` and `stats` on the command line: times, dates, finding a forum."""

import argparse

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
