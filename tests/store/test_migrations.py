"""Alembic migrations: upgrade from empty, match the models, and go back down cleanly."""

import sqlite3

import alembic.command
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from store.engine import make_engine
from store.migrate import at_head, current_revision, downgrade, head_revision, known_head, upgrade
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


@BOTH
def test_an_erased_persons_number_is_never_given_again_and_upgrading_keeps_everyone(
    fresh_database_url,
):
    engine = make_engine(fresh_database_url)
    upgrade(engine, "0006")
    with engine.begin() as connection:
        for name in ("Asha Patel", "Ben Okafor"):
            connection.execute(
                text(
                    "INSERT INTO people (display_name, created_at) "
                    "VALUES (:name, '2026-11-23 10:00:00+00:00')"
                ),
                {"name": name},
            )
        ben = connection.execute(
            text("SELECT id FROM people WHERE display_name = 'Ben Okafor'")
        ).scalar()
        connection.execute(
            text(
                "INSERT INTO chat_identities (person_id, platform, workspace, user_id) "
                "VALUES (:ben, 'slack', 'T1', 'U2')"
            ),
            {"ben": ben},
        )
    upgrade(engine)  # on SQLite, people is rebuilt: nothing that points at it may go
    with engine.begin() as connection:
        kept = connection.execute(text("SELECT count(*) FROM chat_identities")).scalar()
        connection.execute(text("DELETE FROM people WHERE id = :ben"), {"ben": ben})  # erased
        gone = connection.execute(text("SELECT count(*) FROM chat_identities")).scalar()
        connection.execute(
            text(
                "INSERT INTO people (display_name, created_at) "
                "VALUES ('Chloe Wright', '2026-11-24 10:00:00+00:00')"
            )
        )
        chloe = connection.execute(
            text("SELECT id FROM people WHERE display_name = 'Chloe Wright'")
        ).scalar()
    engine.dispose()

    assert kept == 1  # the rebuild kept Ben's account
    assert gone == 0  # and deleting him still takes it with him (foreign keys are back on)
    assert chloe > ben  # not Ben's number: the last one, so SQLite would give it again


def test_the_head_read_from_the_files_is_alembics():
    # Start-up trusts known_head() to skip Alembic: it must agree with Alembic's own reading.
    assert known_head() == head_revision()


@BOTH
def test_a_start_at_the_latest_revision_runs_no_migration(fresh_database_url, monkeypatch):
    engine = make_engine(fresh_database_url)
    upgrade(engine)

    def no_migration(*args, **kwargs):
        raise AssertionError("Alembic ran on a database already at the latest revision")

    monkeypatch.setattr(alembic.command, "upgrade", no_migration)
    upgrade(engine)  # what every start and every qi-nudge command does first

    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_a_start_on_sqlite_does_not_wait_for_a_writer(tmp_path):
    # `qi-nudge deliveries` during the weekly run: the check only reads, so it needs no lock.
    path = tmp_path / "qi.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # holds the one write lock
    try:
        upgrade(engine)  # before: "database is locked" after the 5 s busy timeout
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert at_head(engine)
    engine.dispose()


def test_the_head_is_left_to_alembic_when_the_files_are_not_one_chain(tmp_path):
    for name, revision, down in [("a", "0001", None), ("b", "0002", "0001"), ("c", "0003", "0001")]:
        (tmp_path / f"{name}.py").write_text(
            f"revision: str = '{revision}'\ndown_revision: str | None = {down!r}\n"
        )
    assert known_head(tmp_path) is None  # two heads: Alembic decides (and would refuse)
    (tmp_path / "d.py").write_text("revision: str = '0004'\ndown_revision = ('0002', '0003')\n")
    assert known_head(tmp_path) is None  # a merge, not read here: Alembic decides


@BOTH
def test_a_database_behind_the_latest_revision_is_still_upgraded(fresh_database_url):
    engine = make_engine(fresh_database_url)
    upgrade(engine, "0009")
    assert not at_head(engine)

    upgrade(engine)

    assert at_head(engine)
    assert current_revision(engine) == head_revision()
    engine.dispose()


@BOTH
def test_0013_keys_each_site_gives_it_one_spelling_and_adds_up_its_weeks(fresh_database_url):
    engine = make_engine(fresh_database_url)
    upgrade(engine, "0012")
    at = "2026-11-23 10:00:00+00:00"
    sites = ["Riverside Hospital", "Riverside Hospital", "riverside  HOSPITAL", "Oak Lodge", None]
    weeks = [  # (week, scope, active, involved): one site's week under two spellings
        ("2026-W47", "site:Riverside Hospital", 2, 1),
        ("2026-W47", "site:riverside  HOSPITAL", 1, 0),
        ("2026-W46", "site:riverside  HOSPITAL", 1, 1),
        ("2026-W47", "site:Oak Lodge", 1, 0),
        ("2026-W47", "overall", 4, 1),
    ]
    with engine.begin() as connection:
        for number, site in enumerate(sites):
            connection.execute(
                text(
                    "INSERT INTO projects (name, name_key, site, status, created_at, updated_at) "
                    "VALUES (:name, :key, :site, 'active', :at, :at)"
                ),
                {"name": f"Project {number}", "key": f"project {number}", "site": site, "at": at},
            )
        for week, scope, active, involved in weeks:
            connection.execute(
                text(
                    "INSERT INTO participation_snapshots (week, week_start, scope, "
                    "active_projects, involved_projects, taken_at, backfilled) "
                    "VALUES (:week, '2026-11-16', :scope, :active, :involved, :at, :backfilled)"
                ),
                {
                    "week": week,
                    "scope": scope,
                    "active": active,
                    "involved": involved,
                    "at": at,
                    "backfilled": False,
                },
            )

    upgrade(engine)

    with engine.begin() as connection:
        projects = connection.execute(text("SELECT site, site_key FROM projects ORDER BY id")).all()
        figures = connection.execute(
            text(
                "SELECT week, scope, active_projects, involved_projects "
                "FROM participation_snapshots ORDER BY week, scope"
            )
        ).all()
    downgrade(engine, "0012")
    left = {c["name"] for c in inspect(engine).get_columns("projects")}
    engine.dispose()

    assert [tuple(p) for p in projects] == [
        ("Riverside Hospital", "riverside hospital"),
        ("Riverside Hospital", "riverside hospital"),
        ("Riverside Hospital", "riverside hospital"),  # the spelling most used
        ("Oak Lodge", "oak lodge"),
        (None, None),
    ]
    assert [tuple(f) for f in figures] == [
        ("2026-W46", "site:Riverside Hospital", 1, 1),
        ("2026-W47", "overall", 4, 1),
        ("2026-W47", "site:Oak Lodge", 1, 0),
        ("2026-W47", "site:Riverside Hospital", 3, 1),  # added up
    ]
    assert "site_key" not in left  # and back down again
