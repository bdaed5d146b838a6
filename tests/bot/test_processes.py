"""`qi-nudge serve` as real processes: killed mid-sweep and restarted, and two replicas at once.

Each bot is a subprocess (`python -m bot.cli serve`) talking to a FakeSlack in this test process.
A subprocess has only the real clock, so the weekly reminder is set for a minute ago (London
time) and the bot's first scheduler tick runs this week's sweep. The fake answers each
chat.postMessage slowly, so that a test can kill a bot part way through the sweep, and
`stall_after` freezes the bot at the worst moment: Slack has posted the message, the bot has not
heard back, so it never recorded it. The claim lease and the scheduler tick are seconds
(DELIVERY_CLAIM_LEASE, SCHEDULER_TICK_SECONDS) instead of five minutes and one.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import Engine, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from bot.runtime.delivery import LOOP_SECONDS, DeliveryPolicy, delivery_key
from bot.runtime.scheduler import latest_due_week
from bot.runtime.settings import WEEKDAYS, load_settings
from bot.slack.sender import METADATA_EVENT
from handlers.core.context import Context
from handlers.nudges.weekly import NUDGE
from store import outbox, people
from store.engine import make_engine, make_sessions
from store.migrate import upgrade
from store.models import ChatIdentity, Delivery
from store.projects import create_project
from store.roles import ProjectStatus
from tests.conftest import POSTGRES_URL, REQUIRE_POSTGRES, postgres_reachable
from tests.fakes import FakeSlack
from tests.fakes.slack_api import TEAM_ID
from tests.fakes.tcp_proxy import TcpProxy

# Asserts how long things take: runs with no other test competing for the cores (tests/solo.py).
pytestmark = [pytest.mark.slow, pytest.mark.solo]

LONDON = ZoneInfo("Europe/London")
# More leads than one claim batch: when a bot dies, some rows are claimed by it, some not yet.
LEADS = 60
BATCH = DeliveryPolicy().batch
LEASE_SECONDS = 2
TICK_SECONDS = 1
POST_SECONDS = 0.05  # how long the fake takes over each chat.postMessage
KILL_AFTER = 12  # nudges posted before the bot is frozen and killed
STALL_SECONDS = 300  # longer than any test: the frozen bot is killed, never answered
# Web API methods that only a sender calls.
SENDING = ("chat.postMessage", "conversations.open", "conversations.history")


# -- a database, the bots, and what they did ----------------------------------------------------


@dataclass
class Database:
    """A fresh database the bots share, with leads to remind."""

    url: str
    engine: Engine
    sessions: sessionmaker[Session]
    leads: dict[int, str] = field(default_factory=dict)  # person id -> Slack user id

    def seed_leads(self, count: int = LEADS) -> None:
        """`count` leads on Slack, each leading one active project with no service user or carer.

        The bot has written to each before (not their first week), so it knows their DM
        channels: a first week would open 60 DMs at Slack's 50 a minute, and these tests are
        about crashes and takeovers, not that pace (tests/bot/runtime/test_delivery.py covers it).
        """
        now = datetime.now(UTC)
        with self.sessions.begin() as session:
            for n in range(count):
                user_id = f"UL{n:03d}"
                person = people.ensure_person_for_identity(
                    session,
                    platform="slack",
                    workspace=TEAM_ID,
                    user_id=user_id,
                    display_name=f"Lead {n}",
                    now=now,
                )
                create_project(
                    session,
                    name=f"Project {n:03d}",
                    lead_id=person.id,
                    site=None,
                    status=ProjectStatus.ACTIVE,
                    now=now,
                )
                self.leads[person.id] = user_id
            for user_id in self.leads.values():
                session.execute(
                    update(ChatIdentity)
                    .where(ChatIdentity.user_id == user_id)
                    .values(dm_channel=f"D{user_id}")  # as FakeSlack names a DM
                )

    def deliveries(self) -> list[Delivery]:
        """Every outbox row, oldest first."""
        with self.sessions() as session:
            return list(session.scalars(select(Delivery).order_by(Delivery.id)))

    def statuses(self) -> dict[str, int]:
        """How many outbox rows are in each status."""
        with self.sessions() as session:
            return outbox.counts_by_status(session)


@contextmanager
def throwaway_database(backend: str, folder: Path) -> Iterator[str]:
    """A SQLite file, or a PostgreSQL database of its own.

    A database, not a schema as elsewhere in the suite: the scheduler's advisory lock is per
    database, and other test runs may have bots on the shared test database at the same time.
    """
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'qi.db'}"
        return
    problem = postgres_reachable()
    if problem:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required but unreachable: {problem}")
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}")
    name = f"qi_proc_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    with throwaway_database(request.param, tmp_path) as url:
        engine = make_engine(url)
        upgrade(engine)
        yield Database(url=url, engine=engine, sessions=make_sessions(engine))
        engine.dispose()


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as running:
        yield running


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def schedule_just_gone() -> dict[str, str]:
    """NUDGE_DAY and NUDGE_TIME a minute ago in London, so the first tick runs the sweep.

    Near midnight on a Sunday that moment is in last week; the scheduler still runs it, as the
    latest due occurrence (see `due_week`).
    """
    local = (datetime.now(UTC) - timedelta(minutes=1)).astimezone(LONDON)
    return {"NUDGE_DAY": WEEKDAYS[local.weekday()], "NUDGE_TIME": local.strftime("%H:%M:%S")}


def due_week(db: Database, schedule: dict[str, str]) -> str:
    """The week whose sweep the bots will run, checked to be due just now."""
    policy = load_settings(schedule, env_file=None).nudge_policy
    ctx = Context(sessions=db.sessions, timezone=LONDON)
    week, moment = latest_due_week(ctx, policy)
    assert timedelta(0) <= ctx.now() - moment < timedelta(hours=2), (week, moment)
    return week


class Bot:
    """One `qi-nudge serve` process, with a token of its own to tell its Slack calls apart."""

    def __init__(self, name: str, env: dict[str, str], folder: Path) -> None:
        self.name = name
        self.token = env["SLACK_BOT_TOKEN"]
        self.port = int(env["PORT"])
        self.log_path = folder / f"{name}.log"
        self.killed = False
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "serve"],
                env=env,
                cwd=folder,  # no .env file there
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def alive(self) -> bool:
        return self.process.poll() is None

    def healthy(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).is_success
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown, no lock released, nothing recorded."""
        self.killed = True
        if self.alive():
            self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> int:
        """SIGTERM, as a platform stops a container; the exit status."""
        self.killed = True
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            return -1

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Bots:
    """Starts bots on the test's database and fake Slack; kills them all at the end."""

    database: Database
    fake: FakeSlack
    folder: Path
    started: list[Bot] = field(default_factory=list)

    def start(self, name: str, schedule: dict[str, str], *, database_url: str = "") -> Bot:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("SLACK_", "NUDGE_", "DELIVERY_", "SCHEDULER_", "QI_"))
            and key not in ("DATABASE_URL", "HOST", "PORT", "LOG_LEVEL")
        }
        token = f"xoxb-{name}"  # its own token, known to the fake, tells its calls apart
        self.fake.add_token(token)
        env.update(
            SLACK_BOT_TOKEN=token,
            SLACK_SIGNING_SECRET="process-test-secret",
            SLACK_API_URL=self.fake.base_url,
            DATABASE_URL=database_url or self.database.url,
            HOST="127.0.0.1",
            PORT=str(free_port()),
            LOG_LEVEL="INFO",
            QI_TIMEZONE="Europe/London",
            DELIVERY_CLAIM_LEASE=str(LEASE_SECONDS),
            SCHEDULER_TICK_SECONDS=str(TICK_SECONDS),
            PYTHONUNBUFFERED="1",
            **schedule,
        )
        bot = Bot(name, env, self.folder)
        self.started.append(bot)
        return bot

    def wait_until(self, condition: Callable[[], bool], *, timeout: float, what: str) -> None:
        """Poll until `condition` holds; fail at the deadline, or if a bot died on its own."""
        deadline = time.monotonic() + timeout
        while not condition():
            for bot in self.started:
                if not bot.killed and not bot.alive():
                    pytest.fail(f"{bot.name} exited ({bot.process.returncode}) before {what}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} after {timeout} s")
            time.sleep(0.05)

    def hold(self, seconds: float) -> None:
        """Let the bots run for `seconds`; fail if one dies on its own meanwhile."""
        deadline = time.monotonic() + seconds
        self.wait_until(lambda: time.monotonic() > deadline, timeout=seconds + 1, what="a pause")


