"""Setting the scene for handler tests: rows a conversation assumes already exist.

Plain functions rather than fixtures, so each test says in its own words what it starts from.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from handlers.core.context import Context
from handlers.core.reply import Actor, Reply
from handlers.forum.meetings import add_meeting
from store import people
from store.forums import create_forum
from store.models import (
    Base,
    ChatIdentity,
    Forum,
    ForumMember,
    Membership,
    OutsideContact,
    Person,
    Project,
)
from store.names import clean_name, name_key, site_key
from store.project_words import index_words
from store.roles import Involvement, ProjectStatus, Role


def person_id(sessions: sessionmaker[Session], actor: Actor, now: datetime) -> int:
    """The actor's person id, creating the person as first contact would."""
    with sessions.begin() as session:
        return people.ensure_person_for_identity(
            session,
            platform=actor.platform,
            workspace=actor.workspace,
            user_id=actor.user_id,
            display_name=actor.display_name,
            now=now,
        ).id


def organiser(sessions: sessionmaker[Session], actor: Actor, now: datetime) -> int:
    """Make the actor a forum organiser (admin); returns their person id."""
    pid = person_id(sessions, actor, now)
    with sessions.begin() as session:
        people.grant_admin(session, pid, by_id=None, now=now)
    return pid


def forum(
    sessions: sessionmaker[Session],
    now: datetime,
    name: str = "QI Forum",
    *,
    channel: str | None = None,
) -> int:
    """A forum with this name (announcing in `channel`, if given); returns its id."""
    with sessions.begin() as session:
        return create_forum(session, name=name, channel=channel, now=now).id


def meeting(ctx: Context, forum_id: int, starts_at: datetime, location: str | None = None) -> int:
    """A forum meeting, added the way an organiser would; returns its id."""
    with ctx.sessions.begin() as session:
        found = session.get(Forum, forum_id)
        assert found is not None
        return add_meeting(session, ctx, found, starts_at, location, None).id


def row_counts(sessions: sessionmaker[Session]) -> dict[str, int]:
    """How many rows every table holds: a refusal must leave this unchanged."""
    with sessions() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
        }


def project_id(sessions: sessionmaker[Session], name: str) -> int:
    """The id of the project with exactly this name."""
    with sessions() as session:
        found = session.scalar(select(Project.id).where(Project.name == name))
        assert found is not None, f"no project {name!r}"
        return found


def team_rows(sessions: sessionmaker[Session], project_name: str) -> list[tuple]:
    """Every membership of the project, left ones too: (name, role, involvement, left_at)."""
    with sessions() as session:
        rows = session.execute(
            select(Person.display_name, Membership.role, Membership.involvement, Membership.left_at)
            .join(Person, Person.id == Membership.person_id)
            .join(Project, Project.id == Membership.project_id)
            .where(Project.name == project_name)
            .order_by(Membership.id)
        )
        return [tuple(row) for row in rows]


def labels(reply: Reply) -> list[str]:
    """The labels of the buttons a reply offers, in order."""
    return [button.label for button in reply.buttons]


def many_people(
    sessions: sessionmaker[Session], names: Sequence[str], now: datetime, *, on_chat: bool = True
) -> list[int]:
    """People with these names (on console chat, unless not `on_chat`), in one insert each."""
    if not names:
        return []
    with sessions.begin() as session:
        ids = list(
            session.scalars(
                insert(Person).returning(Person.id, sort_by_parameter_order=True),
                [{"display_name": name, "created_at": now} for name in names],
            )
        )
        if on_chat and ids:
            session.execute(
                insert(ChatIdentity),
                [
                    {
                        "person_id": pid,
                        "platform": "console",
                        "workspace": "local",
                        "user_id": f"p{pid}",
                    }
                    for pid in ids
                ],
            )
        return ids


def many_projects(
    sessions: sessionmaker[Session],
    names: Sequence[str],
    now: datetime,
    *,
    lead_id: int | None,
    status: ProjectStatus = ProjectStatus.ACTIVE,
    site: str | None = None,
) -> list[int]:
    """Projects with these names, led by `lead_id`, in one insert; their ids in order."""
    if not names:
        return []
    with sessions.begin() as session:
        ids = list(
            session.scalars(
                insert(Project).returning(Project.id, sort_by_parameter_order=True),
                [
                    {
                        "name": clean_name(name),
                        "name_key": name_key(name),
                        "status": status,
                        "site": site,
                        "site_key": site_key(site),
                        "lead_person_id": lead_id,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for name in names
                ],
            )
        )
        index_words(session, ids)  # a Core insert passes by the ORM's events
        return ids


def many_members(
    sessions: sessionmaker[Session],
    project: int,
    people_roles: Sequence[tuple[int, Role]],
    now: datetime,
    *,
    involvement: Involvement = Involvement.TEAM_MEMBER,
) -> None:
    """Put these people on the project's team in these roles, in one insert."""
    if not people_roles:
        return
    with sessions.begin() as session:
        session.execute(
            insert(Membership),
            [
                {
                    "project_id": project,
                    "person_id": pid,
                    "role": role,
                    "involvement": involvement,
                    "consent_recorded_at": now,
                    "joined_at": now,
                }
                for pid, role in people_roles
            ],
        )


def realistic_names(count: int) -> list[str]:
    """Different names of the kind a register holds: "Reducing falls on ward 12 2024"."""
    aims = ["Reducing", "Improving", "Safer", "Earlier"]
    topics = ["falls", "sepsis screening", "hand hygiene", "discharge planning", "mouth care"]
    names = [
        f"{aim} {topic} on ward {ward} {year}"
        for year in range(2015, 2027)
        for ward in range(1, 30)
        for aim in aims
        for topic in topics
    ]
    return names[:count]


# --- issue 18: people outside chat -------------------------------------------------------------


def outside_member(
    sessions: sessionmaker[Session],
    forum_id: int,
    name: str,
    now: datetime,
    *,
    method: str = "email",
    address: str = "carer@example.org",
    role: Role = Role.CARER,
    confirmed: bool = True,
    stopped: bool = False,
) -> int:
    """A forum member who is not on chat, reached by e-mail or text; returns their person id."""
    with sessions.begin() as session:
        someone = Person(display_name=name, created_at=now)
        session.add(someone)
        session.flush()
        session.add_all(
            [
                ForumMember(forum_id=forum_id, person_id=someone.id, role=role, joined_at=now),
                OutsideContact(
                    person_id=someone.id,
                    method=method,
                    address=address,
                    consent_recorded_at=now,
                    confirmed_at=now if confirmed else None,
                    stopped_at=now if stopped else None,
                    created_at=now,
                ),
            ]
        )
        return someone.id
