"""How involved service users and carers feel on their teams: answers, asked once a period."""

from __future__ import annotations

from datetime import date, timedelta

# The four answers, best first; the first two count as "feels involved" in the reports.
A_LOT = "a_lot"
SOMEWHAT = "somewhat"
NOT_REALLY = "not_really"
NOT_AT_ALL = "not_at_all"
ANSWERS = (A_LOT, SOMEWHAT, NOT_REALLY, NOT_AT_ALL)
TOP_TWO = frozenset({A_LOT, SOMEWHAT})
# Fewer answers than this are never reported (a team's, or a period's): nobody can be picked out.
MIN_ANSWERS = 3
# Periods start on Mondays counted from this one, every `weeks` weeks (the trust's setting).
EPOCH = date(2024, 1, 1)  # a Monday
DEFAULT_EVERY_WEEKS = 6


def period_start(day: date, weeks: int = DEFAULT_EVERY_WEEKS) -> date:
    """The Monday the period holding `day` began: periods of `weeks` weeks from EPOCH."""
    monday = day - timedelta(days=day.weekday())
    periods = (monday - EPOCH).days // (7 * weeks)
    return EPOCH + timedelta(weeks=periods * weeks)


def period_key(start: date) -> str:
    """The period's key: the ISO week it began ("2026-W49")."""
    year, week, _ = start.isocalendar()
    return f"{year}-W{week:02d}"
