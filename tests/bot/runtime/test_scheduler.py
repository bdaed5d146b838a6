"""The weekly sweep runs once a week at 09:30 local time, whatever restarts and clock changes do.

Jobs is driven by the frozen clock (Monday 23 November 2026, 10:00 UTC = 10:00 in London unless a
test moves it); the leader tests need PostgreSQL's advisory locks.
"""

from __future__ import annotations

import logging
import random
import threading
import time as time_module
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from bot.runtime.leader import AdvisoryLockLeader, SoleLeader, leadership_for
from bot.runtime.scheduler import (
    CATCH_UP_WINDOW,
    WEEKLY_NUDGE,
    Jobs,
    Scheduler,
    latest_due_week,
    sweep_moment,
)
from handlers.core.context import Context
from handlers.nudges.weekly import NUDGE, NudgePolicy, run_sweep
from store import jobs, outbox, people
from store.engine import make_engine
from store.migrate import upgrade
from store.models import Delivery, JobRun, ProjectNudge
from store.projects import create_project
from store.roles import ProjectStatus

LONDON = ZoneInfo("Europe/London")
POLICY = NudgePolicy()  # Mondays at 09:30 local time


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def lead(sessions: sessionmaker[Session], clock) -> int:
    """A lead on Slack with one active project that has no service user or carer."""
    with sessions.begin() as session:
        person = people.ensure_person_for_identity(
            session,
            platform="slack",
            workspace="T0001",
            user_id="U1",
            display_name="Asha Patel",
            now=clock(),
        )
        create_project(
            session,
            name="Falls prevention",
            lead_id=person.id,
            site=None,
            status=ProjectStatus.ACTIVE,
            now=clock(),
        )
        return person.id


def nudges(sessions: sessionmaker[Session]) -> list[tuple[str, str]]:
    """The planned nudges: (week, recipient), in order."""
    with sessions() as session:
        rows = session.execute(
            select(Delivery.occurrence, Delivery.recipient)
            .where(Delivery.kind == NUDGE)
            .order_by(Delivery.id)
        )
        return [tuple(row) for row in rows]


def job_runs(sessions: sessionmaker[Session]) -> dict[str, bool]:
    """Weekly sweep occurrences recorded: week -> finished."""
    with sessions() as session:
        runs = session.scalars(select(JobRun).where(JobRun.job == WEEKLY_NUDGE))
        return {run.occurrence: run.finished_at is not None for run in runs}


def weeks_in_a_row(sessions: sessionmaker[Session]) -> list[int]:
    with sessions() as session:
        return list(session.scalars(select(ProjectNudge.weeks_in_a_row)))


# -- when the sweep is due -----------------------------------------------------------------------


def test_the_sweep_moment_is_monday_0930_london_time_in_winter_and_summer(ctx):
    assert sweep_moment("2026-W48", ctx, POLICY) == utc(2026, 11, 23, 9, 30)  # GMT
    assert sweep_moment("2026-W27", ctx, POLICY) == utc(2026, 6, 29, 8, 30)  # BST
    thursday_noon = NudgePolicy(weekday=3, at=time(12, 0))
    assert sweep_moment("2026-W48", ctx, thursday_noon) == utc(2026, 11, 26, 12, 0)


def test_latest_due_week_is_last_weeks_until_this_weeks_moment(ctx, clock):
    clock.current = utc(2026, 11, 23, 9, 29)
    assert latest_due_week(ctx, POLICY) == ("2026-W47", utc(2026, 11, 16, 9, 30))
    clock.current = utc(2026, 11, 23, 9, 30)
    assert latest_due_week(ctx, POLICY) == ("2026-W48", utc(2026, 11, 23, 9, 30))
    clock.current = utc(2026, 11, 29, 23, 59)  # Sunday night: still week 48's
    assert latest_due_week(ctx, POLICY) == ("2026-W48", utc(2026, 11, 23, 9, 30))


def test_not_due_before_monday_0930_and_due_from_then(ctx, sessions, clock, lead):
    jobs_ = Jobs(ctx, POLICY)
    clock.current = utc(2026, 11, 23, 9, 29, 59)

    assert jobs_.run_due() is None
    assert nudges(sessions) == []
    assert "2026-W48" not in job_runs(sessions)

    clock.current = utc(2026, 11, 23, 9, 30)
    plan = jobs_.run_due()

    assert plan is not None and plan.week == "2026-W48"
    assert plan.planned_new == 1
    assert nudges(sessions) == [("2026-W48", outbox.person_recipient(lead))]
    assert job_runs(sessions) == {"2026-W48": True}


