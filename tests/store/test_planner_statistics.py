"""PostgreSQL plans with fresh statistics after a migration and after a register import."""

import io
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from handlers.core.context import Context
from handlers.projects.register_import import import_projects
from store.engine import make_engine, make_sessions
from store.migrate import upgrade

POSTGRES = pytest.mark.parametrize("fresh_database_url", ["postgresql"], indirect=True)

# -1 until the table is first analysed (PostgreSQL 14 and later); then the rows it counted.
ROWS_COUNTED = text(
    "SELECT c.relname, c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = current_schema() AND c.relkind = 'r'"
)


def rows_counted(engine):
    with engine.connect() as connection:
        return {name: int(rows) for name, rows in connection.execute(ROWS_COUNTED)}


@POSTGRES
def test_migrating_leaves_every_table_analysed(fresh_database_url):
    engine = make_engine(fresh_database_url)

    upgrade(engine)

    counted = rows_counted(engine)
    engine.dispose()
    assert counted["projects"] == 0 and counted["memberships"] == 0
    assert not [name for name, rows in counted.items() if rows < 0]


@POSTGRES
def test_an_import_leaves_the_projects_analysed(fresh_database_url):
    engine = make_engine(fresh_database_url)
    upgrade(engine)
    ctx = Context(sessions=make_sessions(engine), clock=lambda: datetime(2026, 11, 23, tzinfo=UTC))
    register = "Project name,Lead,Site,Status\n" + "".join(
        f"Falls prevention {n},,Ward {n},Active\n" for n in range(30)
    )

    import_projects(ctx, io.StringIO(register, newline=""))

    counted = rows_counted(engine)
    engine.dispose()
    assert counted["projects"] == 30
    assert counted["project_words"] == 30 * 5  # falls, prevention, the number; ward, the number
