"""Health endpoints that answer within a second, whatever the database does.

- GET /livez: the process is up and its web server answers (a liveness probe: restart on fail).
- GET /healthz: this replica can serve chat: the database answered just now (load balancer).
- GET /healthz/scheduler: the whole deployment sends what it should: a replica leads the
  scheduler, and no message is overdue (for monitoring and alerts, not for routing traffic:
  chat still works when reminders are late).

Each check runs in a thread of its own, one at a time; a request waits for it at most
ANSWER_WITHIN seconds and otherwise says "database not answering".
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from store import leadership, outbox
from store.deadline import cut_if_slower_than

log = logging.getLogger(__name__)

ANSWER_WITHIN = 0.9  # seconds a health request waits for the database
FRESH_FOR = 1.0  # seconds a check's answer is given again without asking the database
# A check still waiting this long has its connection cut, so the next one starts afresh.
GIVE_UP_AFTER = 10.0
NOT_ANSWERING = "database not answering"


@dataclass
class _Outcome:
    value: Any = None
    error: BaseException | None = None
    finished_at: float = 0.0


@dataclass
class BoundedCheck:
    """Runs `check` in a thread, at most one at a time, and waits for it only so long."""

    check: Callable[[], Any]
    monotonic: Callable[[], float] = time.monotonic
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _done: threading.Event | None = None
    _started_at: float = 0.0
    _last: _Outcome | None = None

    async def answer(self, within: float = ANSWER_WITHIN) -> _Outcome | None:
        """The latest outcome, fresh or waited for; None if the check is not back in time."""
        with self._lock:
            now = self.monotonic()
            last = self._last
            if last is not None and now - last.finished_at < FRESH_FOR:
                return last
            if self._done is None:  # none running: start one
                self._done = threading.Event()
                self._started_at = now
                threading.Thread(
                    target=self._run, args=(self._done,), name="qi-health", daemon=True
                ).start()
            done, deadline = self._done, self._started_at + within
        while not done.is_set() and self.monotonic() < deadline:
            await anyio.sleep(0.01)
        return self._last if done.is_set() else None

    def _run(self, done: threading.Event) -> None:
        outcome = _Outcome()
        try:
            outcome.value = self.check()
        except Exception as error:
            outcome.error = error
        outcome.finished_at = self.monotonic()
        with self._lock:
            self._last = outcome
            self._done = None
        done.set()


@dataclass(frozen=True)
class SchedulerHealth:
    """What /healthz/scheduler reports: the leader, and messages overdue."""

    leader: leadership.LeaderInfo | None
    leaderless_since: datetime | None
    overdue: int
    oldest_due: datetime | None
    lease_now: datetime | None = None  # the time leases were judged by: PostgreSQL's clock


class HealthChecks:
    """The checks behind the endpoints, for one database and scheduler tick."""

    def __init__(
        self,
        engine: Engine,
        *,
        tick_seconds: float = 60,
        give_up_after: float = GIVE_UP_AFTER,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self.tick = timedelta(seconds=tick_seconds)
        self.give_up_after = give_up_after
        self.clock = clock
        self.started_at = clock()
        self.database = BoundedCheck(self._select_one)
        self.scheduler = BoundedCheck(self._scheduler)

    def routes(self) -> list[BaseRoute]:
        """/livez, /healthz and /healthz/scheduler."""
        return [
            Route("/livez", _live, methods=["GET"]),
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/healthz/scheduler", self.scheduler_health, methods=["GET"]),
        ]

    async def healthz(self, request: Request) -> Response:
        """200 when the database answered within a second, else 503 saying what is wrong."""
        outcome = await self.database.answer()
        if outcome is None:
            log.warning("health check: the database did not answer within a second")
            return JSONResponse({"status": NOT_ANSWERING}, status_code=503)
        if outcome.error is not None:
            log.warning("health check: database unreachable: %s", type(outcome.error).__name__)
            return JSONResponse({"status": "database unreachable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def scheduler_health(self, request: Request) -> Response:
        """200 when a replica leads and nothing is overdue; else 503 with the problems."""
        outcome = await self.scheduler.answer()
        if outcome is None or outcome.error is not None:
            status = NOT_ANSWERING if outcome is None else "database unreachable"
            return JSONResponse({"status": status, "problems": [status]}, status_code=503)
        body = self.describe(outcome.value)
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

    def describe(self, health: SchedulerHealth) -> dict[str, Any]:
        """The JSON body for the scheduler's health: status, leader, overdue and problems."""
        now = self.clock()
        problems: list[str] = []
        leader = health.leader
        since = health.leaderless_since or self.started_at
        # Lease times are by the database's clock; when this process started, by ours.
        then = health.lease_now if health.leaderless_since and health.lease_now else now
        # A dead leader's lease runs out before another takes over: allow a tick more.
        leaderless = leader is None and then - since > self.tick
        if leaderless:
            problems.append(
                f"no replica has run the scheduler since {since.isoformat(timespec='seconds')}"
                ": nothing is planned or sent. Look at the replicas' logs."
            )
        if health.overdue:
            assert health.oldest_due is not None
            problems.append(
                f"{health.overdue} messages were due more than "
                f"{int(outbox.OVERDUE_AFTER.total_seconds() // 60)} minutes ago and are not "
                f"sent yet (the oldest since {health.oldest_due.isoformat(timespec='seconds')})"
            )
        # The status names the first problem: with no leader, overdue messages follow from it.
        kinds = ["no scheduler leader"] if leaderless else []
        kinds += ["deliveries overdue"] if health.overdue else []
        status = kinds[0] if kinds else "ok"
        return {
            "status": status,
            "leader": None
            if leader is None
            else {
                "name": leader.name,
                "since": leader.since.isoformat(timespec="seconds"),
                "renewed_at": leader.renewed_at.isoformat(timespec="seconds"),
            },
            "overdue_deliveries": {
                "count": health.overdue,
                "oldest_due": None
                if health.oldest_due is None
                else health.oldest_due.isoformat(timespec="seconds"),
            },
            "problems": problems,
        }

    # -- the checks, each in its own thread ------------------------------------------------

    def _select_one(self) -> None:
        with (
            self.engine.connect() as connection,
            cut_if_slower_than(connection, self.give_up_after),
        ):
            connection.execute(text("SELECT 1"))

    def _scheduler(self) -> SchedulerHealth:
        now = self.clock()
        with (
            self.engine.connect() as connection,
            cut_if_slower_than(connection, self.give_up_after),
            Session(bind=connection) as session,
        ):
            last = leadership.last_lease(session)
            lease_now = leadership.lease_clock(session, now)
            problems = outbox.delivery_problems(session, now)
        leader = None if last is None or last.expired(lease_now) else last
        return SchedulerHealth(
            leader=leader,
            leaderless_since=None if last is None else last.expires_at,
            overdue=problems.overdue,
            oldest_due=problems.oldest_due,
            lease_now=lease_now,
        )


async def _live(request: Request) -> Response:
    return JSONResponse({"status": "alive"})
