"""The example trust: a newcomer's first look at the bot."""

from handlers.core.weeks import week_of
from handlers.demo import seed_example_trust
from store import stats as stats_store


def test_the_example_trusts_figures_reach_this_week_before_the_weekly_job_is_due(ctx):
    ctx.clock.advance(hours=-2)  # Monday 08:00: the weekly figures are due at 09:30

    seed_example_trust(ctx)

    with ctx.sessions() as session:
        last = stats_store.snapshots(session)[-1]
    assert last.week == week_of(ctx.now(), ctx) == "2026-W48"
    assert (last.active_projects, last.involved_projects) == (10, 1)
