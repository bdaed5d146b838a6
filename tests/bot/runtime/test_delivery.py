"""The outbox sender against a fake Slack: each planned message goes out once, whatever happens.

Deliveries are planned as the weekly sweep plans them (kind "nudge" to a project lead), then
drained by a Deliverer whose SlackSender talks to tests.fakes.FakeSlack over HTTP. The pacer runs
on a fake monotonic clock, so nothing here really sleeps except the client timeouts and the one
test of a 429 on real clocks.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from slack_sdk import WebClient
from sqlalchemy import event, func, literal, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.cli.main import build_parser
from bot.runtime.delivery import (
    RATE_LIMIT_GIVE_UP,
    Deliverer,
    DeliveryLoop,
    DeliveryPolicy,
    Pacer,
    delivery_key,
)
from bot.runtime.sending import SendError
from bot.slack.sender import (
    DEFAULT_RETRY_AFTER,
    METADATA_EVENT,
    OPEN_BURST,
    OPEN_INTERVAL,
    SlackSender,
    build_sending_client,
)
from handlers.core import ids
from handlers.core.context import Context
from handlers.core.reply import Actor, say
from handlers.dispatch import Dispatcher
from handlers.forum.announcements import run_announcements
from handlers.forum.channel_problems import GIVE_UP_AFTER
from handlers.nudges.weekly import NUDGE
from store import outbox, people
from store.engine import make_engine, make_sessions
from store.forums import create_forum
from store.memberships import add_membership
from store.migrate import upgrade
from store.models import ChatIdentity, Delivery, Person
from store.projects import create_project
from store.roles import Involvement, ProjectStatus, Role
from tests.fakes import FakeSlack
from tests.fakes.slack_api import TEAM_ID, Call, RateLimits
from tests.handlers import given

WEEK = "2026-W48"
POLICY = DeliveryPolicy(
    max_attempts=3,
    first_backoff=timedelta(seconds=30),
    channel_interval=1.0,
    workspace_interval=0.05,
    batch=10,
)
STALE = outbox.CLAIM_LEASE + timedelta(seconds=1)  # a claim older than the lease
FRESH = outbox.CLAIM_LEASE - timedelta(seconds=1)  # still within it
MANIFEST = Path(__file__).resolve().parents[3] / "deploy" / "slack-manifest.yml"


class FakeMonotonic:
    """A monotonic clock and a sleep that moves it instead of waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class TimedCalls(list):
    """`FakeSlack.calls` that also keeps when, on a test's clock, each call reached Slack."""

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__()
        self.clock = clock
        self.at: list[float] = []

    def append(self, call: Call) -> None:
        self.at.append(self.clock())
        super().append(call)


def time_calls(fake: FakeSlack, clock: Callable[[], float]) -> TimedCalls:
    """From now on, note the time of every call the fake receives (on `clock`)."""
    assert fake.calls == []
    fake.calls = timed = TimedCalls(clock)
    return timed


def time_passes(clock, monotonic: FakeMonotonic, **delta: float) -> None:
    """Move the database's clock and the pacer's together, as real time moves both."""
    clock.advance(**delta)
    monotonic.now += timedelta(**delta).total_seconds()


def failed_deliveries_as_admins_see_them(ctx: Context, capsys) -> str:
    """What `qi-nudge deliveries --failed` prints."""
    args = build_parser().parse_args(["deliveries", "--failed"])
    capsys.readouterr()
    assert args.handler(ctx, args) == 0
    return capsys.readouterr().out


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as running:
        # Channels these tests post in, with the bot in them (as an organiser would set up).
        running.add_channel("C1", "c1", bot_member=True)
        running.add_channel("CFORUM", "cforum", bot_member=True)
        yield running


@pytest.fixture
def monotonic() -> FakeMonotonic:
    return FakeMonotonic()


def slack_client(fake: FakeSlack, *, timeout: int = 5) -> WebClient:
    """What production builds: the bot's client, wrapped for sending (429s waited out)."""
    return build_sending_client(
        WebClient(token="xoxb-test", base_url=fake.base_url), timeout=timeout
    )


def deliverer(
    ctx: Context,
    fake: FakeSlack,
    monotonic: FakeMonotonic,
    policy: DeliveryPolicy = POLICY,
    *,
    timeout: int = 5,
) -> Deliverer:
    pacer = Pacer(policy, clock=monotonic, sleep=monotonic.sleep)
    sender = SlackSender(
        slack_client(fake, timeout=timeout), clock=monotonic, sleep=monotonic.sleep
    )
    return Deliverer(ctx, sender, policy, pacer=pacer)


def slack_lead(sessions: sessionmaker[Session], now, name: str, user_id: str) -> int:
    """A person on Slack; their id."""
    with sessions.begin() as session:
        return people.ensure_person_for_identity(
            session,
            platform="slack",
            workspace=TEAM_ID,
            user_id=user_id,
            display_name=name,
            now=now,
        ).id


def offline_lead(sessions: sessionmaker[Session], now, name: str) -> int:
    """A person with no chat account at all (imported from the register)."""
    with sessions.begin() as session:
        person = Person(display_name=name, created_at=now)
        session.add(person)
        session.flush()
        return person.id


def active_project(sessions: sessionmaker[Session], now, name: str, lead_id: int) -> int:
    """An active project led by `lead_id`, with nobody with lived experience on it."""
    with sessions.begin() as session:
        return create_project(
            session,
            name=name,
            lead_id=lead_id,
            site=None,
            status=ProjectStatus.ACTIVE,
            now=now,
        ).id


def plan_nudge(
    sessions: sessionmaker[Session], now, lead_id: int, project_ids: list[int], week: str = WEEK
) -> int:
    """Plan the lead's weekly nudge as the sweep does; the delivery's id."""
    planned = outbox.Planned(
        NUDGE, week, outbox.person_recipient(lead_id), {"projects": sorted(project_ids)}
    )
    with sessions.begin() as session:
        assert outbox.plan(session, [planned], now=now) == 1
        return session.scalar(
            select(Delivery.id).where(
                Delivery.kind == NUDGE,
                Delivery.occurrence == week,
                Delivery.recipient == planned.recipient,
            )
        )


def row(sessions: sessionmaker[Session], delivery_id: int) -> Delivery:
    with sessions() as session:
        found = session.get(Delivery, delivery_id)
        assert found is not None
        return found


def dm_channel(sessions: sessionmaker[Session], person_id: int) -> str | None:
    with sessions() as session:
        identity = people.identity_on(session, person_id, "slack")
        assert identity is not None
        return identity.dm_channel


def keys_in(fake: FakeSlack, channel: str) -> list[str]:
    """The delivery keys carried by the messages in a channel, oldest first."""
    return [
        m["metadata"]["event_payload"]["key"]
        for m in fake.messages(channel)
        if (m.get("metadata") or {}).get("event_type") == METADATA_EVENT
    ]


@pytest.fixture
def asha(sessions, clock) -> int:
    """A QI lead on Slack (user U1, so her DM with the bot is D U1 -> "DU1")."""
    return slack_lead(sessions, clock(), "Asha Patel", "U1")


@pytest.fixture
def falls(sessions, clock, asha) -> int:
    return active_project(sessions, clock(), "Falls prevention", asha)


# -- the ordinary case -------------------------------------------------------------------------


def test_a_due_nudge_is_posted_once_to_the_leads_dm_with_its_key(
    ctx, sessions, clock, fake, monotonic, asha, falls
):
    delivery_id = plan_nudge(sessions, clock(), asha, [falls])

    outcomes = deliverer(ctx, fake, monotonic).drain()

    assert outcomes == Counter(sent=1)
    [message] = fake.messages("DU1")
    assert message["metadata"] == {
        "event_type": METADATA_EVENT,
        "event_payload": {"key": delivery_key(delivery_id)},
    }
    assert "Falls prevention" in message["text"]
    assert len(fake.calls_to("chat.postMessage")) == 1
    sent = row(sessions, delivery_id)
    assert (sent.status, sent.platform, sent.channel_id) == (outbox.SENT, "slack", "DU1")
    assert sent.message_ts == message["ts"]
    assert sent.sent_at == clock()
    assert sent.attempts == 1 and sent.error is None


def test_delivery_keys_are_distinct_per_delivery():
    assert delivery_key(1) != delivery_key(11)
    assert delivery_key(7) == delivery_key(7)


