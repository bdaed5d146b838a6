"""Finding one person for an admin, exporting everything held about them, and erasing it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, select, update
from sqlalchemy.orm import Session

from handlers.args import parse_id
from handlers.errors import Refusal
from handlers.merging import PLATFORM_NAMES
from store import addresses, people
from store.audit import record
from store.merging import replace_person_in_payloads
from store.models import (
    AdminGrant,
    AuditEvent,
    ChartNote,
    ChatAddress,
    ChatIdentity,
    Delivery,
    Forum,
    ForumMember,
    MatchOffer,
    Meeting,
    Membership,
    Person,
    Project,
    Rsvp,
    SlotRequest,
)
from store.names import name_key
from store.outbox import person_recipient


def find_person(session: Session, spec: str) -> Person:
    """The person an admin means: '#12', 'platform:workspace:user', 'console:Name', e-mail, name."""
    spec = spec.strip()
    if spec.startswith("#") and parse_id(spec[1:]) is not None:
        found = session.get(Person, parse_id(spec[1:]))
        if found is None:
            raise Refusal(f"There is nobody with the number {spec}.")
        return found
    parts = _identity_parts(spec)
    if parts is not None:
        found = people.find_by_identity(session, *parts)
        if found is None:
            raise Refusal(f"Nobody has the chat identity {spec}.")
        return found
    if "@" in spec:
        found = people.find_by_email(session, spec)
        if found is None:
            raise Refusal(f"Nobody has the e-mail address {spec}.")
        return found
    matches = people.find_by_name(session, spec)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise Refusal(f'Nobody is called "{spec}".')
    numbers = ", ".join(f"#{p.id}" for p in matches)
    raise Refusal(f'{len(matches)} people are called "{spec}" ({numbers}); give the number.')


def _identity_parts(spec: str) -> tuple[str, str, str] | None:
    """(platform, workspace, user id) from 'platform:workspace:user' or 'console:Name'."""
    # At most three parts: Teams user ids have a colon of their own ("29:1a2b...").
    parts = spec.split(":", 2)
    if parts[0] == "console" and len(parts) == 2:
        parts = ["console", "local", name_key(parts[1])]
    if len(parts) == 3 and all(parts):
        return parts[0], parts[1], parts[2]
    return None


def find_person_or_address(session: Session, spec: str) -> Person | ChatAddress:
    """The person a spec names, or else the chat address of a user we hold nothing more about."""
    # Someone who installed or messaged the bot on Teams, and did nothing that made them a
    # person here, still has an address: their export and erasure must be able to find it.
    try:
        return find_person(session, spec)
    except Refusal:
        parts = _identity_parts(spec.strip())
        address = addresses.address_of(session, *parts) if parts is not None else None
        if address is None:
            raise
        return address


def _addresses_of(person_id: int) -> Select[tuple[ChatAddress]]:
    """The chat addresses of a person's identities (matched on platform, workspace and id)."""
    return (
        select(ChatAddress)
        .join(
            ChatIdentity,
            (ChatIdentity.platform == ChatAddress.platform)
            & (ChatIdentity.workspace == ChatAddress.workspace)
            & (ChatIdentity.user_id == ChatAddress.user_id),
        )
        .where(ChatIdentity.person_id == person_id)
    )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _address_export(address: ChatAddress) -> dict[str, Any]:
    return {
        "platform": address.platform,
        "workspace": address.workspace,
        "user_id": address.user_id,
        "conversation": address.dm_channel,
        "address": address.address,
    }


def _spec_of(address: ChatAddress) -> str:
    return f"{address.platform}:{address.workspace}:{address.user_id}"


def _platform_name(address: ChatAddress) -> str:
    return PLATFORM_NAMES.get(address.platform, address.platform)