@pytest.fixture
def bots(database: Database, fake: FakeSlack, tmp_path: Path) -> Iterator[Bots]:
    running = Bots(database, fake, tmp_path)
    try:
        yield running
    finally:
        for bot in running.started:
            bot.kill()
        # Shown by pytest only when the test failed.
        for bot in running.started:
            print(f"----- {bot.name} (exit {bot.process.returncode}) -----\n{bot.output()}")


def key_of(message: dict) -> str | None:
    metadata = message.get("metadata") or {}
    if metadata.get("event_type") != METADATA_EVENT:
        return None
    return metadata["event_payload"]["key"]


def posted(fake: FakeSlack, db: Database) -> dict[str, list[str | None]]:
    """The delivery keys of the messages in each lead's DM, by Slack user id."""
    return {user_id: [key_of(m) for m in fake.messages(user_id)] for user_id in db.leads.values()}


def posted_count(fake: FakeSlack, db: Database) -> int:
    return sum(len(keys) for keys in posted(fake, db).values())


def freeze_mid_send(bots: Bots) -> None:
    """Let the next nudge reach Slack, then keep the bot waiting for the answer."""
    stalled = bots.fake.stall_after("chat.postMessage", STALL_SECONDS)
    bots.wait_until(stalled.is_set, timeout=30, what="nudge posted and left unanswered")


