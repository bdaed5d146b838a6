"""Queries about projects and their teams."""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    bindparam,
    distinct,
    exists,
    func,
    literal,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.orm import Session, aliased, joinedload

from store.models import ChatIdentity, Membership, Person, Project, ProjectWord
from store.names import clean_name, name_key
from store.project_words import prefix_range
from store.roles import LIVED_EXPERIENCE_ROLES, Involvement, ProjectStatus, Role

OPEN_STATUSES = (ProjectStatus.ACTIVE, ProjectStatus.ON_HOLD)


@dataclass(frozen=True)
class ProjectSummary:
    """A project with its lead and whether a service user or carer is on the team."""

    id: int
    name: str
    site: str | None
    status: ProjectStatus
    lead_id: int | None
    lead_name: str | None
    has_lived_experience: bool
    key: str  # the folded name the list is ordered by


@dataclass(frozen=True)
class ProjectName:
    """Just enough of a project to match a typed name against."""

    id: int
    name: str
    key: str
    status: ProjectStatus


def lived_experience_exists() -> object:
    """SQL: the project has a current service user or carer team member ("Big I")."""
    # The values are written into the SQL, not bound: SQLite uses a partial index only when
    # it can see that the query's terms imply the index's own (LIVED_EXPERIENCE_PREDICATE).
    return exists().where(
        Membership.project_id == Project.id,
        Membership.left_at.is_(None),
        Membership.involvement == _LE_INVOLVEMENT,
        Membership.role.in_(_LE_ROLES),
    )


_LE_INVOLVEMENT = bindparam(
    "le_involvement",
    Involvement.TEAM_MEMBER,
    type_=Membership.involvement.type,
    literal_execute=True,
)
_LE_ROLES = bindparam(
    "le_roles",
    sorted(LIVED_EXPERIENCE_ROLES),
    type_=Membership.role.type,
    expanding=True,
    literal_execute=True,
)


def _current_member(person_id: int) -> ColumnElement[bool]:
    return exists().where(
        Membership.project_id == Project.id,
        Membership.person_id == person_id,
        Membership.left_at.is_(None),
    )


def _summaries_query() -> Select[Any]:
    """Projects with their lead and involvement, in the order every list shows them: by name."""
    lead = aliased(Person)
    return (
        select(
            Project.id,
            Project.name,
            Project.site,
            Project.status,
            Project.lead_person_id,
            lead.display_name,
            lived_experience_exists().label("has_le"),
            Project.name_key,
        )
        .outerjoin(lead, lead.id == Project.lead_person_id)
        .order_by(Project.name_key, Project.id)
    )


def _summaries(session: Session, query: Select[Any]) -> list[ProjectSummary]:
    return [
        ProjectSummary(
            id=row[0],
            name=row[1],
            site=row[2],
            status=row[3],
            lead_id=row[4],
            lead_name=row[5],
            has_lived_experience=bool(row[6]),
            key=row[7],
        )
        for row in session.execute(query)
    ]


def _involving(person_id: int | ColumnElement[Any]) -> ColumnElement[bool]:
    """SQL: the person leads the project or is on its team (their "mine").

    A UNION of two index lookups (projects by lead, current memberships by person), not an OR
    that both databases answer by testing every project.
    """
    led = select(Project.id).where(Project.lead_person_id == person_id)
    joined = select(Membership.project_id).where(
        Membership.person_id == person_id, Membership.left_at.is_(None)
    )
    return Project.id.in_(led.union(joined))


def has_word_starting(prefix: str, *, in_site: bool | None = None) -> ColumnElement[bool]:
    """SQL: the project's name (or site) has a word that starts with `prefix`: an index range."""
    return Project.id.in_(words_starting(prefix, in_site=in_site))


def _also_has_word_starting(prefix: str, *, in_site: bool | None) -> ColumnElement[bool]:
    """SQL: as has_word_starting, asked of each project already found (its dozen words)."""
    low, high = prefix_range(prefix)
    conditions = [ProjectWord.project_id == Project.id, ProjectWord.word >= low]
    if high is not None:
        conditions.append(ProjectWord.word < high)
    if in_site is not None:
        conditions.append(ProjectWord.in_site == in_site)
    return exists().where(*conditions)


def words_starting(prefix: str, *, in_site: bool | None = None) -> Select[Any]:
    """The ids of projects with a word starting with `prefix` in their name (or site)."""
    low, high = prefix_range(prefix)
    query = select(ProjectWord.project_id).where(ProjectWord.word >= low)
    if high is not None:
        query = query.where(ProjectWord.word < high)
    if in_site is not None:
        query = query.where(ProjectWord.in_site == in_site)
    return query


# Counting how many words start so stops here: enough to tell a rare beginning from a common one.
COMMON_PREFIX = 3000