def test_a_second_drain_sends_nothing(ctx, sessions, clock, fake, monotonic, asha, falls):
    plan_nudge(sessions, clock(), asha, [falls])
    sender = deliverer(ctx, fake, monotonic)
    sender.drain()

    again = sender.drain()
    later = deliverer(ctx, fake, monotonic)  # a restarted process finds nothing to do either
    clock.advance(days=1)
    after_restart = later.drain()

    assert again == Counter() and after_restart == Counter()
    assert len(fake.messages("DU1")) == 1
    assert len(fake.calls_to("chat.postMessage")) == 1


def test_the_dm_channel_is_opened_once_and_kept_across_weeks(
    ctx, sessions, clock, fake, monotonic, asha, falls
):
    assert dm_channel(sessions, asha) is None
    plan_nudge(sessions, clock(), asha, [falls], week="2026-W48")
    deliverer(ctx, fake, monotonic).drain()
    assert dm_channel(sessions, asha) == "DU1"

    for week in ("2026-W49", "2026-W50"):
        clock.advance(days=7)
        plan_nudge(sessions, clock(), asha, [falls], week=week)
        # A new process each week: what it knows comes from the database.
        deliverer(ctx, fake, monotonic).drain()

    assert len(fake.calls_to("conversations.open")) == 1
    assert fake.calls_to("conversations.open")[0].args["users"] == "U1"
    assert len(fake.messages("DU1")) == 3


@pytest.mark.parametrize("fresh_database_url", ["sqlite"], indirect=True)
def test_the_database_is_free_while_slack_opens_a_dm(fresh_database_url, clock, fake, monotonic):
    """SQLite has one write lock: a sign-up must not wait while Slack opens a lead's DM.

    (Its own database: the shared test fixture runs every session on one connection.)
    """
    engine = make_engine(fresh_database_url)
    upgrade(engine)
    real = make_sessions(engine)
    ctx = Context(sessions=real, clock=clock)
    lead = slack_lead(real, clock(), "Asha Patel", "U1")
    plan_nudge(real, clock(), lead, [active_project(real, clock(), "Falls prevention", lead)])
    fake.delay("conversations.open", 1.5)
    sending = threading.Thread(target=deliverer(ctx, fake, monotonic).drain)
    sending.start()
    assert fake.wait_for(lambda: fake.calls_to("conversations.open") != [], timeout=5)

    started = time.monotonic()
    with real.begin() as session:  # what a /qi-join does: a write
        session.add(Person(display_name="Kim Lee", created_at=clock()))
    waited = time.monotonic() - started
    sending.join(10)

    assert waited < 0.5, f"a write waited {waited:.1f} s for Slack to open a DM"
    assert len(fake.messages("DU1")) == 1
    engine.dispose()


def test_a_channel_recipient_is_posted_in_that_channel_without_opening_a_dm(
    ctx, sessions, clock, fake, monotonic
):
    sender = SlackSender(slack_client(fake))
    assert sender.destination(sessions, outbox.channel_recipient("slack:C0FORUM")) == "C0FORUM"
    assert sender.destination(sessions, outbox.channel_recipient("teams:19:abc")) is None
    assert fake.calls_to("conversations.open") == []


def test_a_lead_not_on_slack_is_failed_with_a_reason_and_nothing_is_sent(
    ctx, sessions, clock, fake, monotonic
):
    lead = offline_lead(sessions, clock(), "Dev Sharma")
    project = active_project(sessions, clock(), "Sepsis screening", lead)
    delivery_id = plan_nudge(sessions, clock(), lead, [project])

    outcomes = deliverer(ctx, fake, monotonic).drain()

    assert outcomes == Counter(failed=1)
    failed = row(sessions, delivery_id)
    assert failed.status == outbox.FAILED
    assert "not on slack" in failed.error
    assert fake.calls == []


def test_a_delivery_no_longer_needed_is_withdrawn_and_nothing_is_sent(
    ctx, sessions, clock, fake, monotonic, asha, falls
):
    delivery_id = plan_nudge(sessions, clock(), asha, [falls])
    carer = offline_lead(sessions, clock(), "Sam Jones")
    with sessions.begin() as session:
        add_membership(
            session,
            project_id=falls,
            person_id=carer,
            role=Role.CARER,
            involvement=Involvement.TEAM_MEMBER,
            consent_by_id=asha,
            now=clock(),
        )

    outcomes = deliverer(ctx, fake, monotonic).drain()

    assert outcomes == Counter(withdrawn=1)
    assert row(sessions, delivery_id).status == outbox.WITHDRAWN
    assert fake.calls_to("chat.postMessage") == []
    assert fake.messages("DU1") == []


def test_one_message_to_a_lead_lists_only_the_projects_that_still_need_it(
    ctx, sessions, clock, fake, monotonic, asha, falls
):
    sepsis = active_project(sessions, clock(), "Sepsis screening", asha)
    plan_nudge(sessions, clock(), asha, [falls, sepsis])
    with sessions.begin() as session:
        add_membership(
            session,
            project_id=sepsis,
            person_id=offline_lead(sessions, clock(), "Sam Jones"),
            role=Role.SERVICE_USER,
            involvement=Involvement.TEAM_MEMBER,
            consent_by_id=asha,
            now=clock(),
        )

    deliverer(ctx, fake, monotonic).drain()

    [message] = fake.messages("DU1")
    assert "Falls prevention" in message["text"]
    assert "Sepsis screening" not in message["text"]


# -- Slack misbehaving ---------------------------------------------------------------------------


def test_a_429_puts_the_delivery_back_for_its_retry_after_without_using_an_attempt(
    ctx, sessions, clock, fake, monotonic, asha, falls
):
    delivery_id = plan_nudge(sessions, clock(), asha, [falls])
    fake.fail("chat.postMessage", 429, retry_after=7)
    sender = deliverer(ctx, fake, monotonic)

    assert sender.drain() == Counter(retry=1)

    waiting = row(sessions, delivery_id)
    assert (waiting.status, waiting.attempts) == (outbox.PENDING, 0)
    assert waiting.next_attempt_at == clock() + timedelta(seconds=7)
    assert "ratelimited" in waiting.error
    assert sender.pacer.held_for() == 7  # and nothing else goes to Slack meanwhile

    time_passes(clock, monotonic, seconds=6)
    assert sender.drain() == Counter()  # not yet
    time_passes(clock, monotonic, seconds=1)
    assert sender.drain() == Counter(sent=1)

    assert len(fake.calls_to("chat.postMessage")) == 2  # the refused one, then the real one
    assert len(fake.messages("DU1")) == 1
    sent = row(sessions, delivery_id)
    assert (sent.status, sent.attempts, sent.error) == (outbox.SENT, 1, None)
    # A 429 posts nothing, so there was nothing to look for before posting again.
    assert fake.calls_to("conversations.history") == []


def test_a_429_on_opening_the_dm_is_waited_out_too(
    ctx, sessions, clock, fake, monotonic, asha, falls
):
    delivery_id = plan_nudge(sessions, clock(), asha, [falls])
    fake.fail("conversations.open", 429, retry_after=3)
    sender = deliverer(ctx, fake, monotonic)

    assert sender.drain() == Counter(retry=1)
    assert row(sessions, delivery_id).attempts == 0
    time_passes(clock, monotonic, seconds=3)
    assert sender.drain() == Counter(sent=1)

    assert len(fake.calls_to("conversations.open")) == 2
    assert dm_channel(sessions, asha) == "DU1"
    assert len(fake.messages("DU1")) == 1


def test_a_storm_of_429s_holds_every_delivery_and_fails_none_and_sends_each_once(
    ctx, sessions, clock, fake, monotonic, asha, falls
):
    """20 429s in a row over 10 due nudges: more than slack_sdk's own handler would have
    retried (5), and far more than max_attempts (3)."""
    plan_nudge(sessions, clock(), asha, [falls])
    for n in range(2, 11):
        lead = slack_lead(sessions, clock(), f"Lead {n}", f"U{n}")
        plan_nudge(sessions, clock(), lead, [active_project(sessions, clock(), f"P{n}", lead)])
    calls = time_calls(fake, monotonic)
    fake.fail("chat.postMessage", 429, retry_after=1, times=20)
    sender = deliverer(ctx, fake, monotonic)

    outcomes: Counter[str] = Counter()
    for _ in range(50):
        outcomes.update(sender.drain())
        with sessions() as session:
            if outbox.counts_by_status(session) == {outbox.SENT: 10}:
                break
        time_passes(clock, monotonic, seconds=1)

    assert outcomes == Counter(retry=20, sent=10)
    assert {n: len(fake.messages(f"DU{n}")) for n in range(1, 11)} == dict.fromkeys(range(1, 11), 1)
    assert len(fake.calls_to("chat.postMessage")) == 20 + 10
    with sessions() as session:
        rows = outbox.deliveries(session)
        assert [(r.status, r.attempts, r.error) for r in rows] == [(outbox.SENT, 1, None)] * 10
    # Slack asked for a second each time and got it: nothing at all (not even a DM being
    # opened) went to Slack sooner, from the refused delivery or from the rest of the batch.
    refused = [i for i, call in enumerate(calls) if call.method == "chat.postMessage"][:20]
    gaps = [calls.at[i + 1] - calls.at[i] for i in refused]
    assert min(gaps) >= 1.0, gaps
    # Nothing was ever in doubt: a 429 posts nothing, so no history was searched.
    assert fake.calls_to("conversations.history") == []


