"""Shared fixtures: a migrated database on SQLite and PostgreSQL, a frozen clock, a bot."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from handlers.core.context import Context
from handlers.core.reply import Actor, Reply
from handlers.dispatch import Dispatcher
from store.engine import make_engine
from store.migrate import upgrade
from tests.fakes.tcp_proxy import TcpProxy

pytest_plugins = ["tests.solo"]

POSTGRES_URL = os.environ.get("QI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
# CI sets this when PostgreSQL answers, so a broken connection fails instead of skipping.
REQUIRE_POSTGRES = os.environ.get("QI_REQUIRE_POSTGRES") == "1"

BACKENDS = ["sqlite", "postgresql"]


def postgres_reachable() -> str | None:
    """None if PostgreSQL answers, else why not."""
    try:
        engine = make_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("select 1"))
        engine.dispose()
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return None


_PG_PROBLEM: str | bool | None = False


def _skip_without_postgres() -> None:
    global _PG_PROBLEM
    if _PG_PROBLEM is False:
        _PG_PROBLEM = postgres_reachable()
    if _PG_PROBLEM:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required but unreachable: {_PG_PROBLEM}")
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}")


def postgres_schema_url(schema: str) -> str:
    """The test database URL with `schema` first on the search path."""
    joiner = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{joiner}options=-csearch_path%3D{schema}"


@contextmanager
def database_url_for(backend: str, folder: Path) -> Iterator[str]:
    """An empty database: a SQLite file in `folder`, or a throw-away PostgreSQL schema."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'qi.db'}"
        return
    _skip_without_postgres()
    schema = f"qi_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield postgres_schema_url(schema)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def postgres_behind_proxy(folder: Path) -> Iterator[tuple[str, TcpProxy]]:
    """An empty PostgreSQL schema reached only through a TcpProxy: (its URL, the proxy)."""
    with database_url_for("postgresql", folder) as url, TcpProxy("127.0.0.1", 5432) as proxy:
        yield make_url(url).set(port=proxy.port).render_as_string(hide_password=False), proxy


@pytest.fixture
def fresh_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of the requested backend, for tests that migrate or run processes."""
    with database_url_for(getattr(request, "param", "sqlite"), tmp_path) as url:
        yield url


@pytest.fixture(scope="session", params=BACKENDS)
def migrated_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """One migrated database per backend for the whole run."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('db') / 'qi.db'}")
        upgrade(engine)
        yield engine
        engine.dispose()
        return
    _skip_without_postgres()
    schema = f"qi_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(postgres_schema_url(schema))
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def sessions(migrated_engine: Engine) -> Iterator[sessionmaker[Session]]:
    """Sessions joined to an outer transaction that is rolled back after the test."""
    connection = migrated_engine.connect()
    outer = connection.begin()
    factory = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    try:
        yield factory
    finally:
        outer.rollback()
        connection.close()


class FrozenClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


@pytest.fixture
def clock() -> FrozenClock:
    """Monday 23 November 2026, 10:00 UTC, until a test moves it."""
    return FrozenClock(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))


@pytest.fixture
def ctx(sessions: sessionmaker[Session], clock: FrozenClock) -> Context:
    return Context(sessions=sessions, clock=clock)


@dataclass
class Chat:
    """Drives the bot like people typing in chat: `chat.say(asha, '/qi-join forum')`."""

    bot: Dispatcher

    def say(self, actor: Actor, line: str) -> Reply:
        name, _, rest = line.strip().partition(" ")
        return self.bot.command(actor, name, rest)

    def press(self, actor: Actor, reply: Reply, label: str) -> Reply:
        """Press the button with this label on an earlier reply."""
        matches = [b for b in reply.buttons if b.label == label]
        assert matches, f"no button {label!r} in {[b.label for b in reply.buttons]}"
        return self.bot.action(actor, matches[0].action_id, matches[0].value)

    def submit(self, actor: Actor, reply: Reply, **values: str) -> Reply:
        """Fill in and submit the form an earlier reply opened."""
        assert reply.form is not None, f"no form in reply: {reply.text}"
        return self.bot.submit(actor, reply.form.form_id, values, reply.form.context)


@pytest.fixture
def chat(ctx: Context) -> Chat:
    return Chat(Dispatcher(ctx))


def person(name: str, user_id: str | None = None) -> Actor:
    """A chat user on the console platform."""
    return Actor("console", "local", user_id or name.casefold(), name)


@pytest.fixture
def asha() -> Actor:
    """A QI lead."""
    return person("Asha Patel")


@pytest.fixture
def ben() -> Actor:
    """A carer who uses chat."""
    return person("Ben Okafor")


@pytest.fixture
def chloe() -> Actor:
    """A member of staff."""
    return person("Chloe Evans")


@pytest.fixture(autouse=True)
def no_charts_kept_between_tests() -> Iterator[None]:
    """Each test draws its own charts: the process-wide cache of drawn charts starts empty."""
    from handlers.evidence.chart_cache import drawn_charts

    drawn_charts.clear()
    yield
    drawn_charts.clear()
