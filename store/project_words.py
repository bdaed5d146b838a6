"""The words of each project's name and site (and its site key), kept in step for indexed search.

Every ORM write of a project (created, renamed, moved to another site) refreshes its words in
the same flush. A bulk Core insert into projects bypasses the ORM: call `index_words` after it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, delete, event, insert, inspect, select
from sqlalchemy.orm import Mapper, Session, object_session

from store.models import Project, ProjectWord
from store.names import name_key, site_key

# The highest code point, and the first after the surrogates (which no text can hold).
_LAST_CHAR = 0x10FFFF
_SURROGATES = range(0xD800, 0xE000)


def words_of(name_key_: str, site: str | None) -> list[dict[str, Any]]:
    """The rows of project_words for a project's folded name and (unfolded) site."""
    rows = [{"word": w, "in_site": False} for w in dict.fromkeys(name_key_.split())]
    rows += [{"word": w, "in_site": True} for w in dict.fromkeys(name_key(site or "").split())]
    return rows


def prefix_range(prefix: str) -> tuple[str, str | None]:
    """(low, high): the strings from low up to but not including high start with `prefix`.

    High is None when nothing comes after (a prefix of nothing but the last code point).
    Byte order of UTF-8 is code point order, which is how both databases compare words.
    """
    stem = prefix
    while stem:
        following = ord(stem[-1]) + 1
        if following in _SURROGATES:
            following = _SURROGATES.stop
        if following <= _LAST_CHAR:
            return prefix, stem[:-1] + chr(following)
        stem = stem[:-1]
    return prefix, None


def index_words(session: Session, project_ids: Iterable[int]) -> None:
    """Refresh the words of these projects (after a bulk Core insert or update of them)."""
    wanted = list(project_ids)
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = session.execute(
            select(Project.id, Project.name_key, Project.site).where(Project.id.in_(chunk))
        ).all()
        _write_words(session.connection(), rows, replacing=True)


def _write_words(
    connection: Connection, projects: Iterable[tuple[int, str, str | None]], *, replacing: bool
) -> None:
    """The words of these (id, name key, site) projects, in place of any they had."""
    projects = list(projects)
    if replacing:
        ids = [project_id for project_id, _key, _site in projects]
        connection.execute(delete(ProjectWord).where(ProjectWord.project_id.in_(ids)))
    words = [
        {**word, "project_id": project_id}
        for project_id, key, site in projects
        for word in words_of(key, site)
    ]
    if words:
        connection.execute(insert(ProjectWord), words)


_NEW = "project_words.new"
_CHANGED = "project_words.changed"


def _note(project: Project, kind: str) -> None:
    session = object_session(project)
    if session is not None:
        session.info.setdefault(kind, set()).add(project)


@event.listens_for(Project, "before_insert")
@event.listens_for(Project, "before_update")
def _key_the_site(_mapper: Mapper[Project], _connection: Connection, project: Project) -> None:
    # The site's key, by which store.sites finds a site's projects, follows every ORM write.
    project.site_key = site_key(project.site)


@event.listens_for(Project, "after_insert")
def _words_of_new_project(
    _mapper: Mapper[Project], _connection: Connection, project: Project
) -> None:
    _note(project, _NEW)


@event.listens_for(Project, "after_update")
def _words_of_changed_project(
    _mapper: Mapper[Project], _connection: Connection, project: Project
) -> None:
    state = inspect(project)
    if state.attrs.name_key.history.has_changes() or state.attrs.site.history.has_changes():
        _note(project, _CHANGED)


@event.listens_for(Session, "after_flush")
def _write_noted_words(session: Session, _context: Any) -> None:
    # Once per flush, in one statement or two, however many projects an import writes.
    for kind in (_NEW, _CHANGED):
        projects = session.info.pop(kind, None)
        if projects:
            _write_words(
                session.connection(),
                [(p.id, p.name_key, p.site) for p in projects],
                replacing=kind == _CHANGED,
            )


@event.listens_for(Session, "after_soft_rollback")
def _forget_noted_words(session: Session, _previous: Any) -> None:
    # A flush that failed after noting a project wrote nothing: nothing is left to index.
    session.info.pop(_NEW, None)
    session.info.pop(_CHANGED, None)