def test_a_long_retry_after_gives_the_batch_back_rather_than_sleep_on_its_claims(
    ctx, sessions, clock, fake, monotonic, asha, falls
):
    ben = slack_lead(sessions, clock(), "Ben Okafor", "U2")
    ids = [
        plan_nudge(sessions, clock(), asha, [falls]),
        plan_nudge(sessions, clock(), ben, [active_project(sessions, clock(), "Sepsis", ben)]),
    ]
    fake.fail("chat.postMessage", 429, retry_after=120)
    sender = deliverer(ctx, fake, monotonic)

    assert sender.drain() == Counter(retry=2)

    assert monotonic.slept == []  # nobody sat on the batch's claims for two minutes
    assert len(fake.calls_to("conversations.open")) == 1  # Ben's DM was not even opened
    for delivery_id in ids:
        waiting = row(sessions, delivery_id)
        assert (waiting.status, waiting.attempts) == (outbox.PENDING, 0)
        assert waiting.next_attempt_at == clock() + timedelta(seconds=120)
    time_passes(clock, monotonic, seconds=119)
    assert sender.drain() == Counter()
    time_passes(clock, monotonic, seconds=1)
    assert sender.drain() == Counter(sent=2)
    assert len(fake.messages("DU1")) == 1 and len(fake.messages("DU2")) == 1


def test_after_a_429_nothing_reaches_slack_until_retry_after_has_passed_on_real_clocks(
    sessions, clock, fake, asha, falls
):
    """As `serve` runs it: the pacer on time.monotonic, the database's clock moving for real."""
    started, start = time.monotonic(), clock()
    ctx = Context(
        sessions=sessions, clock=lambda: start + timedelta(seconds=time.monotonic() - started)
    )
    ben = slack_lead(sessions, start, "Ben Okafor", "U2")
    plan_nudge(sessions, start, asha, [falls])
    plan_nudge(sessions, start, ben, [active_project(sessions, start, "Sepsis", ben)])
    calls = time_calls(fake, time.monotonic)
    fake.fail("chat.postMessage", 429, retry_after=1)
    sender = Deliverer(ctx, SlackSender(slack_client(fake)), POLICY)  # a real Pacer

    deadline = time.monotonic() + 10
    while len(fake.calls_to("chat.postMessage")) < 3 and time.monotonic() < deadline:
        sender.drain()  # as the delivery loop does, but often
        time.sleep(0.02)

    assert len(fake.messages("DU1")) == 1 and len(fake.messages("DU2")) == 1
    refused = next(i for i, call in enumerate(calls) if call.method == "chat.postMessage")
    assert calls.at[refused + 1] - calls.at[refused] >= 1.0
    with sessions() as session:
        assert outbox.counts_by_status(session) == {outbox.SENT: 2}


