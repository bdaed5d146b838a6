"""The scheduler: one periodic tick (APScheduler) that runs whatever our tables say is due."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from bot.outside.links import CONFIRM_FOR
from bot.runtime.leader import Leadership
from handlers.core.context import Context
from handlers.core.weeks import week_before, week_of
from handlers.evidence.involvement_questions import ask_due
from handlers.evidence.stats import backfill, take_snapshot
from handlers.forum.announcements import run_announcements
from handlers.nudges.weekly import NudgePolicy, SweepPlan, run_sweep
from store import jobs, signups

log = logging.getLogger(__name__)

WEEKLY_NUDGE = "weekly_nudge"
WEEKLY_SNAPSHOT = "weekly_snapshot"
INVOLVEMENT_QUESTIONS = "involvement_questions"
# A sweep missed while the bot was down is run late if it is at most this late; an older one
# is skipped with a warning, rather than nudging twice within a few days.
CATCH_UP_WINDOW = timedelta(days=3)
TICK_SECONDS = 60
# How far back the weekly figures look for weeks the bot was not running to record.
MISSED_WEEKS_LOOKBACK = timedelta(weeks=8)
# A sign-up on the public page is kept unconfirmed while its link works, and a day more.
UNCONFIRMED_KEPT = CONFIRM_FOR + timedelta(days=1)


def sweep_moment(week: str, ctx: Context, policy: NudgePolicy) -> datetime:
    """When a week's sweep is due, in UTC: the configured local day and time of that week.

    Local wall-clock time, so 09:30 stays 09:30 across the clock changes; a time the clocks
    skip (01:30 on the spring change) is read with the offset before the change (02:30 BST).
    """
    year, number = week.split("-W")
    day = date.fromisocalendar(int(year), int(number), policy.weekday + 1)
    local = datetime.combine(day, policy.at, tzinfo=ctx.timezone)
    return local.astimezone(UTC)


def latest_due_week(ctx: Context, policy: NudgePolicy) -> tuple[str, datetime]:
    """The most recent sweep occurrence at or before now, and when it was due."""
    week = week_of(ctx.now(), ctx)
    moment = sweep_moment(week, ctx, policy)
    if moment > ctx.now():
        week = week_before(week)
        moment = sweep_moment(week, ctx, policy)
    return week, moment


class Jobs:
    """The scheduled work itself, free of APScheduler so that tests drive it with a clock."""

    def __init__(
        self, ctx: Context, policy: NudgePolicy, *, planned: Callable[[], None] = lambda: None
    ) -> None:
        self.ctx = ctx
        self.policy = policy
        self.planned = planned  # told when new deliveries were planned (wakes the sender)
        self._warned: set[str] = set()

    def run_due(self) -> SweepPlan | None:
        """Plan due announcements, and run this week's sweep if due; the sweep's plan if it ran."""
        if run_announcements(self.ctx):
            self.planned()
        self.forget_unconfirmed_signups()
        try:
            self.run_due_snapshot()
        except Exception:
            # The figures can be worked out again later (stats --backfill); the reminders
            # cannot be sent late without nagging, so a failure here must not stop them.
            log.exception("recording this week's figures failed; the reminders go on")
        try:
            self.run_due_questions()
        except Exception:
            # Asked again next tick (the week's run is not marked finished); the reminders
            # must not wait for it.
            log.exception("asking how involved people feel failed; the reminders go on")
        return self.run_due_sweep()

    def forget_unconfirmed_signups(self) -> int:
        """Delete sign-ups from the public page whose confirmation link ran out unused."""
        try:
            with self.ctx.sessions.begin() as session:
                gone = signups.forget_unconfirmed(session, before=self.ctx.now() - UNCONFIRMED_KEPT)
        except Exception:
            # Tidying up can wait for the next tick; the reminders and announcements cannot.
            log.exception("forgetting unconfirmed sign-ups failed; trying again next tick")
            return 0
        if gone:
            log.info("forgot %d sign-ups never confirmed", gone)
        return gone

    def run_due_snapshot(self) -> bool:
        """Record this week's figures once, when the week's reminders are due (before them).

        Taken however late the bot starts: a late snapshot still belongs to its week, and a
        missing one would be a gap in the run chart.
        """
        week, _moment = latest_due_week(self.ctx, self.policy)
        if week != week_of(self.ctx.now(), self.ctx):
            return False  # this week's moment has not come yet; last week's is kept as it was
        with self.ctx.sessions.begin() as session:
            run = jobs.find_run(session, WEEKLY_SNAPSHOT, week)
            if run is not None and run.finished_at is not None:
                return False  # (one started but not finished crashed: taking it again is safe)
            jobs.start_run(session, WEEKLY_SNAPSHOT, week, now=self.ctx.now())
        # Weeks missed while the bot was down are worked out from history first (weeks
        # already recorded are kept), so the run chart has no gaps.
        missed = backfill(
            self.ctx,
            since=self.ctx.now().date() - MISSED_WEEKS_LOOKBACK,
            weekday=self.policy.weekday,
            at=self.policy.at,
        )
        take_snapshot(self.ctx)
        with self.ctx.sessions.begin() as session:
            jobs.finish_run(session, WEEKLY_SNAPSHOT, week, now=self.ctx.now())
        if missed:
            log.info("weekly figures: %d earlier weeks worked out from history", missed)
        log.info("weekly figures for %s recorded", week)
        return True

    def run_due_questions(self) -> int:
        """Ask how involved people feel, once a week from the reminders' time; how many asked.

        Each service user and carer due is asked once a period (INVOLVEMENT_EVERY_WEEKS): the
        first week's run asks everyone, later weeks only those who joined a team since.
        """
        week, _moment = latest_due_week(self.ctx, self.policy)
        if week != week_of(self.ctx.now(), self.ctx):
            return 0  # this week's moment has not come yet
        with self.ctx.sessions.begin() as session:
            run = jobs.find_run(session, INVOLVEMENT_QUESTIONS, week)
            if run is not None and run.finished_at is not None:
                return 0
            jobs.start_run(session, INVOLVEMENT_QUESTIONS, week, now=self.ctx.now())
        planned = ask_due(self.ctx)
        with self.ctx.sessions.begin() as session:
            jobs.finish_run(session, INVOLVEMENT_QUESTIONS, week, now=self.ctx.now())
        if planned:
            log.info("asked %d team places how involved they feel (%s)", planned, week)
            self.planned()
        return planned

    def run_due_sweep(self) -> SweepPlan | None:
        """Run this week's sweep if it is due and has not finished; the plan if it ran."""
        week, moment = latest_due_week(self.ctx, self.policy)
        with self.ctx.sessions() as session:
            run = jobs.find_run(session, WEEKLY_NUDGE, week)
            if run is not None and run.finished_at is not None:
                return None
        if self.ctx.now() - moment > CATCH_UP_WINDOW and run is None:
            if week not in self._warned:
                self._warned.add(week)
                log.warning(
                    "the weekly reminder for %s was missed (due %s, the bot was not running); "
                    "it is skipped, and next week's runs as usual",
                    week,
                    moment.isoformat(),
                )
            return None
        return self.sweep(week)

    def sweep(self, week: str) -> SweepPlan:
        """Run (or finish) one week's sweep; running it again sends nothing twice."""
        with self.ctx.sessions.begin() as session:
            jobs.start_run(session, WEEKLY_NUDGE, week, now=self.ctx.now())
        plan = run_sweep(self.ctx, week=week, policy=self.policy)
        with self.ctx.sessions.begin() as session:
            jobs.finish_run(session, WEEKLY_NUDGE, week, now=self.ctx.now())
        log.info(
            "weekly reminder %s: %d new messages planned (%d projects looked at)",
            week,
            plan.planned_new,
            len(plan.decisions),
        )
        if plan.planned_new:
            self.planned()
        return plan


