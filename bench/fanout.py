"""The fan-out's own waiting, on a simulated clock: how far above the floor the sending logic is.

bench/scheduled.py (b) sends through fake Slack on real clocks, so its figure is the sender's
waiting (pacing, holds, idle passes) plus the CPU of every send, which a loaded machine
inflates. This bench runs the same Deliverer, SlackSender and DeliveryLoop pass against the same
fake Slack enforcing the same limits, but every clock (the pacer's, the sender's, the fake's
rate limiter's and the database's) is one simulated clock that moves only when the sender
sleeps: the database and HTTP take no simulated time. The elapsed simulated time over the floor
is then the sending logic's own overhead, the same on any machine, and the statements on the
outbox show the claim/put-back churn. Injected 429s with a long Retry-After (--holds,
--retry-after) are spread evenly over the messages, as in bench/scheduled.py.

The loop is run as DeliveryLoop runs it: drain, then sleep for `DeliveryLoop._pass`'s answer (the
next due time or the end of a hold). Against code without it (to measure "before"), it sleeps
the loop's fixed interval after each drain, as that DeliveryLoop did.

Run: `.venv/bin/python bench/fanout.py [--messages 2000] [--holds 2] [--retry-after 30]
[--first-week 50] [--backend sqlite|postgresql]`.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.fakes and bench.scheduled are not installed

from slack_sdk import WebClient  # noqa: E402
from sqlalchemy import event  # noqa: E402

from bench.scheduled import (  # noqa: E402
    HoldInjector,
    database,
    floor_with_holds,
    seed_leads,
    settle,
)
from bot.runtime import delivery  # noqa: E402
from bot.runtime.delivery import Deliverer, DeliveryLoop, DeliveryPolicy, Pacer  # noqa: E402
from bot.slack.sender import SlackSender, build_sending_client  # noqa: E402
from handlers.core.context import Context  # noqa: E402
from handlers.core.weeks import week_of  # noqa: E402
from handlers.nudges.weekly import NudgePolicy, run_sweep  # noqa: E402
from store import outbox  # noqa: E402
from store.engine import make_sessions  # noqa: E402
from tests.fakes.slack_api import FakeSlack, RateLimits  # noqa: E402

START = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


class SimulatedClock:
    """Seconds that pass only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += max(0.0, seconds)

    def wall(self) -> datetime:
        return START + timedelta(seconds=self.now)


@dataclass
class Run:
    case: str
    messages: int
    holds: int
    floor: float
    elapsed: float
    posts_429: int
    opens_429: int
    per_recipient: Counter[int]
    outcomes: Counter[str]
    outbox_sql: Counter[str]
    passes: int


