"""CSV exports for admins: projects, memberships and forum sign-ups, past ones included."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from typing import NamedTuple, TextIO

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from store.models import ChatIdentity, Forum, ForumMember, Membership, Person, Project
from store.projects import lived_experience_exists
from store.roles import Involvement, ProjectStatus

MEMBERSHIP_COLUMNS = (
    "Project",
    "Site",
    "Project status",
    "Person",
    "Role",
    "Involvement",
    "On chat",
    "Joined (UTC)",
    "Left (UTC)",
)
PROJECT_COLUMNS = (
    "Project",
    "Site",
    "Status",
    "Lead",
    "Lead's e-mail",
    "Started",
    "Service user or carer on the team",
)
SIGNUP_COLUMNS = ("Forum", "Person", "Role", "Wants to be matched", "Joined (UTC)", "Left (UTC)")

# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

_INVOLVEMENT_LABELS = {Involvement.TEAM_MEMBER: "team member", Involvement.CONSULTED: "consulted"}


def neutralise_formula(cell: str) -> str:
    """The cell, behind a single quote if a spreadsheet would otherwise run it as a formula."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""


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


def export_memberships(session: Session, out: TextIO) -> int:
    """Write every project membership, past ones too, as CSV; the number of rows written."""
    on_chat = exists().where(ChatIdentity.person_id == Person.id)
    query = (
        select(
            Project.name,
            Project.site,
            Project.status,
            Person.display_name,
            Membership.role,
            Membership.involvement,
            on_chat,
            Membership.joined_at,
            Membership.left_at,
        )
        .select_from(Membership)
        .join(Project, Project.id == Membership.project_id)
        .join(Person, Person.id == Membership.person_id)
        .order_by(
            Project.name_key,
            Project.id,
            func.lower(Person.display_name),
            Person.id,
            Membership.joined_at,
            Membership.id,
        )
    )
    result = session.execute(query)
    rows = (
        (
            project,
            site or "",
            status.label,
            person,
            role.label,
            _INVOLVEMENT_LABELS[involvement],
            _yes_no(bool(chat)),
            _when(joined),
            _when(left),
        )
        for project, site, status, person, role, involvement, chat, joined, left in result
    )
    return _write(out, MEMBERSHIP_COLUMNS, rows)


def export_signups(session: Session, out: TextIO) -> int:
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
            _when(joined),
            _when(left),
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
    session: Session, *, site_key: str | None = None, status: ProjectStatus | None = None
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
        # A project with no start date in the register started when it was recorded.
        started = started_on or created_at.astimezone(UTC).date()
        yield RegisterRow(name, where, state, lead, email, started, bool(partner))


def export_projects(session: Session, out: TextIO) -> int:
    """Write every project as the register import loaded it, as CSV; the number of rows."""
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
        for row in project_register(session)
    )
    return _write(out, PROJECT_COLUMNS, rows)