def test_a_delivery_still_rate_limited_a_day_after_its_first_refusal_fails_with_the_reason(
    ctx, sessions, clock, fake, monotonic, asha, falls, capsys
):
    delivery_id = plan_nudge(sessions, clock(), asha, [falls])
    fake.fail("chat.postMessage", 429, retry_after=3600, times=100)
    sender = deliverer(ctx, fake, monotonic)

    outcomes: Counter[str] = Counter()
    for _ in range(30):
        outcomes.update(sender.drain())
        time_passes(clock, monotonic, hours=1)

    hours = int(RATE_LIMIT_GIVE_UP.total_seconds() // 3600)
    assert outcomes == Counter(retry=hours, failed=1)
    failed = row(sessions, delivery_id)
    assert failed.status == outbox.FAILED
    assert "ratelimited" in failed.error and f"{hours} hours" in failed.error
    assert fake.messages("DU1") == []
    listed = failed_deliveries_as_admins_see_them(ctx, capsys)
    assert "to Asha Patel: failed" in listed and "still rate-limited" in listed


def test_a_message_planned_before_a_long_outage_is_not_failed_at_its_first_rate_limit(
    ctx, sessions, clock, fake, monotonic, asha, falls
):
    """The day is counted from the first refusal, not from when the message was planned."""
    delivery_id = plan_nudge(sessions, clock(), asha, [falls])
    time_passes(clock, monotonic, hours=30)  # the bot was down over a weekend
    fake.fail("chat.postMessage", 429, retry_after=1)

    refused = deliverer(ctx, fake, monotonic).drain()
    time_passes(clock, monotonic, minutes=1)
    later = deliverer(ctx, fake, monotonic).drain()

    assert (refused, later) == (Counter(retry=1), Counter(sent=1))
    assert len(fake.messages("DU1")) == 1
    assert row(sessions, delivery_id).status == outbox.SENT


def test_rate_limits_between_5xx_answers_do_not_use_up_attempts(
    ctx, sessions, clock, fake, monotonic, asha, falls
):
    delivery_id = plan_nudge(sessions, clock(), asha, [falls])
    fake.fail("chat.postMessage", 503)
    fake.fail("chat.postMessage", 429, retry_after=1, times=5)
    fake.fail("chat.postMessage", 503)
    sender = deliverer(ctx, fake, monotonic)  # max_attempts=3
    waits = []

    outcomes: Counter[str] = Counter()
    for _ in range(20):
        outcomes.update(sender.drain())
        waiting = row(sessions, delivery_id)
        if waiting.status != outbox.PENDING:
            break
        waits.append(waiting.next_attempt_at - clock())
        time_passes(clock, monotonic, seconds=waits[-1].total_seconds())

    assert outcomes == Counter(retry=7, sent=1)
    # Backoff for the 5xx (30 s, then 60 s: the second failed attempt), Retry-After between.
    assert waits == [timedelta(seconds=s) for s in (30, 1, 1, 1, 1, 1, 60)]
    sent = row(sessions, delivery_id)
    assert (sent.status, sent.attempts, sent.error) == (outbox.SENT, 3, None)
    assert len(fake.messages("DU1")) == 1


def test_a_5xx_is_retried_later_with_the_error_kept_then_sent_exactly_once(
    ctx, sessions, clock, fake, monotonic, asha, falls
):
    delivery_id = plan_nudge(sessions, clock(), asha, [falls])
    fake.fail("chat.postMessage", 500)
    sender = deliverer(ctx, fake, monotonic)

    first = sender.drain()

    assert first == Counter(retry=1)
    waiting = row(sessions, delivery_id)
    assert waiting.status == outbox.PENDING
    assert waiting.next_attempt_at == clock() + POLICY.first_backoff
    assert "fatal_error" in waiting.error
    assert fake.messages("DU1") == []

    clock.advance(seconds=29)
    assert sender.drain() == Counter()  # not due yet
    clock.advance(seconds=1)
    second = sender.drain()

    assert second == Counter(sent=1)
    assert len(fake.messages("DU1")) == 1
    sent = row(sessions, delivery_id)
    assert (sent.status, sent.attempts, sent.error) == (outbox.SENT, 2, None)
    assert sent.message_ts == fake.messages("DU1")[0]["ts"]
    # The retry looked for an earlier copy before posting: there was none.
    assert len(fake.calls_to("conversations.history")) == 1
    assert sender.drain() == Counter()


def test_backoff_doubles_after_each_failed_attempt(
    ctx, sessions, clock, fake, monotonic, asha, falls
):
    delivery_id = plan_nudge(sessions, clock(), asha, [falls])
    policy = DeliveryPolicy(max_attempts=4, first_backoff=timedelta(seconds=10), batch=10)
    fake.fail("chat.postMessage", 503, times=3)
    sender = deliverer(ctx, fake, monotonic, policy)
    waits = []
    for _ in range(3):
        started = clock()
        assert sender.drain() == Counter(retry=1)
        due = row(sessions, delivery_id).next_attempt_at
        waits.append(due - started)
        clock.current = due

    assert waits == [timedelta(seconds=10), timedelta(seconds=20), timedelta(seconds=40)]
    assert sender.drain() == Counter(sent=1)
    assert len(fake.messages("DU1")) == 1


def test_after_max_attempts_of_5xx_the_delivery_fails_and_is_listed_as_failed(
    ctx, sessions, clock, fake, monotonic, asha, falls
):
    delivery_id = plan_nudge(sessions, clock(), asha, [falls])
    fake.fail("chat.postMessage", 503, times=POLICY.max_attempts)
    sender = deliverer(ctx, fake, monotonic)

    outcomes: Counter[str] = Counter()
    for _ in range(POLICY.max_attempts):
        outcomes.update(sender.drain())
        clock.advance(hours=1)

    assert outcomes == Counter(retry=POLICY.max_attempts - 1, failed=1)
    failed = row(sessions, delivery_id)
    assert failed.status == outbox.FAILED
    assert failed.attempts == POLICY.max_attempts
    assert "fatal_error" in failed.error
    assert f"after {POLICY.max_attempts} attempts" in failed.error
    with sessions() as session:
        listed = outbox.deliveries(session, status=outbox.FAILED)
        assert [d.id for d in listed] == [delivery_id]
        assert outbox.deliveries(session, status=outbox.PENDING) == []
    assert fake.messages("DU1") == []
    # Given up: nothing more is tried.
    clock.advance(days=1)
    assert sender.drain() == Counter()
    assert len(fake.calls_to("chat.postMessage")) == POLICY.max_attempts


def test_a_5xx_storm_is_retried_with_backoff_then_failed_and_listed_for_admins(
    ctx, sessions, clock, fake, monotonic, asha, falls, capsys
):
    ben = slack_lead(sessions, clock(), "Ben Okafor", "U2")
    chloe = slack_lead(sessions, clock(), "Chloe Evans", "U3")
    ids = [plan_nudge(sessions, clock(), asha, [falls])] + [
        plan_nudge(sessions, clock(), lead, [active_project(sessions, clock(), f"P{lead}", lead)])
        for lead in (ben, chloe)
    ]
    fake.fail("chat.postMessage", 500, times=len(ids) * POLICY.max_attempts)
    sender = deliverer(ctx, fake, monotonic)

    outcomes: Counter[str] = Counter()
    waits: dict[int, list[timedelta]] = {delivery_id: [] for delivery_id in ids}
    for _ in range(POLICY.max_attempts):
        started = clock()
        outcomes.update(sender.drain())
        for delivery_id in ids:
            if row(sessions, delivery_id).status == outbox.PENDING:
                waits[delivery_id].append(row(sessions, delivery_id).next_attempt_at - started)
        clock.current = max(row(sessions, i).next_attempt_at for i in ids)

    assert outcomes == Counter(retry=3 * (POLICY.max_attempts - 1), failed=3)
    doubling = [POLICY.first_backoff * 2**n for n in range(POLICY.max_attempts - 1)]
    assert waits == dict.fromkeys(ids, doubling)
    for delivery_id in ids:
        failed = row(sessions, delivery_id)
        assert (failed.status, failed.attempts) == (outbox.FAILED, POLICY.max_attempts)
        assert "fatal_error" in failed.error
    assert all(fake.messages(f"DU{n}") == [] for n in (1, 2, 3))
    assert sender.drain() == Counter()  # given up: nothing more is tried
    listed = failed_deliveries_as_admins_see_them(ctx, capsys)
    assert "3 failed" in listed
    for name in ("Asha Patel", "Ben Okafor", "Chloe Evans"):
        assert f"to {name}: failed after 3 attempts (Slack said fatal_error" in listed


def test_an_error_a_person_must_fix_fails_at_once(
    ctx, sessions, clock, fake, monotonic, asha, falls
):
    delivery_id = plan_nudge(sessions, clock(), asha, [falls])
    fake.fail("chat.postMessage", 200, error="channel_not_found")

    assert deliverer(ctx, fake, monotonic).drain() == Counter(failed=1)
    failed = row(sessions, delivery_id)
    assert failed.status == outbox.FAILED
    assert "channel_not_found" in failed.error
    assert failed.error.endswith("(after 1 attempt)")
    assert failed.attempts == 1


def test_a_transient_slack_error_in_a_200_answer_is_retried(
    ctx, sessions, clock, fake, monotonic, asha, falls
):
    delivery_id = plan_nudge(sessions, clock(), asha, [falls])
    fake.fail("chat.postMessage", 200, error="service_unavailable")

    assert deliverer(ctx, fake, monotonic).drain() == Counter(retry=1)
    assert row(sessions, delivery_id).status == outbox.PENDING


def test_a_send_that_timed_out_but_reached_slack_is_found_and_not_posted_again(
    ctx, sessions, clock, fake, monotonic, asha, falls
):
    delivery_id = plan_nudge(sessions, clock(), asha, [falls])
    # Slack takes longer than the client waits, then posts the message anyway.
    fake.delay("chat.postMessage", 1.3)
    sender = deliverer(ctx, fake, monotonic, timeout=1)

    first = sender.drain()

    assert first == Counter(retry=1)
    waiting = row(sessions, delivery_id)
    assert waiting.status == outbox.PENDING
    assert "no answer from Slack" in waiting.error
    assert fake.wait_for(lambda: len(fake.messages("DU1")) == 1, timeout=3)

    clock.advance(seconds=POLICY.first_backoff.total_seconds())
    second = sender.drain()

    assert second == Counter(sent=1)
    assert len(fake.calls_to("chat.postMessage")) == 1
    [message] = fake.messages("DU1")
    assert keys_in(fake, "DU1") == [delivery_key(delivery_id)]
    sent = row(sessions, delivery_id)
    assert (sent.status, sent.message_ts, sent.channel_id) == (outbox.SENT, message["ts"], "DU1")
    history = fake.calls_to("conversations.history")
    assert len(history) == 1 and history[0].args["channel"] == "DU1"


def test_timeouts_are_retried_with_backoff_and_what_slack_did_post_is_not_posted_again(
    ctx, sessions, clock, fake, monotonic, asha, falls
):
    delivery_id = plan_nudge(sessions, clock(), asha, [falls])
    fake.delay("chat.postMessage", 1.3)  # Slack posts it, but after the client gave up
    fake.delay("conversations.history", 1.3)  # and then looking for it times out too
    sender = deliverer(ctx, fake, monotonic, timeout=1)

    assert sender.drain() == Counter(retry=1)
    assert fake.wait_for(lambda: len(fake.messages("DU1")) == 1, timeout=3)
    waiting = row(sessions, delivery_id)
    assert "no answer from Slack" in waiting.error
    assert waiting.next_attempt_at == clock() + POLICY.first_backoff

    clock.advance(seconds=30)
    assert sender.drain() == Counter(retry=1)  # not knowing, it did not post blind
    assert row(sessions, delivery_id).next_attempt_at == clock() + 2 * POLICY.first_backoff

    clock.advance(seconds=60)
    assert sender.drain() == Counter(sent=1)
    [message] = fake.messages("DU1")
    assert len(fake.calls_to("chat.postMessage")) == 1
    sent = row(sessions, delivery_id)
    assert (sent.status, sent.attempts, sent.message_ts) == (outbox.SENT, 3, message["ts"])


def test_a_timeout_of_the_message_history_leaves_the_delivery_for_later(
    ctx, sessions, clock, fake, monotonic, asha, falls
):
    """Not knowing whether it was posted, the sender must not post blind."""
    delivery_id = plan_nudge(sessions, clock(), asha, [falls])
    fake.fail("chat.postMessage", 500)
    sender = deliverer(ctx, fake, monotonic)
    sender.drain()
    clock.advance(minutes=1)
    fake.fail("conversations.history", 500)

    assert sender.drain() == Counter(retry=1)
    assert row(sessions, delivery_id).status == outbox.PENDING
    assert len(fake.calls_to("chat.postMessage")) == 1  # only the first, refused one


# -- crash recovery ----------------------------------------------------------------------------


def leave_claimed(sessions, delivery_id: int, *, claimed_at, attempts: int = 1) -> None:
    """What a sender that died mid-send leaves behind."""
    with sessions.begin() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id)
            .values(status=outbox.SENDING, claimed_at=claimed_at, attempts=attempts)
        )


