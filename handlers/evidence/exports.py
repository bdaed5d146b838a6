"""CSV exports for admins: projects, memberships and forum sign-ups, past ones included.

Dates are the trust's own (QI_TIMEZONE), as people said them: someone on a team "since
7 September" reads as the 7th in a spreadsheet, not as the evening of the 6th in UTC.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, tzinfo
from typing import Any, NamedTuple, TextIO

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from store.models import (
    AuditEvent,
    ChatIdentity,
    Forum,
    ForumMember,
    Membership,
    Person,
    Project,
)
from store.projects import lived_experience_exists
from store.roles import Involvement, ProjectStatus, Role
from store.stats import ROLE_CHANGED

MEMBERSHIP_COLUMNS = (
    "Project",
    "Site",
    "Project status",
    "Person",
    "Role",
    "Involvement",
    "On chat",
    "From",
    "Until",
    "Then",
)
PROJECT_COLUMNS = (
    "Project",
    "Site",
    "Status",
    "Lead",
    "Lead's e-mail",
    "Started",
    "Service user or carer on the team now",
)
SIGNUP_COLUMNS = ("Forum", "Person", "Role", "Wants to be matched", "Joined", "Left")
# The audit action of a member's involvement being changed (handlers/projects/team.py).
INVOLVEMENT_CHANGED = "membership.involvement_changed"

# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

_INVOLVEMENT_LABELS = {Involvement.TEAM_MEMBER: "team member", Involvement.CONSULTED: "consulted"}
_INVOLVEMENT_NOW = {
    Involvement.TEAM_MEMBER: "now a team member",
    Involvement.CONSULTED: "now consulted rather than on the team",
}


def neutralise_formula(cell: str) -> str:
    """The cell, behind a single quote if a spreadsheet would otherwise run it as a formula."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def local_day(moment: datetime | None, zone: tzinfo) -> str:
    """The moment's date where the trust is ('2026-09-07'), which spreadsheets read as a date."""
    return moment.astimezone(zone).date().isoformat() if moment else ""


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def _write(out: TextIO, header: Sequence[str], rows: Iterable[Sequence[str]]) -> int:
    # Open `out` with newline="": the csv module writes its own line endings.
    writer = csv.writer(out)
    writer.writerow(header)
    written = 0
    for row in rows:
        writer.writerow([neutralise_formula(cell) for cell in row])
        written += 1
    return written


@dataclass(frozen=True)
class Stretch:
    """Part of a membership held with one role and one involvement."""

    role: Role
    involvement: Involvement
    start: datetime
    end: datetime | None
    then: str  # what ended it: "left the team", "role changed to carer", or "" (it goes on)


def membership_stretches(
    role: Role,
    involvement: Involvement,
    joined: datetime,
    left: datetime | None,
    changes: Sequence[tuple[datetime, str, dict[str, Any]]],
) -> list[Stretch]:
    """A membership's history, oldest first, from today's state and its audited changes.

    `changes` are (when, audit action, detail with the old and new values) in time order;
    they are undone from today's state backwards, so each stretch has the role it had.
    """
    stretches = [Stretch(role, involvement, joined, left, "left the team" if left else "")]
    for at, moments in itertools.groupby(reversed(changes), key=lambda change: change[0]):
        later = stretches[0]
        earlier, said = later, []
        for _at, action, detail in moments:
            try:
                if action == ROLE_CHANGED:
                    earlier = replace(earlier, role=Role(detail.get("old")))
                    said.append(f"role changed to {Role(detail.get('new')).label}")
                else:
                    earlier = replace(earlier, involvement=Involvement(detail.get("old")))
                    said.append(_INVOLVEMENT_NOW[Involvement(detail.get("new"))])
            except ValueError:
                continue  # a change recorded without its values: nothing to go on
        start = min(max(at, joined), later.end or at)
        if not said or start <= joined:
            # A change made before the date they were later recorded as joining: what they
            # held from that date on is what followed it.
            continue
        stretches[0] = replace(later, start=start)
        then = "; ".join(reversed(said))  # (undone last first: said in the order made)
        stretches.insert(0, replace(earlier, start=joined, end=start, then=then))
    return stretches