def test_it_runs_once_a_week(ctx, sessions, clock, lead):
    told = []
    jobs_ = Jobs(ctx, POLICY, planned=lambda: told.append(clock()))
    assert jobs_.run_due() is not None
    planned = nudges(sessions)

    assert jobs_.run_due() is None
    clock.advance(days=3)
    assert jobs_.run_due() is None
    assert Jobs(ctx, POLICY).run_due() is None  # a restarted process agrees
    assert nudges(sessions) == planned
    assert weeks_in_a_row(sessions) == [1]
    assert len(told) == 1

    clock.current = utc(2026, 11, 30, 9, 30)
    plan = jobs_.run_due()

    assert plan is not None and plan.week == "2026-W49"
    assert [week for week, _ in nudges(sessions)] == ["2026-W48", "2026-W49"]
    assert weeks_in_a_row(sessions) == [2]
    assert len(told) == 2


def test_nothing_planned_means_nobody_is_woken(ctx, sessions, clock):
    told = []
    plan = Jobs(ctx, POLICY, planned=lambda: told.append(1)).run_due()

    assert plan is not None and plan.planned_new == 0
    assert told == []
    assert job_runs(sessions) == {"2026-W48": True}


# -- restarts ------------------------------------------------------------------------------------


def test_a_restart_across_the_scheduled_time_catches_up(ctx, sessions, clock, lead):
    clock.current = utc(2026, 11, 23, 9, 0)
    assert Jobs(ctx, POLICY).run_due() is None  # before the moment; then the bot goes down

    clock.current = utc(2026, 11, 25, 14, 0)  # back up on Wednesday afternoon
    plan = Jobs(ctx, POLICY).run_due()

    assert plan is not None and plan.week == "2026-W48"
    assert nudges(sessions) == [("2026-W48", outbox.person_recipient(lead))]


def test_catching_up_is_allowed_up_to_the_window_exactly(ctx, sessions, clock, lead):
    clock.current = utc(2026, 11, 23, 9, 30) + CATCH_UP_WINDOW

    plan = Jobs(ctx, POLICY).run_due()

    assert plan is not None and plan.week == "2026-W48"


def test_a_week_missed_by_more_than_the_window_is_skipped_and_logged_once(
    ctx, sessions, clock, lead, caplog
):
    clock.current = utc(2026, 11, 23, 9, 30) + CATCH_UP_WINDOW + timedelta(seconds=1)
    jobs_ = Jobs(ctx, POLICY)

    with caplog.at_level(logging.WARNING, logger="bot.runtime.scheduler"):
        assert jobs_.run_due() is None
        assert jobs_.run_due() is None

    warnings = [r for r in caplog.records if r.name == "bot.runtime.scheduler"]
    assert len(warnings) == 1
    assert "2026-W48" in warnings[0].getMessage() and "missed" in warnings[0].getMessage()
    assert nudges(sessions) == []
    assert job_runs(sessions) == {}

    clock.current = utc(2026, 11, 30, 9, 30)  # next week's runs as usual
    plan = jobs_.run_due()
    assert plan is not None and plan.week == "2026-W49"
    assert weeks_in_a_row(sessions) == [1]


def test_a_sweep_that_crashed_after_planning_is_finished_and_sends_nothing_twice(
    ctx, sessions, clock, lead
):
    # The process died after the sweep's transaction, before recording that it finished.
    with sessions.begin() as session:
        jobs.start_run(session, WEEKLY_NUDGE, "2026-W48", now=clock())
    first = run_sweep(ctx, week="2026-W48", policy=POLICY)
    assert first.planned_new == 1
    assert job_runs(sessions) == {"2026-W48": False}
    clock.advance(minutes=5)

    plan = Jobs(ctx, POLICY).run_due()

    assert plan is not None and plan.week == "2026-W48"
    assert plan.planned_new == 0
    assert nudges(sessions) == [("2026-W48", outbox.person_recipient(lead))]
    assert weeks_in_a_row(sessions) == [1]  # not counted as a second week
    assert job_runs(sessions) == {"2026-W48": True}
    assert Jobs(ctx, POLICY).run_due() is None


def test_a_sweep_that_crashed_before_planning_is_resumed_and_plans_once(ctx, sessions, clock, lead):
    with sessions.begin() as session:
        jobs.start_run(session, WEEKLY_NUDGE, "2026-W48", now=clock())

    plan = Jobs(ctx, POLICY).run_due()

    assert plan is not None and plan.planned_new == 1
    assert nudges(sessions) == [("2026-W48", outbox.person_recipient(lead))]
    assert job_runs(sessions) == {"2026-W48": True}


