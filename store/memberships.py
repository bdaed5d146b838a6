"""Queries that change and read project memberships."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from store.models import ChatIdentity, Membership, Person
from store.names import name_key
from store.roles import Involvement, Role


def current_membership(session: Session, project_id: int, person_id: int) -> Membership | None:
    """The person's current membership of the project, if any."""
    return session.scalar(
        select(Membership).where(
            Membership.project_id == project_id,
            Membership.person_id == person_id,
            Membership.left_at.is_(None),
        )
    )


def insert_membership_if_absent(
    session: Session,
    *,
    project_id: int,
    person_id: int,
    role: Role,
    involvement: Involvement,
    consent_by_id: int,
    now: datetime,
) -> int | None:
    """Start a membership unless a current one exists: the new id, or None. One statement.

    INSERT ... ON CONFLICT DO NOTHING on the partial unique index settles double clicks and
    platform retries inside the database, with no read-then-write race and no savepoint.
    """
    statement = _UPSERTS[session.get_bind().dialect.name == "postgresql"]
    # On the connection, not the session: a Core statement skips the ORM's bulk-insert path.
    return session.connection().scalar(
        statement,
        {
            "project_id": project_id,
            "person_id": person_id,
            "role": role,
            "involvement": involvement,
            "consent_recorded_by_id": consent_by_id,
            "consent_recorded_at": now,
            "joined_at": now,
        },
    )


def _upsert(dialect_insert: Any) -> Any:
    # Built once per dialect with bound parameters: rebuilding per call cost more than the
    # statement takes to run.
    return (
        dialect_insert(Membership.__table__)
        .on_conflict_do_nothing(
            index_elements=["project_id", "person_id"], index_where=Membership.left_at.is_(None)
        )
        .returning(Membership.__table__.c.id)
    )


_UPSERTS = {False: _upsert(sqlite.insert), True: _upsert(postgresql.insert)}


def add_membership(
    session: Session,
    *,
    project_id: int,
    person_id: int,
    role: Role,
    involvement: Involvement,
    consent_by_id: int,
    now: datetime,
) -> Membership:
    """Put the person on the team; the caller has checked they are not on it already."""
    membership = Membership(
        project_id=project_id,
        person_id=person_id,
        role=role,
        involvement=involvement,
        consent_recorded_by_id=consent_by_id,
        consent_recorded_at=now,
        joined_at=now,
    )
    session.add(membership)
    session.flush()
    return membership


def recorded_person_named(session: Session, *, recorded_by_id: int, name: str) -> Person | None:
    """A person not on chat whom this recorder already put on a team under this name."""
    candidates = session.scalars(
        select(Person)
        .join(Membership, Membership.person_id == Person.id)
        .where(
            Membership.consent_recorded_by_id == recorded_by_id,
            ~exists().where(ChatIdentity.person_id == Person.id),
        )
        .distinct()
        .order_by(Person.id)
    )
    key = name_key(name)
    return next((p for p in candidates if name_key(p.display_name) == key), None)
