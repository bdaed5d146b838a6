"""PostgreSQL's planner statistics, refreshed after a change of the data's size or shape."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, text

_OUR_TABLES = text(
    "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables "
    "WHERE schemaname = current_schema() ORDER BY tablename"
)


def refresh_planner_statistics(connection: Connection, tables: Sequence[str] = ()) -> None:
    """ANALYZE this schema's tables on PostgreSQL (SQLite plans without them well enough).

    Without statistics PostgreSQL guesses every table's size, and a fresh schema planned the
    project list as a 600 x 1000 semi-join (55 ms instead of 3.8 ms); autovacuum may not come
    round for minutes after a migration or an import. These tables (of the schema on the
    search path), or every table of the schema we use, never every schema in the database.
    """
    if connection.dialect.name != "postgresql":
        return
    if not tables:
        tables = connection.execute(_OUR_TABLES).scalars().all()
    if tables:
        connection.execute(text("ANALYZE " + ", ".join(tables)))