def test_sweeping_the_same_week_twice_by_hand_plans_once(ctx, sessions, clock, lead):
    jobs_ = Jobs(ctx, POLICY)
    assert jobs_.sweep("2026-W48").planned_new == 1
    assert jobs_.sweep("2026-W48").planned_new == 0
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 1
        assert session.scalar(select(func.count()).select_from(JobRun)) == 1


# -- daylight saving -----------------------------------------------------------------------------


def runs_hour_by_hour(
    ctx: Context, clock, policy: NudgePolicy, start: datetime, end: datetime, step=None
) -> list[tuple[str, datetime]]:
    """Tick from `start` to `end`; (week, when) for every tick that ran a sweep."""
    step = step or timedelta(hours=1)
    jobs_ = Jobs(ctx, policy)
    ran = []
    clock.current = start
    while clock.current < end:
        plan = jobs_.run_due()
        if plan is not None:
            ran.append((plan.week, clock.current))
        clock.current += step
    return ran


def test_the_spring_clock_change_week_and_the_next_run_once_at_0930_local(
    ctx, sessions, clock, lead
):
    # Clocks go forward at 01:00 UTC on Sunday 29 March 2026.
    ran = runs_hour_by_hour(ctx, clock, POLICY, utc(2026, 3, 21, 0, 30), utc(2026, 4, 7, 0, 30))

    assert ran == [
        ("2026-W13", utc(2026, 3, 23, 9, 30)),  # GMT
        ("2026-W14", utc(2026, 3, 30, 8, 30)),  # BST: still 09:30 on the wall
        ("2026-W15", utc(2026, 4, 6, 8, 30)),
    ]
    assert {moment.astimezone(LONDON).time() for _, moment in ran} == {time(9, 30)}
    assert [week for week, _ in nudges(sessions)] == ["2026-W13", "2026-W14", "2026-W15"]


def test_the_autumn_clock_change_week_and_the_next_run_once_at_0930_local(
    ctx, sessions, clock, lead
):
    # Clocks go back at 01:00 UTC on Sunday 25 October 2026.
    ran = runs_hour_by_hour(ctx, clock, POLICY, utc(2026, 10, 17, 0, 30), utc(2026, 11, 3, 0, 30))

    assert ran == [
        ("2026-W43", utc(2026, 10, 19, 8, 30)),  # BST
        ("2026-W44", utc(2026, 10, 26, 9, 30)),  # GMT: still 09:30 on the wall
        ("2026-W45", utc(2026, 11, 2, 9, 30)),
    ]
    assert {moment.astimezone(LONDON).time() for _, moment in ran} == {time(9, 30)}
    assert [week for week, _ in nudges(sessions)] == ["2026-W43", "2026-W44", "2026-W45"]


def test_a_time_the_clocks_skip_still_runs_once(ctx, sessions, clock, lead):
    # 01:30 on Sunday 29 March 2026 never happens in London: 01:00 GMT becomes 02:00 BST.
    sunday_small_hours = NudgePolicy(weekday=6, at=time(1, 30))
    moment = sweep_moment("2026-W13", ctx, sunday_small_hours)
    assert utc(2026, 3, 29, 1, 0) <= moment < utc(2026, 3, 29, 2, 0)  # just after the skip

    ran = runs_hour_by_hour(
        ctx,
        clock,
        sunday_small_hours,
        utc(2026, 3, 28, 12, 0),
        utc(2026, 3, 30, 12, 0),
        step=timedelta(minutes=15),
    )

    assert [week for week, _ in ran] == ["2026-W13"]
    assert utc(2026, 3, 29, 1, 0) <= ran[0][1] < utc(2026, 3, 29, 2, 0)
    assert len(nudges(sessions)) == 1


def test_a_time_the_clocks_repeat_still_runs_once(ctx, sessions, clock, lead):
    # 01:30 on Sunday 25 October 2026 happens twice in London (BST, then GMT).
    sunday_small_hours = NudgePolicy(weekday=6, at=time(1, 30))

    ran = runs_hour_by_hour(
        ctx,
        clock,
        sunday_small_hours,
        utc(2026, 10, 24, 12, 0),
        utc(2026, 10, 26, 12, 0),
        step=timedelta(minutes=15),
    )

    assert [week for week, _ in ran] == ["2026-W43"]
    assert ran[0][1] in (utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30))
    assert len(nudges(sessions)) == 1


# -- the scheduler's tick ------------------------------------------------------------------------


