"""Setting the scene for handler tests: rows a conversation assumes already exist.

Plain functions rather than fixtures, so each test says in its own words what it starts from.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from handlers.context import Context
from handlers.forum import add_meeting
from handlers.reply import Actor, Reply
from store import people
from store.forums import create_forum
from store.models import Base, Forum, Membership, Person, Project


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


def forum(sessions: sessionmaker[Session], now: datetime, name: str = "QI Forum") -> int:
    """A forum with this name; returns its id."""
    with sessions.begin() as session:
        return create_forum(session, name=name, channel=None, now=now).id


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
