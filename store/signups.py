"""People who sign themselves up on a forum's public page: their person, membership and address."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, cast, delete, exists, literal, select
from sqlalchemy.orm import Session

from store import contacts, outbox
from store.models import (
    ChatIdentity,
    Delivery,
    ForumMember,
    Membership,
    OutsideContact,
    Person,
    Rsvp,
)
from store.roles import Role

# The outbox kind of the confirmation message (handlers.forum.public_signup sends it).
CONFIRM_KIND = "confirm_contact"


@dataclass(frozen=True)
class SignedUp:
    """What a sign-up did: whose contact it is, and whether it still needs confirming."""

    person_id: int
    contact_id: int
    new_person: bool
    unconfirmed: bool
    # An address already confirmed, signed up to a forum it is not in: its owner is asked.
    to_join: bool = False


def sign_up(
    session: Session,
    *,
    forum_id: int,
    name: str,
    method: str,
    address: str,
    role: Role | None,
    now: datetime,
) -> SignedUp:
    """Add someone who signed up themselves: unconfirmed until they follow the link sent.

    An address already kept is never given a second person. While it is unconfirmed, the
    sign-up adds them to this forum too (the confirmation covers both); once confirmed, nothing
    changes, since whoever typed it may not be its owner.
    """
    known = contacts.contact_at(session, method, address)
    if known is not None:
        unconfirmed = known.confirmed_at is None
        member = _current_member(session, forum_id, known.person_id)
        if unconfirmed and member is None:
            session.add(
                ForumMember(forum_id=forum_id, person_id=known.person_id, role=role, joined_at=now)
            )
        # Confirmed, in other forums only: its owner is asked (whoever typed it may not be).
        # Stopped: nothing, ever, until they ask an organiser.
        asks = not unconfirmed and member is None and known.stopped_at is None
        return SignedUp(
            known.person_id, known.id, new_person=False, unconfirmed=unconfirmed, to_join=asks
        )
    person = Person(display_name=name, created_at=now)
    session.add(person)
    session.flush()
    session.add(ForumMember(forum_id=forum_id, person_id=person.id, role=role, joined_at=now))
    contact = OutsideContact(
        person_id=person.id,
        method=method,
        address=address,
        consent_recorded_by_id=None,  # they gave it themselves, on the page
        consent_recorded_at=now,
        created_at=now,
    )
    session.add(contact)
    session.flush()
    return SignedUp(person.id, contact.id, new_person=True, unconfirmed=True)


def _current_member(session: Session, forum_id: int, person_id: int) -> ForumMember | None:
    return session.scalar(
        select(ForumMember).where(
            ForumMember.forum_id == forum_id,
            ForumMember.person_id == person_id,
            ForumMember.left_at.is_(None),
        )
    )


def join_forum(
    session: Session, person_id: int, forum_id: int, role: Role | None, *, now: datetime
) -> bool:
    """Add a person whose address is confirmed to one more forum; False if already in it."""
    if _current_member(session, forum_id, person_id) is not None:
        return False
    session.add(ForumMember(forum_id=forum_id, person_id=person_id, role=role, joined_at=now))
    return True


def confirm_contact(session: Session, person_id: int, *, now: datetime) -> bool | None:
    """Mark the person's address as theirs: True if newly confirmed, False if it was already.

    None if there is no address for them (erased, or removed by an organiser).
    """
    contact = session.scalar(select(OutsideContact).where(OutsideContact.person_id == person_id))
    if contact is None:
        return None
    if contact.confirmed_at is not None:
        return False
    contact.confirmed_at = now
    return True


def unconfirmed_contact(session: Session, person_id: int) -> OutsideContact | None:
    """The person's address if it still waits for confirmation and they have not said stop."""
    return session.scalar(
        select(OutsideContact).where(
            OutsideContact.person_id == person_id,
            OutsideContact.confirmed_at.is_(None),
            OutsideContact.stopped_at.is_(None),
        )
    )


def forget_unconfirmed(session: Session, *, before: datetime) -> int:
    """Delete the people who signed up on the page before then and never confirmed; how many.

    Their confirmation link has run out, so the address may not even be theirs: nothing about
    them is kept (not even the digest erasure keeps: they may sign up again). Only people with
    nothing else here: no chat account, no team place, no answer to a meeting.
    """
    # A sign-up made again sends a new link: they are kept while the last one works.
    recipient = literal("person:") + cast(OutsideContact.person_id, String)
    recent_link = exists().where(
        Delivery.recipient == recipient,
        Delivery.kind == CONFIRM_KIND,
        Delivery.created_at >= before,
    )
    doomed = list(
        session.scalars(
            select(OutsideContact.person_id).where(
                OutsideContact.confirmed_at.is_(None),
                OutsideContact.consent_recorded_by_id.is_(None),
                OutsideContact.created_at < before,
                ~recent_link,
                ~exists().where(ChatIdentity.person_id == OutsideContact.person_id),
                ~exists().where(Membership.person_id == OutsideContact.person_id),
                ~exists().where(Rsvp.person_id == OutsideContact.person_id),
            )
        )
    )
    if not doomed:
        return 0
    recipients = [outbox.person_recipient(person_id) for person_id in doomed]
    session.execute(delete(Delivery).where(Delivery.recipient.in_(recipients)))
    for model in (OutsideContact, ForumMember):
        session.execute(delete(model).where(model.person_id.in_(doomed)))
    session.execute(delete(Person).where(Person.id.in_(doomed)))
    return len(doomed)
