"""Dates and times as people in the UK write them: the one parser every command uses."""

from datetime import UTC, date, datetime, time

import pytest

from handlers.core.context import Context
from handlers.core.dates import (
    NoYear,
    example_meeting_day,
    example_past_day,
    leading_date,
    leading_date_time,
    parse_date,
    parse_date_time,
    parse_time,
    read_meeting_time,
    read_past_day,
)
from handlers.core.errors import Refusal

TODAY = date(2026, 11, 23)  # a Monday, as the tests' frozen clock


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-03",
        "3/12/2026",
        "03/12/2026",
        "3/12/26",
        "3.12.2026",
        "3-12-2026",
        "3 December 2026",
        "3 december 2026",
        "3 Dec 2026",
        "3rd December 2026",
        "3rd of December 2026",
        "December 3, 2026",
    ],
)
def test_dates_with_a_year_are_read_day_first(text):
    assert parse_date(text, today=TODAY, no_year=None) == date(2026, 12, 3)


@pytest.mark.parametrize("text", ["Thursday 3 December 2026", "thu 3/12/2026", "Thurs, 3 Dec"])
def test_a_day_of_the_week_in_front_is_checked_and_kept_out_of_the_way(text):
    assert parse_date(text, today=TODAY, no_year=NoYear.NEXT) == date(2026, 12, 3)


def test_a_wrong_day_of_the_week_is_pointed_out_kindly():
    with pytest.raises(Refusal) as refused:
        parse_date_time("Friday 3 Dec 2pm", today=TODAY, no_year=NoYear.NEXT)

    assert refused.value.reply.text == (
        "3 December 2026 is a Thursday, not a Friday. Please check the date."
    )


def test_a_numeric_date_is_always_day_first_even_when_it_could_be_month_first():
    assert parse_date("4/5/2026", today=TODAY, no_year=None) == date(2026, 5, 4)
    assert parse_date("12/31/2026", today=TODAY, no_year=None) is None  # no 31st month


@pytest.mark.parametrize(
    ("text", "no_year", "meant"),
    [
        # Meetings: the next such day. 3 December is still ahead this year...
        ("3 Dec", NoYear.NEXT, date(2026, 12, 3)),
        ("3/12", NoYear.NEXT, date(2026, 12, 3)),
        # ...20 November has gone, so it is next year's; today is today.
        ("20 November", NoYear.NEXT, date(2027, 11, 20)),
        ("23 Nov", NoYear.NEXT, date(2026, 11, 23)),
        # --since and chart notes: the last such day. 3 December has not come yet this year.
        ("3 Dec", NoYear.LAST, date(2025, 12, 3)),
        ("2 March", NoYear.LAST, date(2026, 3, 2)),
        ("23 Nov", NoYear.LAST, date(2026, 11, 23)),
        # 29 February: the next (or last) year that has one.
        ("29 Feb", NoYear.NEXT, date(2028, 2, 29)),
        ("29 Feb", NoYear.LAST, date(2024, 2, 29)),
    ],
)
def test_a_date_without_a_year_is_the_next_or_the_last_such_day(text, no_year, meant):
    assert parse_date(text, today=TODAY, no_year=no_year) == meant


@pytest.mark.parametrize(
    "text",
    ["3 Dec", "31/02/2026", "2026-13-01", "3 Decembre 2026", "tomorrow", "", "3.12", "14.00"],
)
def test_what_is_not_a_date_reads_as_none(text):
    assert parse_date(text, today=TODAY, no_year=None) is None


@pytest.mark.parametrize("no_year", [NoYear.LAST, NoYear.NEXT])
def test_dots_and_dashes_need_a_year_so_times_and_ranges_are_not_dates(no_year):
    # "--since 3.5" or "12.10 2pm": a dot or a dash without a year is no date.
    for text in ("3.5", "1-2", "12.10"):
        assert parse_date(text, today=TODAY, no_year=no_year) is None, text
    assert parse_date("3.5.2026", today=TODAY, no_year=no_year) == date(2026, 5, 3)
    assert parse_date("3/5", today=TODAY, no_year=no_year) is not None


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("2pm", time(14)),
        ("2 pm", time(14)),
        ("2PM", time(14)),
        ("2.30pm", time(14, 30)),
        ("2:30 pm", time(14, 30)),
        ("2:30 p.m.", time(14, 30)),
        ("14:00", time(14)),
        ("14.00", time(14)),
        ("09:15", time(9, 15)),
        ("9am", time(9)),
        ("12pm", time(12)),
        ("12am", time(0)),
        ("noon", time(12)),
        ("midday", time(12)),
    ],
)
def test_times_are_read_as_people_write_them(text, meant):
    assert parse_time(text) == meant


