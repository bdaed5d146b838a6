"""Queries about people and their chat identities."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.models import AdminGrant, ChatIdentity, Person, Project
from store.names import clean_name

# Built once: every chat request asks this, and rebuilding a statement costs more than running it.
_BY_IDENTITY = (
    select(Person)
    .join(ChatIdentity)
    .where(
        ChatIdentity.platform == bindparam("platform"),
        ChatIdentity.workspace == bindparam("workspace"),
        ChatIdentity.user_id == bindparam("user_id"),
    )
)


def find_by_identity(
    session: Session, platform: str, workspace: str, user_id: str
) -> Person | None:
    """The person with this chat identity, if we know them."""
    return session.scalar(
        _BY_IDENTITY, {"platform": platform, "workspace": workspace, "user_id": user_id}
    )


def ensure_person_for_identity(
    session: Session,
    *,
    platform: str,
    workspace: str,
    user_id: str,
    display_name: str,
    now: datetime,
) -> Person:
    """The person behind a chat identity, created on first contact; keeps the name fresh."""
    name = clean_name(display_name) or user_id
    person = find_by_identity(session, platform, workspace, user_id)
    if person is None:
        try:
            # A double click or a platform retry can race us to the first contact; the
            # identity's unique constraint decides, and the loser uses the winner's row.
            with session.begin_nested():
                person = Person(display_name=name, created_at=now)
                person.identities.append(
                    ChatIdentity(platform=platform, workspace=workspace, user_id=user_id)
                )
                session.add(person)
        except IntegrityError:
            person = find_by_identity(session, platform, workspace, user_id)
            if person is None:
                raise
    if person.display_name != name:
        person.display_name = name
    return person


def find_unlinked_lead(
    session: Session, *, email: str | None = None, name: str | None = None
) -> Person | None:
    """The one person with no chat identity who leads a project (imported), by e-mail or name."""
    query = (
        select(Person)
        .where(
            ~exists().where(ChatIdentity.person_id == Person.id),
            exists().where(Project.lead_person_id == Person.id),
        )
        .order_by(Person.id)
        .limit(2)
    )
    if email:
        query = query.where(func.lower(Person.email) == email.strip().lower())
    elif name:
        query = query.where(func.lower(Person.display_name) == clean_name(name).lower())
    else:
        return None
    found = list(session.scalars(query))
    return found[0] if len(found) == 1 else None


def link_identity(
    session: Session, person: Person, *, platform: str, workspace: str, user_id: str
) -> None:
    """Give an existing person a chat identity."""
    person.identities.append(ChatIdentity(platform=platform, workspace=workspace, user_id=user_id))
    session.flush()


def find_by_name(session: Session, name: str) -> list[Person]:
    """People whose display name is `name`, ignoring case."""
    return list(
        session.scalars(
            select(Person)
            .where(func.lower(Person.display_name) == clean_name(name).lower())
            .order_by(Person.id)
        )
    )


def find_by_email(session: Session, email: str) -> Person | None:
    """The person with this e-mail address, ignoring case."""
    return session.scalar(
        select(Person).where(func.lower(Person.email) == email.strip().lower()).order_by(Person.id)
    )


def is_admin(session: Session, person_id: int) -> bool:
    """Whether the person currently holds the admin (forum organiser) role."""
    return (
        session.scalar(
            select(AdminGrant.id).where(
                AdminGrant.person_id == person_id, AdminGrant.revoked_at.is_(None)
            )
        )
        is not None
    )


def list_admins(session: Session) -> list[Person]:
    """Everyone who currently holds the admin role."""
    return list(
        session.scalars(
            select(Person)
            .join(AdminGrant, AdminGrant.person_id == Person.id)
            .where(AdminGrant.revoked_at.is_(None))
            .order_by(Person.display_name)
        )
    )


def grant_admin(session: Session, person_id: int, *, by_id: int | None, now: datetime) -> bool:
    """Make the person an admin; False if they already were."""
    if is_admin(session, person_id):
        return False
    session.add(AdminGrant(person_id=person_id, granted_by_id=by_id, granted_at=now))
    session.flush()
    return True


def revoke_admin(session: Session, person_id: int, *, now: datetime) -> bool:
    """Take the admin role away; False if they did not have it."""
    grant = session.scalar(
        select(AdminGrant).where(AdminGrant.person_id == person_id, AdminGrant.revoked_at.is_(None))
    )
    if grant is None:
        return False
    grant.revoked_at = now
    return True


def identity_on(session: Session, person_id: int, platform: str) -> ChatIdentity | None:
    """The person's account on a platform, if they have one."""
    return session.scalar(
        select(ChatIdentity)
        .where(ChatIdentity.person_id == person_id, ChatIdentity.platform == platform)
        .order_by(ChatIdentity.id)
    )
