"""Watching what a piece of code asks the database: its statements, their plans, rows fetched."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, event


@dataclass
class Watched:
    """The SELECTs run (with their parameters), and how many rows the driver handed over."""

    connection: Connection
    statements: list[tuple[str, Any]] = field(default_factory=list)
    rows: int = 0

    def plans(self) -> list[str]:
        """Each SELECT's query plan, as the database would run it now, as one text."""
        sqlite = self.connection.dialect.name == "sqlite"
        prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
        cursor = self.connection.connection.driver_connection.cursor()
        plans = []
        for statement, parameters in self.statements:
            cursor.execute(prefix + statement, parameters)
            rows = cursor.fetchall()
            plans.append("\n".join(str(row[3] if sqlite else row[0]) for row in rows))
        cursor.close()
        return plans


@contextmanager
def watching(connection: Connection) -> Iterator[Watched]:
    """Record the SELECTs run on this connection, and count the rows they bring into Python."""
    watched = Watched(connection)
    raw = connection.connection.driver_connection

    def before(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            watched.statements.append((statement, parameters))

    before_factory = raw.row_factory
    if isinstance(raw, sqlite3.Connection):

        def counted(_cursor: Any, row: Any) -> Any:
            watched.rows += 1
            return row

        raw.row_factory = counted
    else:
        from psycopg.rows import tuple_row

        def counted_rows(cursor: Any) -> Callable[[Any], Any]:
            make = tuple_row(cursor)

            def one(values: Any) -> Any:
                watched.rows += 1
                return make(values)

            return one

        raw.row_factory = counted_rows
    event.listen(connection, "before_cursor_execute", before)
    try:
        yield watched
    finally:
        event.remove(connection, "before_cursor_execute", before)
        raw.row_factory = before_factory
