"""Queries about people and their chat identities."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import bindparam, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.models import AdminGrant, ChatIdentity, Person, Project
from store.names import clean_name

_SAME_IDENTITY = (
    ChatIdentity.platform == bindparam("platform"),
    ChatIdentity.workspace == bindparam("workspace"),
    ChatIdentity.user_id == bindparam("user_id"),
)
# Built once: every chat request asks this, and rebuilding a statement costs more than running it.
_BY_IDENTITY = select(Person).join(ChatIdentity).where(*_SAME_IDENTITY)
# The same one query, with the identity row too: what acting_person keeps up to date.
_IDENTITY_AND_PERSON = (
    select(ChatIdentity, Person)
    .join(Person, Person.id == ChatIdentity.person_id)
    .where(*_SAME_IDENTITY)
)


def email_digest(email: str | None) -> str | None:
    """The SHA-256 hex of an address, lowercased and stripped; None if there is none."""
    tidy = (email or "").strip().lower()
    return hashlib.sha256(tidy.encode("utf-8")).hexdigest() if tidy else None


def find_by_identity(
    session: Session, platform: str, workspace: str, user_id: str
) -> Person | None:
    """The person with this chat identity, if we know them."""
    return session.scalar(
        _BY_IDENTITY, {"platform": platform, "workspace": workspace, "user_id": user_id}
    )


def find_identity(
    session: Session, platform: str, workspace: str, user_id: str
) -> tuple[ChatIdentity, Person] | None:
    """The chat identity and its person, in one query, if we know them."""
    row = session.execute(
        _IDENTITY_AND_PERSON, {"platform": platform, "workspace": workspace, "user_id": user_id}
    ).first()
    return None if row is None else (row[0], row[1])


def note_activity(identity: ChatIdentity, *, email_sha256: str | None, today: date) -> None:
    """Keep the identity's verified-address digest and last active day; no write if unchanged."""
    # Plain comparisons on the row already loaded: the common request writes nothing at all.
    if email_sha256 is not None and identity.email_sha256 != email_sha256:
        identity.email_sha256 = email_sha256
    if identity.last_active_on != today:
        identity.last_active_on = today


def _new_identity(
    platform: str, workspace: str, user_id: str, email_sha256: str | None, active_on: date | None
) -> ChatIdentity:
    return ChatIdentity(
        platform=platform,
        workspace=workspace,
        user_id=user_id,
        email_sha256=email_sha256,
        last_active_on=active_on,
    )


def ensure_person_for_identity(
    session: Session,
    *,
    platform: str,
    workspace: str,
    user_id: str,
    display_name: str,
    now: datetime,
    email_sha256: str | None = None,
    active_on: date | None = None,
) -> Person:
    """The person behind a chat identity, created on first contact; keeps the name fresh.

    `email_sha256` and `active_on` are stored on an identity created here.
    """
    name = clean_name(display_name) or user_id
    person = find_by_identity(session, platform, workspace, user_id)
    if person is None:
        try:
            # A double click or a platform retry can race us to the first contact; the
            # identity's unique constraint decides, and the loser uses the winner's row.
            with session.begin_nested():
                person = Person(display_name=name, created_at=now)
                person.identities.append(
                    _new_identity(platform, workspace, user_id, email_sha256, active_on)
                )
                session.add(person)
        except IntegrityError:
            person = find_by_identity(session, platform, workspace, user_id)
            if person is None:
                raise
    if person.display_name != name:
        person.display_name = name
    return person


def link_identity(
    session: Session,
    person: Person,
    *,
    platform: str,
    workspace: str,
    user_id: str,
    email_sha256: str | None = None,
    active_on: date | None = None,
) -> bool:
    """Give an existing person a chat identity; False if another request just did."""
    try:
        # The same race as a first contact: the unique constraint decides who links.
        with session.begin_nested():
            person.identities.append(
                _new_identity(platform, workspace, user_id, email_sha256, active_on)
            )
    except IntegrityError:
        return False
    return True


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


def find_by_email_digest(session: Session, email_sha256: str, *, not_on: str) -> Person | None:
    """The one person with this verified-address digest on a platform other than `not_on`.

    None when nobody has it, or when several people do: we never guess between them.
    """
    found = list(
        session.scalars(
            select(ChatIdentity.person_id)
            .where(ChatIdentity.email_sha256 == email_sha256, ChatIdentity.platform != not_on)
            .distinct()
            .order_by(ChatIdentity.person_id)
            .limit(2)
        )
    )
    return session.get(Person, found[0]) if len(found) == 1 else None


def preferred_platform(session: Session, person_id: int, platforms: Sequence[str]) -> str | None:
    """Of the person's identities on these platforms, the platform they used most recently.

    An identity never seen active counts oldest; a tie goes to the platform listed first.
    None when they have no identity on any of them.
    """
    if not platforms:
        return None
    rows = session.execute(
        select(ChatIdentity.platform, ChatIdentity.last_active_on).where(
            ChatIdentity.person_id == person_id, ChatIdentity.platform.in_(list(platforms))
        )
    ).all()
    if not rows:
        return None
    order = {platform: index for index, platform in enumerate(platforms)}
    best = max(rows, key=lambda row: (row.last_active_on or date.min, -order[row.platform]))
    return str(best.platform)


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
