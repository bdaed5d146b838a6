"""Queries that change and read project memberships."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, exists, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from store import matches
from store.audit import record
from store.models import AuditEvent, ChatIdentity, MatchOffer, Membership, Person, Project
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


def join_and_record(
    session: Session,
    *,
    project_id: int,
    person_id: int,
    role: Role,
    involvement: Involvement,
    now: datetime,
) -> int | None:
    """Start the person's own membership unless a current one exists, with its audit line.

    The new membership's id, or None (nothing written). On PostgreSQL the two INSERTs are one
    statement, one round trip: the audit line is inserted from the membership's RETURNING.
    """
    values = {
        "project_id": project_id,
        "person_id": person_id,
        "role": role,
        "involvement": involvement,
        "consent_recorded_by_id": person_id,
        "consent_recorded_at": now,
        "joined_at": now,
    }
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        membership_id = connection.scalar(_UPSERTS[False], values)
        if membership_id is not None:
            record(
                session,
                at=now,
                actor_id=person_id,
                action=JOINED,
                subject_type="membership",
                subject_id=membership_id,
                project_id=project_id,
                role=role.value,
            )
        return membership_id
    detail = {"project_id": project_id, "role": role.value}
    return connection.scalar(_JOIN_AND_RECORD, {**values, "detail": detail})


JOINED = "membership.joined"  # the audit action of a person joining a team


def _join_and_record() -> Any:
    table = Membership.__table__
    columns = ("project_id", "person_id", "role", "involvement", "consent_recorded_by_id")
    joined = (
        postgresql.insert(table)
        .values(
            {
                **{name: bindparam(name) for name in columns},
                "consent_recorded_at": bindparam("joined_at"),
                "joined_at": bindparam("joined_at"),
            }
        )
        .on_conflict_do_nothing(
            index_elements=["project_id", "person_id"], index_where=Membership.left_at.is_(None)
        )
        .returning(table.c.id)
        .cte("joined")
    )
    audit = AuditEvent.__table__
    line = select(
        bindparam("joined_at", type_=audit.c.at.type),
        bindparam("person_id", type_=audit.c.actor_person_id.type),  # they joined themselves
        bindparam("action", JOINED, type_=audit.c.action.type),
        bindparam("subject_type", "membership", type_=audit.c.subject_type.type),
        joined.c.id,
        bindparam("detail", type_=audit.c.detail.type),
    )
    return (
        insert(audit)
        .from_select(
            ["at", "actor_person_id", "action", "subject_type", "subject_id", "detail"], line
        )
        .add_cte(joined)
        .returning(audit.c.subject_id)
    )


_JOIN_AND_RECORD = _join_and_record()


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


class Joined(NamedTuple):
    """Someone who joined one of a lead's teams, for the lead's news."""

    person: str
    role: Role
    project_id: int
    project: str


def joined_teams_led_by(
    session: Session, lead_id: int, *, since: datetime, until: datetime
) -> list[Joined]:
    """Who joined the lead's teams by themselves between the two times and is still on (one query).

    Not the lead, nor anyone a lead added (their consent was recorded by someone else), nor
    someone who came through an introduction (the lead hears of that in its own message).
    """
    introduced = exists().where(
        MatchOffer.project_id == Membership.project_id,
        MatchOffer.person_id == Membership.person_id,
        MatchOffer.status == matches.JOINED,
    )
    query = (
        select(Person.display_name, Membership.role, Project.id, Project.name)
        .select_from(Membership)
        .join(Project, Project.id == Membership.project_id)
        .join(Person, Person.id == Membership.person_id)
        .where(
            Project.lead_person_id == lead_id,
            Membership.person_id != lead_id,
            Membership.consent_recorded_by_id == Membership.person_id,
            Membership.joined_at >= since,
            Membership.joined_at < until,
            Membership.left_at.is_(None),
            ~introduced,
        )
        .order_by(Project.name_key, Project.id, Membership.joined_at, Membership.id)
    )
    return [Joined._make(row) for row in session.execute(query)]