def fan_out(
    backend: str, case: str, count: int, *, dm_stored: bool, holds: int, retry_after: int
) -> Run | None:
    """Plan `count` nudges, then send them all on the simulated clock."""
    limits = RateLimits(workspace_posts_per_minute=600, workspace_burst=10)
    clock = SimulatedClock()
    with database(backend) as engine:
        if engine is None:
            return None
        sessions = make_sessions(engine)
        users = seed_leads(sessions, count, dm_stored=dm_stored)
        settle(engine)
        ctx = Context(sessions=sessions, clock=clock.wall)
        assert (
            run_sweep(ctx, week=week_of(ctx.now(), ctx), policy=NudgePolicy()).planned_new == count
        )
        seen: Counter[str] = Counter()

        def count_sql(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if "deliveries" in statement:
                seen[statement.lstrip().split(None, 1)[0].upper()] += 1

        with FakeSlack() as fake:
            fake.add_token("xoxb-bench")
            fake.enforce_rate_limits(limits, clock=clock)
            client = build_sending_client(WebClient(base_url=fake.base_url, token="xoxb-bench"))
            try:
                sender = SlackSender(client, clock=clock, sleep=clock.sleep)
            except TypeError:  # (before conversations.open was paced)
                sender = SlackSender(client)
            injector = HoldInjector(fake, count, holds, retry_after)
            last_post = [0.0]
            post = sender.post

            def post_and_note(channel: str, reply: Any, key: str) -> str | None:
                injector.check()
                try:
                    return post(channel, reply, key)
                finally:
                    last_post[0] = clock()

            sender.post = post_and_note  # type: ignore[method-assign]
            policy = DeliveryPolicy()
            deliverer = Deliverer(
                ctx, sender, policy, pacer=Pacer(policy, clock=clock, sleep=clock.sleep)
            )
            loop = DeliveryLoop(deliverer)
            passes = 0
            event.listen(engine, "before_cursor_execute", count_sql)
            try:
                while True:
                    with sessions() as session:
                        statuses = outbox.counts_by_status(session)
                    if not statuses.get(outbox.PENDING) and not statuses.get(outbox.SENDING):
                        break
                    if clock() > 24 * 3600:
                        raise RuntimeError(f"not done after a simulated day: {statuses}")
                    passes += 1
                    if hasattr(loop, "_pass"):
                        # As DeliveryLoop._run: one pass, then sleep as long as it says.
                        delay = loop._pass()
                    else:  # (before: a fixed interval after each drain)
                        deliverer.drain(max_batches=20)
                        delay = delivery.LOOP_SECONDS
                    clock.sleep(delay)
            finally:
                event.remove(engine, "before_cursor_execute", count_sql)
            with sessions() as session:
                outcomes = Counter(outbox.counts_by_status(session))
            per_recipient = Counter(len(fake.messages(user)) for user in users)
            posts_429 = fake.rate_limited["chat.postMessage"]
            opens_429 = fake.rate_limited["conversations.open"]
    return Run(
        case=case,
        messages=count,
        holds=injector.injected,
        floor=floor_with_holds(
            limits,
            count,
            opens=0 if dm_stored else count,
            holds=injector.injected,
            hold=retry_after,
        ),
        elapsed=last_post[0],
        posts_429=posts_429,
        opens_429=opens_429,
        per_recipient=per_recipient,
        outcomes=outcomes,
        outbox_sql=seen,
        passes=passes,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--holds", type=int, default=2)
    parser.add_argument("--retry-after", type=int, default=30)
    parser.add_argument("--first-week", type=int, default=50)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    policy = DeliveryPolicy()
    print(
        f"Fan-out on a simulated clock ({args.backend}): fake Slack at 600 posts/min (burst 10), "
        f"1/s per channel (burst 3), conversations.open 50/min (burst 5); DeliveryPolicy(): "
        f"{policy.workspace_interval:g} s between messages, bursts of "
        f"{getattr(policy, 'workspace_burst', 1)}."
    )
    runs = [
        fan_out(
            args.backend,
            "steady (DM ids stored)",
            args.messages,
            dm_stored=True,
            holds=args.holds,
            retry_after=args.retry_after,
        ),
        fan_out(
            args.backend,
            "first week (opens DMs)",
            args.first_week,
            dm_stored=False,
            holds=0,
            retry_after=args.retry_after,
        ),
    ]
    print(
        f"  {'case':24s} {'msgs':>5s} {'holds':>5s} {'floor':>8s} {'elapsed':>8s} {'x floor':>7s}"
        f" {'429 post':>8s} {'429 open':>8s} {'passes':>6s} {'per recipient':>14s}  outbox SQL"
    )
    for r in runs:
        if r is None:
            continue
        spread = ", ".join(f"{n}:{k}" for n, k in sorted(r.per_recipient.items()))
        sql = ", ".join(f"{n} {word}" for word, n in sorted(r.outbox_sql.items()))
        print(
            f"  {r.case:24s} {r.messages:5d} {r.holds:5d} {r.floor:7.1f}s {r.elapsed:7.1f}s"
            f" {r.elapsed / r.floor if r.floor else 0:7.3f} {r.posts_429:8d} {r.opens_429:8d}"
            f" {r.passes:6d} {spread:>14s}  {sql}"
        )
    print(
        "  (simulated seconds: the database and HTTP take none; per recipient must be 1:all; "
        "outbox SQL includes this bench's own look at the outbox before each pass)"
    )


if __name__ == "__main__":
    main()