def prefix_counts(
    session: Session, prefixes: Sequence[str], *, in_site: bool | None = None
) -> list[int]:
    """How many words start with each prefix, up to COMMON_PREFIX + 1, in one statement."""
    if not prefixes:
        return []
    counts = session.execute(
        select(
            *(
                select(func.count())
                .select_from(words_starting(p, in_site=in_site).limit(COMMON_PREFIX + 1).subquery())
                .scalar_subquery()
                for p in prefixes
            )
        )
    ).one()
    return [int(count) for count in counts]


def with_words(
    session: Session, words: Iterable[str], *, in_site: bool | None = None
) -> list[ColumnElement[bool]]:
    """SQL: the project has a word starting with each of `words` (in its name, or its site).

    The rarest word finds the projects from the index; the others are checked on each of them,
    so that a common word ("ward") costs nothing like reading all the projects it is in.
    """
    wanted = list(dict.fromkeys(words))
    if len(wanted) > 1:
        counts = prefix_counts(session, wanted, in_site=in_site)
        wanted = [word for _count, word in sorted(zip(counts, wanted, strict=True))]
    return [has_word_starting(word, in_site=in_site) for word in wanted[:1]] + [
        _also_has_word_starting(word, in_site=in_site) for word in wanted[1:]
    ]


def project_summaries(
    session: Session,
    *,
    statuses: Iterable[ProjectStatus] = (ProjectStatus.ACTIVE,),
    member_id: int | None = None,
    involving_id: int | None = None,
    limit: int | None = None,
) -> list[ProjectSummary]:
    """Projects with lead and involvement status, in one query, ordered by name."""
    query = _summaries_query().where(Project.status.in_(list(statuses)))
    if member_id is not None:
        query = query.where(_current_member(member_id))
    if involving_id is not None:
        query = query.where(_involving(involving_id))
    if limit is not None:
        query = query.limit(limit)
    return _summaries(session, query)


@dataclass(frozen=True)
class ListMark:
    """Where a page of projects ended: the last one's place in the order (name key, then id)."""

    key: str
    id: int


@dataclass(frozen=True)
class ProjectPage:
    """One page of a list of active projects, and where it stands in the whole list."""

    rows: list[ProjectSummary]
    before: int  # how many of the list come before the page
    total: int
    involved: int  # how many of the whole list have a service user or carer on the team


def project_page(
    session: Session,
    *,
    after: ListMark | None,
    limit: int,
    involving_id: int | None = None,
    among: Collection[int] | None = None,
    words: Iterable[str] = (),
    site_key: str | None = None,
) -> ProjectPage:
    """The active projects after `after` in name order, and the counts of the whole list.

    All of them, those `involving_id` leads or is on the team of, those `among` these ids, or
    those with a word starting with each of `words` (folded) in their name or site, or those
    at the site with this key (store.sites).
    Paged by where the last page ended, not by how many came before it: a project closed or
    added before that point moves nothing. One query, with the counts riding on each row; a
    second for the counts only when the page is empty.
    """
    if among is not None and not among:
        return ProjectPage([], 0, 0, 0)
    wanted = list(words)
    params: dict[str, Any] = {"limit": limit}
    if after is not None:
        params |= {"after_key": after.key, "after_id": after.id}
    if among is None and not wanted and site_key is None:
        # The lists asked for most (all, and "mine") are built once: building a statement
        # costs more CPU than SQLite takes to answer it.
        mine = involving_id is not None
        if mine:
            params["involving_id"] = involving_id
        page, counts = _fixed_statements(mine, after is not None)
    else:
        conditions = _listed(involving_id, among)
        conditions += with_words(session, wanted)
        if site_key is not None:
            # Bound, not written in: the same statement serves every site (ix_projects_site).
            conditions.append(Project.site_key == bindparam("site_key", site_key))
        page, counts = _page_statements(conditions, after is not None)
    connection = session.connection()
    rows = connection.execute(page, params).all()
    if rows:
        first = rows[0]
        total, involved, before = first[8], first[9], first[10] if after is not None else 0
    else:
        del params["limit"]
        total, involved, *rest = connection.execute(counts, params).one()
        before = rest[0] if rest else 0
    summaries = [ProjectSummary(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), r[7]) for r in rows]
    return ProjectPage(summaries, int(before), int(total), int(involved))


_AFTER = tuple_(
    bindparam("after_key", type_=Project.name_key.type),
    bindparam("after_id", type_=Project.id.type),
)


def _listed(
    involving_id: int | ColumnElement[Any] | None, among: Collection[int] | None = None
) -> list[ColumnElement[bool]]:
    """SQL: the conditions of a list of active projects (see project_page)."""
    conditions: list[ColumnElement[bool]] = [Project.status == ProjectStatus.ACTIVE]
    if involving_id is not None:
        conditions.append(_involving(involving_id))
    if among is not None:
        conditions.append(Project.id.in_(sorted(among)))
    return conditions


