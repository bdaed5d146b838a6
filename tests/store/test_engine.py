"""The engine: every PostgreSQL connection notices a silently dropped network in about a minute."""

from __future__ import annotations

from store.engine import make_engine
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
