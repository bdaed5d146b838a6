"""The weekly figures, recorded by the console and `remind --now` as `serve` records them."""

from __future__ import annotations

import logging

from bot.runtime.scheduler import MISSED_WEEKS_LOOKBACK, Jobs, latest_due_week
from handlers.core.context import Context
from handlers.core.weeks import week_of
from handlers.evidence.stats import backfill, take_snapshot
from handlers.nudges.weekly import NudgePolicy

log = logging.getLogger(__name__)


def record_due_figures(ctx: Context, policy: NudgePolicy, *, early: bool = False) -> bool:
    """Record this week's figures if due (missed weeks worked out first); whether any were.

    The scheduler's own job does it, once a week at the reminders' moment. `early` is for a
    reminder sent before that moment (`:remind`, `remind --now`): the week's figures are then
    recorded now as well, as they stand, and the job still records them again at the moment.
    """
    jobs = Jobs(ctx, policy)
    if jobs.run_due_snapshot():
        return True
    week_due, _moment = latest_due_week(ctx, policy)
    if not early or week_due == week_of(ctx.now(), ctx):
        return False  # recorded already this week, at its moment: that figure stands
    # Before this week's moment: weeks the bot missed are worked out as the job would (at the
    # same weekly moment), and this week's figure is taken now. The job's run is not marked
    # done, so at the moment the figure is taken again and the chart keeps one rule per week.
    backfill(
        ctx,
        since=ctx.now().date() - MISSED_WEEKS_LOOKBACK,
        weekday=policy.weekday,
        at=policy.at,
    )
    take_snapshot(ctx)
    return True