def _page_statements(
    conditions: Sequence[ColumnElement[bool]], after: bool
) -> tuple[Select[Any], Select[Any]]:
    """The page with the list's counts on each row, and the counts alone (for an empty page)."""
    position = tuple_(Project.name_key, Project.id)
    listed = select(func.count()).select_from(Project).where(*conditions)
    # EXISTS in WHERE lets PostgreSQL plan a semi-join; inside CASE it runs once per project.
    counts = [listed, listed.where(lived_experience_exists())]
    if after:
        counts.append(listed.where(position <= _AFTER))
    # Uncorrelated, so both databases work each count out once for the whole page.
    scalars = [count.scalar_subquery() for count in counts]
    page = (
        _summaries_query()
        .add_columns(*scalars)
        .where(*conditions)
        .limit(bindparam("limit", type_=Integer))
    )
    if after:
        page = page.where(position > _AFTER)
    return page, select(*scalars)


@functools.cache
def _fixed_statements(mine: bool, after: bool) -> tuple[Select[Any], Select[Any]]:
    """The statements of the whole list, or of someone's own ("mine"), with bound values."""
    involving = bindparam("involving_id", type_=Integer) if mine else None
    return _page_statements(_listed(involving), after)


def involvement_headline(session: Session) -> tuple[int, int]:
    """(active projects, of which with a service user or carer team member), in one query."""
    active = select(func.count()).where(Project.status == ProjectStatus.ACTIVE)
    # EXISTS in WHERE lets PostgreSQL plan a semi-join; inside CASE it runs once per project.
    involved = active.where(lived_experience_exists())
    row = session.execute(select(active.scalar_subquery(), involved.scalar_subquery())).one()
    return int(row[0]), int(row[1])


def still_seeking_partner(session: Session, project_id: int) -> bool:
    """Whether the project is still open and has no service user or carer on the team."""
    return bool(
        session.scalar(
            select(
                exists().where(
                    Project.id == project_id,
                    Project.status.in_(OPEN_STATUSES),
                    ~lived_experience_exists(),
                )
            )
        )
    )


def project_names(
    session: Session, statuses: Iterable[ProjectStatus] | None = None
) -> list[ProjectName]:
    """Every project's name and key, for forgiving matching."""
    query = select(Project.id, Project.name, Project.name_key, Project.status)
    if statuses is not None:
        query = query.where(Project.status.in_(list(statuses)))
    return [ProjectName(*row) for row in session.execute(query.order_by(Project.name_key))]


def projects_named_like(
    session: Session,
    key: str,
    statuses: Iterable[ProjectStatus] | None,
    *,
    starting: bool,
    limit: int,
) -> list[ProjectName]:
    """The first projects by name whose name has a word starting with each word of `key`.

    `starting`: only those whose folded name starts with `key` itself. Index ranges on the
    words, then a check of the few found; never a look at every project.
    """
    conditions = with_words(session, key.split(), in_site=False)
    if not conditions:
        return []
    if starting:
        conditions.append(func.substr(Project.name_key, 1, len(key)) == key)
    if statuses is not None:
        conditions.append(Project.status.in_(list(statuses)))
    query = (
        select(Project.id, Project.name, Project.name_key, Project.status)
        .where(*conditions)
        .order_by(Project.name_key)
        .limit(limit)
    )
    return [ProjectName(*row) for row in session.execute(query)]


