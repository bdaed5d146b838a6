"""Asking service users and carers how involved they feel: who is due a question, and answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from store.models import ChatIdentity, InvolvementAnswer, Membership, Person, Project
from store.roles import LIVED_EXPERIENCE_ROLES, Involvement, ProjectStatus
from store.upsert import insert_for


@dataclass(frozen=True)
class Asked:
    """A team place asked this period: its answer row, and whose it is."""

    answer_id: int
    membership_id: int
    person_id: int


def ask_everyone_due(session: Session, *, period: str, start: date, now: datetime) -> list[Asked]:
    """Add an unanswered row for every team place due a question this period; the new ones.

    Due: a service user or carer who is a team member of an active project, on chat, has not
    asked to stop, and has no row for the period yet. One statement to find them and one to
    add them, however many there are.
    """
    on_chat = exists().where(ChatIdentity.person_id == Membership.person_id)
    # Per person and team, not per team place: leaving and joining again is one team.
    asked_already = exists().where(
        InvolvementAnswer.person_id == Membership.person_id,
        InvolvementAnswer.project_id == Membership.project_id,
        InvolvementAnswer.period == period,
    )
    due = session.execute(
        select(Membership.id, Membership.person_id, Membership.project_id)
        .join(Project, Project.id == Membership.project_id)
        .join(Person, Person.id == Membership.person_id)
        .where(
            Membership.left_at.is_(None),
            Membership.involvement == Involvement.TEAM_MEMBER,
            Membership.role.in_(sorted(LIVED_EXPERIENCE_ROLES)),
            Project.status == ProjectStatus.ACTIVE,
            Person.involvement_questions_muted_at.is_(None),
            on_chat,
            ~asked_already,
        )
        .order_by(Membership.id)
    ).all()
    if not due:
        return []
    table = InvolvementAnswer.__table__
    statement = (
        insert_for(session, table)
        .on_conflict_do_nothing()
        .returning(table.c.id, table.c.membership_id, table.c.person_id)
    )
    rows = [
        {
            "membership_id": membership_id,
            "person_id": person_id,
            "project_id": project_id,
            "period": period,
            "period_start": start,
            "asked_at": now,
        }
        for membership_id, person_id, project_id in due
    ]
    added = session.connection().execute(statement, rows).all()
    return sorted((Asked(*row) for row in added), key=lambda asked: asked.membership_id)


def row_for(session: Session, membership_id: int, period: str) -> InvolvementAnswer | None:
    """The period's row of one team place, if it was asked (or answered for)."""
    return session.scalar(
        select(InvolvementAnswer).where(
            InvolvementAnswer.membership_id == membership_id, InvolvementAnswer.period == period
        )
    )


def open_row(
    session: Session, membership: Membership, *, period: str, start: date, now: datetime
) -> InvolvementAnswer:
    """The period's row of a team place, added now if nobody asked yet (a lead asking)."""
    found = row_for(session, membership.id, period)
    if found is not None:
        return found
    row = InvolvementAnswer(
        membership_id=membership.id,
        person_id=membership.person_id,
        project_id=membership.project_id,
        period=period,
        period_start=start,
        asked_at=now,
    )
    session.add(row)
    session.flush()
    return row


def set_questions_muted(session: Session, person_id: int, *, muted_at: datetime | None) -> bool:
    """Stop (a time) or restart (None) the questions for a person; whether anything changed."""
    was_muted = Person.involvement_questions_muted_at.is_not(None)
    changed = session.execute(
        update(Person)
        .where(Person.id == person_id, ~was_muted if muted_at is not None else was_muted)
        .values(involvement_questions_muted_at=muted_at)
        .execution_options(synchronize_session="fetch")
    )
    return bool(changed.rowcount)
