"""/qi-projects: the active projects, their leads, and whether lived experience is on the team."""

from __future__ import annotations

from handlers.args import parse_arguments
from handlers.context import Context
from handlers.lookup import known_person
from handlers.reply import Actor, Reply, Section
from handlers.wording import involvement_headline_text
from store.names import name_key
from store.projects import ProjectSummary, involvement_headline, project_summaries

# A chat message is no place for a thousand lines; beyond this we ask people to narrow it.
LIST_LIMIT = 40


NOTHING_ACTIVE = 'There are no active projects to show. Start one with /qi-project new "Name".'
NOT_ON_ANY = (
    "You're not on any active project yet. Type /qi-join to join one, or "
    '/qi-project new "Project name" to start one.'
)
NO_MATCH = "No active project has those words in its name or place. Type /qi-projects to see all."


def handle_projects_command(ctx: Context, actor: Actor, text: str) -> Reply:
    """List active projects: all, `mine`, or those whose name or site contains the words."""
    words = parse_arguments(text).words
    query = " ".join(words)
    with ctx.sessions() as session:
        person = known_person(session, actor)
        if name_key(query) == "mine":
            summaries = project_summaries(session, involving_id=person.id) if person else []
            heading, empty = "Your active projects", NOT_ON_ANY
        elif not query:
            # The whole list: count in SQL and fetch only the rows a chat message can show.
            total, involved = involvement_headline(session)
            shown = project_summaries(session, limit=LIST_LIMIT)
            return _list_reply("Active QI projects", shown, total, involved, NOTHING_ACTIVE)
        else:
            summaries = project_summaries(session)
            heading, empty = "Active QI projects", NOTHING_ACTIVE
    if query and name_key(query) != "mine":
        key = name_key(query)
        words = key.split()
        summaries = [
            s for s in summaries if all(w in name_key(f"{s.name} {s.site or ''}") for w in words)
        ]
        heading, empty = f'Active QI projects matching "{query}"', NO_MATCH
    involved = sum(1 for s in summaries if s.has_lived_experience)
    return _list_reply(heading, summaries[:LIST_LIMIT], len(summaries), involved, empty)


def _list_reply(
    heading: str, shown: list[ProjectSummary], total: int, involved: int, empty: str
) -> Reply:
    if not total:
        return Reply(sections=(Section(text=empty, heading=heading),))
    headline = involvement_headline_text(involved, total)
    lines = [_line(s) for s in shown]
    if total > len(shown):
        lines.append(
            f"...and {total - len(shown)} more. Add a word to narrow the list, "
            "for example /qi-projects falls"
        )
    return Reply(sections=(Section(text=headline, heading=heading), Section(text="\n".join(lines))))


def _line(summary: ProjectSummary) -> str:
    site = f" ({summary.site})" if summary.site else ""
    lead = f"led by {summary.lead_name}" if summary.lead_name else "no lead named"
    involvement = (
        "has a service user or carer on the team"
        if summary.has_lived_experience
        else "no service user or carer on the team yet"
    )
    return f"• {summary.name}{site}: {lead}; {involvement}"
