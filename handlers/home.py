"""The person's own page (Slack's App Home): their projects, forums, next meeting, headline."""

from __future__ import annotations

from handlers.core import ids
from handlers.core.context import Context
from handlers.core.long_lists import and_more, shortlist
from handlers.core.lookup import known_person
from handlers.core.reply import Actor, Button, Reply, Section
from handlers.core.wording import involvement_headline_text
from handlers.evidence.stats import project_stats
from handlers.forum.meetings import SEE_FORUMS, forum_cards
from handlers.projects.listing import SEE_MINE
from store import forums as forum_store
from store import people
from store.projects import ProjectSummary, involvement_headline, project_summaries

# The tab shows a person's page at a glance (Slack takes 100 blocks in it): this many of their
# projects and forums, then how many more and where to see them all.
HOME_PROJECTS_SHOWN = 20
HOME_FORUMS_SHOWN = 5
WELCOME = (
    "qi-nudge helps QI projects include people with lived experience: service users and "
    "carers. Type /qi-join to join a project team or the QI forum, /qi-projects to see what is "
    "going on, or /qi-help for everything."
)


def handle_home(ctx: Context, actor: Actor) -> Reply:
    """Everything about me at a glance; organisers also see the headline figure."""
    with ctx.sessions() as session:
        person = known_person(session, actor)
        sections: list[Section] = [Section(heading="Welcome to qi-nudge", text=WELCOME)]
        if person is None:
            return Reply(sections=tuple(sections))
        admin = people.is_admin(session, person.id)
        if admin:
            total, involved = involvement_headline(session)
            sections.append(
                Section(
                    heading="Lived experience on QI teams",
                    text=involvement_headline_text(involved, total),
                )
            )
        mine = project_summaries(session, involving_id=person.id)
        listed = shortlist(mine, HOME_PROJECTS_SHOWN, line=lambda p: _line(p, person.id))
        lines = [_line(p, person.id) for p in listed.shown]
        if listed.more:
            lines.append(f"{and_more(listed.more, 'project')}. {SEE_MINE}")
        sections.append(
            Section(
                heading="Your projects",
                text="\n".join(lines) or "You're not on a project team yet. Type /qi-join.",
            )
        )
        forums = forum_store.forums_of(session, person.id)
        shown_forums = forums[:HOME_FORUMS_SHOWN]
        if not forums:
            everyone = forum_store.list_forums(session)
            join = tuple(Button(f"Join {f.name}", ids.JOIN_FORUM, str(f.id)) for f in everyone[:3])
            sections.append(
                Section(
                    heading="The QI forum",
                    text="Staff and people with lived experience meet as equals at the forum."
                    if everyone
                    else "No forum is set up yet.",
                    buttons=join,
                )
            )
        # At a glance: each forum's next meeting (/qi-forum shows the next few).
        sections.extend(
            forum_cards(
                session,
                ctx,
                person,
                shown_forums,
                each=1,
                most=HOME_FORUMS_SHOWN,
                joined={f.id for f in shown_forums},
            )
        )
        if len(forums) > len(shown_forums):
            more = and_more(len(forums) - len(shown_forums), "forum")
            sections.append(Section(text=f"{more}. {SEE_FORUMS}"))
    if not admin:
        return Reply(sections=tuple(sections))
    # Organisers also see the run chart: the headline's story, week by week.
    chart = project_stats(ctx)
    return Reply(sections=(*sections, *chart.sections[1:]), image=chart.image)


def _line(project: ProjectSummary, person_id: int) -> str:
    lead = " (you lead it)" if project.lead_id == person_id else ""
    involvement = (
        "has a service user or carer on the team"
        if project.has_lived_experience
        else "no service user or carer on the team yet"
    )
    return f"• {project.name}{lead}: {involvement}"
