"""The participation history behind the run chart: read in a few queries, worked out in memory."""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, tzinfo
from typing import NamedTuple

from sqlalchemy import (
    ColumnElement,
    Date,
    Integer,
    Select,
    String,
    bindparam,
    cast,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from store.models import (
    AuditEvent,
    ChartNote,
    Meeting,
    Membership,
    ParticipationSnapshot,
    Project,
    Rsvp,
)
from store.names import site_key
from store.projects import lived_experience_exists
from store.roles import LIVED_EXPERIENCE_ROLES, Involvement, ProjectStatus, Role, RsvpAnswer
from store.upsert import insert_for

OVERALL = "overall"
# The audit action of a member's role being changed (handlers/projects/join.py writes it).
ROLE_CHANGED = "membership.role_changed"


def site_scope(site: str) -> str:
    """The scope of one site's projects: 'site:Riverside Hospital'."""
    return f"site:{site}"


def forum_scope(forum_id: int) -> str:
    """The scope of one forum's meetings: 'forum:3'."""
    return f"forum:{forum_id}"


@dataclass(frozen=True)
class Figures:
    """Active projects, and how many of them have a service user or carer on the team."""

    active: int = 0
    involved: int = 0


@dataclass
class ProjectHistory:
    """What is needed to say, for any past moment, which projects were active and involved."""

    # (project id, site, began (start date, else when recorded), status now)
    projects: list[tuple[int, str | None, datetime, ProjectStatus]]
    # project id -> status changes, oldest first: (at, status before the change)
    changes: dict[int, list[tuple[datetime, ProjectStatus]]] = field(default_factory=dict)
    # project id -> spans of service users and carers on the team: (joined, left or None)
    spans: dict[int, list[tuple[datetime, datetime | None]]] = field(default_factory=dict)

    def status_at(
        self, project_id: int, now_status: ProjectStatus, moment: datetime
    ) -> ProjectStatus:
        """The project's status at `moment`: before the first change after it, else today's."""
        changes = self.changes.get(project_id)
        if not changes:
            return now_status
        later = bisect.bisect_right([at for at, _ in changes], moment)
        return changes[later][1] if later < len(changes) else now_status

    def involved_at(self, project_id: int, moment: datetime) -> bool:
        """Whether a service user or carer was on the team at `moment`."""
        return any(
            joined <= moment and (left is None or left > moment)
            for joined, left in self.spans.get(project_id, ())
        )

    def figures_at(self, moment: datetime) -> dict[str, Figures]:
        """Overall and per-site figures as they stood at `moment`."""
        counts: Counter[tuple[str, str]] = Counter()
        scopes = {OVERALL}
        for project_id, site, created_at, status in self.projects:
            if created_at > moment:
                continue
            # A site whose projects have all finished still gets its week (0 of 0), so its
            # chart and headline never show an old figure as if it were current.
            if site:
                scopes.add(site_scope(site))
            if self.status_at(project_id, status, moment) != ProjectStatus.ACTIVE:
                continue
            involved = self.involved_at(project_id, moment)
            for scope in (OVERALL, *((site_scope(site),) if site else ())):
                counts[(scope, "active")] += 1
                counts[(scope, "involved")] += involved
        return {s: Figures(counts[(s, "active")], counts[(s, "involved")]) for s in scopes}


def project_history(session: Session, zone: tzinfo) -> ProjectHistory:
    """Projects, their status changes and their lived-experience memberships: three queries.

    A project counts from its start date (a register's, at midnight in `zone`) when that is
    earlier than when it was recorded here.
    """
    projects = []
    rows = session.execute(
        select(
            Project.id,
            Project.site_key,
            Project.site,
            Project.created_at,
            Project.started_on,
            Project.status,
        )
    ).all()
    # One site, one scope: named as store.sites names it (should two spellings of a site ever
    # be written at once, the first in code point order), so /qi-stats finds its figures.
    spelling: dict[str, str] = {}
    for _id, key, site, *_rest in rows:
        if key is not None and (key not in spelling or site < spelling[key]):
            spelling[key] = site
    for project_id, key, _site, created_at, started_on, status in rows:
        began = created_at
        if started_on is not None:
            began = min(began, datetime.combine(started_on, time(), tzinfo=zone))
        projects.append((project_id, spelling.get(key) if key else None, began, status))
    history = ProjectHistory(projects=projects)
    # Status changes are in the audit trail (old and new), so history survives later changes.
    rows = session.execute(
        select(AuditEvent.subject_id, AuditEvent.at, AuditEvent.detail)
        .where(AuditEvent.action == "project.status_changed")
        .order_by(AuditEvent.at, AuditEvent.id)
    )
    for project_id, at, detail in rows:
        try:
            before = ProjectStatus(detail.get("old"))
        except ValueError:
            continue  # an event from before statuses were recorded: nothing to go on
        history.changes.setdefault(project_id, []).append((at, before))
    # Role changes are audited too: a member whose role was put right later counts by the role
    # they had each week, not by today's (a carer once recorded as staff, or the other way).
    role_changes: dict[int, list[tuple[datetime, Role]]] = {}
    rows = session.execute(
        select(AuditEvent.subject_id, AuditEvent.at, AuditEvent.detail)
        .where(AuditEvent.action == ROLE_CHANGED, AuditEvent.subject_type == "membership")
        .order_by(AuditEvent.at, AuditEvent.id)
    )
    for membership_id, at, detail in rows:
        try:
            role_changes.setdefault(membership_id, []).append((at, Role(detail.get("old"))))
        except ValueError:
            continue
    members = session.execute(
        select(
            Membership.id,
            Membership.project_id,
            Membership.role,
            Membership.joined_at,
            Membership.left_at,
        ).where(
            Membership.involvement == Involvement.TEAM_MEMBER,
            Membership.role.in_(sorted(LIVED_EXPERIENCE_ROLES))
            | Membership.id.in_(
                select(AuditEvent.subject_id).where(AuditEvent.action == ROLE_CHANGED)
            ),
        )
    )
    for membership_id, project_id, role, joined, left in members:
        changes = role_changes.get(membership_id, [])
        for span in lived_experience_spans(joined, left, role, changes):
            history.spans.setdefault(project_id, []).append(span)
    return history


def lived_experience_spans(
    joined: datetime, left: datetime | None, role: Role, changes: Sequence[tuple[datetime, Role]]
) -> list[tuple[datetime, datetime | None]]:
    """The parts of a membership held in a lived-experience role.

    `role` is the role now; `changes` are (when, the role before) in time order.
    """
    starts = [joined, *(at for at, _ in changes)]
    ends: list[datetime | None] = [*(at for at, _ in changes), left]
    roles = [*(before for _, before in changes), role]
    return [
        (start, end)
        for start, end, held in zip(starts, ends, roles, strict=True)
        if held in LIVED_EXPERIENCE_ROLES and (end is None or start < end)
    ]


def attendance_by_meeting(
    session: Session, forum_id: int | None = None
) -> list[tuple[int, int, datetime, Counter[Role | None]]]:
    """Meetings (not cancelled) with who said they are going, by role, oldest first.

    Each is (meeting id, forum id, starts at, counts by role).
    """
    query = (
        select(Meeting.id, Meeting.forum_id, Meeting.starts_at, Rsvp.role, func.count(Rsvp.id))
        .outerjoin(Rsvp, (Rsvp.meeting_id == Meeting.id) & (Rsvp.answer == RsvpAnswer.GOING))
        .where(Meeting.cancelled_at.is_(None))
        .group_by(Meeting.id, Meeting.forum_id, Meeting.starts_at, Rsvp.role)
        .order_by(Meeting.starts_at, Meeting.id)
    )
    if forum_id is not None:
        query = query.where(Meeting.forum_id == forum_id)
    meetings: dict[int, tuple[int, int, datetime, Counter[Role | None]]] = {}
    for meeting_id, forum, starts_at, role, count in session.execute(query):
        entry = meetings.setdefault(meeting_id, (meeting_id, forum, starts_at, Counter()))
        if count:
            entry[3][role] += count
    return list(meetings.values())


def save_snapshots(session: Session, rows: Sequence[dict[str, object]], *, replace: bool) -> int:
    """Write snapshots in one statement; `replace` overwrites a week's, else keeps what is there."""
    if not rows:
        return 0
    insert = insert_for(session, ParticipationSnapshot.__table__)
    if replace:
        statement = insert.on_conflict_do_update(
            index_elements=["week", "scope"],
            set_={
                name: insert.excluded[name]
                for name in (
                    "week_start",
                    "active_projects",
                    "involved_projects",
                    "attendance",
                    "taken_at",
                    "backfilled",
                )
            },
        )
    else:
        statement = insert.on_conflict_do_nothing(index_elements=["week", "scope"])
    result = session.connection().execute(statement, list(rows))
    return result.rowcount or 0


def taken_since(session: Session, since: datetime) -> list[tuple[str, datetime]]:
    """(week, when taken) of the overall figures taken at or after `since`, oldest first."""
    rows = session.execute(
        select(ParticipationSnapshot.week, ParticipationSnapshot.taken_at)
        .where(ParticipationSnapshot.scope == OVERALL, ParticipationSnapshot.taken_at >= since)
        .order_by(ParticipationSnapshot.week)
    )
    return [(week, taken) for week, taken in rows]


def snapshots(session: Session, scope: str = OVERALL) -> list[ParticipationSnapshot]:
    """A scope's weekly snapshots, oldest first."""
    return list(
        session.scalars(
            select(ParticipationSnapshot)
            .where(ParticipationSnapshot.scope == scope)
            .order_by(ParticipationSnapshot.week_start)
        )
    )


class WeekFigures(NamedTuple):
    """One week of a scope's figures, as the run chart needs them."""

    week_start: date
    active_projects: int
    involved_projects: int


# Built once: /qi-stats asks these on every request, and building a statement costs more
# Python than running it on SQLite.
_WEEKLY_FIGURES = (
    select(
        ParticipationSnapshot.week_start,
        ParticipationSnapshot.active_projects,
        ParticipationSnapshot.involved_projects,
    )
    .where(ParticipationSnapshot.scope == bindparam("scope"))
    .where(ParticipationSnapshot.active_projects > 0)
    .order_by(ParticipationSnapshot.week_start)
)
_NOTE_TEXTS = select(ChartNote.on_date, ChartNote.text).order_by(ChartNote.on_date, ChartNote.id)


def _headline_statement(*where: ColumnElement[bool]) -> Select[tuple[int, int]]:
    """(active projects, of which involved), counted in one statement."""
    active = select(func.count()).where(Project.status == ProjectStatus.ACTIVE, *where)
    involved = active.where(lived_experience_exists())
    return select(active.scalar_subquery(), involved.scalar_subquery())


_HEADLINE = _headline_statement()
_SITE_HEADLINE = _headline_statement(Project.site_key == bindparam("site_key"))


def _chart_inputs_statement(*where: ColumnElement[bool]) -> Select[tuple[object, ...]]:
    """The headline, a scope's weeks and the notes as one statement: (kind, day, a, b, words).

    Kind 0 is the headline (a: active, b: involved), 1 a week (day, a: active, b: involved),
    2 a note (day, words); one round trip instead of three, in that order.
    """
    active = select(func.count()).where(Project.status == ProjectStatus.ACTIVE, *where)
    involved = active.where(lived_experience_exists())
    no_day, no_words = cast(null(), Date), cast(null(), String)
    parts = union_all(
        select(
            literal(0).label("kind"),
            no_day.label("day"),
            active.scalar_subquery().label("a"),
            involved.scalar_subquery().label("b"),
            no_words.label("words"),
            cast(null(), Integer).label("n"),
        ),
        select(
            literal(1),
            ParticipationSnapshot.week_start,
            ParticipationSnapshot.active_projects,
            ParticipationSnapshot.involved_projects,
            no_words,
            cast(null(), Integer),
        )
        .where(ParticipationSnapshot.scope == bindparam("scope"))
        .where(ParticipationSnapshot.active_projects > 0),
        select(
            literal(2),
            ChartNote.on_date,
            cast(null(), Integer),
            cast(null(), Integer),
            ChartNote.text,
            ChartNote.id,
        ),
    ).subquery()
    return select(parts.c.kind, parts.c.day, parts.c.a, parts.c.b, parts.c.words).order_by(
        parts.c.kind, parts.c.day, parts.c.n
    )


_CHART_INPUTS = _chart_inputs_statement()
_SITE_CHART_INPUTS = _chart_inputs_statement(Project.site_key == bindparam("site_key"))


class ChartInputs(NamedTuple):
    """All /qi-stats reads for a scope: its weeks, the notes, and today's headline figures."""

    weeks: tuple[WeekFigures, ...]
    notes: tuple[tuple[date, str], ...]
    total: int
    involved: int


def chart_inputs(session: Session, scope: str = OVERALL) -> ChartInputs:
    """weekly_figures, note_texts and headline for `scope`, read in one statement."""
    if scope == OVERALL:
        rows = session.connection().execute(_CHART_INPUTS, {"scope": scope})
    else:
        # The site's projects by key, as /qi-projects <site> lists them.
        key = site_key(scope[len("site:") :])
        rows = session.connection().execute(_SITE_CHART_INPUTS, {"scope": scope, "site_key": key})
    total = involved = 0
    weeks: list[WeekFigures] = []
    notes: list[tuple[date, str]] = []
    for kind, day, a, b, words in rows:
        if kind == 0:
            total, involved = int(a), int(b)
        elif kind == 1:
            weeks.append(WeekFigures(day, a, b))
        else:
            notes.append((day, words))
    return ChartInputs(tuple(weeks), tuple(notes), total, involved)


def weekly_figures(session: Session, scope: str = OVERALL) -> list[WeekFigures]:
    """A scope's weeks with active projects, oldest first: three columns, no ORM objects."""
    return [WeekFigures(*row) for row in session.execute(_WEEKLY_FIGURES, {"scope": scope})]


def note_texts(session: Session) -> list[tuple[date, str]]:
    """The change annotations as (date, words), in date order."""
    return [(on, text) for on, text in session.execute(_NOTE_TEXTS)]


def headline(session: Session, site: str | None = None) -> tuple[int, int]:
    """(active projects, of which with a service user or carer on the team), overall or a site's.

    The same count as store.projects.involvement_headline (one statement); for a site (in any
    spelling that folds to its key), counted in SQL too: the projects' whole history
    (project_history) is for past weeks.
    """
    if site is None:
        row = session.execute(_HEADLINE).one()
    else:
        row = session.execute(_SITE_HEADLINE, {"site_key": site_key(site)}).one()
    return int(row[0]), int(row[1])


def scopes(session: Session) -> list[str]:
    """Every scope with snapshots, overall first."""
    found = set(session.scalars(select(ParticipationSnapshot.scope).distinct()))
    return sorted(found, key=lambda s: (s != OVERALL, s))


def notes(session: Session) -> list[ChartNote]:
    """The change annotations, in date order."""
    return list(session.scalars(select(ChartNote).order_by(ChartNote.on_date, ChartNote.id)))


def add_note(
    session: Session, *, on: date, text: str, by_id: int | None, now: datetime
) -> ChartNote:
    """Mark a change on the chart."""
    note = ChartNote(on_date=on, text=text, created_by_id=by_id, created_at=now)
    session.add(note)
    session.flush()
    return note


def latest_notes(session: Session, limit: int) -> tuple[list[ChartNote], int]:
    """The `limit` latest change annotations (by date, newest first), and how many there are."""
    total = session.scalar(select(func.count()).select_from(ChartNote)) or 0
    latest = session.scalars(
        select(ChartNote).order_by(ChartNote.on_date.desc(), ChartNote.id.desc()).limit(limit)
    )
    return list(latest), total


def by_week(
    meetings: Sequence[tuple[int, int, datetime, Counter[Role | None]]],
    week_of: Callable[[datetime], str],
) -> dict[tuple[str, int], Counter[Role | None]]:
    """Attendance summed per (week, forum), with `week_of` turning a time into its week."""
    totals: dict[tuple[str, int], Counter[Role | None]] = defaultdict(Counter)
    for _meeting, forum, starts_at, counts in meetings:
        totals[(week_of(starts_at), forum)].update(counts)
    return totals
