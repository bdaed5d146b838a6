"""Leadership comes back within a few ticks when the leader's network dies, and says who holds it.

The leader reaches PostgreSQL through a TcpProxy; the test cuts that path the way a dead host
does (packets dropped, the server's side of the connection left open and holding the lock).
Leases here last a second or two instead of two and a half minutes.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from bot.runtime.leader import AdvisoryLockLeader, SoleLeader, leadership_for
from bot.runtime.scheduler import Scheduler
from store import leadership
from store.engine import make_engine, make_sessions
from store.migrate import upgrade
from tests.fakes.tcp_proxy import TcpProxy

# Asserts how long things take: runs with no other test competing for the cores (tests/solo.py).
pytestmark = pytest.mark.solo

TTL = timedelta(seconds=1.5)


def through(proxy: TcpProxy, url: str) -> str:
    """The database URL, reached through the proxy."""
    parsed = make_url(url).set(host="127.0.0.1", port=proxy.port)
    return parsed.render_as_string(hide_password=False)


def lock_holder_pids(admin, key: int) -> list[int]:
    """The sessions holding the advisory lock, as PostgreSQL sees it."""
    with admin.connect() as connection:
        return list(
            connection.scalars(
                text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND ((classid::bigint << 32) | objid::bigint) = :key"
                ),
                {"key": key},
            )
        )


@pytest.fixture
def database(fresh_database_url):
    """A migrated database, an admin engine on it, and a lock key of this test's own."""
    admin = make_engine(fresh_database_url)
    upgrade(admin)
    yield fresh_database_url, admin, random.randrange(1, 2**31)
    admin.dispose()


def backend_pid(leader: AdvisoryLockLeader) -> int:
    return leader._connection.scalar(text("SELECT pg_backend_pid()"))  # type: ignore[union-attr]


@pytest.mark.parametrize("fresh_database_url", ["postgresql"], indirect=True)
def test_a_leader_cut_off_by_a_dead_network_is_replaced_once_its_lease_runs_out(database, caplog):
    url, admin, key = database
    port = make_url(url).port or 5432
    with TcpProxy("127.0.0.1", port) as proxy:
        a = AdvisoryLockLeader(make_engine(through(proxy, url)), key, name="web-1:41", ttl=TTL)
        b = AdvisoryLockLeader(make_engine(url), key, name="web-2:42", ttl=TTL)
        try:
            assert a.holds() and not b.holds()
            proxy.blackhole()
            proxy.orphan_server_side()  # the leader's host is gone; its session is not
            cut_at = time.monotonic()
            assert len(lock_holder_pids(admin, key)) == 1

            with caplog.at_level(logging.INFO, logger="bot.runtime.leader"):
                while not b.holds():
                    assert time.monotonic() - cut_at < TTL.total_seconds() + 3, "no takeover"
                    time.sleep(0.1)
            took_over_in = time.monotonic() - cut_at

            assert lock_holder_pids(admin, key) == [backend_pid(b)]
            assert took_over_in < 2 * TTL.total_seconds()
            with make_sessions(admin)() as session:
                leader = leadership.current_leader(session, leadership.database_now(session))
                assert leader is not None and leader.name == "web-2:42"
            # The cut-off leader stops on its own clock, and its tick does not hang.
            assert not a.valid()
            started = time.monotonic()
            assert a.holds() is False
            assert time.monotonic() - started < 5
            warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
            assert any("web-1:41" in w and "has not renewed its lease" in w for w in warnings)
        finally:
            b.release()
            a.release()


