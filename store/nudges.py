"""Queries behind the weekly nudge: which projects still have no service user or carer."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import ColumnElement, exists, func, select, text, update
from sqlalchemy.orm import Session, joinedload

from store.models import (
    LIVED_EXPERIENCE_PREDICATE,
    AdminGrant,
    ChatIdentity,
    Delivery,
    Membership,
    Person,
    Project,
    ProjectNudge,
)
from store.projects import lived_experience_exists
from store.roles import ProjectStatus
from store.upsert import insert_for

# Rows fetched from the database at a time while the sweep reads its candidates: it holds
# them as small tuples, not as every row of a large trust at once.
FETCH_ROWS = 2000


class Candidate(NamedTuple):
    """An active project with no service user or carer on the team, and its nudge state.

    A tuple (one per waiting project, tens of thousands in a large trust): cheap to make.
    """

    project_id: int
    project_name: str
    lead_id: int | None
    lead_name: str | None
    lead_muted: bool
    snoozed_until: datetime | None
    snooze_reason: str | None
    weeks_in_a_row: int
    last_week: str | None
    escalated: bool


# The index's predicate with its columns named as the memberships' (the query has others).
_LIVED_EXPERIENCE = re.sub(
    r"\b(left_at|involvement|role)\b", r"memberships.\1", LIVED_EXPERIENCE_PREDICATE
)


def _has_lived_experience(project_id: ColumnElement[int]) -> ColumnElement[bool]:
    """SQL: that project has a current service user or carer team member ("Big I").

    The partial index's own predicate, written out: SQLite uses a partial index only for a
    query whose terms match it with the same constants, never with bound parameters (with
    them, it reads every membership of each project: 3x slower at 100,000 projects).
    """
    return exists().where(Membership.project_id == project_id, text(_LIVED_EXPERIENCE))


def candidates(session: Session) -> Iterator[Candidate]:
    """Every active project without lived experience on the team, in one query, as fetched.

    Plain rows (no ORM loading), and only the facts the sweep decides on: whether the lead
    muted reminders or the project was escalated, not when.
    """
    if session.get_bind().dialect.name == "sqlite":
        # One pass over the partial index, then a lookup per project: twice as fast on SQLite
        # as a probe of the index per project (PostgreSQL plans NOT EXISTS as a hash anti-join).
        with_partner = select(Membership.project_id).where(text(_LIVED_EXPERIENCE))
        waiting = Project.id.not_in(with_partner)
    else:
        waiting = ~_has_lived_experience(Project.id)
    query = (
        select(
            Project.id,
            Project.name,
            Project.lead_person_id,
            Person.display_name,
            Person.nudges_muted_at.is_not(None),
            ProjectNudge.snoozed_until,
            ProjectNudge.snooze_reason,
            func.coalesce(ProjectNudge.weeks_in_a_row, 0),
            ProjectNudge.last_week,
            ProjectNudge.escalated_at.is_not(None),
        )
        .outerjoin(Person, Person.id == Project.lead_person_id)
        .outerjoin(ProjectNudge, ProjectNudge.project_id == Project.id)
        .where(Project.status == ProjectStatus.ACTIVE, waiting)
        .order_by(Project.lead_person_id, Project.name)
        .execution_options(yield_per=FETCH_ROWS)
    )
    rows = session.connection().execute(query)
    return (Candidate._make(row) for row in rows)


@dataclass(frozen=True)
class WaitMark:
    """A project's place in the reminders' order: most weeks in a row first, then by id."""

    weeks_in_a_row: int
    project_id: int


@dataclass(frozen=True)
class Waiting:
    """A project still waiting for a service user or carer, with its lead loaded."""

    project: Project
    mark: WaitMark


_WEEKS = func.coalesce(ProjectNudge.weeks_in_a_row, 0)


def _still_waiting(now: datetime) -> list[ColumnElement[bool]]:
    """SQL: the project still needs the nudge now: active, no partner, not snoozed."""
    return [
        Project.status == ProjectStatus.ACTIVE,
        ~lived_experience_exists(),
        (ProjectNudge.snoozed_until.is_(None)) | (ProjectNudge.snoozed_until <= now),
    ]


def _longest_waiting_first(
    session: Session, conditions: list[ColumnElement[bool]], most: int | None
) -> tuple[list[Waiting], int]:
    """The projects that meet the conditions, longest waiting first: at most `most`, and the count.

    Reminded most weeks in a row first; of those, the one started first has waited longest
    (the order the sweep offers introductions in, too). Two queries, however many projects.
    """
    waiting = (
        select(Project, _WEEKS)
        .outerjoin(ProjectNudge, ProjectNudge.project_id == Project.id)
        .where(*conditions)
    )
    total = session.scalar(select(func.count()).select_from(waiting.subquery())) or 0
    query = waiting.options(joinedload(Project.lead)).order_by(_WEEKS.desc(), Project.id)
    if most is not None:
        query = query.limit(most)
    found = [
        Waiting(project, WaitMark(weeks, project.id)) for project, weeks in session.execute(query)
    ]
    return found, total


def still_without_lived_experience(
    session: Session,
    project_ids: Collection[int],
    *,
    lead_id: int | None,
    now: datetime,
    most: int | None = None,
) -> tuple[list[Waiting], int]:
    """Of these projects, those that still need the nudge now: active, no partner, not snoozed.

    The longest waiting first, with their leads; at most `most` of them, and how many there
    are in all.
    """
    if not project_ids:
        return [], 0
    conditions = [Project.id.in_(list(project_ids)), *_still_waiting(now)]
    if lead_id is not None:
        conditions.append(Project.lead_person_id == lead_id)
    return _longest_waiting_first(session, conditions, most)


def reminded_in_week(
    session: Session,
    *,
    week: str,
    lead_id: int | None,
    escalated: bool,
    after: WaitMark,
    now: datetime,
    most: int,
) -> tuple[list[Waiting], int]:
    """The next of `week`'s reminders to this lead (`escalated`: to the organisers) after `after`.

    The projects that week's sweep reminded the lead about (or passed to the organisers),
    still waiting now, that come after `after` in the reminders' order: at most `most`, and
    how many there are after `after` in all. A sweep since then has started a new week.
    """
    weeks, passed_on = _WEEKS, ProjectNudge.escalated_at
    conditions = [
        *_still_waiting(now),
        ProjectNudge.last_week == week,
        passed_on.is_not(None) if escalated else passed_on.is_(None),
        # After `after` in the order: fewer weeks in a row, or as many and a later id.
        (weeks < after.weeks_in_a_row)
        | ((weeks == after.weeks_in_a_row) & (Project.id > after.project_id)),
    ]
    if lead_id is not None:
        conditions.append(Project.lead_person_id == lead_id)
    return _longest_waiting_first(session, conditions, most)


def save_states(
    session: Session, states: Sequence[dict[str, object]], *, now: datetime | None = None
) -> None:
    """Write the sweep's new per-project states in one statement (insert or update).

    With `now`, a project snoozed (until after `now`) since the sweep read it keeps the fresh
    start its snooze gave it: the sweep reads first and writes later, in short transactions.
    """
    if not states:
        return
    insert = insert_for(session, ProjectNudge.__table__)
    table = ProjectNudge.__table__
    statement = insert.on_conflict_do_update(
        index_elements=["project_id"],
        set_={
            "weeks_in_a_row": insert.excluded.weeks_in_a_row,
            "last_week": insert.excluded.last_week,
            "escalated_at": insert.excluded.escalated_at,
        },
        where=None
        if now is None
        else (table.c.snoozed_until.is_(None) | (table.c.snoozed_until <= now)),
    )
    session.connection().execute(statement, list(states))


def forget_settled(session: Session) -> int:
    """Clear the count and escalation of projects that now have a partner: a fresh start.

    Looks only at projects with a count or an escalation (one index probe each), not at
    every project of the trust.
    """
    result = session.execute(
        update(ProjectNudge)
        .where(
            (ProjectNudge.weeks_in_a_row > 0) | ProjectNudge.escalated_at.is_not(None),
            _has_lived_experience(ProjectNudge.project_id),
        )
        .values(weeks_in_a_row=0, escalated_at=None, last_week=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def start_afresh(session: Session, project_id: int) -> None:
    """Clear the project's reminder count and escalation (its status changed); keep a snooze.

    An escalated project is skipped until something changes; a pause and restart is such a
    change, and the lead of a restarted project should be asked again from the first reminder.
    """
    session.execute(
        update(ProjectNudge)
        .where(ProjectNudge.project_id == project_id)
        .values(weeks_in_a_row=0, last_week=None, escalated_at=None)
    )


def snooze(session: Session, project_id: int, *, until: datetime, reason: str) -> None:
    """Pause the project's nudges until `until`; the count starts again afterwards."""
    state = session.get(ProjectNudge, project_id)
    if state is None:
        state = ProjectNudge(project_id=project_id, weeks_in_a_row=0)
        session.add(state)
    state.snoozed_until = until
    state.snooze_reason = reason
    state.weeks_in_a_row = 0
    state.last_week = None
    state.escalated_at = None


