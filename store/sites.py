"""Sites: where projects are based, one spelling each, found by their folded name (site_key).

A project's site is the hospital or service it is based at ("Riverside Hospital"); a ward or
team belongs in the project's name. Two spellings that fold alike ("riverside  hospital") are
one site: a project given a known site takes the spelling already recorded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from store.models import Project
from store.names import clean_name, site_key
from store.project_words import prefix_range
from store.projects import with_words

# Offering the closest sites to a mistyped one reads at most this many sites' keys.
SITES_SCORED = 2000


@dataclass(frozen=True)
class Site:
    """A site as shown (its recorded spelling) and its key."""

    key: str
    name: str


def spellings(session: Session, keys: Iterable[str]) -> dict[str, str]:
    """The recorded spelling of each of these site keys that some project has: one statement.

    One spelling per key is kept on writing; should two ever be written at once, the first in
    code point order is every list's and chart's.
    """
    wanted = sorted(set(keys))
    found: dict[str, str] = {}
    for start in range(0, len(wanted), 500):
        rows = session.execute(
            select(Project.site_key, func.min(Project.site))
            .where(Project.site_key.in_(wanted[start : start + 500]))
            .group_by(Project.site_key)
        )
        found.update({key: name for key, name in rows})
    return found


def recorded_site(session: Session, site: str | None) -> str | None:
    """`site` tidied, in the spelling already recorded for it if any project has it."""
    key = site_key(site)
    if site is None or key is None:
        return None
    return spellings(session, [key]).get(key) or clean_name(site)


def sites_keyed(session: Session, keys: Iterable[str]) -> list[Site]:
    """These sites with their spellings, in key order."""
    return [Site(key, name) for key, name in sorted(spellings(session, keys).items())]


def sites_starting(session: Session, prefix: str, *, limit: int) -> list[Site]:
    """The first `limit` sites (by key) whose key starts with `prefix`: an index range."""
    low, high = prefix_range(prefix)
    keys = select(Project.site_key).distinct().where(Project.site_key >= low)
    if high is not None:
        keys = keys.where(Project.site_key < high)
    return _named(session, keys.order_by(Project.site_key).limit(limit))


def sites_with_words(session: Session, words: list[str], *, limit: int) -> list[Site]:
    """The first `limit` sites (by key) with a word starting with each of `words`."""
    conditions = with_words(session, words, in_site=True)
    if not conditions:
        return []
    keys = (
        select(Project.site_key)
        .distinct()
        .where(Project.site_key.is_not(None), *conditions)
        .order_by(Project.site_key)
        .limit(limit)
    )
    return _named(session, keys)


def _named(session: Session, keys: Select[Any]) -> list[Site]:
    """The sites whose keys `keys` selects, with their spellings, in one statement."""
    rows = session.execute(
        select(Project.site_key, func.min(Project.site))
        .where(Project.site_key.in_(keys.scalar_subquery()))
        .group_by(Project.site_key)
        .order_by(Project.site_key)
    )
    return [Site(key, name) for key, name in rows]


def some_site_keys(session: Session) -> list[str]:
    """Site keys to offer a close one from, when nothing matched: at most SITES_SCORED."""
    query = (
        select(Project.site_key)
        .distinct()
        .where(Project.site_key.is_not(None))
        .order_by(Project.site_key)
        .limit(SITES_SCORED)
    )
    return list(session.scalars(query))
