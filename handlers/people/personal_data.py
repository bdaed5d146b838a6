"""Finding one person for an admin, exporting everything held about them, and erasing it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, or_, select, update
from sqlalchemy.orm import Session

from handlers.core.args import parse_id
from handlers.core.errors import Refusal
from handlers.people.merging import PLATFORM_NAMES
from store import addresses, contacts, erasure, people
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
    InvolvementAnswer,
    MatchOffer,
    Meeting,
    Membership,
    OutsideContact,
    Person,
    Project,
    Rsvp,
    SlotRequest,
)
from store.names import name_key
from store.outbox import person_recipient
from store.personal_columns import AUDIT_PERSON_KEYS

NAME_REMOVED = "(name removed)"
REGISTER_REMINDER = (
    "If they are in your project register, remove them from it too: until then, each import "
    "skips their rows and says so (qi-nudge keeps only a keyed digest of their addresses, to "
    "recognise them)."
)
TOPIC_REMOVED = "(topic removed: the person who asked for this slot had their details erased)"


def find_person(session: Session, spec: str) -> Person:
    """The person an admin means: '#12', 'platform:workspace:user', e-mail, mobile or name."""
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
        return _person_with_email(session, spec)
    if (mobile := _as_mobile(spec)) is not None:
        return _person_with_mobile(session, spec, mobile)
    matches = people.find_by_name(session, spec)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise Refusal(f'Nobody is called "{spec}".')
    numbers = ", ".join(f"#{p.id}" for p in matches)
    raise Refusal(f'{len(matches)} people are called "{spec}" ({numbers}); give the number.')


def _as_mobile(spec: str) -> str | None:
    """The mobile number an admin typed ('07700 900123', '+44 7700 900123'), else None."""
    if not spec or any(c.isalpha() for c in spec):
        return None  # a name
    try:
        return contacts.tidy_mobile(spec)
    except contacts.BadAddress:
        return None


def _person_with_mobile(session: Session, typed: str, mobile: str) -> Person:
    """The person reached by text at this number."""
    holders = sorted(
        set(
            session.scalars(
                select(OutsideContact.person_id).where(
                    OutsideContact.method == contacts.TEXT, OutsideContact.address == mobile
                )
            )
        )
    )
    person = _the_one(session, holders, f"the mobile number {typed}")
    if person is None:
        raise Refusal(f"Nobody is reached by text at {typed}.")
    return person


def _person_with_email(session: Session, email: str) -> Person:
    """The person with this address: imported with it, or verified by Slack or Teams."""
    found = people.find_by_email(session, email)
    if found is not None:
        return found
    # Someone who arrived by chat is held by a digest of the address their platform verified;
    # someone reached outside chat, by the address an organiser recorded.
    holders = sorted(
        set(
            session.scalars(
                select(ChatIdentity.person_id).where(
                    ChatIdentity.email_sha256 == people.email_digest(email)
                )
            )
        )
        | set(
            session.scalars(
                select(OutsideContact.person_id).where(
                    OutsideContact.method == contacts.EMAIL,
                    func.lower(OutsideContact.address) == email.strip().lower(),
                )
            )
        )
    )
    person = _the_one(session, holders, f"the e-mail address {email}")
    if person is None:
        raise Refusal(f"Nobody has the e-mail address {email}.")
    return person


def _the_one(session: Session, holders: list[int], what: str) -> Person | None:
    """The one person numbered in `holders`; None if none; refused (never a guess) if several."""
    if len(holders) > 1:
        numbers = ", ".join(f"#{n}" for n in holders)
        raise Refusal(f"{len(holders)} people have {what} ({numbers}).")
    return session.get(Person, holders[0]) if holders else None


def _identity_parts(spec: str) -> tuple[str, str, str] | None:
    """(platform, workspace, user id) from 'platform:workspace:user' or 'console:Name'."""
    # At most three parts: Teams user ids have a colon of their own ("29:1a2b...").
    parts = spec.split(":", 2)
    if parts[0] == "console" and len(parts) == 2:
        parts = ["console", "local", name_key(parts[1])]
    if len(parts) == 3 and all(parts):
        return parts[0], parts[1], parts[2]
    return None


def find_person_or_address(session: Session, spec: str) -> Person | list[ChatAddress]:
    """The person a spec names, or else the chat addresses of a user we hold nothing more about."""
    # Someone who installed or messaged the bot on Teams, and did nothing that made them a
    # person here, still has an address: their export and erasure must be able to find it.
    try:
        return find_person(session, spec)
    except Refusal:
        found = _addresses_for(session, spec.strip())
        if not found or _held_by_people(session, spec.strip()):
            raise  # nobody at all, or several people: never guess between them
    # An admin may give the Teams id ("29:...") of someone who is a person here: their
    # identity is keyed by their Entra id, which the address holds.
    holders = sorted(
        set(
            session.scalars(
                select(ChatIdentity.person_id).where(
                    or_(
                        *(
                            (ChatIdentity.platform == a.platform)
                            & (ChatIdentity.workspace == a.workspace)
                            & (ChatIdentity.user_id.in_(_user_ids_of(a)))
                            for a in found
                        )
                    )
                )
            )
        )
    )
    person = _the_one(session, holders, f"the chat account {spec}")
    return found if person is None else person


def _held_by_people(session: Session, spec: str) -> bool:
    """Whether a chat identity holds this e-mail address (then several people do)."""
    if "@" not in spec or ":" in spec:
        return False
    digest = people.email_digest(spec)
    held = select(ChatIdentity.id).where(ChatIdentity.email_sha256 == digest).limit(1)
    return session.scalar(held) is not None


def _user_ids_of(address: ChatAddress) -> list[str]:
    """The ids a chat address is known by: its own, and Teams' id for the user ("29:...")."""
    teams_id = (address.address or {}).get("userId")
    return [address.user_id, *([teams_id] if isinstance(teams_id, str) else [])]


