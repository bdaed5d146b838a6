"""/healthz answers within a second whatever the database does; /healthz/scheduler says when
no replica leads and when messages are overdue."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.engine import make_url

from bot.runtime.health import HealthChecks
from bot.runtime.http import build_http_app
from bot.runtime.leader import AdvisoryLockLeader
from store import leadership, outbox
from store.engine import make_engine, make_sessions
from store.migrate import upgrade
from tests.bot.serving import serving
from tests.conftest import BACKENDS
from tests.fakes.tcp_proxy import TcpProxy

# Asserts how long things take: runs with no other test competing for the cores (tests/solo.py).
pytestmark = pytest.mark.solo

TICK = 1  # seconds


@pytest.fixture
def engine(fresh_database_url):
    engine = make_engine(fresh_database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def scheduler_health(engine) -> httpx.Response:
    app = build_http_app(None, engine, health=HealthChecks(engine, tick_seconds=TICK))
    with serving(app) as url:
        return httpx.get(f"{url}/healthz/scheduler", timeout=5)


def lead(engine, name: str, *, renewed: datetime) -> None:
    with make_sessions(engine).begin() as session:
        leadership.record_sole(session, holder=name, now=renewed, ttl=timedelta(seconds=2.5))


@pytest.mark.parametrize("fresh_database_url", BACKENDS, indirect=True)
def test_a_live_leader_and_nothing_overdue_is_ok_and_names_the_leader(engine):
    lead(engine, "web-1:41", renewed=datetime.now(UTC))

    answer = scheduler_health(engine)

    assert answer.status_code == 200
    body = answer.json()
    assert (body["status"], body["problems"]) == ("ok", [])
    assert body["leader"]["name"] == "web-1:41"
    assert body["overdue_deliveries"] == {"count": 0, "oldest_due": None}


@pytest.mark.parametrize("fresh_database_url", BACKENDS, indirect=True)
def test_no_leader_for_longer_than_a_lease_and_a_tick_is_a_problem(engine):
    lead(engine, "web-1:41", renewed=datetime.now(UTC) - timedelta(minutes=10))

    answer = scheduler_health(engine)

    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "no scheduler leader"
    assert body["leader"] is None
    assert "no replica has run the scheduler since" in body["problems"][0]


@pytest.mark.parametrize("fresh_database_url", BACKENDS, indirect=True)
def test_messages_due_long_ago_and_unsent_are_overdue(engine):
    lead(engine, "web-1:41", renewed=datetime.now(UTC))
    due = datetime.now(UTC) - timedelta(hours=1)
    with make_sessions(engine).begin() as session:
        outbox.plan(
            session,
            [outbox.Planned("nudge", "2026-W48", outbox.person_recipient(n)) for n in (1, 2)],
            now=due,
        )

    answer = scheduler_health(engine)

    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "deliveries overdue"
    assert body["overdue_deliveries"]["count"] == 2
    assert datetime.fromisoformat(body["overdue_deliveries"]["oldest_due"]) == due.replace(
        microsecond=0
    )
    assert "2 messages were due more than 15 minutes ago" in body["problems"][0]


@pytest.mark.parametrize("fresh_database_url", ["postgresql"], indirect=True)
def test_healthz_answers_within_a_second_when_the_database_is_blackholed(fresh_database_url):
    upgrade(make_engine(fresh_database_url))
    port = make_url(fresh_database_url).port or 5432
    with TcpProxy("127.0.0.1", port) as proxy:
        url = make_url(fresh_database_url).set(host="127.0.0.1", port=proxy.port)
        engine = make_engine(url.render_as_string(hide_password=False))
        # A check that hears nothing for 2 s is given up, so the next one starts afresh.
        app = build_http_app(None, engine, health=HealthChecks(engine, give_up_after=2))
        with serving(app) as base:
            assert httpx.get(f"{base}/healthz", timeout=5).json() == {"status": "ok"}
            proxy.blackhole()
            time.sleep(1.1)  # the answer above is no longer fresh

            for path in ("/healthz", "/healthz", "/healthz/scheduler"):
                started = time.monotonic()
                answer = httpx.get(f"{base}{path}", timeout=5)
                took = time.monotonic() - started

                assert answer.status_code == 503
                assert answer.json()["status"] == "database not answering"
                assert took < 1.2
            # Liveness does not ask the database: the process is fine.
            assert httpx.get(f"{base}/livez", timeout=1).status_code == 200

            proxy.restore()
            deadline = time.monotonic() + 5
            while httpx.get(f"{base}/healthz", timeout=5).status_code != 200:
                assert time.monotonic() < deadline, "healthz never recovered"
                time.sleep(0.2)
        engine.dispose()


@pytest.mark.parametrize("fresh_database_url", ["postgresql"], indirect=True)
def test_a_replica_whose_clock_is_fast_still_sees_the_live_leader(engine):
    """Lease times are PostgreSQL's: a replica's clock five minutes fast does not matter."""
    leader = AdvisoryLockLeader(engine, random.randrange(1, 2**31), name="web-1:41")
    assert leader.holds()
    fast = HealthChecks(
        engine, tick_seconds=TICK, clock=lambda: datetime.now(UTC) + timedelta(minutes=5)
    )
    try:
        app = build_http_app(None, engine, health=fast)
        with serving(app) as url:
            answer = httpx.get(f"{url}/healthz/scheduler", timeout=5)

        assert answer.status_code == 200, answer.json()
        assert answer.json()["leader"]["name"] == "web-1:41"
    finally:
        leader.release()
