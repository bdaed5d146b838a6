"""CSV exports for admins: project memberships and forum sign-ups, past ones included."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TextIO

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from store.models import ChatIdentity, Forum, ForumMember, Membership, Person, Project
from store.roles import Involvement

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