def set_muted(session: Session, person_id: int, *, muted_at: datetime | None) -> bool:
    """Mute or unmute all nudges for a person; False if nothing changed."""
    person = session.get(Person, person_id)
    if person is None or (person.nudges_muted_at is None) == (muted_at is None):
        return False
    person.nudges_muted_at = muted_at
    return True


@dataclass
class WeekMessages:
    """A lead's messages of one week: the projects they name, and the occurrences taken."""

    covered: set[int] = field(default_factory=set)
    occurrences: set[str] = field(default_factory=set)


def nudged_this_week(session: Session, kind: str, week: str) -> dict[str, WeekMessages]:
    """Each lead's messages of this week so far, by recipient (one query)."""
    found: dict[str, WeekMessages] = {}
    # A range on (kind, occurrence), which the outbox's unique index answers: the week's
    # own occurrence and its follow-ups ("<week>+..."; "," sorts right after "+").
    rows = session.execute(
        select(Delivery.recipient, Delivery.occurrence, Delivery.status, Delivery.payload).where(
            Delivery.kind == kind, Delivery.occurrence >= week, Delivery.occurrence < f"{week},"
        )
    )
    for recipient, occurrence, status, payload in rows:
        if occurrence != week and not occurrence.startswith(f"{week}+"):
            continue
        messages = found.setdefault(recipient, WeekMessages())
        messages.occurrences.add(occurrence)
        # A message withdrawn (or failed) told nobody anything.
        if status in ("pending", "sending", "sent"):
            messages.covered.update(payload.get("projects", []))
    return found