def assert_every_lead_nudged_once(fake: FakeSlack, db: Database, week: str) -> None:
    """One message in each lead's DM, carrying the key of that lead's delivery; all rows sent."""
    rows = db.deliveries()
    assert {(row.kind, row.occurrence) for row in rows} == {(NUDGE, week)}
    assert db.statuses() == {outbox.SENT: LEADS}
    expected = {
        db.leads[outbox.recipient_person_id(row.recipient)]: [delivery_key(row.id)] for row in rows
    }
    assert posted(fake, db) == expected
    for row in rows:  # the recorded message is the one in the DM
        (message,) = fake.messages(db.leads[outbox.recipient_person_id(row.recipient)])
        assert row.message_ts == message["ts"]


def sending_calls(fake: FakeSlack, since: int = 0, until: int | None = None) -> list[str]:
    """The tokens of the sending calls (posts, DM opens, history lookups) in this range."""
    return [call.token for call in fake.calls[since:until] if call.method in SENDING]


# -- the tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)
def test_a_bot_killed_mid_sweep_and_restarted_nudges_every_lead_exactly_once(database, fake, bots):
    database.seed_leads()
    schedule = schedule_just_gone()
    week = due_week(database, schedule)
    fake.delay("chat.postMessage", POST_SECONDS, times=100 * LEADS)

    first = bots.start("first", schedule)
    bots.wait_until(
        lambda: posted_count(fake, database) >= KILL_AFTER, timeout=60, what="first nudges"
    )
    freeze_mid_send(bots)
    first.kill()

    # The worst moment: one nudge is on Slack that the bot never heard back about, so never
    # recorded; the rest of its batch is claimed by a dead process; the rest not yet claimed.
    posted_by_first = posted_count(fake, database)
    assert KILL_AFTER < posted_by_first < BATCH
    sent_keys = {delivery_key(row.id) for row in database.deliveries() if row.status == outbox.SENT}
    unrecorded = [
        key for keys in posted(fake, database).values() for key in keys if key not in sent_keys
    ]
    assert len(unrecorded) == 1
    assert database.statuses() == {
        outbox.SENT: posted_by_first - 1,
        outbox.SENDING: BATCH - (posted_by_first - 1),
        outbox.PENDING: LEADS - BATCH,
    }
    restart_calls = len(fake.calls)

    second = bots.start("second", schedule)
    bots.wait_until(
        lambda: database.statuses() == {outbox.SENT: LEADS}, timeout=60, what="all nudges sent"
    )

    assert_every_lead_nudged_once(fake, database, week)
    assert len(fake.calls_to("chat.postMessage")) == LEADS  # the unrecorded one was found
    history = [c for c in fake.calls[restart_calls:] if c.method == "conversations.history"]
    assert history, "the restarted bot posted the dead one's claims without looking first"
    assert set(sending_calls(fake, since=restart_calls)) == {second.token}
    assert second.stop() == 0
    assert "Traceback" not in second.output()
    # The seconds-long lease these tests need is allowed, with a warning for whoever runs it.
    assert f"DELIVERY_CLAIM_LEASE is {LEASE_SECONDS} seconds" in second.output()


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_of_two_replicas_one_sends_and_the_other_finishes_when_it_is_killed(database, fake, bots):
    database.seed_leads()
    schedule = schedule_just_gone()
    week = due_week(database, schedule)
    # Slower than the restart test: the sweep must still be going once both replicas are up.
    fake.delay("chat.postMessage", 2 * POST_SECONDS, times=100 * LEADS)

    replicas = [bots.start("a", schedule), bots.start("b", schedule)]
    bots.wait_until(lambda: all(r.healthy() for r in replicas), timeout=60, what="replicas up")
    both_up = posted_count(fake, database)
    bots.wait_until(
        lambda: posted_count(fake, database) >= max(KILL_AFTER, both_up + 5),
        timeout=60,
        what="nudges sent while both replicas run",
    )
    freeze_mid_send(bots)
    # The leader is stuck waiting for Slack: its claims go stale, and some rows were never
    # claimed. A second sender would take them on its next pass; the other replica must not.
    bots.hold(LOOP_SECONDS + LEASE_SECONDS + 1)
    senders = set(sending_calls(fake))
    assert len(senders) == 1, f"more than one replica sent: {senders}"
    (leader,) = [r for r in replicas if r.token in senders]
    (survivor,) = [r for r in replicas if r is not leader]
    assert posted_count(fake, database) < LEADS, "the sweep ended before the leader was killed"

    killed_at_call = len(fake.calls)
    killed_at = time.monotonic()
    leader.kill()
    bots.wait_until(
        lambda: survivor.token in sending_calls(fake, since=killed_at_call),
        timeout=60,
        what="sending by the surviving replica",
    )
    took_over_in = time.monotonic() - killed_at
    bots.wait_until(
        lambda: database.statuses() == {outbox.SENT: LEADS}, timeout=60, what="all nudges sent"
    )

    # About a tick here (SCHEDULER_TICK_SECONDS); within a minute with the default tick.
    assert took_over_in < 30, f"the other replica took {took_over_in:.1f} s to take over"
    assert set(sending_calls(fake, until=killed_at_call)) == {leader.token}
    assert set(sending_calls(fake, since=killed_at_call)) == {survivor.token}
    assert_every_lead_nudged_once(fake, database, week)
    assert len(fake.calls_to("chat.postMessage")) == LEADS
    assert survivor.stop() == 0
    assert "Traceback" not in survivor.output()


