"""How people outside chat are reached: their e-mail address or mobile number, with consent."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from store.models import ChatIdentity, ForumMember, OutsideContact

EMAIL = "email"
TEXT = "text"
METHODS = (EMAIL, TEXT)
# Numbers typed without a country code are taken as UK numbers.
DEFAULT_REGION = "GB"


class BadAddress(ValueError):
    """An address that cannot be used; the message says why, kindly, for the person typing."""


def tidy_email(text: str) -> str:
    """The address in its usual form; BadAddress if it cannot be an e-mail address."""
    try:
        # No DNS look-up: these machines (and many trust networks) cannot make one.
        return validate_email(text.strip(), check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise BadAddress(
            f"{text.strip()!r} doesn't look like an e-mail address ({error})."
        ) from None


def tidy_mobile(text: str) -> str:
    """A mobile number in international form (+447700900123); BadAddress if it is not one."""
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


def reachable_members(session: Session, forum_ids: Sequence[int]) -> list[tuple[int, int]]:
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
