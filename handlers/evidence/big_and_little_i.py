"""Big I and little i on /qi-stats: team members, against people only consulted.

The headline counts projects with a service user or carer on the team ("Big I"). This adds the
projects that only consult one ("little i"), and how many people moved from consulted to the
team lately, so the forum can see people moving from one to the other.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from handlers.core.context import Context
from handlers.core.matching import match_site
from handlers.core.reply import Reply, Section
from handlers.core.wording import plural
from store import involvement_stats

# Moves from consulted to team member are counted over this many days.
MOVES_OVER_DAYS = 365


def with_big_and_little_i(ctx: Context, reply: Reply, site: str = "") -> Reply:
    """/qi-stats's reply with a Big I / little i section added, overall or for the site."""
    if not reply.ok:
        return reply
    with ctx.sessions() as session:
        key = None
        if site:
            found = match_site(session, site, typos=False).found
            if found is None:
                return reply  # /qi-stats itself has already said which sites there are
            key = found.key
        since = ctx.now() - timedelta(days=MOVES_OVER_DAYS)
        figures = involvement_stats.team_or_consulted(session, since, key)
    section = Section(heading="On the team, or consulted", text=big_and_little_i_text(figures))
    return replace(reply, sections=(*reply.sections, section))


def big_and_little_i_text(figures: involvement_stats.TeamOrConsulted) -> str:
    """Both measures in plain words, and the moves from consulted to the team in the last year."""
    if not figures.active:
        return "There are no active projects yet."
    lines = [
        f"• On the team (Big I): {figures.team_member} of "
        f"{plural(figures.active, 'active project')}.",
        f"• Only consulted now and then (little i): {figures.consulted_only} more.",
    ]
    lines.append(
        "• Moved from consulted to team member in the last year: "
        f"{plural(figures.moved_to_team, 'service user or carer', 'service users and carers')}."
    )
    return "\n".join(lines)
