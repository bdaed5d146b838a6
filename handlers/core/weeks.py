"""Weeks as the bot counts them: ISO weeks in the trust's time zone, keyed "2026-W48"."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache

from handlers.core.context import Context


def week_of(moment: datetime, ctx: Context) -> str:
    """The ISO week a moment falls in, in the trust's time zone: '2026-W48'."""
    year, week, _ = moment.astimezone(ctx.timezone).isocalendar()
    return f"{year}-W{week:02d}"


@lru_cache(maxsize=16)  # asked once per project by the sweep, always of the same week
def week_before(week: str) -> str:
    """The key of the week before: '2026-W48' -> '2026-W47'."""
    year, number = week.split("-W")
    monday = date.fromisocalendar(int(year), int(number), 1) - timedelta(days=7)
    iso = monday.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def week_after(week: str) -> str:
    """The key of the week after: '2026-W53' -> '2027-W01'."""
    year, number = week.split("-W")
    monday = date.fromisocalendar(int(year), int(number), 1) + timedelta(days=7)
    iso = monday.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"