def export_person(session: Session, person_id: int) -> dict[str, Any]:
    """Everything qi-nudge holds about one person, as plain data for a subject access request."""
    person = session.get(Person, person_id)
    if person is None:
        raise Refusal(f"There is nobody with the number #{person_id}.")
    identities = session.scalars(select(ChatIdentity).where(ChatIdentity.person_id == person_id))
    team_rows = session.execute(
        select(Membership, Project.name)
        .join(Project, Project.id == Membership.project_id)
        .where(Membership.person_id == person_id)
        .order_by(Membership.joined_at)
    )
    forum_rows = session.execute(
        select(ForumMember, Forum.name)
        .join(Forum, Forum.id == ForumMember.forum_id)
        .where(ForumMember.person_id == person_id)
        .order_by(ForumMember.joined_at)
    )
    rsvp_rows = session.execute(
        select(Rsvp, Meeting.starts_at, Forum.name)
        .join(Meeting, Meeting.id == Rsvp.meeting_id)
        .join(Forum, Forum.id == Meeting.forum_id)
        .where(Rsvp.person_id == person_id)
        .order_by(Meeting.starts_at)
    )
    led = session.scalars(select(Project.name).where(Project.lead_person_id == person_id))
    grants = session.scalars(select(AdminGrant).where(AdminGrant.person_id == person_id))
    actions = session.scalars(
        select(AuditEvent).where(AuditEvent.actor_person_id == person_id).order_by(AuditEvent.at)
    )
    # Erasure forgets who asked for or decided these; the topic itself is in their words.
    slot_rows = session.execute(
        select(SlotRequest, Project.name, Forum.name, Meeting.starts_at)
        .join(Project, Project.id == SlotRequest.project_id)
        .join(Meeting, Meeting.id == SlotRequest.meeting_id)
        .join(Forum, Forum.id == Meeting.forum_id)
        .where(
            (SlotRequest.requested_by_id == person_id) | (SlotRequest.decided_by_id == person_id)
        )
        .order_by(SlotRequest.id)
    )
    return {
        "person": {
            "number": person.id,
            "name": person.display_name,
            "email": person.email,
            "first_recorded": _iso(person.created_at),
            "weekly_reminders_off_since": _iso(person.nudges_muted_at),
        },
        "chat_identities": [
            {
                "platform": i.platform,
                "workspace": i.workspace,
                "user_id": i.user_id,
                "email_sha256": i.email_sha256,
                "last_active_on": i.last_active_on.isoformat() if i.last_active_on else None,
                "conversation": i.dm_channel,
            }
            for i in identities
        ],
        "chat_addresses": [_address_export(a) for a in session.scalars(_addresses_of(person_id))],
        "project_teams": [
            {
                "project": name,
                "role": m.role.label,
                "involvement": m.involvement.value.replace("_", " "),
                "consent_recorded": _iso(m.consent_recorded_at),
                "joined": _iso(m.joined_at),
                "left": _iso(m.left_at),
            }
            for m, name in team_rows
        ],
        "projects_led": list(led),
        "forums": [
            {
                "forum": name,
                "role": f.role.label if f.role else None,
                "would_like_a_project": f.wants_match,
                "joined": _iso(f.joined_at),
                "left": _iso(f.left_at),
            }
            for f, name in forum_rows
        ],
        "meeting_answers": [
            {
                "forum": forum,
                "meeting": _iso(starts),
                "answer": r.answer.value.replace("_", " "),
                "role": r.role.label if r.role else None,
                "answered": _iso(r.answered_at),
            }
            for r, starts, forum in rsvp_rows
        ],
        "forum_slots": [
            {
                "project": project,
                "forum": forum,
                "meeting": _iso(starts),
                "topic": slot.topic,
                "status": slot.status,
                "asked": _iso(slot.created_at),
                "decided": _iso(slot.decided_at),
                "asked_by_them": slot.requested_by_id == person_id,
                "decided_by_them": slot.decided_by_id == person_id,
            }
            for slot, project, forum, starts in slot_rows
        ],
        "admin_role": [
            {"granted": _iso(g.granted_at), "revoked": _iso(g.revoked_at)} for g in grants
        ],
        "project_introductions": [
            {
                "project": name,
                "as": o.role.label,
                "status": o.status.replace("_", " "),
                "offered": _iso(o.created_at),
                "last_changed": _iso(o.updated_at),
            }
            for o, name in session.execute(
                select(MatchOffer, Project.name)
                .join(Project, Project.id == MatchOffer.project_id)
                .where(MatchOffer.person_id == person_id)
                .order_by(MatchOffer.id)
            )
        ],
        "run_chart_notes_written": [
            {"date": n.on_date.isoformat(), "note": n.text, "written": _iso(n.created_at)}
            for n in session.scalars(
                select(ChartNote).where(ChartNote.created_by_id == person_id).order_by(ChartNote.id)
            )
        ],
        "messages_sent_to_them": [
            {
                "kind": d.kind,
                "status": d.status,
                "planned": _iso(d.created_at),
                "sent": _iso(d.sent_at),
                "platform": d.platform,
                "conversation": d.channel_id,
                "error": d.error,
            }
            for d in session.scalars(
                select(Delivery)
                .where(Delivery.recipient == person_recipient(person_id))
                .order_by(Delivery.id)
            )
        ],
        "actions_taken": [
            {"when": _iso(a.at), "action": a.action, "on": a.subject_type} for a in actions
        ],
    }


