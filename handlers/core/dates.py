"""Dates and times as people in the UK write them, read by one parser for every command."""

from __future__ import annotations

import enum
import re
from datetime import UTC, date, datetime, time, timedelta

from handlers.core.context import Context
from handlers.core.errors import Refusal


class NoYear(enum.Enum):
    """What a date typed without a year ("3 Dec") means."""

    NEXT = "next"  # a meeting: the next such day (today included)
    LAST = "last"  # --since or a chart note: the last such day (today included)


_MONTH_NAMES = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
# Spelled out here rather than taken from the locale, which need not be English on a server.
_MONTHS = (
    {name: n for n, name in enumerate(_MONTH_NAMES, 1)}
    | {name[:3]: n for n, name in enumerate(_MONTH_NAMES, 1)}
    | {"sept": 9}
)
_WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAYS = (
    {name: n for n, name in enumerate(_WEEKDAY_NAMES)}
    | {name[:3]: n for n, name in enumerate(_WEEKDAY_NAMES)}
    | {"tues": 1, "weds": 2, "thur": 3, "thurs": 3}
)
_ISO_DATE = re.compile(r"(?P<year>[0-9]{4})-(?P<month>[0-9]{1,2})-(?P<day>[0-9]{1,2})")
# Day first, always (UK): 3/12/2026 is 3 December. Dots and dashes need the year, so that
# "14.00" stays a time; "3/12" alone is a date without a year.
_NUMERIC_DATE = re.compile(
    r"(?P<day>[0-9]{1,2})(?P<sep>[/.-])(?P<month>[0-9]{1,2})"
    r"(?:(?P=sep)(?P<year>[0-9]{4}|[0-9]{2}))?"
)
_WORDS_DATE = re.compile(
    r"(?P<day>[0-9]{1,2})(?:st|nd|rd|th)? (?:of )?(?P<month>[a-z]+)(?: (?P<year>[0-9]{4}))?"
)
# "December 3rd" cannot be misread, so it is taken too.
_MONTH_FIRST_DATE = re.compile(
    r"(?P<month>[a-z]+) (?P<day>[0-9]{1,2})(?:st|nd|rd|th)?(?: (?P<year>[0-9]{4}))?"
)
_TIME = re.compile(r"(?P<hour>[0-9]{1,2})(?:[:.](?P<minute>[0-9]{2}))? ?(?P<half>am|pm)?")
_NOON = frozenset({"noon", "midday", "12 noon"})
# The most words a date and a time take together: "3rd of December 2026 2:30 pm".
MOST_WORDS = 6


def parse_date(text: str, *, today: date, no_year: NoYear | None) -> date | None:
    """'2026-12-03', '3/12/2026', '3/12/26', '3 December 2026', '3 Dec'; else None.

    A date without a year is the next or the last such day (`no_year`); None refuses it. A day
    of the week in front ("Thu 3 Dec") must be right: a Refusal says so if it is not.
    """
    tidy = " ".join(text.casefold().replace(",", " ").split())
    first, _, rest = tidy.partition(" ")
    weekday = _WEEKDAYS.get(first) if rest else None
    if weekday is not None:
        tidy = rest  # "Thursday 3 Dec": the day of the week is checked, not needed
    for pattern in (_ISO_DATE, _NUMERIC_DATE, _WORDS_DATE, _MONTH_FIRST_DATE):
        found = pattern.fullmatch(tidy)
        if pattern is _NUMERIC_DATE and found is not None and not _numeric_date_ok(found):
            found = None
        if found is not None:
            day = _date_from(found, today=today, no_year=no_year)
            if day is not None and weekday is not None and day.weekday() != weekday:
                raise Refusal(
                    f"{long_date(day)} is a {_WEEKDAY_NAMES[day.weekday()].capitalize()}, not a "
                    f"{_WEEKDAY_NAMES[weekday].capitalize()}. Please check the date."
                )
            return day
    return None


def _numeric_date_ok(found: re.Match[str]) -> bool:
    """Dots and dashes need the year: "3.5" or "1-2" is a time or a range, not a date."""
    return found["sep"] == "/" or found["year"] is not None


def _date_from(found: re.Match[str], *, today: date, no_year: NoYear | None) -> date | None:
    month_text = found["month"]
    month = int(month_text) if month_text.isdigit() else _MONTHS.get(month_text)
    day = int(found["day"])
    if month is None:
        return None
    year_text = found["year"]
    if year_text is not None:
        # Two-digit years are this century: "26" is 2026.
        year = int(year_text) + (2000 if len(year_text) == 2 else 0)
        return _valid(year, month, day)
    if no_year is None:
        return None
    step = 1 if no_year is NoYear.NEXT else -1
    # Up to eight years on or back: 29 February comes round at least that often.
    for offset in range(9):
        found_day = _valid(today.year + step * offset, month, day)
        if found_day is None:
            continue
        if (found_day >= today) if step == 1 else (found_day <= today):
            return found_day
    return None


