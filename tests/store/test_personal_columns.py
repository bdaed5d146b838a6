"""Every column that can hold personal data is found by `person export` and cleared by erase.

store.personal_columns declares, table by table, which columns hold personal data. The first
test walks the models so a new column cannot go undeclared; the second gives one person a value
in every declared column, then checks that export shows each and that after erasure no row in
any table still holds their name, e-mail address, chat ids or number.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

from sqlalchemy import select

from handlers.people.personal_data import erase_person, export_person
from store.models import (
    AdminGrant,
    AuditEvent,
    Base,
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
from store.people import email_digest
from store.personal_columns import AUDIT_PERSON_KEYS, NOT_PERSONAL, PERSONAL, WHOLE_ROWS
from store.roles import Involvement, ProjectStatus, Role, RsvpAnswer

NAME = "Zanele Okonkwo-Marsh"
EMAIL = "zanele.om@nhs.example"
TEAMS_EMAIL = "z.okonkwo-marsh@nhs.example"
# Every string that identifies her, as the platforms and she herself gave them.
HERS = {
    "name": NAME,
    "email": EMAIL,
    "slack user": "U0ZANELE01",
    "slack dm": "DZANELE01",
    "teams object id": "aad-zanele-0001",
    "teams user id": "29:1zanele-teams-id",
    "teams chat": "a:1zanele-personal-chat",
    "teams chat elsewhere": "a:1zanele-other-tenant-chat",
    "teams user id elsewhere": "29:1zanele-other-tenant",
    "her topic": "Night checks as I see them at home",
    "her message ts": "1764489600.000100",
    "her delivery error": "zanele-only-error",
    "her mobile": "+447700900456",
    "her comment": "The Tuesday huddle moves too fast for me",
}


def test_every_column_is_declared_personal_or_not():
    # A new column must be declared: store.personal_columns says what export and erasure do
    # with it, or that it holds nothing about a person.
    undeclared = []
    both = []
    for table in Base.metadata.tables.values():
        if table.name in WHOLE_ROWS:
            continue  # every row is someone's: deleted with them
        for column in table.columns:
            name = f"{table.name}.{column.name}"
            if name in PERSONAL and name in NOT_PERSONAL:
                both.append(name)
            elif name not in PERSONAL and name not in NOT_PERSONAL:
                undeclared.append(name)
    assert undeclared == [], "declare these in store/personal_columns.py"
    assert both == []
    columns = {f"{t.name}.{c.name}" for t in Base.metadata.tables.values() for c in t.columns}
    assert set(PERSONAL) | NOT_PERSONAL <= columns, "declared columns that no longer exist"
    # Every column pointing at a person is personal, wherever it is.
    pointers = {
        f"{t.name}.{fk.parent.name}"
        for t in Base.metadata.tables.values()
        for fk in t.foreign_keys
        if fk.column.table.name == "people" and t.name not in WHOLE_ROWS
    }
    assert pointers <= set(PERSONAL)


def _everything_about_zanele(session, now) -> dict[str, int]:
    """Zanele in every declared place; others around her. Her ids and her rows' ids."""
    zanele = Person(display_name=NAME, email=EMAIL, created_at=now, nudges_muted_at=now)
    other = Person(display_name="Omar Haddad", created_at=now)
    session.add_all([zanele, other])
    session.flush()
    session.add_all(
        [
            ChatIdentity(
                person_id=zanele.id,
                platform="slack",
                workspace="T1",
                user_id=HERS["slack user"],
                dm_channel=HERS["slack dm"],
                email_sha256=email_digest(EMAIL),
                last_active_on=now.date(),
            ),
            ChatIdentity(
                person_id=zanele.id,
                platform="teams",
                workspace="tenant-1",
                user_id=HERS["teams object id"],
                email_sha256=email_digest(TEAMS_EMAIL),
            ),
            # Her Teams account, and one in another tenant where she only looked around,
            # known by the address Teams verified.
            ChatAddress(
                platform="teams",
                workspace="tenant-1",
                user_id=HERS["teams object id"],
                dm_channel=HERS["teams chat"],
                address={"serviceUrl": "https://smba.example", "userId": HERS["teams user id"]},
                updated_at=now,
            ),
            ChatAddress(
                platform="teams",
                workspace="tenant-2",
                user_id="aad-elsewhere-77",
                dm_channel=HERS["teams chat elsewhere"],
                address={"userId": HERS["teams user id elsewhere"]},
                updated_at=now,
                email_sha256=email_digest(TEAMS_EMAIL),
            ),
        ]
    )
    led = Project(
        name="Falls prevention",
        name_key="falls prevention",
        status=ProjectStatus.ACTIVE,
        lead_person_id=zanele.id,
        created_at=now,
        updated_at=now,
    )
    theirs = Project(
        name="Sepsis screening",
        name_key="sepsis screening",
        status=ProjectStatus.ACTIVE,
        lead_person_id=other.id,
        created_at=now,
        updated_at=now,
    )
    forum = Forum(name="QI Forum", name_key="qi forum", created_at=now)
    session.add_all([led, theirs, forum])
    session.flush()
    meeting = Meeting(forum_id=forum.id, starts_at=now + timedelta(days=7), created_at=now)
    session.add(meeting)
    session.flush()
    membership = Membership(
        project_id=theirs.id,
        person_id=zanele.id,
        role=Role.CARER,
        involvement=Involvement.TEAM_MEMBER,
        consent_recorded_at=now,
        joined_at=now,
    )
    recorded = Membership(  # she recorded Omar's consent on her project
        project_id=led.id,
        person_id=other.id,
        role=Role.SERVICE_USER,
        involvement=Involvement.TEAM_MEMBER,
        consent_recorded_by_id=zanele.id,
        consent_recorded_at=now,
        joined_at=now,
    )
    signup = ForumMember(
        forum_id=forum.id, person_id=zanele.id, role=Role.CARER, wants_match=True, joined_at=now
    )
    offer = MatchOffer(
        project_id=theirs.id,
        person_id=zanele.id,
        role=Role.CARER,
        status="asked",
        week="2026-W48",
        created_at=now,
        updated_at=now,
    )
    # She is texted about the forum too, and recorded Omar's consent to be e-mailed.
    texted = OutsideContact(
        person_id=zanele.id,
        method="text",
        address=HERS["her mobile"],
        consent_recorded_at=now,
        confirmed_at=now,
        stopped_at=now,
        created_at=now,
    )
    omars = OutsideContact(
        person_id=other.id,
        method="email",
        address="omar.h@example.org",
        consent_recorded_by_id=zanele.id,
        consent_recorded_at=now,
        confirmed_at=now,
        created_at=now,
    )
    session.add_all(
        [
            texted,
            omars,
            membership,
            recorded,
            signup,
            offer,
            Rsvp(
                meeting_id=meeting.id,
                person_id=zanele.id,
                answer=RsvpAnswer.GOING,
                role=Role.CARER,
                answered_at=now,
            ),
            AdminGrant(person_id=zanele.id, granted_at=now),
            AdminGrant(person_id=other.id, granted_by_id=zanele.id, granted_at=now),
            SlotRequest(
                meeting_id=meeting.id,
                project_id=led.id,
                topic=HERS["her topic"],
                requested_by_id=zanele.id,
                created_at=now,
            ),
            SlotRequest(
                meeting_id=meeting.id,
                project_id=theirs.id,
                topic=f"Ask {NAME.upper()} about discharge",
                requested_by_id=other.id,
                decided_by_id=zanele.id,
                decided_at=now,
                created_at=now,
            ),
            ChartNote(
                on_date=now.date(),
                text="Forum moved to evenings",
                created_by_id=zanele.id,
                created_at=now,
            ),
            ChartNote(
                on_date=date(2026, 11, 2),
                text=f"{NAME} became the carers' representative ({EMAIL})",
                created_by_id=other.id,
                created_at=now,
            ),
            Delivery(
                kind="nudge",
                occurrence="2026-W48",
                recipient=f"person:{zanele.id}",
                payload={"project_ids": [led.id]},
                status="sent",
                next_attempt_at=now,
                sent_at=now,
                platform="slack",
                channel_id=HERS["slack dm"],
                message_ts=HERS["her message ts"],
                error=HERS["her delivery error"],
                created_at=now,
            ),
            Delivery(
                kind="partner_request_admin",
                occurrence="2026-W48",
                recipient=f"person:{other.id}",
                payload={"project_id": led.id, "asked_by": zanele.id},
                next_attempt_at=now,
                created_at=now,
            ),
        ]
    )
    session.flush()
    # How involved she feels on her team, in her words; and Omar's answer, which she recorded
    # for him (he is not on chat), whose comment names her.
    answer = InvolvementAnswer(
        membership_id=membership.id,
        person_id=zanele.id,
        project_id=theirs.id,
        period="2026-W48",
        period_start=date(2026, 11, 23),
        answer="somewhat",
        comment=HERS["her comment"],
        asked_at=now,
        answered_at=now,
    )
    session.add_all(
        [
            answer,
            InvolvementAnswer(
                membership_id=recorded.id,
                person_id=other.id,
                project_id=led.id,
                period="2026-W48",
                period_start=date(2026, 11, 23),
                answer="a_lot",
                comment=f"{NAME} always asks what I think",
                asked_at=now,
                answered_at=now,
                recorded_by_id=zanele.id,
            ),
        ]
    )
    session.flush()
    for action, subject_type, subject_id, actor, detail in (
        ("project.created", "project", led.id, zanele.id, {}),
        ("nudge.muted", "person", zanele.id, zanele.id, {}),
        ("membership.joined", "membership", membership.id, None, {"project_id": theirs.id}),
        ("forum_member.joined", "forum_member", signup.id, None, {"forum_id": forum.id}),
        ("match.asked", "match_offer", offer.id, None, {"project_id": theirs.id}),
        ("project.imported", "project", led.id, None, {"line": 2, "lead_id": zanele.id}),
        ("person.merged", "person", other.id, None, {"merged": zanele.id}),
        ("outside_contact.recorded", "outside_contact", texted.id, None, {"method": "text"}),
        ("involvement.answered", "involvement_answer", answer.id, zanele.id, {}),
    ):
        session.add(
            AuditEvent(
                at=now,
                actor_person_id=actor,
                action=action,
                subject_type=subject_type,
                subject_id=subject_id,
                detail=detail,
            )
        )
    session.flush()
    return {
        "person": zanele.id,
        "membership": membership.id,
        "forum_member": signup.id,
        "match_offer": offer.id,
        "outside_contact": texted.id,
        "involvement_answer": answer.id,
    }


