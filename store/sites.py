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

# Matching a site's words, or offering the closest to a mistyped one, reads at most this many
# sites' keys.
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
    """The first `limit` sites (by key) whose key starts with `prefix`: index seeks."""
    low, high = prefix_range(prefix)
    keys = _site_keys_query(low=low, high=high, limit=limit).scalar_subquery()
    rows = session.execute(
        select(Project.site_key, func.min(Project.site))
        .where(Project.site_key.in_(keys))
        .group_by(Project.site_key)
        .order_by(Project.site_key)
    )
    return [Site(key, name) for key, name in rows]


def with_words(keys: Iterable[str], words: list[str]) -> list[str]:
    """The site keys with a word starting with each of `words`, as project names are matched."""
    return [
        key for key in keys if all(any(w.startswith(word) for w in key.split()) for word in words)
    ]


def site_keys(
    session: Session, *, low: str | None = None, high: str | None = None, limit: int
) -> list[str]:
    """The site keys from `low` up to (not including) `high`, in order, at most `limit`."""
    return list(session.scalars(_site_keys_query(low=low, high=high, limit=limit)))


def _site_keys_query(*, low: str | None, high: str | None, limit: int) -> Select[Any]:
    """SQL: site_keys' keys, one index seek per site (the next key after the last).

    However many projects each site has: reading ix_projects_site from end to end would read
    every project's entry.
    """
    upper = [Project.site_key < high] if high is not None else []
    lower = [Project.site_key >= low] if low is not None else []
    first = select(func.min(Project.site_key).label("key")).where(*lower, *upper)
    keys = first.cte("site_keys", recursive=True)
    following = (
        select(func.min(Project.site_key)).where(Project.site_key > keys.c.key, *upper)
    ).scalar_subquery()
    keys = keys.union_all(select(following).where(keys.c.key.is_not(None)))
    return select(keys.c.key).where(keys.c.key.is_not(None)).limit(limit)