class Scheduler:
    """Ticks every `interval` seconds; only the replica that holds the lead runs the due jobs.

    Two jobs: one renews (or takes) the lead, one runs what is due. Apart, so that a sweep
    that takes longer than the lease never lets the lease run out under it.
    """

    def __init__(
        self,
        jobs_: Jobs,
        leader: Leadership,
        *,
        interval: int = TICK_SECONDS,
        took_lead: Callable[[], None] = lambda: None,
    ) -> None:
        self.jobs = jobs_
        self.leader = leader
        self.interval = interval
        self.took_lead = took_lead  # told when this replica becomes the leader (wakes the sender)
        self._leads = threading.Event()  # read by the delivery thread: only the leader sends
        # APScheduler loads only in the process that schedules (serve), not with Jobs, which
        # `qi-nudge remind` and `run-due` use.
        from apscheduler.schedulers.background import BackgroundScheduler

        self._scheduler = BackgroundScheduler(timezone=UTC)

    def leads(self) -> bool:
        """Whether this replica leads: it renewed the lead, and that lease has not run out.

        A leader that cannot reach the database stops on its own clock once its lease would
        have run out, before another replica may take over; the claims keep anything sent
        around a change of leader from being sent twice.
        """
        return self._leads.is_set() and self.leader.valid()

    def renew(self) -> bool:
        """Renew or take the lead (told to `took_lead` when newly taken); whether we lead."""
        was_leading = self.leads()
        try:
            held = self.leader.holds()
        except Exception:
            log.exception("could not tell whether this replica leads; it does not, for now")
            held = False
        if not held:
            self._leads.clear()
            return False
        self._leads.set()
        if not was_leading:
            # What other replicas planned (or a dead leader left half sent) is ours now.
            self.took_lead()
            self._run_jobs_now()
        return True

    def run_due(self) -> None:
        """Run what is due, if this replica leads."""
        if not self.leads():
            return
        try:
            self.jobs.run_due()
        except Exception:
            log.exception("scheduled jobs failed this tick; they are tried again next tick")

    def tick(self) -> None:
        """Renew the lead, then run what is due if this replica leads."""
        self.renew()
        self.run_due()

    def start(self) -> None:
        """Take the lead now and run the jobs every `interval` seconds, in background threads."""
        # A tick that comes late (a stalled process, a busy host) still runs, once: APScheduler
        # would skip one over a second late, and a skipped renewal lets a live leader's lease
        # run out.
        common = {
            "seconds": self.interval,
            "max_instances": 1,
            "coalesce": True,
            "misfire_grace_time": None,
        }
        self._scheduler.add_job(
            self.run_due,
            "interval",
            next_run_time=datetime.now(UTC) + timedelta(seconds=self.interval),
            id="jobs",
            **common,
        )
        self._scheduler.add_job(
            self.renew, "interval", next_run_time=datetime.now(UTC), id="lead", **common
        )
        self._scheduler.start()

    def _run_jobs_now(self) -> None:
        from apscheduler.jobstores.base import JobLookupError

        if self._scheduler.running:
            with contextlib.suppress(JobLookupError):  # shutting down just now
                self._scheduler.modify_job("jobs", next_run_time=datetime.now(UTC))

    def shutdown(self) -> None:
        """Stop ticking and let another replica take over."""
        self._scheduler.shutdown(wait=True)
        self._leads.clear()
        self.leader.release()
