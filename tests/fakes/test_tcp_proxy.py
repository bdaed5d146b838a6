"""The TCP proxy does to a real PostgreSQL connection what a dying network does."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from tests.conftest import POSTGRES_URL, _skip_without_postgres
from tests.fakes.tcp_proxy import TcpProxy


@pytest.fixture(autouse=True)
def _postgres() -> None:
    _skip_without_postgres()  # fails instead when CI requires PostgreSQL


KEY = 0x7E57_0001


def _through(proxy: TcpProxy) -> str:
    url = make_url(POSTGRES_URL).set(host="127.0.0.1", port=proxy.port)
    return url.render_as_string(hide_password=False)


def _lock_holders(direct) -> int:
    with direct.connect() as connection:
        return connection.scalar(
            text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = :key"),
            {"key": KEY},
        )


def test_an_orphaned_connection_keeps_its_lock_on_the_server_and_the_client_sees_it_die():
    direct = create_engine(POSTGRES_URL)
    with TcpProxy("127.0.0.1", make_url(POSTGRES_URL).port or 5432) as proxy:
        engine = create_engine(_through(proxy), pool_pre_ping=False)
        connection = engine.connect()
        assert connection.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": KEY})
        assert _lock_holders(direct) == 1
        assert proxy.orphan_server_side() >= 1
        with pytest.raises(OperationalError):
            connection.execute(text("SELECT 1"))
        # The server never heard: the ghost session still holds the lock.
        assert _lock_holders(direct) == 1
        connection.invalidate()
    # Stopping the proxy closes the orphan, and the server lets the lock go.
    for _ in range(50):
        if _lock_holders(direct) == 0:
            break
        with direct.connect() as connection:
            connection.execute(text("SELECT pg_sleep(0.1)"))
    assert _lock_holders(direct) == 0
    direct.dispose()


def test_a_blackholed_connection_hangs_until_the_client_gives_up():
    with TcpProxy("127.0.0.1", make_url(POSTGRES_URL).port or 5432) as proxy:
        engine = create_engine(_through(proxy), connect_args={"connect_timeout": 1})
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT 1")) == 1
        proxy.blackhole()
        with pytest.raises(OperationalError):
            # A new connection cannot complete its start-up, so connect_timeout ends it.
            engine.dispose()
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        proxy.restore()
        engine.dispose()
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT 1")) == 1
