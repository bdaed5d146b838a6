"""The console records the weekly figures as `serve` does: on starting, and with :remind."""

import io
from datetime import timedelta

from bot.console.terminal import Console, console_actor
from bot.runtime.scheduler import Jobs
from handlers.demo import seed_example_trust
from handlers.dispatch import Dispatcher
from handlers.nudges.weekly import NudgePolicy
from store import stats as stats_store
from store.projects import create_project
from store.roles import ProjectStatus


def run_console(ctx, lines, name="Asha Patel"):
    out = io.StringIO()
    typed = io.StringIO("".join(line + "\n" for line in lines))
    assert Console(Dispatcher(ctx), console_actor(name), typed, out).run() == 0
    return out.getvalue()


def weeks(ctx):
    """(week, active projects, worked out later) of the overall figures, oldest first."""
    with ctx.sessions() as session:
        return [
            (w.week, w.active_projects, w.backfilled)
            for w in stats_store.snapshots(session, stats_store.OVERALL)
        ]


def a_project_started(ctx, weeks_ago: int) -> None:
    with ctx.sessions.begin() as session:
        create_project(
            session,
            name="Kinder waiting rooms",
            lead_id=None,
            site=None,
            status=ProjectStatus.ACTIVE,
            now=ctx.now() - timedelta(weeks=weeks_ago),
        )


def test_starting_the_console_records_this_weeks_figures_and_the_weeks_missed(ctx):
    a_project_started(ctx, weeks_ago=3)  # Monday 23 November, 10:00: the figures are due

    run_console(ctx, [])

    assert weeks(ctx) == [
        ("2026-W45", 0, True),  # measured at 09:30 on its Monday, before the project began
        ("2026-W46", 1, True),
        ("2026-W47", 1, True),
        ("2026-W48", 1, False),  # this week's, taken now
    ]


def test_the_console_takes_the_weeks_figures_once_as_serve_does(ctx):
    a_project_started(ctx, weeks_ago=1)
    run_console(ctx, [])
    with ctx.sessions() as session:
        taken = [s.taken_at for s in stats_store.snapshots(session) if s.week == "2026-W48"]
    ctx.clock.advance(days=2)

    run_console(ctx, [])

    with ctx.sessions() as session:
        again = [s.taken_at for s in stats_store.snapshots(session) if s.week == "2026-W48"]
    assert again == taken  # Wednesday's start leaves Monday's figure as it was


def test_a_demo_left_for_weeks_has_a_chart_that_ends_this_week_with_no_gaps(ctx):
    seed_example_trust(ctx)
    ctx.clock.advance(weeks=3)

    run_console(ctx, [])

    recorded = [week for week, _active, _later in weeks(ctx)]
    assert recorded[-4:] == ["2026-W48", "2026-W49", "2026-W50", "2026-W51"]  # 14 December
    assert len(recorded) == len(set(recorded))


def test_remind_before_the_weeks_moment_records_its_figures_and_the_moment_takes_them_again(
    ctx,
):
    a_project_started(ctx, weeks_ago=2)
    ctx.clock.advance(hours=-2)  # Monday 08:00: the figures and reminders are due at 09:30

    transcript = run_console(ctx, [":remind"])

    assert "This week's figures are recorded too: /qi-stats shows them." in transcript
    assert weeks(ctx)[-1] == ("2026-W48", 1, False)
    with ctx.sessions() as session:
        early = stats_store.snapshots(session)[-1].taken_at
    # At 09:30 the scheduler's job still takes the week's figures, at the week's moment.
    ctx.clock.advance(hours=2)
    assert Jobs(ctx, NudgePolicy()).run_due_snapshot()
    with ctx.sessions() as session:
        assert stats_store.snapshots(session)[-1].taken_at > early
