"""INSERT ... ON CONFLICT for whichever database the session is on."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_for(session: Session, table: Table) -> Any:
    """An INSERT on `table` that offers on_conflict_do_nothing / _do_update on this database."""
    is_postgres = session.get_bind().dialect.name == "postgresql"
    return (postgresql.insert if is_postgres else sqlite.insert)(table)
