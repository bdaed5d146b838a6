"""A small example trust, so a newcomer sees something real at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from handlers.core.context import Context
from handlers.evidence.stats import backfill, take_snapshot
from store.forums import create_forum
from store.involvement import (
    A_LOT,
    DEFAULT_EVERY_WEEKS,
    NOT_AT_ALL,
    NOT_REALLY,
    SOMEWHAT,
    period_key,
    period_start,
)
from store.memberships import add_membership
from store.models import (
    ChatIdentity,
    ForumMember,
    InvolvementAnswer,
    Meeting,
    Membership,
    Person,
    Project,
    Rsvp,
)
from store.names import name_key
from store.people import grant_admin
from store.projects import create_project
from store.roles import LIVED_EXPERIENCE_ROLES, Involvement, ProjectStatus, Role, RsvpAnswer

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
    seed_involvement_answers(ctx)  # past periods' answers, for /qi-stats involvement
    # Its past weeks worked out, and this week's figures taken, so /qi-stats shows a run chart
    # that ends this week straight away (whatever the day: the weekly job may not be due yet).
    backfill(ctx)
    take_snapshot(ctx)
    return DemoSummary(people=len(PEOPLE), projects=len(PROJECTS), meeting_at=starts)


# --- How involved people feel: past periods' answers (/qi-stats involvement) ------------------

# Two people the lead added (not on chat) join each team place a carer or service user holds,
# for the same weeks, so that each past period has the 3 answers a report needs. They are on
# teams that already count as having someone on the team, so the weekly figures do not change.
COMPANIONS = [("Dee Morgan", Role.SERVICE_USER), ("Sam Jones", Role.CARER)]
# Answers each past period, oldest first, one list per team place: feeling more involved lately.
DEMO_ANSWERS = [
    [NOT_REALLY, SOMEWHAT, NOT_AT_ALL],
    [SOMEWHAT, NOT_REALLY, SOMEWHAT],
    [A_LOT, SOMEWHAT, NOT_REALLY],
    [A_LOT, A_LOT, SOMEWHAT],
]
# What the person who comments on each team said each period, oldest first: (first team's,
# second team's); a comment is optional, and organisers see them without names.
DEMO_COMMENTS = [
    ("I would like the papers a few days before the meeting.", None),
    (None, "Meetings at 9am are hard for me as a carer."),
    ("The team changed the leaflet after what I said.", None),
    ("I feel listened to now.", "They moved the meeting to the afternoon for me."),
]


def seed_involvement_answers(ctx: Context) -> None:
    """Companions beside each carer or service user on a team, and their past periods' answers.

    This period's question is left unanswered: it is the one a newcomer answers in the console.
    """
    now = ctx.now()
    this_period = period_start(now.astimezone(ctx.timezone).date())
    with ctx.sessions.begin() as session:
        places = list(
            session.scalars(
                select(Membership)
                .where(
                    Membership.involvement == Involvement.TEAM_MEMBER,
                    Membership.role.in_(sorted(LIVED_EXPERIENCE_ROLES)),
                )
                .order_by(Membership.joined_at)
            )
        )
        companions = [Person(display_name=name, created_at=now) for name, _role in COMPANIONS]
        session.add_all(companions)
        session.flush()
        for speaker, place in enumerate(places):
            lead_id = place.project.lead_person_id
            team = [place]
            for companion, (_name, role) in zip(companions, COMPANIONS, strict=True):
                joined = add_membership(
                    session,
                    project_id=place.project_id,
                    person_id=companion.id,
                    role=role,
                    involvement=Involvement.TEAM_MEMBER,
                    consent_by_id=lead_id or companion.id,
                    now=place.joined_at,
                )
                joined.left_at = place.left_at
                team.append(joined)
            # One person on each team says something, a different one on each.
            team_speaker = 1 + speaker % len(COMPANIONS)
            _answer_past_periods(session, team, this_period, lead_id, ctx.timezone, team_speaker)


def _answer_past_periods(
    session: Session,
    team: list[Membership],
    this_period: date,
    lead_id: int | None,
    zone: tzinfo,
    speaker: int,
) -> None:
    """Each team place answers once in every past period it was on the team for.

    The team place at `speaker` adds a comment, when there is one for the period.
    """
    first = team[0]
    start = period_start(first.joined_at.astimezone(zone).date())
    left = first.left_at
    last = period_start(left.astimezone(zone).date()) if left else this_period
    while start <= last and start < this_period:
        asked = datetime.combine(start, time(10), tzinfo=zone)
        asked = max(asked, first.joined_at)
        # By how long ago the period was, so every team feels more involved in later periods.
        ago = (this_period - start).days // (7 * DEFAULT_EVERY_WEEKS)
        answers = DEMO_ANSWERS[max(len(DEMO_ANSWERS) - ago, 0)]
        said = DEMO_COMMENTS[max(len(DEMO_COMMENTS) - ago, 0)][(speaker - 1) % 2]
        for number, (place, answer) in enumerate(zip(team, answers, strict=True)):
            session.add(
                InvolvementAnswer(
                    membership_id=place.id,
                    person_id=place.person_id,
                    project_id=place.project_id,
                    period=period_key(start),
                    period_start=start,
                    answer=answer,
                    comment=said if number == speaker else None,
                    asked_at=asked,
                    answered_at=asked + timedelta(days=2),
                    # The companions are not on chat: their lead recorded what they said.
                    recorded_by_id=lead_id if number else None,
                )
            )
        start += timedelta(weeks=DEFAULT_EVERY_WEEKS)
