"""The engine: every PostgreSQL connection notices a silently dropped network in about a minute.

And on SQLite, work that only reads takes no write lock.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from store.engine import NeedsWriteLock, make_engine, make_sessions, reading_only
from store.migrate import upgrade
from store.models import Person
from tests.conftest import POSTGRES_URL, _skip_without_postgres


def libpq_settings(url: str, *names: str) -> dict[str, str | None]:
    """What the driver's live connection was opened with."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            given = connection.connection.dbapi_connection.info.get_parameters()
            return {name: given.get(name) for name in names}
    finally:
        engine.dispose()


def test_postgres_connections_probe_an_idle_line_and_give_up_on_a_dead_one():
    _skip_without_postgres()

    settings = libpq_settings(
        POSTGRES_URL, "keepalives", "keepalives_idle", "tcp_user_timeout", "connect_timeout"
    )

    assert settings == {
        "keepalives": "1",
        "keepalives_idle": "30",
        "tcp_user_timeout": "60000",
        "connect_timeout": "10",
    }


def test_settings_in_the_database_url_win():
    _skip_without_postgres()
    joiner = "&" if "?" in POSTGRES_URL else "?"

    settings = libpq_settings(f"{POSTGRES_URL}{joiner}keepalives_idle=99", "keepalives_idle")

    assert settings == {"keepalives_idle": "99"}


def server_setting(engine, name: str) -> str:
    with engine.connect() as connection:
        return connection.exec_driver_sql(f"SHOW {name}").scalar()


def test_a_transaction_left_idle_is_ended_by_the_server_within_a_minute():
    # A session cut mid-transaction whose close never reaches the server would otherwise keep
    # its row locks until the server's TCP keepalive gives up, about two hours later.
    _skip_without_postgres()
    engine = make_engine(POSTGRES_URL)
    try:
        assert server_setting(engine, "idle_in_transaction_session_timeout") == "1min"
    finally:
        engine.dispose()


@pytest.mark.parametrize("fresh_database_url", ["postgresql"], indirect=True)
def test_the_leaders_lock_connection_gets_the_same_limit_and_keeps_its_lock(fresh_database_url):
    # The lock connection is idle outside any transaction (autocommit): the limit never ends it.
    from bot.runtime.leader import AdvisoryLockLeader
    from store.migrate import upgrade

    engine = make_engine(fresh_database_url)
    upgrade(engine)
    leader = AdvisoryLockLeader(engine, 918_273_645)
    try:
        assert server_setting(leader.engine, "idle_in_transaction_session_timeout") == "1min"
        assert leader.holds()
    finally:
        leader.release()
        leader.engine.dispose()
        engine.dispose()


def test_reading_only_takes_no_lock_on_sqlite_and_stops_at_the_first_write(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'qi.db'}")
    upgrade(engine)
    sessions = make_sessions(engine)
    holder = sqlite3.connect(tmp_path / "qi.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer, holding the lock
    try:
        with reading_only(), sessions() as session:
            assert session.scalar(select(func.count()).select_from(Person)) == 0  # no wait
        with reading_only(), pytest.raises(NeedsWriteLock), sessions.begin() as session:
            session.add(Person(display_name="Ana", created_at=datetime.now(UTC)))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with sessions.begin() as session:  # a writer takes the lock as before, and writes
        session.add(Person(display_name="Ben", created_at=datetime.now(UTC)))
    with sessions() as session:
        assert session.scalars(select(Person.display_name)).all() == ["Ben"]
    engine.dispose()