def post_as_the_dead_sender(fake: FakeSlack, channel: str, key: str) -> str:
    """The message the dead sender got out before it could record it; its ts."""
    client = WebClient(token="xoxb-test", base_url=fake.base_url)
    answer = client.chat_postMessage(
        channel=channel,
        text="Who with lived experience is on your team?",
        metadata={"event_type": METADATA_EVENT, "event_payload": {"key": key}},
    )
    return answer["ts"]


def test_a_stale_claim_whose_message_is_already_posted_is_marked_sent_without_posting(
    ctx, sessions, clock, fake, monotonic, asha, falls
):
    delivery_id = plan_nudge(sessions, clock(), asha, [falls])
    other = plan_nudge(sessions, clock(), asha, [falls], week="2026-W47")
    leave_claimed(sessions, delivery_id, claimed_at=clock() - STALE)
    with sessions.begin() as session:
        identity = people.identity_on(session, asha, "slack")
        identity.dm_channel = "DU1"
    # The dead sender's message, after (so above) a message with another delivery's key.
    post_as_the_dead_sender(fake, "DU1", delivery_key(other + 1000))
    ts = post_as_the_dead_sender(fake, "DU1", delivery_key(delivery_id))
    with sessions.begin() as session:  # only the stale one is under test
        outbox.mark_withdrawn(session, other, reason="not under test")
    posts_before = len(fake.calls_to("chat.postMessage"))

    outcomes = deliverer(ctx, fake, monotonic).drain()

    assert outcomes == Counter(sent=1)
    assert len(fake.calls_to("chat.postMessage")) == posts_before
    assert len(fake.messages("DU1")) == 2
    recovered = row(sessions, delivery_id)
    assert (recovered.status, recovered.message_ts) == (outbox.SENT, ts)
    history = fake.calls_to("conversations.history")
    assert len(history) == 1
    assert history[0].args["include_all_metadata"] in ("1", True, "true")


def test_a_stale_claim_whose_message_never_went_out_is_posted_once(
    ctx, sessions, clock, fake, monotonic, asha, falls
):
    delivery_id = plan_nudge(sessions, clock(), asha, [falls])
    leave_claimed(sessions, delivery_id, claimed_at=clock() - STALE)
    # Another delivery's message is there; it must not be taken for this one.
    post_as_the_dead_sender(fake, "DU1", delivery_key(delivery_id + 1))

    outcomes = deliverer(ctx, fake, monotonic).drain()

    assert outcomes == Counter(sent=1)
    assert keys_in(fake, "DU1") == [delivery_key(delivery_id + 1), delivery_key(delivery_id)]
    assert len(fake.calls_to("conversations.history")) == 1
    recovered = row(sessions, delivery_id)
    assert recovered.status == outbox.SENT
    assert recovered.attempts == 2
    assert recovered.message_ts == fake.messages("DU1")[-1]["ts"]


def test_a_fresh_claim_belongs_to_a_live_sender_and_is_left_alone(
    ctx, sessions, clock, fake, monotonic, asha, falls
):
    delivery_id = plan_nudge(sessions, clock(), asha, [falls])
    leave_claimed(sessions, delivery_id, claimed_at=clock() - FRESH)

    assert deliverer(ctx, fake, monotonic).drain() == Counter()
    assert row(sessions, delivery_id).status == outbox.SENDING
    assert fake.calls == []

    clock.advance(seconds=2)  # now the lease has run out
    assert deliverer(ctx, fake, monotonic).drain() == Counter(sent=1)
    assert len(fake.messages("DU1")) == 1


def test_the_claim_lease_is_the_policys(ctx, sessions, clock, fake, monotonic, asha, falls):
    """DELIVERY_CLAIM_LEASE reaches the claim: a shorter lease takes a dead claim sooner."""
    delivery_id = plan_nudge(sessions, clock(), asha, [falls])
    leave_claimed(sessions, delivery_id, claimed_at=clock() - timedelta(seconds=3))
    short = DeliveryPolicy(channel_interval=0, claim_lease=timedelta(seconds=2))

    assert deliverer(ctx, fake, monotonic).drain() == Counter()  # 5 minutes: still alive
    assert deliverer(ctx, fake, monotonic, short).drain() == Counter(sent=1)
    assert len(fake.messages("DU1")) == 1
    assert len(fake.calls_to("conversations.history")) == 1  # looked first: it was uncertain


def test_a_sender_slower_than_the_lease_does_not_post_what_another_took_over(
    ctx, sessions, clock, fake, monotonic, asha, falls
):
    """Rate-limit waits can stretch a batch past the lease; another replica then takes the
    rest of it. The slow sender must not post those a second time."""
    ben = slack_lead(sessions, clock(), "Ben Okafor", "U2")
    ben_project = active_project(sessions, clock(), "Sepsis screening", ben)
    plan_nudge(sessions, clock(), asha, [falls])
    ben_delivery = plan_nudge(sessions, clock(), ben, [ben_project])
    slow = deliverer(ctx, fake, monotonic)
    other = deliverer(ctx, fake, monotonic)
    real_post = slow.sender.post
    taken_over = []

    def post_then_stall(channel, reply, key):
        answer = real_post(channel, reply, key)
        if not taken_over:
            # After the first post this sender stalls past the lease; the other one drains.
            clock.advance(seconds=outbox.CLAIM_LEASE.total_seconds() + 1)
            taken_over.append(other.drain())
        return answer

    slow.sender.post = post_then_stall  # type: ignore[method-assign]

    outcomes = slow.drain()

    # Asha's was posted by the slow sender, but the row is the other's by then: it records it.
    assert outcomes == Counter(taken_over=2)
    assert taken_over == [Counter(sent=2)]  # Asha found already posted, Ben posted
    assert len(fake.messages("DU1")) == 1
    assert len(fake.messages("DU2")) == 1, "Ben got the same nudge twice"
    assert row(sessions, ben_delivery).status == outbox.SENT


def test_a_late_failure_does_not_undo_what_the_sender_that_took_over_recorded(
    ctx, sessions, clock, fake, monotonic, asha, falls
):
    delivery = plan_nudge(sessions, clock(), asha, [falls])
    slow = deliverer(ctx, fake, monotonic)
    other = deliverer(ctx, fake, monotonic)
    taken_over = []

    def stall_then_fail(channel, reply, key):
        # Stalls past the lease, the other sender posts it, then Slack's answer is a 503.
        clock.advance(seconds=outbox.CLAIM_LEASE.total_seconds() + 1)
        taken_over.append(other.drain())
        raise SendError("Slack said 503", retryable=True)

    slow.sender.post = stall_then_fail  # type: ignore[method-assign]

    outcomes = slow.drain()

    assert outcomes == Counter(taken_over=1)
    assert taken_over == [Counter(sent=1)]
    assert row(sessions, delivery).status == outbox.SENT, "the late 503 put it back to pending"
    assert len(fake.messages("DU1")) == 1


def test_an_unexpected_error_puts_the_row_back_and_the_rest_still_go(
    ctx, sessions, clock, fake, monotonic, asha, falls
):
    ben = slack_lead(sessions, clock(), "Ben Okafor", "U2")
    first = plan_nudge(sessions, clock(), asha, [falls])
    plan_nudge(sessions, clock(), ben, [active_project(sessions, clock(), "Sepsis", ben)])
    sender = deliverer(ctx, fake, monotonic)
    real_post = sender.sender.post

    def broken_for_asha(channel, reply, key):
        if key == delivery_key(first):
            raise RuntimeError("a bug")
        return real_post(channel, reply, key)

    sender.sender.post = broken_for_asha  # type: ignore[method-assign]

    assert sender.drain() == Counter(retry=1, sent=1)
    assert row(sessions, first).status == outbox.PENDING
    assert len(fake.messages("DU2")) == 1


# -- pacing ------------------------------------------------------------------------------------


def test_two_messages_to_one_channel_are_spaced_by_the_channel_interval(
    ctx, sessions, clock, fake, monotonic, asha, falls
):
    plan_nudge(sessions, clock(), asha, [falls], week="2026-W47")
    plan_nudge(sessions, clock(), asha, [falls], week="2026-W48")
    sender = deliverer(ctx, fake, monotonic)
    posted_at: list[float] = []
    real_post = sender.sender.post

    def timed_post(channel, reply, key):
        posted_at.append(monotonic())
        return real_post(channel, reply, key)

    sender.sender.post = timed_post  # type: ignore[method-assign]

    assert sender.drain() == Counter(sent=2)

    assert len(posted_at) == 2
    assert posted_at[1] - posted_at[0] >= POLICY.channel_interval
    assert sum(monotonic.slept) == pytest.approx(POLICY.channel_interval)


