"""Run Alembic migrations from code, with no alembic.ini to find."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine

# Alembic (with Mako and Pygments) costs ~7 MiB and ~0.1 s to import: it loads only when the
# schema must change, or when asked about it. A start on a database already at the latest
# revision, the usual case, checks that with one query and never imports it.
if TYPE_CHECKING:
    from alembic.config import Config

from store.planner_statistics import refresh_planner_statistics

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# `revision: str = '0010'` and `down_revision: str | None = '0009'`, as Alembic writes them.
_REVISION_LINE = re.compile(r"""^(revision|down_revision)\b[^=\n]*=\s*['"]([^'"\n]+)['"]""", re.M)


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """An Alembic config pointing at our migrations, on a connection or a URL."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@contextmanager
def _migrating(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction for migrations; on SQLite, with foreign keys off.

    SQLite rebuilds a table to change it (batch mode), and dropping the old table with foreign
    keys on would delete (ON DELETE CASCADE) every row that points at it. So, as SQLite's own
    procedure for altering tables says: foreign keys off outside the transaction, the change,
    a foreign_key_check before commit, and foreign keys on again.
    """
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        raw = connection.connection.driver_connection if sqlite else None
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=OFF")  # a no-op inside a transaction: before it
        try:
            with connection.begin():
                yield connection
                if raw is not None:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise RuntimeError(f"migration broke {len(broken)} foreign keys")
        finally:
            if raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")


def known_head(versions: Path = MIGRATIONS_DIR / "versions") -> str | None:
    """The latest revision in our migrations, read from their files without Alembic.

    None unless the files form one chain (one revision that none revises): then only Alembic
    can say, and it is asked.
    """
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in versions.glob("*.py"):
        found = dict(_REVISION_LINE.findall(path.read_text(encoding="utf-8")))
        if "revision" not in found:
            return None
        revisions.add(found["revision"])
        if "down_revision" in found:
            revised.add(found["down_revision"])
    heads = revisions - revised
    return heads.pop() if len(heads) == 1 else None


def at_head(engine: Engine) -> bool:
    """Whether the database is at our latest revision: one read, no Alembic, no write lock.

    On the driver's own connection: through SQLAlchemy, SQLite would begin with BEGIN
    IMMEDIATE (see store.engine) and a start would wait behind any writer just to read this.
    """
    head = known_head()
    if head is None:
        return False
    with engine.connect() as connection:  # connecting through SQLAlchemy: its errors
        cursor = connection.connection.driver_connection.cursor()  # no BEGIN, as said
        try:
            cursor.execute("SELECT version_num FROM alembic_version")
            versions = [row[0] for row in cursor.fetchall()]
        except engine.dialect.loaded_dbapi.Error:  # no alembic_version table: empty database
            return False  # (PostgreSQL's failed transaction is rolled back as it goes back)
        finally:
            cursor.close()
    return versions == [head]


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database schema up to `revision` (the latest by default), then ANALYZE it."""
    if revision == "head" and at_head(engine):
        return  # nothing to do, and no need to load Alembic to find that out
    from alembic import command

    with _migrating(engine) as connection:
        command.upgrade(alembic_config(connection), revision)
        refresh_planner_statistics(connection)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the database schema back to `revision`."""
    from alembic import command

    with _migrating(engine) as connection:
        command.downgrade(alembic_config(connection), revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """The latest revision the code knows."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head