@pytest.mark.parametrize("fresh_database_url", ["postgresql"], indirect=True)
def test_a_replica_kept_from_leading_by_another_session_says_so_once_naming_it(database, caplog):
    """An older qi-nudge, or another deployment, holding the lock: never ended, only named."""
    url, admin, key = database
    other = make_engine(url, connect_args={"application_name": "qi-nudge 1.4 on web-9"})
    holding = other.connect().execution_options(isolation_level="AUTOCOMMIT")
    assert holding.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key})
    pid = holding.scalar(text("SELECT pg_backend_pid()"))
    b = AdvisoryLockLeader(make_engine(url), key, name="web-2:42", ttl=timedelta(seconds=0.6))
    try:
        with caplog.at_level(logging.INFO, logger="bot.runtime.leader"):
            ticks = [b.holds() for _ in range(12) if time.sleep(0.1) is None]

        assert not any(ticks)
        assert lock_holder_pids(admin, key) == [pid]
        warnings = [
            r.getMessage()
            for r in caplog.records
            if r.levelno == logging.WARNING and r.name == "bot.runtime.leader"
        ]
        assert len(warnings) == 1, warnings  # after a few ticks, then not every tick
        assert "cannot lead the scheduler" in warnings[0]
        assert "qi-nudge 1.4 on web-9" in warnings[0] and str(pid) in warnings[0]
    finally:
        b.release()
        holding.close()
        other.dispose()


@pytest.mark.parametrize("fresh_database_url", ["postgresql"], indirect=True)
def test_a_leader_that_hears_nothing_stops_leading_when_its_lease_would_run_out(database):
    url, _admin, key = database
    now = [1000.0]
    a = AdvisoryLockLeader(
        make_engine(url), key, name="web-1:41", ttl=TTL, monotonic=lambda: now[0]
    )
    scheduler = Scheduler(jobs_=None, leader=a)  # type: ignore[arg-type]  # only leads here
    try:
        assert scheduler.renew() and scheduler.leads()
        now[0] += TTL.total_seconds() - 0.1
        assert scheduler.leads()
        now[0] += 0.2  # no renewal heard: another replica may lead from now on
        assert not scheduler.leads()
    finally:
        a.release()


def test_on_sqlite_the_one_process_leads_and_says_so_in_the_lease(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'qi.db'}")
    upgrade(engine)
    leader = leadership_for(engine, tick_seconds=60, name="laptop:7")
    sessions = make_sessions(engine)

    assert isinstance(leader, SoleLeader) and leader.holds() and leader.valid()
    with sessions() as session:
        info = leadership.current_leader(session, leader.clock())
    assert info is not None and info.name == "laptop:7"
    assert info.expires_at - info.renewed_at == timedelta(seconds=150)

    leader.release()
    with sessions() as session:
        assert leadership.current_leader(session, leader.clock()) is None
    engine.dispose()


@pytest.mark.parametrize("fresh_database_url", ["postgresql"], indirect=True)
def test_a_leader_whose_connection_was_cut_ends_its_own_ghost_and_leads_on(database):
    """A blip that resets the bot's side only: the server still holds the old session's lock."""
    url, admin, key = database
    with TcpProxy("127.0.0.1", make_url(url).port or 5432) as proxy:
        a = AdvisoryLockLeader(make_engine(through(proxy, url)), key, name="web-1:41", ttl=TTL)
        try:
            assert a.holds()
            ghost = lock_holder_pids(admin, key)
            proxy.orphan_server_side()

            assert a.holds()  # at once: nobody else led meanwhile, the lease says so

            assert lock_holder_pids(admin, key) == [backend_pid(a)] != ghost
        finally:
            a.release()


@pytest.mark.parametrize("fresh_database_url", ["postgresql"], indirect=True)
def test_two_replicas_with_the_same_name_do_not_both_lead(database):
    """Containers often run as process 1 under one hostname, so two replicas share a name."""
    url, admin, key = database
    a = AdvisoryLockLeader(make_engine(url), key, name="qi-nudge:1", ttl=TTL)
    b = AdvisoryLockLeader(make_engine(url), key, name="qi-nudge:1", ttl=TTL)
    try:
        assert a.holds()
        leader_session = lock_holder_pids(admin, key)
        for _ in range(4):
            assert not b.holds()
            assert a.holds()
            assert (a.valid(), b.valid()) == (True, False)
            assert lock_holder_pids(admin, key) == leader_session  # never ended
    finally:
        b.release()
        a.release()


class ClockAhead(datetime):
    """A replica's clock five minutes fast: NTP not running on its host."""

    @classmethod
    def now(cls, tz=None):  # type: ignore[override]
        return datetime.now(tz) + timedelta(minutes=5)


