"""/qi-projects: the active projects, their leads, and whether lived experience is on the team."""

from __future__ import annotations

import json

from handlers.core import ids
from handlers.core.args import parse_arguments, parse_id
from handlers.core.clipping import clip
from handlers.core.context import Context
from handlers.core.errors import Refusal
from handlers.core.long_lists import and_more, shortlist, text_units
from handlers.core.lookup import known_person
from handlers.core.matching import match_site
from handlers.core.reply import BUTTON_VALUE_MAX, HEADING_MAX, Actor, Button, Reply, Section, say
from handlers.core.wording import involvement_headline_text
from store.names import name_key
from store.projects import (
    ListMark,
    ProjectPage,
    ProjectSummary,
    project_page,
)
from store.sites import Site

# A chat message is no place for a thousand lines: this many at a time, then a button for more.
LIST_LIMIT = 40
MINE = "mine"

NOTHING_ACTIVE = 'There are no active projects to show. Start one with /qi-project new "Name".'
NOT_ON_ANY = (
    "You're not on any active project yet. Type /qi-join to join one, or "
    '/qi-project new "Project name" to start one.'
)
NO_MATCH = "No active project has those words in its name or place. Type /qi-projects to see all."
END_OF_LIST = "That's the end of the list. Type /qi-projects to see it again from the start."
BUTTON_BROKE = "Sorry, that button didn't work. Type /qi-projects to see the list."
NONE_AT_SITE = "No active project at {site} just now. Type /qi-projects to see all."
SHOW_MORE = "Show more projects"
SEE_MINE = "Type /qi-projects mine to see them all."
NARROW = "To find one, add a word from its name, for example /qi-projects falls"
NARROW_SEARCH = "To find one, add another word to your search."
SEARCH_TOO_LONG = "That search is too long to show page by page: please try it with fewer words."


def handle_projects_command(ctx: Context, actor: Actor, text: str) -> Reply:
    """List active projects: all, `mine`, or those with words in their name or site starting so."""
    return _page(ctx, actor, " ".join(parse_arguments(text).words), after=None)


def handle_more_projects_button(ctx: Context, actor: Actor, value: str) -> Reply:
    """'Show more projects': the same list, from the project the last page ended with."""
    after, query = _read_more_value(value)
    return _page(ctx, actor, query, after=after)


def _more_value(last: ProjectSummary, query: str) -> str:
    """The 'Show more projects' button's value: where the page ended, and what was asked."""
    return json.dumps([last.key, last.id, query], ensure_ascii=False, separators=(",", ":"))


def _read_more_value(value: str) -> tuple[ListMark, str]:
    """Where the list goes on from, and what was asked; a kind Refusal if the value is not ours.

    Older buttons carry "<offset>:<query>": a count that no longer says for sure where the
    list goes on from, so they get the same kind answer.
    """
    try:
        key, project_id, query = json.loads(value)
    except (ValueError, TypeError, RecursionError):
        raise Refusal(BUTTON_BROKE) from None
    if not (isinstance(key, str) and isinstance(query, str)) or type(project_id) is not int:
        raise Refusal(BUTTON_BROKE)
    if parse_id(str(project_id)) is None:  # below 0, or beyond any id the database can compare
        raise Refusal(BUTTON_BROKE)
    return ListMark(key, project_id), query


def _page(ctx: Context, actor: Actor, query: str, *, after: ListMark | None) -> Reply:
    """One page of the list the query asks for, after the project `after` (or from the start)."""
    key = name_key(query)
    site: Site | None = None
    with ctx.sessions() as session:
        if key == MINE:
            person = known_person(session, actor)
            page = (
                project_page(session, after=after, limit=LIST_LIMIT, involving_id=person.id)
                if person
                else ProjectPage([], 0, 0, 0)
            )
            empty = NOT_ON_ANY
        elif not key:
            page = project_page(session, after=after, limit=LIST_LIMIT)
            empty = NOTHING_ACTIVE
        elif site := match_site(session, key, typos=False).found:
            # A site's name lists its projects: the ones /qi-stats counts for that site.
            page = project_page(session, after=after, limit=LIST_LIMIT, site_key=site.key)
            empty = NONE_AT_SITE.format(site=site.name)
        else:
            page = project_page(session, after=after, limit=LIST_LIMIT, words=key.split())
            empty = NO_MATCH
    at = site.name if site else None
    if not page.total:
        return Reply(sections=(Section(text=empty, heading=_heading(key, query, at=at)),))
    if not page.rows:
        return say(END_OF_LIST)
    listed = shortlist(page.rows, LIST_LIMIT, line=_line, total=page.total - page.before)
    shown = listed.shown
    numbers = ""
    if page.before or listed.more:
        numbers = f" ({page.before + 1} to {page.before + len(shown)} of {page.total})"
    lines = [_line(s) for s in shown]
    buttons: tuple[Button, ...] = ()
    if listed.more:
        lines.append(f"{and_more(listed.more)}.")
        value = _more_value(shown[-1], query)
        if text_units(value) <= BUTTON_VALUE_MAX:
            buttons = (Button(SHOW_MORE, ids.MORE_PROJECTS, value),)
        else:
            lines.append(SEARCH_TOO_LONG)
        if key != MINE:
            lines.append(NARROW_SEARCH if key else NARROW)
    headline = involvement_headline_text(page.involved, page.total)
    return Reply(
        sections=(
            Section(text=headline, heading=_heading(key, query, numbers, at=at)),
            Section(text="\n".join(lines), buttons=buttons),
        )
    )


def _heading(key: str, query: str, numbers: str = "", *, at: str | None = None) -> str:
    """'Active QI projects matching "…" (41 to 80 of 95)': a long search cut, not the numbers.

    `at`: the site the query named ('Active QI projects at Riverside Hospital').
    """
    if key == MINE:
        return "Your active projects" + numbers
    if not key:
        return "Active QI projects" + numbers
    if at is not None:
        start = "Active QI projects at "
        return start + clip(at, HEADING_MAX - text_units(start + numbers)) + numbers
    start, end = 'Active QI projects matching "', f'"{numbers}'
    return start + clip(query, HEADING_MAX - text_units(start + end)) + end


def _line(summary: ProjectSummary) -> str:
    site = f" ({summary.site})" if summary.site else ""
    lead = f"led by {summary.lead_name}" if summary.lead_name else "no lead named"
    involvement = (
        "has a service user or carer on the team"
        if summary.has_lived_experience
        else "no service user or carer on the team yet"
    )
    return f"• {summary.name}{site}: {lead}; {involvement}"