def _addresses_for(session: Session, spec: str) -> list[ChatAddress]:
    """The chat addresses a spec names: by ids (Entra object id or Teams' 29: id), or e-mail."""
    if "@" in spec and ":" not in spec:
        digest = people.email_digest(spec)
        # One address may be held per tenant and per bot install: every one of them goes.
        return list(
            session.scalars(
                select(ChatAddress)
                .where(ChatAddress.email_sha256 == digest)
                .order_by(ChatAddress.id)
            )
        )
    parts = _identity_parts(spec)
    if parts is None:
        return []
    platform, workspace, user_id = parts
    found = addresses.address_of(session, platform, workspace, user_id) or session.scalar(
        select(ChatAddress).where(
            ChatAddress.platform == platform,
            ChatAddress.workspace == workspace,
            ChatAddress.address["userId"].as_string() == user_id,
        )
    )
    return [found] if found is not None else []


def _email_digests(session: Session, person: Person) -> set[str]:
    """The SHA-256 digests of every e-mail address held for a person."""
    digests = set(
        session.scalars(
            select(ChatIdentity.email_sha256).where(
                ChatIdentity.person_id == person.id, ChatIdentity.email_sha256.is_not(None)
            )
        )
    )
    own = people.email_digest(person.email)
    return digests | {own} if own else digests


def _addresses_of(session: Session, person: Person) -> list[ChatAddress]:
    """A person's chat addresses: their identities', and any with an e-mail address of theirs."""
    by_identity = select(ChatAddress.id).join(
        ChatIdentity,
        (ChatIdentity.platform == ChatAddress.platform)
        & (ChatIdentity.workspace == ChatAddress.workspace)
        & (ChatIdentity.user_id == ChatAddress.user_id),
    )
    mine = ChatAddress.id.in_(by_identity.where(ChatIdentity.person_id == person.id))
    digests = _email_digests(session, person)
    if digests:
        mine = mine | ChatAddress.email_sha256.in_(sorted(digests))
    return list(session.scalars(select(ChatAddress).where(mine).order_by(ChatAddress.id)))


def _naming(text: str, words: list[str]) -> bool:
    """Whether the text names the person (their full name or e-mail address), in any case."""
    return any(pattern.search(text) for pattern in _patterns(words))


def _patterns(words: list[str]) -> list[re.Pattern[str]]:
    # Whole words only ("Al" is not in "Alcohol"), with any run of spaces between the parts
    # of a name: notes are typed by hand.
    return [
        re.compile(
            r"(?<!\w)" + r"\s+".join(re.escape(part) for part in word.split()) + r"(?!\w)",
            re.IGNORECASE,
        )
        for word in words
        if word.strip()
    ]


def _names_of(person: Person) -> list[str]:
    """What, in free text, would name the person."""
    return [w for w in (person.display_name, person.email) if w]


def _redact(text: str, words: list[str]) -> str:
    for pattern in _patterns(words):
        text = pattern.sub(NAME_REMOVED, text)
    return text


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