@pytest.mark.parametrize("fresh_database_url", ["postgresql"], indirect=True)
def test_a_replica_whose_clock_is_fast_does_not_end_a_live_leader(database, monkeypatch):
    url, admin, key = database
    a = AdvisoryLockLeader(make_engine(url), key, name="web-1:41", ttl=TTL)
    b = AdvisoryLockLeader(make_engine(url), key, name="web-2:42", ttl=TTL)
    try:
        assert a.holds()
        leader_session = lock_holder_pids(admin, key)
        with monkeypatch.context() as fast:
            fast.setattr("bot.runtime.leader.datetime", ClockAhead)
            assert not b.holds()
            assert not b.holds()
        assert a.holds() and a.valid() and not b.valid()
        assert lock_holder_pids(admin, key) == leader_session
        with make_sessions(admin)() as session:
            lease = leadership.last_lease(session)
            database_now = session.scalar(text("SELECT clock_timestamp()"))
        # The lease is written by the database's clock, whatever the replicas' clocks say.
        assert abs((lease.renewed_at - database_now).total_seconds()) < 5
    finally:
        b.release()
        a.release()


@pytest.mark.parametrize("fresh_database_url", ["postgresql"], indirect=True)
def test_a_leader_renewing_late_while_another_replica_ends_it_is_never_a_second_leader(database):
    """B reads A's lease run out; A renews late just then; B must not end A's session after."""
    url, admin, key = database
    a = AdvisoryLockLeader(make_engine(url), key, name="web-1:41", ttl=TTL)
    b = AdvisoryLockLeader(make_engine(url), key, name="web-2:42", ttl=TTL)
    renewed_late: list[bool] = []

    def a_renews_late(_conn, _cursor, statement, *_args) -> None:
        if "pg_terminate_backend" in statement and not renewed_late:
            renewed_late.append(a.holds())

    event.listen(b.engine, "before_cursor_execute", a_renews_late)
    try:
        assert a.holds()
        time.sleep(TTL.total_seconds() + 0.2)  # A's tick is late: its lease has run out
        b_leads = b.holds()

        assert renewed_late, "B never tried to end A's session"
        leaders = [name for name, r in (("a", a), ("b", b)) if r.valid()]
        assert len(leaders) == 1, leaders
        assert b_leads == b.valid()
        assert a.holds() != b.holds()
        holder = backend_pid(a) if a.valid() else backend_pid(b)
        assert lock_holder_pids(admin, key) == [holder]
    finally:
        b.release()
        a.release()


@pytest.mark.parametrize("fresh_database_url", ["postgresql"], indirect=True)
def test_a_leader_whose_lease_ran_out_takes_the_lead_again_rather_than_renewing(database, caplog):
    url, admin, key = database
    a = AdvisoryLockLeader(make_engine(url), key, name="web-1:41", ttl=TTL)
    try:
        assert a.holds()
        with make_sessions(admin)() as session:
            first = leadership.last_lease(session)
        time.sleep(TTL.total_seconds() + 0.2)  # its tick came too late

        with caplog.at_level(logging.WARNING, logger="bot.runtime.leader"):
            assert a.holds() and a.valid()

        with make_sessions(admin)() as session:
            again = leadership.last_lease(session)
        assert again.since > first.expires_at  # a new lease, not the old one stretched
        assert lock_holder_pids(admin, key) == [backend_pid(a)] == [again.backend_pid]
        assert any("ran out before it was renewed" in r.getMessage() for r in caplog.records)
    finally:
        a.release()


@pytest.mark.parametrize("fresh_database_url", ["postgresql"], indirect=True)
def test_a_session_whose_lease_still_runs_is_not_ended_as_a_ghost(database):
    """The end is guarded by the lease in the same statement, not by an earlier read."""
    url, admin, key = database
    a = AdvisoryLockLeader(make_engine(url), key, name="web-1:41", ttl=TTL)
    try:
        assert a.holds()
        leader_session = backend_pid(a)
        with make_sessions(admin)() as session:
            assert leadership.end_ghost(session, leader_session) is None
        assert a.holds() and lock_holder_pids(admin, key) == [leader_session]
    finally:
        a.release()
