"""Alembic migrations: upgrade from empty, match the models, and go back down cleanly."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from store.engine import make_engine
from store.migrate import current_revision, downgrade, head_revision, upgrade
from store.models import Base

BOTH = pytest.mark.parametrize("fresh_database_url", ["sqlite", "postgresql"], indirect=True)


@BOTH
def test_upgrade_from_empty_creates_every_table(fresh_database_url):
    engine = make_engine(fresh_database_url)
    assert current_revision(engine) is None

    upgrade(engine)

    assert current_revision(engine) == head_revision()
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    engine.dispose()


@BOTH
def test_migrated_schema_matches_the_models(fresh_database_url):
    engine = make_engine(fresh_database_url)
    upgrade(engine)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert diff == []


@BOTH
def test_upgrade_is_repeatable_and_downgrade_empties(fresh_database_url):
    engine = make_engine(fresh_database_url)
    upgrade(engine)
    upgrade(engine)  # a second start-up must be a no-op, not an error
    downgrade(engine, "base")
    assert current_revision(engine) is None
    assert not set(Base.metadata.tables) & set(inspect(engine).get_table_names())
    engine.dispose()
