"""How people outside chat are reached: their e-mail address or mobile number, with consent."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from store.models import ChatIdentity, ForumMember, OutsideContact, Person
from store.people import email_digest
from store.roles import Role

if TYPE_CHECKING:
    import phonenumbers

EMAIL = "email"
TEXT = "text"
METHODS = (EMAIL, TEXT)
# Numbers typed without a country code are taken as UK numbers.
DEFAULT_REGION = "GB"


class BadAddress(ValueError):
    """An address that cannot be used; the message says why, kindly, for the person typing."""


def tidy_email(text: str) -> str:
    """The address in its usual form; BadAddress if it cannot be an e-mail address."""
    # Loaded when an address is typed: every command reaches this module, few add anyone.
    from email_validator import EmailNotValidError, validate_email

    try:
        # No DNS look-up: these machines (and many trust networks) cannot make one.
        return validate_email(text.strip(), check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise BadAddress(
            f"{text.strip()!r} doesn't look like an e-mail address ({error})."
        ) from None


def tidy_mobile(text: str) -> str:
    """A mobile number in international form (+447700900123); BadAddress if it is not one."""
    import phonenumbers

    try:
        number = phonenumbers.parse(text.strip(), DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        raise BadAddress(f"{text.strip()!r} doesn't look like a phone number.") from None
    if not phonenumbers.is_possible_number(number):
        raise BadAddress(f"{text.strip()!r} doesn't look like a whole phone number.")
    if not _is_mobile(number):
        raise BadAddress(f"{text.strip()!r} is not a mobile number, so it can't get text messages.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _is_mobile(number: phonenumbers.PhoneNumber) -> bool:
    import phonenumbers

    # UK mobiles all start 07 (Ofcom's range for drama and tests, 07700 900xxx, included,
    # which the library calls invalid); elsewhere, the library knows the country's plan.
    if number.country_code == 44:
        return (
            str(number.national_number).startswith("7") and len(str(number.national_number)) == 10
        )
    mobile = (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    )
    return phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) in mobile


def tidy_address(method: str, text: str) -> str:
    """An e-mail address or mobile number, checked and put in its usual form."""
    if method == EMAIL:
        return tidy_email(text)
    if method == TEXT:
        return tidy_mobile(text)
    raise BadAddress(f"{method!r} is not a way to reach someone: use email or text.")


def contact_of(session: Session, person_id: int) -> OutsideContact | None:
    """How the person is reached outside chat, if they are."""
    return session.scalar(select(OutsideContact).where(OutsideContact.person_id == person_id))


def usable() -> ColumnElement[bool]:
    """A contact messages may go to: confirmed as theirs and not stopped."""
    return and_(OutsideContact.confirmed_at.is_not(None), OutsideContact.stopped_at.is_(None))


def reachable_members(
    session: Session, forum_ids: Sequence[int], methods: Iterable[str] = METHODS
) -> list[tuple[int, int]]:
    """(forum id, person id) of the forums' current members reached by e-mail or text (one query).

    Only people with no chat identity: someone on chat reads the forum's channel.
    """
    if not forum_ids:
        return []
    rows = session.execute(
        select(ForumMember.forum_id, ForumMember.person_id)
        .join(OutsideContact, OutsideContact.person_id == ForumMember.person_id)
        .where(
            ForumMember.forum_id.in_(list(forum_ids)),
            ForumMember.left_at.is_(None),
            OutsideContact.method.in_(sorted(methods)),
            usable(),
            ~exists().where(ChatIdentity.person_id == ForumMember.person_id),
        )
        .order_by(ForumMember.forum_id, ForumMember.person_id)
    ).all()
    return [(int(forum_id), int(person_id)) for forum_id, person_id in rows]


def stop_messages(session: Session, person_id: int, *, now: datetime) -> bool:
    """Send the person nothing more; True if this stopped messages that were going."""
    contact = contact_of(session, person_id)
    if contact is None or contact.stopped_at is not None:
        return False
    contact.stopped_at = now
    return True


def asked_to_stop(session: Session, person_id: int) -> bool:
    """Whether the person, reached only outside chat, asked for no more messages."""
    return bool(
        session.scalar(
            select(OutsideContact.id).where(
                OutsideContact.person_id == person_id,
                OutsideContact.stopped_at.is_not(None),
                ~exists().where(ChatIdentity.person_id == person_id),
            )
        )
    )


# --- organisers: adding, listing and removing forum members outside chat (issue 18) ---------


def address_digest(address: str) -> str:
    """The SHA-256 of a tidied address, as erasure keeps it (store.erasure), lowercased."""
    digest = email_digest(address)
    assert digest is not None, "an address is never empty once tidied"
    return digest


def contact_at(session: Session, method: str, address: str) -> OutsideContact | None:
    """Who is reached at this tidied address already, if anyone."""
    # E-mail addresses are matched whatever their case, as every mail service delivers them.
    same = (
        func.lower(OutsideContact.address) == address.lower()
        if method == EMAIL
        else OutsideContact.address == address
    )
    return session.scalar(
        select(OutsideContact)
        .where(OutsideContact.method == method, same)
        .order_by(OutsideContact.id)
        .limit(1)
    )


def on_chat_at(session: Session, address: str) -> bool:
    """Whether someone on chat has this e-mail address, as their platform verified it."""
    digest = address_digest(address)
    found = select(ChatIdentity.id).where(ChatIdentity.email_sha256 == digest).limit(1)
    return session.scalar(found) is not None


def record_contact(
    session: Session,
    *,
    person_id: int,
    method: str,
    address: str,
    recorded_by_id: int | None,
    now: datetime,
) -> OutsideContact:
    """Record how to reach someone, confirmed at once: an organiser checked it with them."""
    contact = OutsideContact(
        person_id=person_id,
        method=method,
        address=address,
        consent_recorded_by_id=recorded_by_id,
        consent_recorded_at=now,
        confirmed_at=now,
        created_at=now,
    )
    session.add(contact)
    session.flush()
    return contact


@dataclass(frozen=True)
class MemberReach:
    """A current forum member and how messages reach them."""

    member_id: int
    person_id: int
    name: str
    role: Role | None
    on_chat: bool
    method: str | None
    address: str | None
    confirmed: bool
    stopped: bool


def members_reach(session: Session, forum_id: int) -> list[MemberReach]:
    """The forum's current members by name, each with how they are reached (one query)."""
    on_chat = exists().where(ChatIdentity.person_id == ForumMember.person_id)
    rows = session.execute(
        select(
            ForumMember.id,
            ForumMember.person_id,
            Person.display_name,
            ForumMember.role,
            on_chat,
            OutsideContact.method,
            OutsideContact.address,
            OutsideContact.confirmed_at,
            OutsideContact.stopped_at,
        )
        .join(Person, Person.id == ForumMember.person_id)
        .outerjoin(OutsideContact, OutsideContact.person_id == ForumMember.person_id)
        .where(ForumMember.forum_id == forum_id, ForumMember.left_at.is_(None))
        .order_by(Person.display_name, ForumMember.id)
    ).all()
    return [
        MemberReach(
            member_id=member_id,
            person_id=person_id,
            name=name,
            role=role,
            on_chat=bool(chat),
            method=method,
            address=address,
            confirmed=confirmed is not None,
            stopped=stopped is not None,
        )
        for member_id, person_id, name, role, chat, method, address, confirmed, stopped in rows
    ]


def has_other_forum(session: Session, person_id: int, forum_id: int) -> bool:
    """Whether the person is still a member of some forum other than this one."""
    return (
        session.scalar(
            select(ForumMember.id).where(
                ForumMember.person_id == person_id,
                ForumMember.forum_id != forum_id,
                ForumMember.left_at.is_(None),
            )
        )
        is not None
    )