class Unreachable(NamedTuple):
    """Someone the weekly messages go to whom no chat platform has seen yet."""

    person_id: int
    name: str
    email: str | None
    organiser: bool


def unreachable_recipients(session: Session) -> list[Unreachable]:
    """Leads of active projects, and organisers, with no chat identity (one query).

    A lead imported from the register becomes reachable the first time they use qi-nudge.
    """
    leads = exists().where(
        Project.lead_person_id == Person.id, Project.status == ProjectStatus.ACTIVE
    )
    organiser = exists().where(AdminGrant.person_id == Person.id, AdminGrant.revoked_at.is_(None))
    query = (
        select(Person.id, Person.display_name, Person.email, organiser)
        .where(~exists().where(ChatIdentity.person_id == Person.id), leads | organiser)
        .order_by(func.lower(Person.display_name), Person.id)
    )
    return [Unreachable._make(row) for row in session.execute(query)]


def projects_not_asked(session: Session) -> dict[str, int]:
    """How many projects the sweep never looks at, by why (one query).

    "partnered": active, with a service user or carer on the team; the others by status.
    """
    each = select(
        Project.status.label("status"), lived_experience_exists().label("partnered")
    ).subquery()
    rows = session.execute(
        select(each.c.status, each.c.partnered, func.count()).group_by(
            each.c.status, each.c.partnered
        )
    )
    counts: dict[str, int] = {}
    for status, has_partner, n in rows:
        if status != ProjectStatus.ACTIVE:
            counts[status.value] = counts.get(status.value, 0) + n
        elif has_partner:
            counts["partnered"] = n
    return counts