class StubLeader:
    def __init__(self, holds: bool) -> None:
        self.holding = holds
        self.released = False

    def holds(self) -> bool:
        return self.holding

    def valid(self) -> bool:
        return self.holding

    def release(self) -> None:
        self.released = True


def test_a_replica_that_does_not_lead_runs_nothing(ctx, sessions, clock, lead):
    Scheduler(Jobs(ctx, POLICY), StubLeader(False)).tick()

    assert job_runs(sessions) == {}
    assert nudges(sessions) == []


def test_the_leading_replica_runs_what_is_due_on_its_tick(ctx, sessions, clock, lead):
    scheduler = Scheduler(Jobs(ctx, POLICY), SoleLeader())
    scheduler.tick()
    scheduler.tick()

    assert job_runs(sessions) == {"2026-W48": True}
    assert len(nudges(sessions)) == 1


def test_the_scheduler_remembers_whether_it_led_and_says_when_it_took_the_lead(ctx, sessions):
    """The delivery loop sends only while `leads()`; `took_lead` wakes it to send at once."""
    leader = StubLeader(False)
    took: list[bool] = []
    scheduler = Scheduler(Jobs(ctx, POLICY), leader, took_lead=lambda: took.append(True))
    assert not scheduler.leads()  # before the first tick nobody knows: do not send

    scheduler.tick()
    assert (scheduler.leads(), took) == (False, [])

    leader.holding = True
    scheduler.tick()
    scheduler.tick()
    assert (scheduler.leads(), took) == (True, [True])  # told once, when it took the lead

    leader.holding = False  # another replica has it now
    scheduler.tick()
    assert not scheduler.leads()

    leader.holding = True
    scheduler.tick()
    assert (scheduler.leads(), took) == (True, [True, True])


def test_a_failing_tick_is_logged_and_the_next_tick_tries_again(ctx, caplog):
    class Flaky:
        calls = 0

        def run_due(self) -> None:
            self.calls += 1
            if self.calls == 1:
                raise RuntimeError("database restarting")

    flaky = Flaky()
    scheduler = Scheduler(flaky, SoleLeader())  # type: ignore[arg-type]

    with caplog.at_level(logging.ERROR, logger="bot.runtime.scheduler"):
        scheduler.tick()
        scheduler.tick()

    assert flaky.calls == 2
    assert [r.exc_info[0] for r in caplog.records if r.name == "bot.runtime.scheduler"] == [
        RuntimeError
    ]


def test_start_ticks_at_once_and_shutdown_releases_the_lead():
    ticked = threading.Event()

    class Recording:
        def run_due(self) -> None:
            ticked.set()

    leader = StubLeader(True)
    scheduler = Scheduler(Recording(), leader, interval=3600)  # type: ignore[arg-type]

    scheduler.start()
    try:
        assert ticked.wait(5)
        assert scheduler.leads()
    finally:
        scheduler.shutdown()

    assert leader.released
    assert not scheduler.leads()  # a replica stepping down stops sending too


@pytest.mark.solo  # asserts how long things take (tests/solo.py)
def test_the_lead_is_renewed_every_tick_while_a_long_sweep_runs():
    """A sweep longer than the lease must not let the lease run out under it."""
    running = threading.Event()
    finish = threading.Event()

    class LongSweep:
        def run_due(self) -> None:
            running.set()
            finish.wait(10)

    class Counting(StubLeader):
        renewals = 0

        def holds(self) -> bool:
            self.renewals += 1
            return True

    leader = Counting(True)
    scheduler = Scheduler(LongSweep(), leader, interval=1)  # type: ignore[arg-type]
    scheduler.start()
    try:
        assert running.wait(5)
        renewals_then = leader.renewals
        deadline = time_module.monotonic() + 5
        while leader.renewals < renewals_then + 2 and time_module.monotonic() < deadline:
            time_module.sleep(0.05)
        assert leader.renewals >= renewals_then + 2
        assert scheduler.leads()
    finally:
        finish.set()
        scheduler.shutdown()