def _contact_export(contact: OutsideContact | None) -> dict[str, Any] | None:
    """How they are reached by e-mail or text, and their consent: when, and by whom."""
    if contact is None:
        return None
    return {
        "by": "e-mail" if contact.method == contacts.EMAIL else "text message",
        "address": contact.address,
        "consent_recorded": _iso(contact.consent_recorded_at),
        # A number: the organiser who recorded it; none when they signed up themselves (or
        # were added on the command line).
        "consent_recorded_by": contact.consent_recorded_by_id,
        "address_confirmed": _iso(contact.confirmed_at),
        "messages_stopped": _iso(contact.stopped_at),
    }


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
    # Slots they asked for or decided, and any whose topic names them.
    names = _names_of(person)
    slot_rows = [
        row
        for row in session.execute(
            select(SlotRequest, Project.name, Forum.name, Meeting.starts_at)
            .join(Project, Project.id == SlotRequest.project_id)
            .join(Meeting, Meeting.id == SlotRequest.meeting_id)
            .join(Forum, Forum.id == Meeting.forum_id)
            .order_by(SlotRequest.id)
        )
        if person_id in (row[0].requested_by_id, row[0].decided_by_id)
        or _naming(row[0].topic, names)
    ]
    notes = list(session.scalars(select(ChartNote).order_by(ChartNote.id)))
    return {
        "person": {
            "number": person.id,
            "name": person.display_name,
            "email": person.email,
            "first_recorded": _iso(person.created_at),
            "weekly_reminders_off_since": _iso(person.nudges_muted_at),
            "involvement_questions_off_since": _iso(person.involvement_questions_muted_at),
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
        "chat_addresses": [_address_export(a) for a in _addresses_of(session, person)],
        "reached_outside_chat": _contact_export(contacts.contact_of(session, person_id)),
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
        **_involvement_export(session, person_id, names),
        "run_chart_notes_written": [
            {"date": n.on_date.isoformat(), "note": n.text, "written": _iso(n.created_at)}
            for n in notes
            if n.created_by_id == person_id
        ],
        "run_chart_notes_naming_them": [
            {"date": n.on_date.isoformat(), "note": n.text, "written": _iso(n.created_at)}
            for n in notes
            if n.created_by_id != person_id and _naming(n.text, names)
        ],
        "messages_sent_to_them": [
            {
                "kind": d.kind,
                "status": d.status,
                "planned": _iso(d.created_at),
                "sent": _iso(d.sent_at),
                "platform": d.platform,
                "conversation": d.channel_id,
                "message_id": d.message_ts,
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
        "changes_recorded_about_them": [
            {"when": _iso(a.at), "action": a.action}
            for a in session.scalars(_audit_about(person_id).order_by(AuditEvent.at))
        ],
    }


def _involvement_export(session: Session, person_id: int, names: list[str]) -> dict[str, Any]:
    """How involved they said they feel, answers they recorded for others, comments naming them."""
    rows = session.execute(
        select(InvolvementAnswer, Project.name)
        .join(Project, Project.id == InvolvementAnswer.project_id)
        .where(
            or_(
                InvolvementAnswer.person_id == person_id,
                InvolvementAnswer.recorded_by_id == person_id,
            )
        )
        .order_by(InvolvementAnswer.period_start, InvolvementAnswer.id)
    ).all()
    return {
        "how_involved_they_feel": [
            {
                "project": name,
                "weeks_from": a.period_start.isoformat(),
                "answer": a.answer.replace("_", " ") if a.answer else None,
                "comment": a.comment,
                "asked": _iso(a.asked_at),
                "answered": _iso(a.answered_at),
                # A number: the lead who recorded it with their agreement; none: themselves.
                "recorded_by": a.recorded_by_id,
            }
            for a, name in rows
            if a.person_id == person_id
        ],
        # Only that they did: the answer is the other person's.
        "involvement_answers_they_recorded_for_others": [
            {"project": name, "weeks_from": a.period_start.isoformat(), "when": _iso(a.answered_at)}
            for a, name in rows
            if a.person_id != person_id and a.recorded_by_id == person_id
        ],
        # Others' comments that name them: the words only, with no team, round or writer, so
        # that what is theirs is given without pointing at who wrote it.
        "involvement_comments_naming_them": _comments_naming(session, person_id, names),
    }


def _comments_naming(session: Session, person_id: int, names: list[str]) -> list[str]:
    """Others' involvement comments that name the person (found by the database, then checked)."""
    if not names:
        return []
    near = or_(*(func.lower(InvolvementAnswer.comment).contains(n.lower()) for n in names))
    found = session.scalars(
        select(InvolvementAnswer.comment)
        .where(InvolvementAnswer.person_id != person_id, InvolvementAnswer.comment.is_not(None))
        .where(near)
        .order_by(InvolvementAnswer.id)
    )
    return [comment for comment in found if comment and _naming(comment, names)]


def _audit_about(person_id: int) -> Select[tuple[AuditEvent]]:
    """Audit events whose subject is the person, or that hold their number in their details."""
    about = (AuditEvent.subject_type == "person") & (AuditEvent.subject_id == person_id)
    for key in AUDIT_PERSON_KEYS:
        about = about | (AuditEvent.detail[key].as_integer() == person_id)
    return select(AuditEvent).where(about)


@dataclass(frozen=True)
class Erasure:
    """What erasing a person did, for the admin to act on."""

    person_number: int
    projects_left_without_lead: list[str]


def erase_person(session: Session, person_id: int, *, now: datetime) -> Erasure:
    """Delete a person and everything that names them; their projects keep going, lead-less.

    What is kept: a keyed digest of their addresses (store.erasure), so that a register import
    does not quietly bring them back. See store.personal_columns for every column touched.
    """
    person = session.get(Person, person_id)
    if person is None:
        raise Refusal(f"There is nobody with the number #{person_id}.")
    orphaned = list(
        session.scalars(
            select(Project.name).where(Project.lead_person_id == person_id).order_by(Project.name)
        )
    )
    names = _names_of(person)
    digests = _email_digests(session, person)
    theirs = _addresses_of(session, person)
    digests |= {a.email_sha256 for a in theirs if a.email_sha256}
    contact = contacts.contact_of(session, person_id)
    if contact is not None:
        # So that a members file does not quietly bring them back (bot/cli/outside_members).
        digests.add(contacts.address_digest(contact.address))
    # Before who asked for which slot is forgotten: the topics they asked for go.
    _redact_free_text(session, person_id, names)
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
        update(OutsideContact)
        .where(OutsideContact.consent_recorded_by_id == person_id)
        .values(consent_recorded_by_id=None)
    )
    session.execute(
        update(AdminGrant).where(AdminGrant.granted_by_id == person_id).values(granted_by_id=None)
    )
    session.execute(
        update(ChartNote).where(ChartNote.created_by_id == person_id).values(created_by_id=None)
    )
    session.execute(
        update(InvolvementAnswer)
        .where(InvolvementAnswer.recorded_by_id == person_id)
        .values(recorded_by_id=None)
    )
    for column in (SlotRequest.requested_by_id, SlotRequest.decided_by_id):
        session.execute(update(SlotRequest).where(column == person_id).values({column: None}))
    _forget_in_audit(session, person_id)
    # Messages to them: what was sent is on the platform (theirs to delete there); here, the
    # record that names them goes.
    session.execute(delete(Delivery).where(Delivery.recipient == person_recipient(person_id)))
    # Messages to others that name them ("Asha asked the forum..."): their number goes. The
    # message stays.
    replace_person_in_payloads(session, person_id, None)
    # News to others keyed by their team places and introductions ("membership:12"): it was
    # about them, and on SQLite those numbers are used again once deleted, when a new
    # message with the same key would be taken as already planned and never sent.
    _forget_news_about(session, person_id)
    # How to reach them on Teams is keyed by their platform ids, not their number.
    if theirs:
        session.execute(delete(ChatAddress).where(ChatAddress.id.in_([a.id for a in theirs])))
    if contact is not None:
        session.expunge(contact)
    for model in (
        ChatIdentity,
        InvolvementAnswer,  # before their memberships, which the answers hang from
        Membership,
        ForumMember,
        Rsvp,
        AdminGrant,
        MatchOffer,
        OutsideContact,
    ):
        session.execute(delete(model).where(model.person_id == person_id))
    session.expunge(person)
    session.execute(delete(Person).where(Person.id == person_id))
    # A register may name a lead by name alone, even one whose address is known from chat:
    # the name is kept too, or a name-only row would bring them back.
    erasure.remember_erased(session, email_sha256s=digests, names=[person.display_name])
    # That it happened, and when; not whom.
    record(
        session,
        at=now,
        actor_id=None,
        action="person.erased",
        subject_type="person",
        subject_id=None,
    )
    return Erasure(person_number=person_id, projects_left_without_lead=orphaned)


def _forget_news_about(session: Session, person_id: int) -> None:
    """Delete the deliveries keyed by the person's memberships and project introductions."""
    keys = [
        *(
            f"membership:{n}"
            for n in session.scalars(select(Membership.id).where(Membership.person_id == person_id))
        ),
        *(
            f"offer:{n}"
            for n in session.scalars(select(MatchOffer.id).where(MatchOffer.person_id == person_id))
        ),
    ]
    for start in range(0, len(keys), 500):
        session.execute(delete(Delivery).where(Delivery.occurrence.in_(keys[start : start + 500])))


def _redact_free_text(session: Session, person_id: int, names: list[str]) -> None:
    """Slot topics they asked for go; their name goes from other topics and chart notes."""
    for slot in session.scalars(select(SlotRequest)):
        if slot.requested_by_id == person_id:
            slot.topic = TOPIC_REMOVED  # their own words about their project
        elif _naming(slot.topic, names):
            slot.topic = _redact(slot.topic, names)
    # A note they wrote marks a change in the service ("forum moved to evenings"): the run
    # chart is read by it, so it stays, without its author; only their name goes from it.
    for note in session.scalars(select(ChartNote)):
        if _naming(note.text, names):
            note.text = _redact(note.text, names)[: ChartNote.text.type.length]
    # Others' comments on how involved they feel: kept for the organisers, without the name.
    for answer in session.scalars(
        select(InvolvementAnswer).where(
            InvolvementAnswer.comment.is_not(None), InvolvementAnswer.person_id != person_id
        )
    ):
        if answer.comment and _naming(answer.comment, names):
            limit = InvolvementAnswer.comment.type.length
            answer.comment = _redact(answer.comment, names)[:limit]
    session.flush()


def _forget_in_audit(session: Session, person_id: int) -> None:
    """The audit trail keeps what happened, not to or by whom: their number goes from it."""
    session.execute(
        update(AuditEvent)
        .where(AuditEvent.actor_person_id == person_id)
        .values(actor_person_id=None)
    )
    # Events about their own rows (their record, teams, sign-ups, introductions).
    own_rows = {
        "person": [person_id],
        "membership": select(Membership.id).where(Membership.person_id == person_id),
        "forum_member": select(ForumMember.id).where(ForumMember.person_id == person_id),
        "match_offer": select(MatchOffer.id).where(MatchOffer.person_id == person_id),
        "outside_contact": select(OutsideContact.id).where(OutsideContact.person_id == person_id),
        "involvement_answer": select(InvolvementAnswer.id).where(
            InvolvementAnswer.person_id == person_id
        ),
    }
    for subject_type, ids in own_rows.items():
        session.execute(
            update(AuditEvent)
            .where(AuditEvent.subject_type == subject_type, AuditEvent.subject_id.in_(ids))
            .values(subject_id=None)
        )
    for event in session.scalars(_audit_about(person_id)):
        event.detail = {
            key: (None if key in AUDIT_PERSON_KEYS and value == person_id else value)
            for key, value in event.detail.items()
        }
    session.flush()


def _accounts(found: list[ChatAddress]) -> str:
    """'teams:t:aad on Microsoft Teams', for each chat account, joined for a sentence."""
    return " and ".join(f"{_spec_of(a)} on {_platform_name(a)}" for a in found)


def _platforms(found: list[ChatAddress]) -> str:
    return " and ".join(sorted({_platform_name(a) for a in found}))


def export_address(found: list[ChatAddress]) -> dict[str, Any]:
    """All that is held for chat accounts no person is recorded for: how to reach them."""
    return {
        "person": None,
        "note": (
            "Nobody is recorded for this chat account. qi-nudge holds only how to reach it on "
            f"{_platforms(found)}, kept because the app was installed or messaged there: "
            "the ids below, and no name."
        ),
        "chat_addresses": [_address_export(a) for a in found],
    }


def address_erasure_warning(found: list[ChatAddress]) -> str:
    """What erasing chat addresses alone deletes, for the admin to confirm."""
    platform = _platforms(found)
    return (
        f"Nobody is recorded for {' and '.join(_spec_of(a) for a in found)}, but qi-nudge holds "
        f"how to reach them on {platform} (their {platform} ids and their chat with the bot, no "
        "name): they installed or messaged the bot and did nothing more. This deletes it. Run "
        "again with --yes to go ahead."
    )


def erase_address(session: Session, found: list[ChatAddress], *, now: datetime) -> str:
    """Delete chat addresses no person is recorded for; says what was removed."""
    platform = _platforms(found)
    done = (
        f"Erased how to reach {_accounts(found)} (their {platform} ids and their chat with the "
        "bot). Nothing else was held about them."
    )
    digests = [a.email_sha256 for a in found if a.email_sha256]
    if digests:
        erasure.remember_erased(session, email_sha256s=digests)
    for address in found:
        address_id = address.id
        session.expunge(address)
        addresses.forget_address(session, address_id)
        # The audit trail keeps that it happened: no platform ids, no number.
        record(
            session,
            at=now,
            actor_id=None,
            action="chat_address.erased",
            subject_type="chat_address",
            subject_id=None,
        )
    return done
