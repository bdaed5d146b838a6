"""Counts behind the involvement reports: answers per period, and team member against consulted.

Aggregates only: nothing here returns who gave an answer, and comments come back without names.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, and_, exists, func, select
from sqlalchemy.orm import Session, aliased

from store.models import AuditEvent, InvolvementAnswer, Membership, Project
from store.roles import LIVED_EXPERIENCE_ROLES, Involvement, ProjectStatus

# The audit action written when a member's involvement is put right (handlers/projects/team.py).
INVOLVEMENT_CHANGED = "membership.involvement_changed"


@dataclass(frozen=True)
class PeriodAnswers:
    """One period's answers, counted by answer ("a_lot": 4, ...); never who gave them."""

    start: date
    counts: Counter[str]

    @property
    def total(self) -> int:
        """How many answered in the period."""
        return sum(self.counts.values())


def answers_by_period(
    session: Session, project_ids: Sequence[int] | None = None
) -> list[PeriodAnswers]:
    """Answered questions counted per period and answer, oldest period first.

    Every team's when `project_ids` is None, else only those teams'. Unanswered rows are not
    answers and are left out.
    """
    query = (
        select(InvolvementAnswer.period_start, InvolvementAnswer.answer, func.count())
        .where(InvolvementAnswer.answer.is_not(None))
        .group_by(InvolvementAnswer.period_start, InvolvementAnswer.answer)
        .order_by(InvolvementAnswer.period_start)
    )
    if project_ids is not None:
        query = query.where(InvolvementAnswer.project_id.in_(list(project_ids)))
    periods: dict[date, Counter[str]] = {}
    for start, answer, count in session.execute(query):
        periods.setdefault(start, Counter())[answer] += count
    return [PeriodAnswers(start, counts) for start, counts in periods.items()]


def teams_closed_periods(
    session: Session, project_ids: Sequence[int], *, before: date, viewer_id: int | None
) -> dict[int, list[PeriodAnswers]]:
    """Per team, the answers of periods that began before `before`, oldest first (one query).

    For a team summary: only periods already over (an open one changes with each answer, so
    looking twice would show who just answered), and never the answers the viewer recorded
    themselves for someone (they know those, and the rest would be theirs to work out).
    """
    if not project_ids:
        return {}
    mine = (
        InvolvementAnswer.recorded_by_id.is_(None) | (InvolvementAnswer.recorded_by_id != viewer_id)
        if viewer_id is not None
        else InvolvementAnswer.id.is_not(None)
    )
    rows = session.execute(
        select(
            InvolvementAnswer.project_id,
            InvolvementAnswer.period_start,
            InvolvementAnswer.answer,
            func.count(),
        )
        .where(
            InvolvementAnswer.project_id.in_(list(project_ids)),
            InvolvementAnswer.answer.is_not(None),
            InvolvementAnswer.period_start < before,
            mine,
        )
        .group_by(
            InvolvementAnswer.project_id, InvolvementAnswer.period_start, InvolvementAnswer.answer
        )
        .order_by(InvolvementAnswer.period_start)
    )
    teams: dict[int, dict[date, Counter[str]]] = {}
    for project_id, start, answer, count in rows:
        teams.setdefault(project_id, {}).setdefault(start, Counter())[answer] += count
    return {
        project_id: [PeriodAnswers(start, counts) for start, counts in periods.items()]
        for project_id, periods in teams.items()
    }


def period_comments(session: Session, start: date, limit: int) -> list[str]:
    """The period's comments, latest answered first: the words only, never who wrote them."""
    rows = session.scalars(
        select(InvolvementAnswer.comment)
        .where(
            InvolvementAnswer.period_start == start,
            InvolvementAnswer.answer.is_not(None),
            InvolvementAnswer.comment.is_not(None),
            func.length(func.trim(InvolvementAnswer.comment)) > 0,
        )
        .order_by(InvolvementAnswer.answered_at.desc(), InvolvementAnswer.id.desc())
        .limit(limit)
    )
    return [comment.strip() for comment in rows if comment]


def led_projects(session: Session, person_id: int) -> list[tuple[int, str]]:
    """(id, name) of the open projects the person leads, by name."""
    rows = session.execute(
        select(Project.id, Project.name)
        .where(
            Project.lead_person_id == person_id,
            Project.status.in_([ProjectStatus.ACTIVE, ProjectStatus.ON_HOLD]),
        )
        .order_by(Project.name_key)
    )
    return [(pid, name) for pid, name in rows]


@dataclass(frozen=True)
class TeamOrConsulted:
    """Active projects: with a service user or carer on the team (Big I), or only consulted."""

    active: int
    team_member: int  # "Big I": the headline
    consulted_only: int  # "little i": consulted, nobody on the team
    # Service users and carers put from consulted onto the team since the date asked about.
    moved_to_team: int


def _lived_experience(involvement: Involvement) -> ColumnElement[bool]:
    """SQL: the project has a current service user or carer with this involvement."""
    return exists().where(
        Membership.project_id == Project.id,
        Membership.left_at.is_(None),
        Membership.involvement == involvement,
        Membership.role.in_(sorted(LIVED_EXPERIENCE_ROLES)),
    )


def team_or_consulted(
    session: Session, since: datetime, site_key: str | None = None
) -> TeamOrConsulted:
    """Big I and little i among active projects, and the moves since `since`: one statement.

    Overall, or at one site (by its key). A move is an audited change of a service user's or
    carer's place from consulted to team member (handlers/projects/team.py writes it).
    """
    team = _lived_experience(Involvement.TEAM_MEMBER)
    consulted = _lived_experience(Involvement.CONSULTED)
    where = [Project.status == ProjectStatus.ACTIVE]
    moves = (
        select(func.count(AuditEvent.id))
        .join(Membership, Membership.id == AuditEvent.subject_id)
        .where(
            AuditEvent.action == INVOLVEMENT_CHANGED,
            AuditEvent.subject_type == "membership",
            AuditEvent.at >= since,
            AuditEvent.detail["old"].as_string() == Involvement.CONSULTED.value,
            AuditEvent.detail["new"].as_string() == Involvement.TEAM_MEMBER.value,
            Membership.role.in_(sorted(LIVED_EXPERIENCE_ROLES)),
        )
    )
    if site_key is not None:
        where.append(Project.site_key == site_key)
        # Its own projects, not the outer count's: a move counts once, whatever is active.
        moved_on = aliased(Project)
        moves = moves.join(moved_on, moved_on.id == Membership.project_id).where(
            moved_on.site_key == site_key
        )
    row = session.execute(
        select(
            func.count(),
            func.count().filter(team),
            func.count().filter(and_(consulted, ~team)),
            moves.scalar_subquery(),
        ).where(*where)
    ).one()
    return TeamOrConsulted(int(row[0]), int(row[1]), int(row[2]), int(row[3] or 0))
