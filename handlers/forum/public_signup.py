"""Signing up to a forum on its public web page, and the message that confirms the address.

Only forums with `public_signup` on have the page. Nothing but the confirmation goes to an
address typed there until its owner follows the link in it: anyone can type anyone's address.
The page says the same whether or not the address was known, so it tells nobody who is on a list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers.core import ids
from handlers.core.context import Context
from handlers.core.reply import Button, Reply, Section
from store import contacts, outbox, signups
from store import forums as forum_store
from store.audit import record
from store.models import NAME_MAX, Forum
from store.names import clean_name, name_key
from store.roles import Role

CONFIRM_CONTACT = signups.CONFIRM_KIND
CONFIRM_LABEL = "Yes, this is my address"
JOIN_LABEL = "Yes, add me"
UNSAID = "unsaid"
# The roles offered on the page, in the order shown; "unsaid" stores no role.
ROLE_CHOICES: tuple[tuple[str, str], ...] = (
    (Role.SERVICE_USER.value, "Someone who uses the services"),
    (Role.CARER.value, "A carer, family member or friend"),
    (Role.PEER_SUPPORTER.value, "A peer supporter"),
    (Role.STAFF.value, "Staff"),
    (Role.OTHER.value, "Something else"),
    (UNSAID, "I'd rather not say"),
)
METHOD_CHOICES: tuple[tuple[str, str], ...] = (
    (contacts.EMAIL, "By e-mail"),
    (contacts.TEXT, "By text message"),
)
ADDRESS_MAX = 320


@dataclass(frozen=True)
class SignupForum:
    """A forum whose sign-up page is open."""

    id: int
    name: str


@dataclass
class SignupForm:
    """What was typed on the page, and what is wrong with it (field name -> kind message)."""

    name: str = ""
    method: str = ""
    address: str = ""
    role: str = ""
    consent: bool = False
    errors: dict[str, str] = field(default_factory=dict)


def signup_forum(ctx: Context, key: str) -> SignupForum | None:
    """The forum with this name key, if its public sign-up page is turned on."""
    with ctx.sessions() as session:
        forum = session.scalar(select(Forum).where(Forum.name_key == name_key(key)))
        if forum is None or not forum.public_signup:
            return None
        return SignupForum(forum.id, forum.name)


def read_form(values: Mapping[str, str]) -> SignupForm:
    """The typed values, checked; errors name each field to put right, in plain words."""
    form = SignupForm(
        name=values.get("name", "").strip()[: NAME_MAX * 2],
        method=values.get("method", ""),
        address=values.get("address", "").strip()[: ADDRESS_MAX * 2],
        role=values.get("role", ""),
        consent=values.get("consent") == "yes",
    )
    name = clean_name(form.name)
    if not name:
        form.errors["name"] = "Enter your name"
    elif len(name) > NAME_MAX:
        form.errors["name"] = f"Your name must be {NAME_MAX} characters or fewer"
    if form.method not in contacts.METHODS:
        form.errors["method"] = "Choose how you'd like to hear from us"
    if not form.address:
        form.errors["address"] = (
            "Enter your mobile number"
            if form.method == contacts.TEXT
            else "Enter your e-mail address"
            if form.method == contacts.EMAIL
            else "Enter your e-mail address or mobile number"
        )
    elif form.method in contacts.METHODS:
        try:
            contacts.tidy_address(form.method, form.address)
        except contacts.BadAddress:
            form.errors["address"] = (
                "Enter an e-mail address in the right form, like name@example.com"
                if form.method == contacts.EMAIL
                else "Enter a UK mobile number, like 07700 900123"
            )
    if form.role not in {value for value, _ in ROLE_CHOICES}:
        form.errors["role"] = "Choose the answer that fits you best, or 'I'd rather not say'"
    if not form.consent:
        form.errors["consent"] = "Tick the box to say we may contact you"
    return form


def sign_up(ctx: Context, forum: SignupForum, form: SignupForm) -> None:
    """Record a checked sign-up and plan the confirmation message (one a day per address)."""
    assert not form.errors
    address = contacts.tidy_address(form.method, form.address)
    role = None if form.role == UNSAID else Role(form.role)
    now = ctx.now()
    with ctx.sessions.begin() as session:
        if session.get(Forum, forum.id) is None:
            return  # removed meanwhile: nothing to join
        if form.method == contacts.EMAIL and contacts.on_chat_at(session, address):
            # They see the forum in chat: a second, outside record would count them twice.
            # The page reads the same as for anyone, so it tells nobody who uses chat here.
            return
        done = signups.sign_up(
            session,
            forum_id=forum.id,
            name=clean_name(form.name),
            method=form.method,
            address=address,
            role=role,
            now=now,
        )
        if done.new_person:
            record(
                session,
                at=now,
                actor_id=done.person_id,
                action="forum.signed_up_by_page",
                subject_type="forum",
                subject_id=forum.id,
            )
        # Keyed by the day: however often the form is sent, one message a day at most.
        day = now.astimezone(ctx.timezone).date().isoformat()
        if done.unconfirmed:
            outbox.plan_message_to(
                session,
                done.person_id,
                CONFIRM_CONTACT,
                f"confirm:{done.contact_id}:{day}",
                {"forum": forum.id},
                now=now,
            )
        elif done.to_join:
            outbox.plan_message_to(
                session,
                done.person_id,
                CONFIRM_CONTACT,
                f"join:{done.contact_id}:{forum.id}:{day}",
                {"forum": forum.id, "join": form.role},
                now=now,
            )


def render_confirm_contact(
    session: Session, ctx: Context, delivery: outbox.Claimed
) -> Reply | None:
    """'Is this your address?': only to an address still waiting to be confirmed."""
    person_id = outbox.recipient_person_id(delivery.recipient)
    if person_id is None:
        return None
    if "join" in delivery.payload:
        return _render_join(session, person_id, delivery.payload)
    if signups.unconfirmed_contact(session, person_id) is None:
        return None
    forum = session.get(Forum, delivery.payload.get("forum"))
    about = f"the {forum.name}" if forum is not None else "the QI forum"
    return Reply(
        sections=(
            Section(
                heading="Please confirm your address",
                text=(
                    f"Someone, we hope you, signed up to hear about {about} at this address."
                    " If it was you, please open the link below and press the button. "
                    "If it wasn't you, you need do nothing: unless it is confirmed, we delete "
                    "this address in about a week."
                ),
                buttons=(Button(CONFIRM_LABEL, ids.CONFIRM_CONTACT, primary=True),),
            ),
        )
    )


def _render_join(session: Session, person_id: int, payload: dict[str, Any]) -> Reply | None:
    """'Hear about this forum too?': to a confirmed address signed up to one more forum."""
    contact = contacts.contact_of(session, person_id)
    forum = session.get(Forum, payload.get("forum"))
    if contact is None or contact.confirmed_at is None or contact.stopped_at is not None:
        return None
    if forum is None or forum_store.current_forum_member(session, forum.id, person_id):
        return None  # gone, or they are in it already
    role = str(payload.get("join") or "")
    return Reply(
        sections=(
            Section(
                heading=f"Would you like to hear about the {forum.name} too?",
                text=(
                    f"Someone, we hope you, asked on its web page for this address to hear about "
                    f"the {forum.name}'s meetings as well. If it was you, please open the link "
                    "below and press the button. If it wasn't you, you need do nothing."
                ),
                buttons=(
                    Button(
                        JOIN_LABEL,
                        ids.CONFIRM_CONTACT,
                        f"{forum.id}:{'' if role == UNSAID else role}",
                        primary=True,
                    ),
                ),
            ),
        )
    )
