"""Stopping messages, and confirming an address, from a link in an e-mail or text."""

from __future__ import annotations

from enum import Enum

from handlers.core.context import Context
from store import contacts, signups
from store.audit import record
from store.models import Forum
from store.roles import Role


class Outcome(Enum):
    """What pressing the page's button did."""

    DONE = "done"  # changed now
    ALREADY = "already"  # it was so already: nothing changed
    NO_ADDRESS = "no_address"  # we keep no address for them (erased, or removed)


def stop_by_link(ctx: Context, person_id: int) -> Outcome:
    """Send the person nothing more by e-mail or text."""
    with ctx.sessions.begin() as session:
        if contacts.contact_of(session, person_id) is None:
            return Outcome.NO_ADDRESS
        if not contacts.stop_messages(session, person_id, now=ctx.now()):
            return Outcome.ALREADY
        record(
            session,
            at=ctx.now(),
            actor_id=person_id,
            action="contact.stopped",
            subject_type="person",
            subject_id=person_id,
        )
        return Outcome.DONE


def confirm_by_link(
    ctx: Context, person_id: int, forum_id: int | None = None, role: str | None = None
) -> Outcome:
    """Note that the address the person signed up with is theirs: messages may go to it now.

    With a forum: its owner agrees to hear about one more forum too, in `role` (a Role's value).
    """
    with ctx.sessions.begin() as session:
        confirmed = signups.confirm_contact(session, person_id, now=ctx.now())
        if confirmed is None:
            return Outcome.NO_ADDRESS
        if forum_id is not None:
            joined = session.get(Forum, forum_id) is not None and signups.join_forum(
                session, person_id, forum_id, _role(role), now=ctx.now()
            )
            confirmed = confirmed or joined
        if not confirmed:
            return Outcome.ALREADY
        record(
            session,
            at=ctx.now(),
            actor_id=person_id,
            action="contact.confirmed",
            subject_type="person",
            subject_id=person_id,
        )
        return Outcome.DONE


def _role(value: str | None) -> Role | None:
    """The role a link carries; none if it carries none (or one no longer known)."""
    try:
        return Role(value) if value else None
    except ValueError:
        return None