def test_pacer_spaces_one_channel_by_its_interval_and_others_by_the_workspace_interval():
    policy = DeliveryPolicy(channel_interval=1.0, workspace_interval=0.05, workspace_burst=1)
    monotonic = FakeMonotonic()
    pacer = Pacer(policy, clock=monotonic, sleep=monotonic.sleep)
    sent: list[tuple[str, float]] = []
    for channel in ["DU1", "DU2", "DU1", "C9", "DU2"]:
        pacer.wait_for(channel)
        sent.append((channel, monotonic()))

    times = [t for _, t in sent]
    assert all(b - a >= policy.workspace_interval - 1e-9 for a, b in itertools.pairwise(times))
    for channel in ("DU1", "DU2"):
        mine = [t for c, t in sent if c == channel]
        assert mine[1] - mine[0] >= policy.channel_interval - 1e-9
    # No sleeping beyond what the limits require: the first message waits for nothing.
    assert monotonic.slept[0] == pytest.approx(0.05)
    assert times[0] == 1000.0


def test_pacer_hold_stops_every_channel_until_it_ends_and_a_shorter_hold_does_not_cut_it():
    monotonic = FakeMonotonic()
    policy = DeliveryPolicy(workspace_burst=1)
    pacer = Pacer(policy, clock=monotonic, sleep=monotonic.sleep)
    pacer.hold(5)
    pacer.hold(2)

    assert pacer.held_for() == 5
    pacer.wait_for("DU1")
    assert monotonic() == 1005.0 and pacer.held_for() == 0
    pacer.wait_for("C9")  # the hold is over: only the workspace interval
    assert monotonic() == pytest.approx(1005.0 + policy.workspace_interval)


def test_pacer_honours_a_hold_that_arrives_while_it_sleeps():
    """An edit's 429, say, seen by another thread while the batch waits for a channel."""
    monotonic = FakeMonotonic()
    pacer = Pacer(DeliveryPolicy(channel_interval=1.0), clock=monotonic, sleep=monotonic.sleep)
    pacer.wait_for("DU1")

    def sleep_and_hear_of_a_429(seconds: float) -> None:
        monotonic.sleep(seconds)
        if len(monotonic.slept) == 1:
            pacer.hold(3)  # must not wait for the lock the sleeper holds

    pacer._sleep = sleep_and_hear_of_a_429
    pacer.wait_for("DU1")

    assert monotonic.slept == [1.0, 3.0]
    assert monotonic() == 1004.0


def test_pacer_does_not_sleep_when_enough_time_has_passed():
    monotonic = FakeMonotonic()
    pacer = Pacer(DeliveryPolicy(), clock=monotonic, sleep=monotonic.sleep)
    pacer.wait_for("DU1")
    monotonic.now += 5
    pacer.wait_for("DU1")
    assert monotonic.slept == []


# -- the sender alone ----------------------------------------------------------------------------


def test_send_errors_say_whether_trying_again_may_help(fake):
    sender = SlackSender(slack_client(fake))
    fake.fail("chat.postMessage", 200, error="invalid_auth")
    fake.fail("chat.postMessage", 502)

    with pytest.raises(SendError) as permanent:
        sender.post("C1", say("hello"), "k")
    with pytest.raises(SendError) as transient:
        sender.post("C1", say("hello"), "k")

    assert permanent.value.retryable is False and "invalid_auth" in permanent.value.reason
    assert transient.value.retryable is True
    assert fake.messages("C1") == []


def test_a_rate_limit_is_a_send_error_that_says_when_to_try_again(fake):
    sender = SlackSender(slack_client(fake))
    fake.fail("chat.postMessage", 429, retry_after=4)
    fake.fail("chat.postMessage", 200, error="ratelimited")  # no Retry-After
    fake.fail("chat.postMessage", 503)

    errors = []
    for _ in range(3):
        with pytest.raises(SendError) as raised:
            sender.post("C1", say("hello"), "k")
        errors.append(raised.value)

    assert [(e.retryable, e.retry_after) for e in errors] == [
        (True, 4.0),
        (True, DEFAULT_RETRY_AFTER),
        (True, None),  # a 5xx is no rate limit: it uses up an attempt
    ]
    # One call each: the client itself retried nothing, the deliverer decides.
    assert len(fake.calls_to("chat.postMessage")) == 3
    assert fake.messages("C1") == []


def test_a_send_error_says_whether_slack_may_have_acted_on_it(fake):
    """A timeout may have posted (look before posting again); a refused connection cannot."""
    fake.delay("chat.postMessage", 1.3)
    with pytest.raises(SendError) as timed_out:
        SlackSender(slack_client(fake, timeout=1)).post("C1", say("hello"), "k")
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{closed.getsockname()[1]}/api/"
    with pytest.raises(SendError) as refused:
        SlackSender(WebClient(token="xoxb-test", base_url=nowhere, retry_handlers=[])).post(
            "C1", say("hello"), "k"
        )
    fake.fail("chat.postMessage", 503)
    with pytest.raises(SendError) as answered:
        SlackSender(slack_client(fake)).post("C1", say("hello"), "k")

    assert timed_out.value.maybe_sent is True and timed_out.value.retryable is True
    assert refused.value.maybe_sent is False and refused.value.retryable is True
    assert answered.value.maybe_sent is False
    assert SlackSender(slack_client(fake)).can_look_back is True


def test_find_sent_ignores_messages_with_other_keys_or_no_metadata(fake):
    sender = SlackSender(slack_client(fake))
    WebClient(token="xoxb-test", base_url=fake.base_url).chat_postMessage(channel="C1", text="hi")
    ts = sender.post("C1", say("hello"), "key-a")
    sender.post("C1", say("hello"), "key-b")

    since = datetime.now(UTC) - timedelta(minutes=1)
    assert sender.find_sent("C1", "key-a", since=since) == ts
    assert sender.find_sent("C1", "key-c", since=since) is None


def test_the_sending_client_keeps_the_token_and_address_and_retries_nothing_itself(fake):
    original = WebClient(token="xoxb-test", base_url=fake.base_url)

    client = build_sending_client(original, timeout=1)

    assert (client.token, client.base_url, client.timeout) == ("xoxb-test", fake.base_url, 1)
    # 429s, 5xx and timeouts all go back to the deliverer (not even slack_sdk's default
    # ConnectionErrorRetryHandler, which could post twice).
    assert client.retry_handlers == []


def test_the_manifest_grants_what_the_sender_calls():
    """Without *:history, conversations.history answers missing_scope and retries fail."""
    yaml = pytest.importorskip("yaml")
    scopes = set(yaml.safe_load(MANIFEST.read_text())["oauth_config"]["scopes"]["bot"])
    # conversations.open (DMs), chat.postMessage/update, conversations.history in DMs and the
    # forum's public channel.
    needed = {"im:write", "chat:write", "im:history", "channels:history"}
    assert needed <= scopes, needed - scopes


# -- several senders at once (PostgreSQL: replicas) ---------------------------------------------


@pytest.mark.parametrize("fresh_database_url", ["postgresql"], indirect=True)
def test_two_deliverers_draining_at_once_send_each_message_exactly_once(
    fresh_database_url, clock, fake
):
    engine = make_engine(fresh_database_url, pool_size=6, max_overflow=0)
    upgrade(engine)
    sessions = make_sessions(engine)
    ctx = Context(sessions=sessions, clock=clock)
    leads = []
    for n in range(30):
        lead = slack_lead(sessions, clock(), f"Lead {n}", f"U{n:03d}")
        plan_nudge(sessions, clock(), lead, [active_project(sessions, clock(), f"P{n}", lead)])
        leads.append(lead)
    policy = DeliveryPolicy(batch=4, channel_interval=0, workspace_interval=0)
    senders = [
        Deliverer(
            ctx,
            SlackSender(slack_client(fake), sleep=lambda _: None),  # (opens not paced here)
            policy,
            pacer=Pacer(policy, clock=FakeMonotonic(), sleep=lambda _: None),
        )
        for _ in range(2)
    ]
    barrier = threading.Barrier(len(senders))
    results: list[Counter[str]] = []
    errors: list[BaseException] = []

    def drain(sender: Deliverer) -> None:
        try:
            barrier.wait()
            results.append(sender.drain())
        except BaseException as error:  # surfaced below, not lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=drain, args=(s,)) for s in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sum(results, Counter()) == Counter(sent=30)
    per_lead = {n: len(fake.messages(f"DU{n:03d}")) for n in range(30)}
    assert per_lead == dict.fromkeys(range(30), 1)
    assert len(fake.calls_to("chat.postMessage")) == 30
    with sessions() as session:
        assert outbox.counts_by_status(session) == {outbox.SENT: 30}
        opened = session.scalar(
            select(func.count())
            .select_from(ChatIdentity)
            .where(ChatIdentity.dm_channel.is_not(None))
        )
        assert opened == 30
    engine.dispose()


