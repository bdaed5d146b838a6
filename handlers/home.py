"""The person's own page (Slack's App Home): their projects, forums, next meeting, headline."""

from __future__ import annotations

from handlers import ids
from handlers.context import Context
from handlers.forum import forum_sections
from handlers.lookup import known_person
from handlers.reply import Actor, Button, Reply, Section
from handlers.stats import project_stats
from handlers.wording import involvement_headline_text
from store import forums as forum_store
from store import people
from store.projects import involvement_headline, project_summaries

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
        lines = [
            f"• {p.name}{' (you lead it)' if p.lead_id == person.id else ''}: "
            + (
                "has a service user or carer on the team"
                if p.has_lived_experience
                else "no service user or carer on the team yet"
            )
            for p in mine
        ]
        sections.append(
            Section(
                heading="Your projects",
                text="\n".join(lines) or "You're not on a project team yet. Type /qi-join.",
            )
        )
        forums = forum_store.forums_of(session, person.id)
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
        meetings = forum_store.next_meetings(session, ctx.now(), [f.id for f in forums])
        for forum in forums:
            sections.extend(forum_sections(session, ctx, person, forum, meetings.get(forum.id)))
    if not admin:
        return Reply(sections=tuple(sections))
    # Organisers also see the run chart: the headline's story, week by week.
    chart = project_stats(ctx)
    return Reply(sections=(*sections, *chart.sections[1:]), image=chart.image)
