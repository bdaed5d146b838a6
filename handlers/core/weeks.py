"""Weeks as the bot counts them: ISO weeks in the trust's time zone, keyed "2026-W48"."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache

from handlers.core.context import Context


def week_of(moment: datetime, ctx: Context) -> str:
    """The ISO week a moment falls in, in the trust's time zone: '2026-W48'."""
    year, week, _ = moment.astimezone(ctx.timezone).isocalendar()
    return f"{year}-W{week:02d}"


def week_start(week: str) -> date:
    """The Monday of an ISO week: '2026-W48' -> 2026-11-23 (ValueError if it names none)."""
    year, _, number = week.partition("-W")
    return date.fromisocalendar(int(year), int(number), 1)


@lru_cache(maxsize=16)  # asked once per project by the sweep, always of the same week
def week_before(week: str) -> str:
    """The key of the week before: '2026-W48' -> '2026-W47'."""
    iso = (week_start(week) - timedelta(days=7)).isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def week_after(week: str) -> str:
    """The key of the week after: '2026-W53' -> '2027-W01'."""
    iso = (week_start(week) + timedelta(days=7)).isocalendar()
    return f"{iso.year}-W{iso.week:02d}"