# -- the background loop -------------------------------------------------------------------------


class CountingDeliverer:
    """Stands in for a Deliverer: counts the batches the loop lets it claim."""

    def __init__(self, batches_due: int = 1) -> None:
        self.ctx = Context(sessions=sessionmaker())  # the loop listens for plans on these
        self.batches_due = batches_due
        self.drains = 0
        self.drained = threading.Event()
        self.on_batch: Callable[[], None] = lambda: None

    def drain(self, *, max_batches: int = 1000, keep_going=lambda: True) -> Counter[str]:
        for _ in range(min(max_batches, self.batches_due)):
            if not keep_going():
                break
            self.batches_due -= 1
            self.drains += 1
            self.drained.set()
            self.on_batch()
        return Counter()

    def next_look_in(self, *, longest: float) -> float:
        return longest


def test_the_loop_sends_only_while_it_may_and_is_woken_when_it_may():
    may = threading.Event()
    counting = CountingDeliverer()
    loop = DeliveryLoop(counting, interval=3600, may_send=may.is_set)  # type: ignore[arg-type]
    loop.start()
    try:
        loop.wake()
        assert not counting.drained.wait(0.3), "a replica that does not lead sent"

        may.set()  # it took the lead: the scheduler wakes it
        loop.wake()
        assert counting.drained.wait(5)
    finally:
        loop.stop()
    assert counting.drains == 1


def test_stopping_claims_no_further_batch():
    counting = CountingDeliverer(batches_due=5)
    loop = DeliveryLoop(counting, interval=3600)  # type: ignore[arg-type]
    # Asked to stop while the first batch is being sent: the other four stay unclaimed.
    counting.on_batch = lambda: loop._stop.set()

    loop.start()
    loop.stop()

    assert counting.drains == 1 and counting.batches_due == 4


def test_an_rsvp_made_while_the_announcement_was_being_posted_shows_in_it(
    ctx, sessions, clock, fake, monotonic
):
    """Drawn with nobody going, posted a moment later: edited once to count the RSVP."""
    with sessions.begin() as session:
        forum_id = create_forum(session, name="QI Forum", channel="slack:CFORUM", now=clock()).id
    meeting = given.meeting(ctx, forum_id, clock() + timedelta(days=6))
    run_announcements(ctx)
    fake.delay("chat.postMessage", 1.0)  # Slack takes a second to post it
    carer = Actor("console", "local", "ben", "Ben Okafor")
    rsvp = threading.Timer(0.3, lambda: Dispatcher(ctx).action(carer, ids.RSVP, f"{meeting}:going"))

    rsvp.start()
    deliverer(ctx, fake, monotonic).drain()
    rsvp.join()

    (post,) = fake.messages("CFORUM")
    assert "Going so far: 1" in post["text"]
    assert len(fake.calls_to("chat.update")) == 1


def test_an_announcement_whose_answer_was_lost_is_found_past_250_later_messages_not_reposted(
    ctx, sessions, clock, fake, monotonic
):
    """The look back pages through everything posted since the post began, and no further."""
    fake.wall_clock = lambda: clock().timestamp()  # Slack's clock and ours agree
    chat = WebClient(token="xoxb-test", base_url=fake.base_url)
    clock.advance(days=-1)
    for n in range(300):  # yesterday's talk in the forum channel: nothing to look through
        chat.chat_postMessage(channel="CFORUM", text=f"yesterday {n}")
    clock.advance(days=1)
    with sessions.begin() as session:
        forum_id = create_forum(session, name="QI Forum", channel="slack:CFORUM", now=clock()).id
    given.meeting(ctx, forum_id, clock() + timedelta(days=6))
    run_announcements(ctx)
    fake.delay("chat.postMessage", 1.3)  # Slack posts it, but its answer never comes back
    sender = deliverer(ctx, fake, monotonic, timeout=1)

    assert sender.drain() == Counter(retry=1)
    assert fake.wait_for(lambda: len(keys_in(fake, "CFORUM")) == 1, timeout=3)
    clock.advance(seconds=10)
    for n in range(250):  # a busy channel: more than one page of history before the retry
        chat.chat_postMessage(channel="CFORUM", text=f"later {n}")
    clock.advance(seconds=POLICY.first_backoff.total_seconds())
    fake.calls.clear()

    assert sender.drain() == Counter(sent=1)

    assert len(keys_in(fake, "CFORUM")) == 1  # posted once
    assert fake.calls_to("chat.postMessage") == []
    announcement = next(m for m in fake.messages("CFORUM") if m.get("metadata"))
    with sessions() as session:
        sent = session.scalars(select(Delivery).where(Delivery.channel_id == "CFORUM")).one()
    assert (sent.status, sent.message_ts) == (outbox.SENT, announcement["ts"])
    pages = fake.calls_to("conversations.history")
    assert len(pages) == 2  # 251 messages since the post began; yesterday's were not read
    assert all(float(page.args["oldest"]) < float(announcement["ts"]) for page in pages)
    assert "cursor" not in pages[0].args and pages[1].args["cursor"]


# --- a channel the bot may not use --------------------------------------------------------------


@pytest.mark.parametrize("error", ["channel_not_found", "not_in_channel", "is_archived"])
def test_a_direct_message_slack_refuses_for_its_channel_still_fails_and_nobody_is_told(
    ctx, sessions, clock, fake, monotonic, asha, falls, capsys, error
):
    """Only posts to forum channels wait for an organiser; a lead's DM fails as it always has."""
    given.organiser(sessions, Actor("slack", TEAM_ID, "UORG", "Olu Admin"), clock())
    delivery_id = plan_nudge(sessions, clock(), asha, [falls])
    fake.fail("chat.postMessage", 200, error=error)

    outcomes = deliverer(ctx, fake, monotonic).drain()

    assert outcomes == Counter(failed=1)
    assert row(sessions, delivery_id).status == outbox.FAILED
    assert f"Slack said {error}" in failed_deliveries_as_admins_see_them(ctx, capsys)
    assert fake.messages("UORG") == []


def test_an_announcement_planned_60_days_ahead_waits_until_its_meeting_and_is_never_failed(
    ctx, sessions, clock, fake, monotonic, capsys
):
    fake.add_channel("G0CARERS", "carers-forum", private=True)
    with sessions.begin() as session:
        forum = create_forum(session, name="QI Forum", channel="slack:G0CARERS", now=clock())
        forum.announce_offsets = [60 * 24 * 60]  # announced 60 days ahead, as a forum may
        forum_id = forum.id
    given.meeting(ctx, forum_id, clock() + timedelta(days=59))
    run_announcements(ctx)
    sender = deliverer(ctx, fake, monotonic)

    first = sender.drain()
    clock.advance(days=59)  # the meeting starts now: still worth posting, if let in
    as_it_starts = sender.drain()
    clock.advance(hours=1)  # over: nobody needs it now
    after = sender.drain()

    assert (first, as_it_starts, after) == (
        Counter(retry=1),
        Counter(retry=1),
        Counter(withdrawn=1),
    )
    assert fake.messages("G0CARERS") == []
    assert "No failed deliveries." in failed_deliveries_as_admins_see_them(ctx, capsys)


def test_a_channel_post_still_waiting_after_the_longest_wait_is_given_up_with_a_reason(
    ctx, sessions, clock, fake, monotonic, asha, falls, capsys
):
    fake.add_channel("G0CARERS", "carers-forum", private=True)
    with sessions.begin() as session:
        create_forum(session, name="QI Forum", channel="slack:G0CARERS", now=clock())
    # The lead asks the forum for a partner; nobody ever lets the bot into the channel.
    Dispatcher(ctx).action(Actor("slack", TEAM_ID, "U1", "Asha Patel"), ids.ASK_FORUM, str(falls))
    sender = deliverer(ctx, fake, monotonic)

    first = sender.drain()
    clock.advance(seconds=(GIVE_UP_AFTER - timedelta(hours=1)).total_seconds())
    nearly = sender.drain()
    clock.advance(hours=1)
    last = sender.drain()

    assert (first, nearly, last) == (Counter(retry=1), Counter(retry=1), Counter(failed=1))
    assert fake.messages("G0CARERS") == []
    assert (
        "Slack said channel_not_found: the bot still could not post in slack:G0CARERS "
        f"{GIVE_UP_AFTER.days} days after this was planned"
    ) in failed_deliveries_as_admins_see_them(ctx, capsys)