@pytest.mark.parametrize("text", ["2", "14", "13pm", "0am", "24:00", "14:60", "2:3pm", "half two"])
def test_what_is_not_a_time_reads_as_none(text):
    assert parse_time(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-03 14:00",
        "2026-12-03T14:00",
        "3/12/2026 14:00",
        "3/12/2026 2pm",
        "3 December 2026 2pm",
        "3 Dec 2:00 pm",
        "3 Dec, 2pm",
        "3.12.2026 14.00",
        "2pm 3 Dec",
    ],
)
def test_a_date_and_time_together(text):
    moment = parse_date_time(text, today=TODAY, no_year=NoYear.NEXT)
    assert moment == datetime(2026, 12, 3, 14, 0)


def test_the_date_and_time_at_the_start_leave_the_rest_of_the_words():
    words = ["3", "December", "2:30", "pm", "South", "Forum"]

    found = leading_date_time(words, today=TODAY, no_year=NoYear.NEXT)

    assert found == (datetime(2026, 12, 3, 14, 30), ["South", "Forum"])
    assert leading_date_time(["Forum", "3", "Dec"], today=TODAY, no_year=NoYear.NEXT) is None


def test_the_date_at_the_start_leaves_the_rest_of_the_words():
    assert leading_date(["3", "Dec", "2026", "new", "forum"], today=TODAY, no_year=None) == (
        date(2026, 12, 3),
        ["new", "forum"],
    )
    # "25 people came" is the note: two-digit years are taken only with slashes.
    assert leading_date(["12", "Nov", "25", "people"], today=TODAY, no_year=NoYear.LAST) == (
        date(2026, 11, 12),
        ["25", "people"],
    )


def _ctx(now: datetime) -> Context:
    return Context(sessions=None, clock=lambda: now)  # type: ignore[arg-type]


def test_a_meeting_time_is_the_trusts_local_time_and_a_mistake_shows_the_callers_example():
    ctx = _ctx(datetime(2026, 6, 1, 9, tzinfo=UTC))

    summer = read_meeting_time("3 Jul 2pm", ctx, example="EXAMPLE")

    assert summer == datetime(2026, 7, 3, 14, tzinfo=ctx.timezone)
    assert summer.astimezone(UTC).hour == 13  # British Summer Time
    with pytest.raises(Refusal) as refused:
        read_meeting_time("next Tuesday", ctx, example="qi-nudge meeting add --at X")
    text = refused.value.reply.text
    assert "I couldn't read that date and time." in text
    assert "Dates are day first" in text and text.endswith("qi-nudge meeting add --at X")


def test_a_time_skipped_when_the_clocks_go_forward_is_refused():
    ctx = _ctx(datetime(2027, 1, 4, 9, tzinfo=UTC))

    with pytest.raises(Refusal, match="the clocks go forward"):
        read_meeting_time("28/3/2027 1:30am", ctx, example="EXAMPLE")


def test_a_past_day_mistake_names_the_text_and_the_callers_example():
    ctx = _ctx(datetime(2026, 11, 23, 10, tzinfo=UTC))

    assert read_past_day("3 Dec", ctx, example="X") == date(2025, 12, 3)
    with pytest.raises(Refusal) as refused:
        read_past_day("31/11/2026", ctx, example="--since 26/10/2026")
    assert refused.value.reply.text.startswith('"31/11/2026" is not a date I can read.')
    assert refused.value.reply.text.endswith("For example: --since 26/10/2026")


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 11, 23, 10, tzinfo=UTC),
        datetime(2026, 12, 31, 23, 30, tzinfo=UTC),  # the last half hour of the year
        datetime(2030, 2, 28, 12, tzinfo=UTC),
    ],
)
def test_examples_are_a_meeting_ahead_and_a_day_gone_by(now):
    ctx = _ctx(now)
    today = now.date()

    ahead, back = example_meeting_day(ctx), example_past_day(ctx)

    assert ahead > today and ahead.weekday() == 3  # a Thursday
    assert back < today and back.weekday() == 0  # a Monday