@dataclass(frozen=True)
class Erasure:
    """What erasing a person did, for the admin to act on."""

    person_number: int
    projects_left_without_lead: list[str]


def erase_person(session: Session, person_id: int, *, now: datetime) -> Erasure:
    """Delete a person and everything that names them; their projects keep going, lead-less."""
    person = session.get(Person, person_id)
    if person is None:
        raise Refusal(f"There is nobody with the number #{person_id}.")
    orphaned = list(
        session.scalars(
            select(Project.name).where(Project.lead_person_id == person_id).order_by(Project.name)
        )
    )
    # Set-based, and explicit rather than trusting every database's ON DELETE to be on.
    session.execute(
        update(Project).where(Project.lead_person_id == person_id).values(lead_person_id=None)
    )
    session.execute(
        update(Membership)
        .where(Membership.consent_recorded_by_id == person_id)
        .values(consent_recorded_by_id=None)
    )
    session.execute(
        update(AdminGrant).where(AdminGrant.granted_by_id == person_id).values(granted_by_id=None)
    )
    session.execute(
        update(AuditEvent)
        .where(AuditEvent.actor_person_id == person_id)
        .values(actor_person_id=None)
    )
    session.execute(
        update(ChartNote).where(ChartNote.created_by_id == person_id).values(created_by_id=None)
    )
    for column in (SlotRequest.requested_by_id, SlotRequest.decided_by_id):
        session.execute(update(SlotRequest).where(column == person_id).values({column: None}))
    # Messages to them: what was sent is on the platform (theirs to delete there); here, the
    # record that names them goes.
    session.execute(delete(Delivery).where(Delivery.recipient == person_recipient(person_id)))
    # Messages to others that name them ("Asha asked the forum..."): their number goes, or the
    # next person given it (SQLite reuses numbers) would be named instead. The message stays.
    replace_person_in_payloads(session, person_id, None)
    # How to reach them on Teams is keyed by their platform ids, not their number.
    theirs = _addresses_of(person_id).with_only_columns(ChatAddress.id)
    session.execute(delete(ChatAddress).where(ChatAddress.id.in_(theirs.scalar_subquery())))
    for model in (ChatIdentity, Membership, ForumMember, Rsvp, AdminGrant, MatchOffer):
        session.execute(delete(model).where(model.person_id == person_id))
    session.expunge(person)
    session.execute(delete(Person).where(Person.id == person_id))
    record(
        session,
        at=now,
        actor_id=None,
        action="person.erased",
        subject_type="person",
        subject_id=person_id,
    )
    return Erasure(person_number=person_id, projects_left_without_lead=orphaned)


def export_address(address: ChatAddress) -> dict[str, Any]:
    """All that is held for a chat account no person is recorded for: how to reach it."""
    return {
        "person": None,
        "note": (
            "Nobody is recorded for this chat account. qi-nudge holds only how to reach it on "
            f"{_platform_name(address)}, kept because the app was installed or messaged there: "
            "the ids below, and no name."
        ),
        "chat_addresses": [_address_export(address)],
    }


def address_erasure_warning(address: ChatAddress) -> str:
    """What erasing a chat address alone deletes, for the admin to confirm."""
    platform = _platform_name(address)
    return (
        f"Nobody is recorded for {_spec_of(address)}, but qi-nudge holds how to reach them on "
        f"{platform} (their {platform} ids and their chat with the bot, no name): they installed "
        "or messaged the bot and did nothing more. This deletes it. Run again with --yes to go "
        "ahead."
    )


def erase_address(session: Session, address: ChatAddress, *, now: datetime) -> str:
    """Delete a chat address no person is recorded for; says what was removed."""
    platform = _platform_name(address)
    done = (
        f"Erased how to reach {_spec_of(address)} on {platform} (their {platform} ids and their "
        "chat with the bot). Nothing else was held about them."
    )
    address_id = address.id
    session.expunge(address)
    addresses.forget_address(session, address_id)
    # The audit trail keeps that it happened, by the row's number: no platform ids.
    record(
        session,
        at=now,
        actor_id=None,
        action="chat_address.erased",
        subject_type="chat_address",
        subject_id=address_id,
    )
    return done