def _typo_probes(word: str) -> list[str]:
    """Beginnings that a word with one slip in it still shares with the word meant.

    A slip in the second half leaves the first half; swapped first letters are swapped back;
    an extra first letter is dropped. (A slip in the first letter of a word is left to the
    other words of the name.)
    """
    if len(word) <= 2:
        return [word]
    half = max(2, (len(word) + 1) // 2)
    probes = [word[:half], word[1] + word[0] + word[2:half], word[1 : half + 1]]
    return list(dict.fromkeys(probes))


def typo_candidates(session: Session, key: str, *, limit: int) -> list[ProjectName]:
    """The few projects a mistyped name could mean, to be scored in full by the caller.

    Those sharing a beginning of a word with all typed words but one (one may hold the slip),
    most words shared first, then nearest in length: at most `limit`, from index ranges only.
    """
    probes = [
        (i, p) for i, word in enumerate(dict.fromkeys(key.split())) for p in _typo_probes(word)
    ]
    if not probes:
        return []
    # A beginning found in more names than COMMON_PREFIX says little about which one was
    # meant, and reading its every entry would cost more than the rest: it is left out.
    sizes = prefix_counts(session, [p for _, p in probes], in_site=False)
    found = list(zip(probes, sizes, strict=True))
    firsts = {i: size for (i, _p), size in reversed(found)}  # each word's first probe's
    rare_words = {i for i, size in firsts.items() if size <= COMMON_PREFIX}
    kept = [(i, p) for (i, p), size in found if i in rare_words and 0 < size <= COMMON_PREFIX]
    if not kept:
        return []
    return _most_shared(
        session, kept, key, need=max(1, len(rare_words) - 1), statuses=None, limit=limit
    )


# Words this short ("on", "of", "7") say little about which project was meant.
SHARED_WORD_MIN = 3
# More words than a project's name has: each is an index range, and a pasted paragraph must
# not become hundreds of them.
SHARED_WORDS_MAX = 20


def projects_sharing_words(
    session: Session, key: str, statuses: Iterable[ProjectStatus] | None, *, limit: int
) -> list[ProjectName]:
    """Projects with a word of their name starting with any typed word, most words shared first.

    For suggestions when nothing fits every word: "falls prevention" offers "Reducing falls on
    Ward 7". Index ranges only; a word in more names than COMMON_PREFIX is left out.
    """
    words = [w for w in dict.fromkeys(key.split()) if len(w) >= SHARED_WORD_MIN]
    words = words[:SHARED_WORDS_MAX]
    if not words:
        return []
    sizes = prefix_counts(session, words, in_site=False)
    counted = enumerate(zip(words, sizes, strict=True))
    kept = [(i, word) for i, (word, size) in counted if 0 < size <= COMMON_PREFIX]
    if not kept:
        return []
    return _most_shared(session, kept, key, need=1, statuses=statuses, limit=limit)


def _most_shared(
    session: Session,
    probes: Sequence[tuple[int, str]],
    key: str,
    *,
    need: int,
    statuses: Iterable[ProjectStatus] | None,
    limit: int,
) -> list[ProjectName]:
    """Projects with a word starting with at least `need` of the probes' words (numbered).

    Most words shared first, then nearest in length to `key`, then by name.
    """
    hits = union_all(
        *(
            words_starting(p, in_site=False).add_columns(literal(i, Integer).label("word"))
            for i, p in probes
        )
    ).subquery()
    shared = func.count(distinct(hits.c.word))
    scored = (
        select(hits.c.project_id, shared.label("shared"))
        .group_by(hits.c.project_id)
        .having(shared >= need)
        .subquery()
    )
    query = (
        select(Project.id, Project.name, Project.name_key, Project.status)
        .join(scored, scored.c.project_id == Project.id)
        .order_by(
            scored.c.shared.desc(),
            func.abs(func.length(Project.name_key) - len(key)),
            Project.name_key,
        )
        .limit(limit)
    )
    if statuses is not None:
        query = query.where(Project.status.in_(list(statuses)))
    return [ProjectName(*row) for row in session.execute(query)]


_BY_KEY = (
    select(Project).options(joinedload(Project.lead)).where(Project.name_key == bindparam("key"))
)


def find_by_key(session: Session, key: str) -> Project | None:
    """The project whose folded name is `key`, with its lead loaded in the same query."""
    return session.scalar(_BY_KEY, {"key": key})


_BY_ID = select(Project).options(joinedload(Project.lead)).where(Project.id == bindparam("id"))


def find_with_lead(session: Session, project_id: int) -> Project | None:
    """The project with this id, with its lead loaded in the same query (no second SELECT)."""
    return session.scalar(_BY_ID, {"id": project_id})


def create_project(
    session: Session,
    *,
    name: str,
    lead_id: int | None,
    site: str | None,
    status: ProjectStatus,
    now: datetime,
) -> Project:
    """Register a project; the caller checks the name is free."""
    tidy = clean_name(name)
    project = Project(
        name=tidy,
        name_key=name_key(tidy),
        site=clean_name(site) if site else None,
        status=status,
        lead_person_id=lead_id,
        created_at=now,
        updated_at=now,
    )
    session.add(project)
    session.flush()
    return project


@dataclass(frozen=True)
class TeamMember:
    """One current member of a project team."""

    membership_id: int
    person_id: int
    name: str
    role: Role
    involvement: Involvement
    in_chat: bool


def current_team(session: Session, project_id: int) -> list[TeamMember]:
    """The project's current team, lived experience first, then by name."""
    has_identity = exists().where(ChatIdentity.person_id == Person.id)
    rows = session.execute(
        select(
            Membership.id,
            Person.id,
            Person.display_name,
            Membership.role,
            Membership.involvement,
            has_identity,
        )
        .join(Person, Person.id == Membership.person_id)
        .where(Membership.project_id == project_id, Membership.left_at.is_(None))
        .order_by(Person.display_name)
    )
    team = [TeamMember(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in rows]
    return sorted(team, key=lambda m: m.role not in LIVED_EXPERIENCE_ROLES)