def through(proxy: TcpProxy, url: str) -> str:
    """The database URL, reached through the proxy."""
    parsed = make_url(url).set(host="127.0.0.1", port=proxy.port)
    return parsed.render_as_string(hide_password=False)


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_when_the_leaders_network_dies_the_other_replica_takes_over_within_a_few_ticks(
    database, fake, bots
):
    """The leader's path to the database goes dead without closing: PostgreSQL keeps its session
    and lock. The other replica ends that ghost once its lease has run out, and sends the rest."""
    database.seed_leads()
    schedule = schedule_just_gone()
    week = due_week(database, schedule)
    fake.delay("chat.postMessage", 2 * POST_SECONDS, times=100 * LEADS)
    port = make_url(database.url).port or 5432
    with TcpProxy("127.0.0.1", port) as path_a, TcpProxy("127.0.0.1", port) as path_b:
        replicas = [
            bots.start("a", schedule, database_url=through(path_a, database.url)),
            bots.start("b", schedule, database_url=through(path_b, database.url)),
        ]
        paths = {"a": path_a, "b": path_b}
        bots.wait_until(lambda: all(r.healthy() for r in replicas), timeout=60, what="replicas up")
        both_up = posted_count(fake, database)
        bots.wait_until(
            lambda: posted_count(fake, database) >= both_up + 5,
            timeout=60,
            what="nudges sent while both replicas run",
        )
        (leader,) = [r for r in replicas if r.token in set(sending_calls(fake))]
        (survivor,) = [r for r in replicas if r is not leader]
        assert posted_count(fake, database) < LEADS, "the sweep ended before the network died"

        cut_at_call = len(fake.calls)
        cut_at = time.monotonic()
        paths[leader.name].blackhole()
        paths[leader.name].orphan_server_side()
        bots.wait_until(
            lambda: survivor.token in sending_calls(fake, since=cut_at_call),
            timeout=60,
            what="sending by the surviving replica",
        )
        took_over_in = time.monotonic() - cut_at

        # The cut-off replica's health check says so at once, instead of hanging.
        started = time.monotonic()
        answer = httpx.get(f"http://127.0.0.1:{leader.port}/healthz", timeout=5)
        assert (answer.status_code, time.monotonic() - started < 1.5) == (503, True)
        assert answer.json() == {"status": "database not answering"}

        bots.wait_until(
            lambda: database.statuses() == {outbox.SENT: LEADS}, timeout=60, what="all nudges sent"
        )

        # The lease lasts 2.5 ticks; the survivor looks every tick: about three ticks in all.
        assert took_over_in < 3 * TICK_SECONDS + 3, f"took {took_over_in:.1f} s to take over"
        assert_every_lead_nudged_once(fake, database, week)
        assert len(fake.calls_to("chat.postMessage")) == LEADS
        survivor_says = survivor.output().splitlines()
        ghost = f"{socket.gethostname()}:{leader.process.pid}"
        assert any(
            " WARNING bot.runtime.leader" in line
            and ghost in line
            and "has not renewed its lease" in line
            for line in survivor_says
        )
        status = httpx.get(f"http://127.0.0.1:{survivor.port}/healthz/scheduler", timeout=5)
        assert status.json()["status"] == "ok"
        assert status.json()["leader"]["name"] == f"{socket.gethostname()}:{survivor.process.pid}"
        assert survivor.stop() == 0
        assert "Traceback" not in survivor.output()