# -- fan-out: pacing at Slack's rate, holds, and when the loop looks -----------------------------


@contextmanager
def statements_on_the_outbox(sessions: sessionmaker[Session]) -> Iterator[list[str]]:
    """The SQL statements sent meanwhile that touch the outbox (deliveries), in order."""
    engine = sessions.kw["bind"].engine
    seen: list[str] = []

    def note(_conn, _cursor, statement, *_args) -> None:
        if "deliveries" in statement:
            seen.append(" ".join(statement.split()[:2]))

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def leads_with_dms(sessions, clock, count: int) -> list[int]:
    """`count` leads on Slack, U1..Un, whose DMs with the bot are known; each has one nudge due."""
    leads = []
    for n in range(1, count + 1):
        lead = slack_lead(sessions, clock(), f"Lead {n}", f"U{n}")
        plan_nudge(sessions, clock(), lead, [active_project(sessions, clock(), f"P{n}", lead)])
        leads.append(lead)
    with sessions.begin() as session:
        session.execute(update(ChatIdentity).values(dm_channel=literal("D") + ChatIdentity.user_id))
    return leads


def test_a_steady_fan_out_paced_as_slack_counts_earns_no_429_and_goes_at_slacks_rate(
    ctx, sessions, clock, fake, monotonic
):
    """The default policy against Slack's limits (600 a minute, bursts of 10), on one clock."""
    leads_with_dms(sessions, clock, 40)
    limits = fake.enforce_rate_limits(
        RateLimits(workspace_posts_per_minute=600, workspace_burst=10), clock=monotonic
    )
    policy = DeliveryPolicy()
    started = monotonic()

    outcomes = deliverer(ctx, fake, monotonic, policy).drain()

    assert outcomes == Counter(sent=40)
    assert fake.rate_limited == Counter()  # not one 429: nothing held, nothing put back
    assert {n: len(fake.messages(f"DU{n}")) for n in range(1, 41)} == dict.fromkeys(range(1, 41), 1)
    # At the workspace's rate, not below it: the pacer's smaller burst costs half a second.
    floor = limits.floor_seconds([1] * 40)
    spare = (limits.workspace_burst - policy.workspace_burst) * policy.workspace_interval
    assert monotonic() - started == pytest.approx(floor + spare)


def test_during_a_long_hold_nothing_is_claimed_and_the_batch_goes_back_in_one_statement(
    ctx, sessions, clock, fake, monotonic
):
    leads_with_dms(sessions, clock, 14)  # more than one batch (10)
    fake.fail("chat.postMessage", 429, retry_after=60)
    sender = deliverer(ctx, fake, monotonic)

    with statements_on_the_outbox(sessions) as first:
        assert sender.drain() == Counter(retry=10)
    # The claim; the refused one (its claim renewed to post, its first refusal noted, put
    # back); then the other nine, given back at once rather than one by one.
    assert [s for s in first if s.startswith("UPDATE")] == ["UPDATE deliveries"] * 5
    with sessions() as session:
        assert outbox.counts_by_status(session) == {outbox.PENDING: 14}
    assert sender.next_look_in(longest=5) == 60  # it sleeps until the hold ends

    with statements_on_the_outbox(sessions) as during:
        for _ in range(4):  # (the last 5 s of a hold are waited out in place)
            time_passes(clock, monotonic, seconds=11)
            assert sender.drain() == Counter()
    assert during == []  # no claim, no put-back: nothing at all
    assert len(fake.calls_to("chat.postMessage")) == 1

    time_passes(clock, monotonic, seconds=16)
    assert sender.drain() == Counter(sent=14)
    assert {n: len(fake.messages(f"DU{n}")) for n in range(1, 15)} == dict.fromkeys(range(1, 15), 1)


def test_the_next_look_is_when_the_first_retry_falls_due_not_a_poll_interval(
    ctx, sessions, clock, fake, monotonic, asha, falls
):
    delivery_id = plan_nudge(sessions, clock(), asha, [falls])
    with sessions.begin() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id)
            .values(next_attempt_at=clock() + timedelta(seconds=42))
        )
    sender = deliverer(ctx, fake, monotonic)

    assert sender.drain() == Counter()
    assert sender.next_look_in(longest=3600) == 42
    assert sender.next_look_in(longest=5) == 5  # what other processes plan is looked for too

    time_passes(clock, monotonic, seconds=42)
    assert sender.next_look_in(longest=3600) == 0
    fake.fail("chat.postMessage", 503)  # tried, failed: backed off by first_backoff
    assert sender.drain() == Counter(retry=1)
    assert sender.next_look_in(longest=3600) == POLICY.first_backoff.total_seconds()


class RecordingLoop(DeliveryLoop):
    """A DeliveryLoop that notes how long it means to sleep each time, and can act then."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.waits: list[float] = []
        self.waiting = threading.Event()
        self.before_wait: Callable[[int], None] = lambda n: None

    def _wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.before_wait(len(self.waits))
        self.waiting.set()
        return super()._wait(seconds)


def test_the_loop_sleeps_until_the_next_delivery_is_due(
    ctx, sessions, clock, fake, monotonic, asha, falls
):
    delivery_id = plan_nudge(sessions, clock(), asha, [falls])
    with sessions.begin() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id)
            .values(next_attempt_at=clock() + timedelta(seconds=42))
        )
    loop = RecordingLoop(deliverer(ctx, fake, monotonic), interval=3600)

    loop.start()
    try:
        assert loop.waiting.wait(10)
    finally:
        loop.stop()

    assert loop.waits[0] == 42


class CountingDrains:
    """Stands in for a Deliverer: counts the loop's passes (each would claim)."""

    def __init__(self) -> None:
        self.ctx = Context(sessions=sessionmaker())
        self.drains = 0

    def drain(self, *, max_batches: int = 1000, keep_going=lambda: True) -> Counter[str]:
        self.drains += 1
        return Counter()

    def next_look_in(self, *, longest: float) -> float:
        return longest


def test_a_burst_of_wakes_is_one_pass_and_a_plan_committed_wakes_the_loop(sessions, clock):
    counting = CountingDrains()
    counting.ctx = Context(sessions=sessions, clock=clock)
    loop = RecordingLoop(counting, interval=3600)  # type: ignore[arg-type]
    done = threading.Event()

    def burst(n: int) -> None:
        if n == 1:  # after the pass at start: twenty requests that each planned, at once
            for _ in range(20):
                loop.wake()
        if n == 2:  # a commit that planned wakes it, with nobody calling wake()
            with sessions.begin() as session:
                outbox.plan(
                    session, [outbox.Planned("news", "w1", "channel:slack:C1")], now=clock()
                )
        if n == 3:
            done.set()

    loop.before_wait = burst
    loop.start()
    try:
        assert done.wait(10)
    finally:
        loop.stop()

    assert counting.drains == 3  # at start, once for the twenty wakes, once for the plan


def test_a_first_week_fan_out_opens_dms_as_fast_as_slack_allows_and_earns_no_429(
    ctx, sessions, clock, fake, monotonic
):
    """Twelve leads whose DMs are not known yet: conversations.open is 50 a minute."""
    for n in range(1, 13):
        lead = slack_lead(sessions, clock(), f"Lead {n}", f"U{n}")
        plan_nudge(sessions, clock(), lead, [active_project(sessions, clock(), f"P{n}", lead)])
    limits = fake.enforce_rate_limits(RateLimits(), clock=monotonic)
    started = monotonic()

    assert deliverer(ctx, fake, monotonic, DeliveryPolicy()).drain() == Counter(sent=12)

    assert fake.rate_limited == Counter()
    assert len(fake.calls_to("conversations.open")) == 12
    assert {n: len(fake.messages(f"DU{n}")) for n in range(1, 13)} == dict.fromkeys(range(1, 13), 1)
    floor = limits.floor_seconds([1] * 12, opens=12)
    spare = (limits.open_burst - OPEN_BURST) * OPEN_INTERVAL
    assert monotonic() - started == pytest.approx(floor + spare)