def _every_value(session) -> str:
    """Every value in every table, as one text to search."""
    rows = []
    for table in Base.metadata.sorted_tables:
        for row in session.execute(select(table)):
            rows.append(f"{table.name}: " + " | ".join(str(v) for v in row))
    return "\n".join(rows)


def _numbers_left(session, ids: dict[str, int]) -> list[str]:
    """Where her number, or her rows' numbers, are still held."""
    person_id = ids["person"]
    left = []
    for table in Base.metadata.tables.values():
        for fk in table.foreign_keys:
            if fk.column.table.name == "people":
                count = len(session.execute(select(table).where(fk.parent == person_id)).all())
                if count:
                    left.append(f"{table.name}.{fk.parent.name}")
    for event in session.scalars(select(AuditEvent)):
        if event.subject_type in ids and event.subject_id == ids[event.subject_type]:
            left.append(f"audit {event.action} subject")
        for key in AUDIT_PERSON_KEYS:
            if event.detail.get(key) == person_id:
                left.append(f"audit {event.action} {key}")
    for delivery in session.scalars(select(Delivery)):
        if delivery.recipient == f"person:{person_id}" or person_id in (
            delivery.payload.get("asked_by"),
        ):
            left.append(f"delivery {delivery.kind}")
    return left


def test_export_shows_every_personal_column_and_erasure_leaves_none(sessions, clock):
    with sessions.begin() as session:
        ids = _everything_about_zanele(session, clock())
        # The fixture must fill every declared column, so a new one is tested as it is added.
        empty = [
            name
            for name in PERSONAL
            if name.split(".")[0] not in ("erased_addresses",)
            and not session.execute(
                select(Base.metadata.tables[name.split(".")[0]].c[name.split(".")[1]]).where(
                    Base.metadata.tables[name.split(".")[0]].c[name.split(".")[1]].is_not(None)
                )
            ).first()
        ]
        owned = [
            t for t in WHOLE_ROWS if not session.execute(select(Base.metadata.tables[t])).first()
        ]
        exported = json.dumps(export_person(session, ids["person"]), ensure_ascii=False)
        erase_person(session, ids["person"], now=clock())
    with sessions() as session:
        everything = _every_value(session)
        numbers = _numbers_left(session, ids)
        people = list(session.scalars(select(Person.display_name)))

    assert empty == [] and owned == [], "give Zanele a value there in this test"
    missing = [what for what, value in HERS.items() if value not in exported]
    assert missing == [], f"not in her export: {missing}"
    assert NAME in exported and "carers' representative" in exported  # the note naming her
    assert "Ask" in exported and "about discharge" in exported  # the topic naming her
    left = [what for what, value in HERS.items() if value.lower() in everything.lower()]
    assert left == [], f"still held after erasure: {left}"
    assert email_digest(EMAIL) not in everything and email_digest(TEAMS_EMAIL) not in everything
    assert numbers == []
    assert people == ["Omar Haddad"]
    # What stays: the projects, the slots and the notes, without her.
    assert "Forum moved to evenings" in everything
    assert "(name removed) always asks what I think" in everything  # Omar's answer stays
    assert "(name removed) became the carers' representative ((name removed))" in everything
