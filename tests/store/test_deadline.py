"""Deadlines: inside `waiting_at_most` every database wait ends in time; outside, jobs wait on."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError, TimeoutError

from store.deadline import unavailable_because, waiting_at_most
from store.engine import make_engine
from tests.conftest import BACKENDS, database_url_for

# Asserts how long things take: runs with no other test competing for the cores (tests/solo.py).
pytestmark = pytest.mark.solo


@pytest.mark.parametrize("fresh_database_url", BACKENDS, indirect=True)
def test_waiting_for_a_free_connection_ends_at_the_deadline(fresh_database_url):
    engine = make_engine(fresh_database_url, pool_size=1, max_overflow=0)
    with engine.connect():  # the pool's only connection, busy elsewhere
        started = time.monotonic()
        with pytest.raises(TimeoutError) as caught, waiting_at_most(0.3):
            engine.connect()
        took = time.monotonic() - started

    assert took < 1.0  # not the pool's own 30 s
    assert unavailable_because(caught.value) == "no free connection in time"
    engine.dispose()


def test_a_query_still_running_at_the_deadline_is_cut_and_the_pool_recovers(tmp_path):
    with database_url_for("postgresql", tmp_path) as url:
        engine = make_engine(url)
        with engine.connect() as connection:  # a job: no deadline, as long as it needs
            connection.execute(text("SELECT pg_sleep(1.2)"))

        started = time.monotonic()
        with (
            pytest.raises(DBAPIError) as caught,
            waiting_at_most(0.5),
            engine.connect() as connection,
        ):
            connection.execute(text("SELECT pg_sleep(10)"))
        took = time.monotonic() - started

        assert took < 1.5
        assert caught.value.connection_invalidated  # thrown away, not returned to the pool
        with waiting_at_most(2), engine.connect() as connection:
            assert connection.execute(text("SELECT 1")).scalar() == 1
        engine.dispose()


def test_an_idle_transaction_past_its_deadline_is_left_alone(tmp_path):
    """Only a connection waiting for the server is cut: slow Python between queries is not."""
    with database_url_for("postgresql", tmp_path) as url:
        engine = make_engine(url)
        with waiting_at_most(0.3), engine.begin() as connection:
            connection.execute(text("SELECT 1"))
            time.sleep(0.6)
            assert connection.execute(text("SELECT 2")).scalar() == 2
        engine.dispose()


def test_sqlite_waits_for_another_writer_only_until_the_deadline(tmp_path):
    path = tmp_path / "qi.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (n INTEGER)"))
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")  # an import holding the one write lock

    started = time.monotonic()
    with pytest.raises(OperationalError) as caught, waiting_at_most(0.5), engine.begin():
        pass
    took = time.monotonic() - started
    assert 0.3 < took < 1.5
    assert unavailable_because(caught.value) == "busy with other work"

    # Without a deadline (a job, the command line) the engine's own 5 s still apply.
    threading.Timer(1.0, lambda: writer.execute("COMMIT")).start()
    started = time.monotonic()
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (1)"))
    assert 0.8 < time.monotonic() - started < 4
    writer.close()
    engine.dispose()


def test_deadlines_nest_and_the_earlier_one_wins():
    from store.deadline import seconds_left

    assert seconds_left() is None
    with waiting_at_most(1), waiting_at_most(60):
        left = seconds_left()
        assert left is not None and left <= 1
    assert seconds_left() is None


def _error_with_sqlstate(engine, sqlstate: str) -> DBAPIError:
    """The error PostgreSQL really sends with this SQLSTATE, as SQLAlchemy raises it."""
    with pytest.raises(DBAPIError) as caught, engine.connect() as connection:
        connection.execute(
            text(f"DO $$ BEGIN RAISE EXCEPTION 'said' USING ERRCODE = '{sqlstate}'; END $$")
        )
    return caught.value


@pytest.mark.parametrize(
    ("sqlstate", "reason"),
    [
        ("08006", "connection lost"),
        ("08001", "could not connect"),
        ("57P01", "database shutting down or starting up"),
        ("57P03", "database shutting down or starting up"),
        ("53300", "too many connections"),
        ("57014", "no answer in time"),
        # Real errors, to be fixed or looked into: never "try again in a minute" without a trace.
        ("40P01", None),  # deadlock
        ("40001", None),  # serialization failure
        ("53100", None),  # disk full
        ("55P03", None),  # lock not available
    ],
)
@pytest.mark.parametrize("fresh_database_url", ["postgresql"], indirect=True)
def test_postgresql_errors_are_told_apart_by_their_sqlstate(fresh_database_url, sqlstate, reason):
    engine = make_engine(fresh_database_url)
    try:
        assert unavailable_because(_error_with_sqlstate(engine, sqlstate)) == reason
    finally:
        engine.dispose()


def test_work_that_must_not_wait_fails_at_once_on_a_busy_sqlite_then_waits_again(tmp_path):
    from store.deadline import WouldWait, give_up_if_busy, without_waiting

    path = tmp_path / "qi.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as connection:  # the file made, in WAL mode, and a pooled connection
        connection.execute(text("CREATE TABLE t (n INTEGER)"))
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")

    started = time.monotonic()
    with without_waiting() as attempt, waiting_at_most(2), pytest.raises(WouldWait):
        try:
            with engine.begin():
                pass
        except OperationalError as error:
            give_up_if_busy(error)
    assert time.monotonic() - started < 0.2 and attempt.gave_up

    # The same pooled connection, outside: waits for the lock again (up to its deadline).
    threading.Timer(0.5, lambda: writer.execute("COMMIT")).start()
    started = time.monotonic()
    with waiting_at_most(2), engine.begin() as connection:
        connection.execute(text("SELECT 1"))
    assert 0.4 < time.monotonic() - started < 1.5
    writer.close()
    engine.dispose()