@pytest.mark.solo  # asserts how long things take (tests/solo.py)
def test_a_renewal_that_comes_late_still_runs_once():
    """A process stalled past a renewal (a paused VM, a busy host) renews when it wakes.

    APScheduler skips a run more than a second late unless told otherwise; a skipped renewal
    could let the lease run out under a leader that is alive.
    """

    class Counting(StubLeader):
        renewals = 0

        def holds(self) -> bool:
            self.renewals += 1
            return True

    class Idle:
        def run_due(self) -> None:
            pass

    leader = Counting(True)
    scheduler = Scheduler(Idle(), leader, interval=4)  # type: ignore[arg-type]
    scheduler.start()
    try:
        deadline = time_module.monotonic() + 2
        while leader.renewals < 1 and time_module.monotonic() < deadline:
            time_module.sleep(0.05)
        assert leader.renewals == 1
        scheduler._scheduler.pause()  # stalled: the renewal due in 4 s is 2 s late
        time_module.sleep(6)
        scheduler._scheduler.resume()
        deadline = time_module.monotonic() + 1  # long before the next one is due
        while leader.renewals < 2 and time_module.monotonic() < deadline:
            time_module.sleep(0.05)
        assert leader.renewals == 2  # run late, and once: the missed runs are not piled up
    finally:
        scheduler.shutdown()


# -- leadership ----------------------------------------------------------------------------------


def test_sqlite_is_one_process_so_it_always_leads(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'qi.db'}")
    leader = leadership_for(engine)

    assert isinstance(leader, SoleLeader)
    assert leader.holds() and leader.holds()
    leader.release()
    assert leader.holds()
    engine.dispose()


def test_postgresql_uses_the_advisory_lock():
    engine = make_engine("postgresql://nobody@127.0.0.1:1/none")  # never connected to
    assert isinstance(leadership_for(engine), AdvisoryLockLeader)
    engine.dispose()


def test_an_unreachable_database_means_not_leading_rather_than_an_error():
    engine = make_engine(
        "postgresql://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 1}
    )
    leader = AdvisoryLockLeader(engine, key=1)

    assert leader.holds() is False
    leader.release()  # nothing to release: no error
    engine.dispose()


@pytest.fixture
def two_replicas(fresh_database_url):
    """Two leaders on separate engines (as two replicas have), on a lock key of their own."""
    key = random.randrange(1, 2**31)  # other test runs may share this database
    engines = [make_engine(fresh_database_url) for _ in range(3)]
    upgrade(engines[2])
    leaders = [
        AdvisoryLockLeader(engines[0], key, name="replica-a"),
        AdvisoryLockLeader(engines[1], key, name="replica-b"),
    ]
    yield leaders, engines[2]
    for leader in leaders:
        leader.release()
    for engine in engines:
        engine.dispose()


def lock_holders(admin, key: int) -> int:
    """How many sessions hold the advisory lock, as PostgreSQL sees it."""
    with admin.connect() as connection:
        return connection.scalar(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND ((classid::bigint << 32) | objid::bigint) = :key"
            ),
            {"key": key},
        )


@pytest.mark.parametrize("fresh_database_url", ["postgresql"], indirect=True)
def test_exactly_one_replica_leads_and_keeps_leading(two_replicas):
    (a, b), admin = two_replicas

    assert [a.holds(), b.holds()] == [True, False]
    assert [a.holds(), b.holds(), a.holds()] == [True, False, True]
    assert lock_holders(admin, a.key) == 1


@pytest.mark.parametrize("fresh_database_url", ["postgresql"], indirect=True)
def test_when_the_leader_steps_down_the_other_takes_over(two_replicas):
    (a, b), admin = two_replicas
    assert a.holds() and not b.holds()

    a.release()

    assert b.holds()
    assert not a.holds()
    assert lock_holders(admin, a.key) == 1


@pytest.mark.parametrize("fresh_database_url", ["postgresql"], indirect=True)
def test_when_the_leaders_connection_dies_the_other_takes_over(two_replicas):
    (a, b), admin = two_replicas
    assert a.holds() and not b.holds()
    pid = a._connection.scalar(text("SELECT pg_backend_pid()"))  # type: ignore[union-attr]

    with admin.connect() as connection:
        assert connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    # PostgreSQL drops the session's locks as the backend goes.
    deadline = datetime.now(UTC) + timedelta(seconds=5)
    while lock_holders(admin, a.key) and datetime.now(UTC) < deadline:
        pass

    assert b.holds()
    assert not a.holds()  # finds its connection dead, and the lock taken
    assert lock_holders(admin, a.key) == 1


@pytest.mark.parametrize("fresh_database_url", ["postgresql"], indirect=True)
def test_a_leader_whose_connection_died_takes_the_lock_again_if_nobody_else_did(two_replicas):
    (a, _b), admin = two_replicas
    assert a.holds()
    pid = a._connection.scalar(text("SELECT pg_backend_pid()"))  # type: ignore[union-attr]
    with admin.connect() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    assert a.holds()
    assert lock_holders(admin, a.key) == 1
