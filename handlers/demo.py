"""A small example trust, so a newcomer sees something real at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import func, select

from handlers.core.context import Context
from handlers.evidence.stats import backfill, take_snapshot
from store.forums import create_forum
from store.memberships import add_membership
from store.models import ChatIdentity, ForumMember, Meeting, Person, Project, Rsvp
from store.names import name_key
from store.people import grant_admin
from store.projects import create_project
from store.roles import Involvement, ProjectStatus, Role, RsvpAnswer

# (name, role at the forum); everyone here is a console user so `:as NAME` finds them.
PEOPLE = [
    ("Asha Patel", Role.STAFF),  # QI lead and forum organiser (admin)
    ("Ben Okafor", Role.CARER),
    ("Priya Shah", Role.SERVICE_USER),
    ("Tom Hughes", Role.STAFF),
    ("Grace Lee", Role.STAFF),
    ("Mo Ahmed", Role.STAFF),
    ("Ruth Evans", Role.PEER_SUPPORTER),
]

# (project, site, lead): a site is the hospital or service; a ward is in the project's name.
PROJECTS = [
    ("Reducing falls on Ward 7", "Riverside Hospital", "Tom Hughes"),
    ("Quicker discharge letters", "Riverside Hospital", "Asha Patel"),
    ("Safer medicines at home", "Community nursing", "Grace Lee"),
    ("Welcoming new patients to the day unit", "Day unit", "Mo Ahmed"),
    ("Fewer missed appointments in memory clinic", "Memory clinic", "Grace Lee"),
    ("Better sleep on mental health wards", "Oak Lodge", "Asha Patel"),
    ("Pressure ulcer prevention", "Community nursing", "Tom Hughes"),
    ("Kinder waiting rooms", "Outpatients", "Mo Ahmed"),
    ("Carers' passports", "Trust-wide", "Asha Patel"),
    ("Smoother handovers at night", "Riverside Hospital", "Grace Lee"),
]

# History, so that `qi-nudge stats --backfill` has a story to chart: projects started over the
# last half year, and a carer who helped one project for a while and then moved to another.
STARTED_WEEKS_AGO = [26, 25, 24, 22, 20, 18, 16, 14, 12, 10]
PAST_MEETINGS_WEEKS_AGO = [12, 8, 4]

THURSDAY = 3  # date.weekday()

DEMO_FORUM = "QI Forum"
DEMO_ADMIN = "Asha Patel"


@dataclass(frozen=True)
class DemoSummary:
    """What the demo added."""

    people: int
    projects: int
    meeting_at: datetime


def is_empty(ctx: Context) -> bool:
    """Whether the database has no projects and no people yet."""
    with ctx.sessions() as session:
        return not session.scalar(select(func.count()).select_from(Project)) and not (
            session.scalar(select(func.count()).select_from(Person))
        )


def seed_example_trust(ctx: Context) -> DemoSummary:
    """Fill an empty database with a forum, ten projects (one with a carer) and a meeting."""
    now = ctx.now()
    with ctx.sessions.begin() as session:
        people: dict[str, Person] = {}
        for name, _role in PEOPLE:
            person = Person(display_name=name, created_at=now)
            person.identities.append(
                ChatIdentity(platform="console", workspace="local", user_id=name_key(name))
            )
            session.add(person)
            people[name] = person
        session.flush()
        grant_admin(session, people[DEMO_ADMIN].id, by_id=None, now=now)
        projects = [
            create_project(
                session,
                name=name,
                lead_id=people[lead].id,
                site=site,
                status=ProjectStatus.ACTIVE,
                now=now - timedelta(weeks=weeks),
            )
            for (name, site, lead), weeks in zip(PROJECTS, STARTED_WEEKS_AGO, strict=True)
        ]
        # Leads are not put on their own teams, as /qi-project new does without "as <role>".
        # Ben helped "Safer medicines at home" for ten weeks, then joined the falls project:
        # the one project that has a carer on the team now.
        ben = people["Ben Okafor"].id
        for project, joined, left in ((projects[2], 19, 9), (projects[0], 6, None)):
            membership = add_membership(
                session,
                project_id=project.id,
                person_id=ben,
                role=Role.CARER,
                involvement=Involvement.TEAM_MEMBER,
                consent_by_id=ben,
                now=now - timedelta(weeks=joined),
            )
            if left is not None:
                membership.left_at = now - timedelta(weeks=left)
        forum = create_forum(session, name=DEMO_FORUM, channel=None, now=now)
        for name, role in PEOPLE:
            session.add(
                ForumMember(
                    forum_id=forum.id,
                    person_id=people[name].id,
                    role=role,
                    wants_match=name == "Priya Shah",
                    joined_at=now - timedelta(weeks=14),
                )
            )
        # A Thursday afternoon a week or two ahead, as forums usually meet on a weekday.
        today = now.astimezone(ctx.timezone).date()
        local_day = today + timedelta(days=7 + (THURSDAY - today.weekday()) % 7)
        starts = datetime.combine(local_day, time(14, 0), tzinfo=ctx.timezone)
        meeting = Meeting(
            forum_id=forum.id, starts_at=starts, location="Room 4, Trust HQ", created_at=now
        )
        session.add(meeting)
        session.flush()
        for name, role in PEOPLE[:3]:
            session.add(
                Rsvp(
                    meeting_id=meeting.id,
                    person_id=people[name].id,
                    answer=RsvpAnswer.GOING,
                    role=role,
                    answered_at=now,
                )
            )
        # Past meetings, each a little better attended by people with lived experience.
        for count, weeks in enumerate(PAST_MEETINGS_WEEKS_AGO, start=1):
            past = Meeting(
                forum_id=forum.id,
                starts_at=starts - timedelta(weeks=weeks),
                location="Room 4, Trust HQ",
                created_at=now - timedelta(weeks=weeks + 2),
            )
            session.add(past)
            session.flush()
            came = [p for p in PEOPLE if p[1] == Role.STAFF][:3] + [
                p for p in PEOPLE if p[1] != Role.STAFF
            ][:count]
            for name, role in came:
                session.add(
                    Rsvp(
                        meeting_id=past.id,
                        person_id=people[name].id,
                        answer=RsvpAnswer.GOING,
                        role=role,
                        answered_at=past.starts_at - timedelta(days=3),
                    )
                )
    # Its past weeks worked out, and this week's figures taken, so /qi-stats shows a run chart
    # that ends this week straight away (whatever the day: the weekly job may not be due yet).
    backfill(ctx)
    take_snapshot(ctx)
    return DemoSummary(people=len(PEOPLE), projects=len(PROJECTS), meeting_at=starts)
