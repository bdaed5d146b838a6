"""`qi-nudge forum` and `meeting` on the command line: announcement times, finding a forum."""

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
