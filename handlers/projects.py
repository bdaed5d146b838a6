"""/qi-projects: the active projects, their leads, and whether lived experience is on the team."""

from __future__ import annotations

from handlers import ids
from handlers.args import parse_arguments, parse_id
from handlers.context import Context
from handlers.errors import Refusal
from handlers.listing import and_more, shortlist
from handlers.lookup import known_person
from handlers.reply import BUTTON_VALUE_MAX, Actor, Button, Reply, Section, say
from handlers.wording import involvement_headline_text
from store.names import name_key
from store.projects import ProjectSummary, involvement_headline, project_summaries

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
SHOW_MORE = "Show more projects"
SEE_MINE = "Type /qi-projects mine to see them all."
NARROW = "To find one, add a word from its name, for example /qi-projects falls"


def handle_projects_command(ctx: Context, actor: Actor, text: str) -> Reply:
    """List active projects: all, `mine`, or those whose name or site contains the words."""
    return _page(ctx, actor, " ".join(parse_arguments(text).words), start=0)


def handle_more_projects_button(ctx: Context, actor: Actor, value: str) -> Reply:
    """'Show the next 40': the same list, from where the last page ended."""
    start_text, _, query = value.partition(":")
    start = parse_id(start_text)
    if start is None:
        raise Refusal("Sorry, that button didn't work. Type /qi-projects to see the list.")
    return _page(ctx, actor, query, start=start)


def _page(ctx: Context, actor: Actor, query: str, *, start: int) -> Reply:
    """One page of the list the query asks for, from its `start`-th project."""
    key = name_key(query)
    with ctx.sessions() as session:
        if key == MINE:
            person = known_person(session, actor)
            mine = project_summaries(session, involving_id=person.id) if person else []
            heading, empty = "Your active projects", NOT_ON_ANY
            total, involved = len(mine), sum(1 for s in mine if s.has_lived_experience)
            rows = mine[start : start + LIST_LIMIT]
        elif not key:
            # The whole list: count in SQL and fetch only the rows a chat message can show.
            total, involved = involvement_headline(session)
            rows = project_summaries(session, limit=LIST_LIMIT, offset=start)
            heading, empty = "Active QI projects", NOTHING_ACTIVE
        else:
            words = key.split()
            found = [
                s
                for s in project_summaries(session)
                if all(w in name_key(f"{s.name} {s.site or ''}") for w in words)
            ]
            heading, empty = f'Active QI projects matching "{query}"', NO_MATCH
            total, involved = len(found), sum(1 for s in found if s.has_lived_experience)
            rows = found[start : start + LIST_LIMIT]
    if not total:
        return Reply(sections=(Section(text=empty, heading=heading),))
    if not rows:
        return say(END_OF_LIST)
    listed = shortlist(rows, LIST_LIMIT, line=_line, total=total - start)
    if start or listed.more:
        heading += f" ({start + 1} to {start + len(listed.shown)} of {total})"
    lines = [_line(s) for s in listed.shown]
    buttons: tuple[Button, ...] = ()
    if listed.more:
        lines.append(f"{and_more(listed.more)}.")
        value = f"{start + len(listed.shown)}:{query}"
        if len(value) <= BUTTON_VALUE_MAX:
            buttons = (Button(SHOW_MORE, ids.MORE_PROJECTS, value),)
        if key != MINE:
            lines.append(NARROW)
    headline = involvement_headline_text(involved, total)
    return Reply(
        sections=(
            Section(text=headline, heading=heading),
            Section(text="\n".join(lines), buttons=buttons),
        )
    )


def _line(summary: ProjectSummary) -> str:
    site = f" ({summary.site})" if summary.site else ""
    lead = f"led by {summary.lead_name}" if summary.lead_name else "no lead named"
    involvement = (
        "has a service user or carer on the team"
        if summary.has_lived_experience
        else "no service user or carer on the team yet"
    )
    return f"• {summary.name}{site}: {lead}; {involvement}"
