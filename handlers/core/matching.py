"""Forgiving name matching: case, spacing and a unique beginning are enough."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy.orm import Session

from store import sites as sites_store
from store.names import name_key
from store.projects import (
    ProjectName,
    projects_named_like,
    projects_sharing_words,
    typo_candidates,
)
from store.roles import ProjectStatus
from store.sites import Site

T = TypeVar("T")

MAX_SUGGESTIONS = 5
SIMILAR_ENOUGH = 60  # out of 100
# How many projects a mistyped name is scored against, found by the words it shares with them.
TYPO_CANDIDATES = 300


@dataclass(frozen=True)
class Named(Generic[T]):
    """Something with a name to match against."""

    name: str
    item: T
    # The folded name when it is already known (projects store theirs), to skip re-folding.
    key: str | None = None


@dataclass(frozen=True)
class Match(Generic[T]):
    """The outcome: one item found, or the closest candidates to offer instead."""

    found: T | None
    candidates: tuple[str, ...] = ()
    ambiguous: bool = False


def match_name(query: str, options: Sequence[Named[T]]) -> Match[T]:
    """Find the one option the person meant, or say which ones they might have meant."""
    key = name_key(query)
    if not key:
        return Match(found=None)
    keyed = [(option.key or name_key(option.name), option) for option in options]
    exact = [option for option_key, option in keyed if option_key == key]
    if len(exact) == 1:
        return Match(found=exact[0].item)
    starts = [option for option_key, option in keyed if option_key.startswith(key)]
    if len(starts) == 1:
        return Match(found=starts[0].item)
    if starts:
        return Match(
            found=None, candidates=tuple(o.name for o in starts[:MAX_SUGGESTIONS]), ambiguous=True
        )
    # Words in any order or in the middle ("falls" in "Reducing falls on ward 7").
    words = key.split()
    containing = [o for option_key, o in keyed if all(w in option_key for w in words)]
    if len(containing) == 1:
        return Match(found=containing[0].item)
    if containing:
        return Match(
            found=None,
            candidates=tuple(o.name for o in containing[:MAX_SUGGESTIONS]),
            ambiguous=True,
        )
    by_key = {option_key: option.name for option_key, option in keyed}
    return Match(found=None, candidates=_closest(key, by_key))


def _closest(key: str, by_key: dict[str, str]) -> tuple[str, ...]:
    """The names whose keys are most like `key`, best first, as many as are offered."""
    # rapidfuzz (~4 MiB) loads at the first typo, not with every process that can match names.
    from rapidfuzz import fuzz, process

    # Typos: the same similarity as difflib's ratio (cut-off 0.6), computed in C, because a
    # trust may have thousands of projects and a chat reply must be quick.
    close = process.extract(
        key, list(by_key), scorer=fuzz.ratio, limit=MAX_SUGGESTIONS, score_cutoff=SIMILAR_ENOUGH
    )
    return tuple(by_key[k] for k, _score, _index in close)


def match_project_name(
    session: Session,
    key: str,
    statuses: Iterable[ProjectStatus] | None,
    *,
    typos: bool,
) -> Match[ProjectName]:
    """`match_name` for projects, asked of the database: a unique beginning, then words.

    A word matches a word of the name it begins (not the middle of one, which would mean
    reading every name). `typos`: if nothing matches, offer the closest names of any status,
    scored as `match_name` scores them, among the few that share words with the typed name.
    """
    if not key:
        return Match(found=None)
    pool = None if statuses is None else list(statuses)
    for starting in (True, False):
        found = projects_named_like(
            session, key, pool, starting=starting, limit=MAX_SUGGESTIONS + 1
        )
        if len(found) == 1:
            return Match(found=found[0])
        if found:
            names = tuple(p.name for p in found[:MAX_SUGGESTIONS])
            return Match(found=None, candidates=names, ambiguous=True)
    if not typos:
        return Match(found=None)
    # In name order, as match_name offers them, so that equal scores come out the same.
    by_key = {
        p.key: p.name
        for p in sorted(typo_candidates(session, key, limit=TYPO_CANDIDATES), key=lambda p: p.key)
    }
    return Match(found=None, candidates=_closest(key, by_key))


def with_shared_words(
    session: Session,
    key: str,
    statuses: Iterable[ProjectStatus] | None,
    candidates: tuple[str, ...],
) -> tuple[str, ...]:
    """The close names found, then names sharing a typed word, up to MAX_SUGGESTIONS in all.

    "Falls prevention" is not close to "Reducing falls on Ward 7" letter by letter, but the
    word "falls" says it may be the one meant.
    """
    if len(candidates) >= MAX_SUGGESTIONS:
        return candidates
    sharing = projects_sharing_words(session, key, statuses, limit=MAX_SUGGESTIONS)
    names = dict.fromkeys([*candidates, *(p.name for p in sharing)])
    return tuple(names)[:MAX_SUGGESTIONS]


def match_site(session: Session, text: str, *, typos: bool) -> Match[Site]:
    """The one site meant: its whole name, else a unique beginning, else its words' beginnings.

    Matched as project names are; `typos`: when nothing matches, offer the closest sites.

    /qi-projects and /qi-stats both find a site this way, so they count the same projects.
    """
    key = name_key(text)
    if not key:
        return Match(found=None)
    sites = sites_store.sites_starting(session, key, limit=MAX_SUGGESTIONS + 1)
    known: list[str] = []
    if not sites:
        # A site's words are read from its key, not from each of its (thousands of) projects.
        known = sites_store.site_keys(session, limit=sites_store.SITES_SCORED)
        worded = sites_store.with_words(known, key.split())
        sites = sites_store.sites_keyed(session, worded[: MAX_SUGGESTIONS + 1])
    exact = [site for site in sites if site.key == key]
    if len(sites) == 1 or exact:
        return Match(found=(exact or sites)[0])
    if sites:
        names = tuple(site.name for site in sites[:MAX_SUGGESTIONS])
        return Match(found=None, candidates=names, ambiguous=True)
    if not typos:
        return Match(found=None)
    # Scored by key (as match_name scores names), then only the closest few are named.
    closest = _closest(key, {k: k for k in known})
    if not closest and len(known) <= MAX_SUGGESTIONS:
        closest = tuple(known)  # with only a few sites, all of them are worth offering
    named = {s.key: s.name for s in sites_store.sites_keyed(session, closest)}
    return Match(found=None, candidates=tuple(named[k] for k in closest if k in named))