def export_memberships(session: Session, out: TextIO, *, zone: tzinfo) -> int:
    """Write every project membership, past ones too, as CSV; the number of rows written.

    A membership whose role or involvement changed has a row for each stretch, each with
    its dates and what changed at its end (rebuilt from the audit trail).
    """
    on_chat = exists().where(ChatIdentity.person_id == Person.id)
    changes = (
        select(AuditEvent.id, AuditEvent.subject_id, AuditEvent.at, AuditEvent.action)
        .add_columns(AuditEvent.detail)
        .where(
            AuditEvent.subject_type == "membership",
            AuditEvent.action.in_((ROLE_CHANGED, INVOLVEMENT_CHANGED)),
        )
        .subquery()
    )
    query = (
        select(
            Membership.id,
            Project.name,
            Project.site,
            Project.status,
            Person.display_name,
            Membership.role,
            Membership.involvement,
            on_chat,
            Membership.joined_at,
            Membership.left_at,
            changes.c.at,
            changes.c.action,
            changes.c.detail,
        )
        .select_from(Membership)
        .join(Project, Project.id == Membership.project_id)
        .join(Person, Person.id == Membership.person_id)
        .outerjoin(changes, changes.c.subject_id == Membership.id)
        .order_by(
            Project.name_key,
            Project.id,
            func.lower(Person.display_name),
            Person.id,
            Membership.joined_at,
            Membership.id,
            changes.c.at,
            changes.c.id,
        )
    )
    rows = (
        (
            project,
            site or "",
            status.label,
            person,
            stretch.role.label,
            _INVOLVEMENT_LABELS[stretch.involvement],
            _yes_no(bool(chat)),
            local_day(stretch.start, zone),
            local_day(stretch.end, zone),
            stretch.then,
        )
        for (_id, project, site, status, person, role, involvement, chat, joined, left), found in (
            (key, list(group))
            for key, group in itertools.groupby(session.execute(query), key=lambda r: tuple(r[:10]))
        )
        for stretch in membership_stretches(
            role,
            involvement,
            joined,
            left,
            [(at, action, detail) for *_, at, action, detail in found if at is not None],
        )
    )
    return _write(out, MEMBERSHIP_COLUMNS, rows)


def export_signups(session: Session, out: TextIO, *, zone: tzinfo) -> int:
    """Write every forum sign-up, past ones too, as CSV; the number of rows written."""
    query = (
        select(
            Forum.name,
            Person.display_name,
            ForumMember.role,
            ForumMember.wants_match,
            ForumMember.joined_at,
            ForumMember.left_at,
        )
        .select_from(ForumMember)
        .join(Forum, Forum.id == ForumMember.forum_id)
        .join(Person, Person.id == ForumMember.person_id)
        .order_by(
            Forum.name_key,
            Forum.id,
            func.lower(Person.display_name),
            Person.id,
            ForumMember.joined_at,
            ForumMember.id,
        )
    )
    rows = (
        (
            forum,
            person,
            role.label if role else "",
            _yes_no(bool(wants_match)),
            local_day(joined, zone),
            local_day(left, zone),
        )
        for forum, person, role, wants_match, joined, left in session.execute(query)
    )
    return _write(out, SIGNUP_COLUMNS, rows)


class RegisterRow(NamedTuple):
    """One project as the register import left it, for `projects list` and `export projects`."""

    name: str
    site: str | None
    status: ProjectStatus
    lead: str | None
    lead_email: str | None
    started: date
    lived_experience: bool


def project_register(
    session: Session,
    *,
    zone: tzinfo,
    site_key: str | None = None,
    status: ProjectStatus | None = None,
) -> Iterator[RegisterRow]:
    """Every project (or one site's, by its key, or one status's) by name, in one query."""
    query = (
        select(
            Project.name,
            Project.site,
            Project.status,
            Person.display_name,
            Person.email,
            Project.started_on,
            Project.created_at,
            lived_experience_exists(),
        )
        .outerjoin(Person, Person.id == Project.lead_person_id)
        .order_by(Project.name_key, Project.id)
        .execution_options(yield_per=2000)
    )
    if site_key is not None:
        query = query.where(Project.site_key == site_key)
    if status is not None:
        query = query.where(Project.status == status)
    for name, where, state, lead, email, started_on, created_at, partner in session.execute(query):
        # A project with no start date in the register started when it was recorded here.
        started = started_on or created_at.astimezone(zone).date()
        yield RegisterRow(name, where, state, lead, email, started, bool(partner))


def export_projects(session: Session, out: TextIO, *, zone: tzinfo) -> int:
    """Write every project, its lead, and whether it has a service user or carer on the team now.

    As CSV, one row a project (as the register import loaded it); the number of rows.
    """
    rows = (
        (
            row.name,
            row.site or "",
            row.status.label,
            row.lead or "",
            row.lead_email or "",
            row.started.isoformat(),
            _yes_no(row.lived_experience),
        )
        for row in project_register(session, zone=zone)
    )
    return _write(out, PROJECT_COLUMNS, rows)