def _valid(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:  # 31/02/2026, or month first: 12/31/2026
        return None


def parse_time(text: str) -> time | None:
    """'2pm', '2.30pm', '2:30 pm', '14:00', '14.00' or 'noon'; else None."""
    tidy = " ".join(text.casefold().replace("a.m.", "am").replace("p.m.", "pm").split())
    if tidy in _NOON:
        return time(12)
    found = _TIME.fullmatch(tidy)
    if found is None:
        return None
    hour, minute, half = int(found["hour"]), int(found["minute"] or 0), found["half"]
    if half is None:
        # A bare "2" or "14" is more likely a slip than a time: the minutes make it plain.
        if found["minute"] is None or hour > 23:
            return None
    elif not 1 <= hour <= 12:
        return None
    else:
        hour = hour % 12 + (12 if half == "pm" else 0)
    return time(hour, minute) if minute < 60 else None


def parse_date_time(text: str, *, today: date, no_year: NoYear | None) -> datetime | None:
    """A date and a time in either order ('3 Dec 2pm', '2026-12-03 14:00'), naive; else None."""
    tidy = re.sub(r"([0-9])t([0-9])", r"\1 \2", text.casefold().replace(",", " "))
    words = tidy.split()
    for cut in range(1, len(words)):
        for date_words, time_words in ((words[:cut], words[cut:]), (words[cut:], words[:cut])):
            day = parse_date(" ".join(date_words), today=today, no_year=no_year)
            at = parse_time(" ".join(time_words)) if day is not None else None
            if day is not None and at is not None:
                return datetime.combine(day, at)
    return None


def leading_date_time(
    words: list[str], *, today: date, no_year: NoYear | None
) -> tuple[datetime, list[str]] | None:
    """The date and time that start `words` (as many words as fit), and the words after."""
    for count in range(min(len(words), MOST_WORDS), 1, -1):
        moment = parse_date_time(" ".join(words[:count]), today=today, no_year=no_year)
        if moment is not None:
            return moment, words[count:]
    return None


def leading_date(
    words: list[str], *, today: date, no_year: NoYear | None
) -> tuple[date, list[str]] | None:
    """The date that starts `words` (as many words as fit), and the words after."""
    for count in range(min(len(words), 4), 0, -1):
        day = parse_date(" ".join(words[:count]), today=today, no_year=no_year)
        if day is not None:
            return day, words[count:]
    return None


def local_today(ctx: Context) -> date:
    """Today in the trust's time zone."""
    return ctx.now().astimezone(ctx.timezone).date()


def local_moment(naive: datetime, ctx: Context) -> datetime:
    """A date and time read from text, as the trust's local time; a Refusal if it can't exist."""
    local = naive.replace(tzinfo=ctx.timezone)
    # On the night the clocks go forward, 01:30 does not exist in London; Python would quietly
    # store 02:30. Say so instead of announcing the wrong time.
    if local.astimezone(UTC).astimezone(ctx.timezone).replace(tzinfo=None) != naive:
        raise Refusal(
            f"{naive:%H:%M} doesn't exist on {naive.day} {naive:%B} because the clocks go "
            "forward that night. Please choose another time."
        )
    return local


def read_meeting_time(text: str, ctx: Context, *, example: str) -> datetime:
    """A meeting's date and time as the trust's local time; a Refusal shows `example`."""
    naive = parse_date_time(text, today=local_today(ctx), no_year=NoYear.NEXT)
    if naive is None:
        raise unreadable_moment(ctx, example)
    return local_moment(naive, ctx)


def unreadable_moment(ctx: Context, example: str) -> Refusal:
    """The kind "no" to a date and time that could not be read, with the forms and `example`."""
    forms = f"{date_forms(example_meeting_day(ctx))} {TIME_FORMS}"
    return Refusal(f"I couldn't read that date and time. {forms} For example: {example}")


def read_past_day(text: str, ctx: Context, *, example: str) -> date:
    """A day gone by (a date without a year is the last such day); a Refusal shows `example`."""
    day = parse_date(text, today=local_today(ctx), no_year=NoYear.LAST)
    if day is None:
        forms = date_forms(example_past_day(ctx))
        raise Refusal(f'"{text}" is not a date I can read. {forms} For example: {example}')
    return day


TIME_FORMS = "Times like 2pm, 2:30pm or 14:00."


def date_forms(day: date) -> str:
    """The ways to write a date, shown with `day` so that no example is a day gone by."""
    short = _MONTH_NAMES[day.month - 1][:3].capitalize()
    return (
        f"Dates are day first: {day_first(day)}, {long_date(day)}, {day.day} {short} "
        f"or {day:%Y-%m-%d}."
    )


def example_meeting_day(ctx: Context) -> date:
    """A Thursday a week or two ahead, so examples never show a day already gone."""
    ahead = local_today(ctx) + timedelta(days=7)
    return ahead + timedelta(days=(3 - ahead.weekday()) % 7)


def example_past_day(ctx: Context) -> date:
    """The Monday four weeks back, for examples of --since and chart notes."""
    back = local_today(ctx) - timedelta(weeks=4)
    return back - timedelta(days=back.weekday())


def long_date(day: date) -> str:
    """'3 December 2026', in English whatever the server's locale."""
    return f"{day.day} {_MONTH_NAMES[day.month - 1].capitalize()} {day.year}"


def day_first(day: date) -> str:
    """'2/11/2026': one word, day first, for examples of options like --since."""
    return f"{day.day}/{day.month}/{day.year}"
