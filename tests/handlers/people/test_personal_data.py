"""Subject access (export) and erasure of one person's data."""

from datetime import timedelta

import pytest
from sqlalchemy import event, func, select

from handlers.core.errors import Refusal
from handlers.forum.meetings import add_meeting
from handlers.messages import render_delivery
from handlers.people.personal_data import erase_person, export_person, find_person
from store import outbox
from store.forums import create_forum
from store.models import (
    AuditEvent,
    ChatIdentity,
    Delivery,
    Membership,
    Person,
    Project,
    Rsvp,
    SlotRequest,
)
from store.people import grant_admin
from tests.handlers import given
from tests.handlers.sweeps import nudge_now, send_all


def _busy_person(chat, asha, ben, clock, sessions):
    """Ben joins a project, the forum, answers a meeting; Asha leads and records Sam."""
    chat.say(asha, '/qi-project new "Falls prevention"')
    with sessions.begin() as session:
        forum = create_forum(session, name="QI Forum", channel=None, now=clock())
        add_meeting(session, chat.bot.ctx, forum, clock() + timedelta(days=7), "Room 4", None)
    chat.say(ben, "/qi-join falls as carer")
    joined = chat.say(ben, "/qi-join forum as carer")
    chat.press(ben, joined, "Yes, please")
    card = chat.say(ben, "/qi-forum")
    chat.press(ben, card, "I'm going")
    chat.say(asha, '/qi-project add-member "Falls" "Sam Jones" as service user --consent')


def test_export_lists_everything_held_about_the_person(chat, asha, ben, clock, sessions):
    _busy_person(chat, asha, ben, clock, sessions)
    with sessions() as session:
        data = export_person(session, find_person(session, "console:Ben Okafor").id)

    assert data["person"]["name"] == "Ben Okafor"
    assert data["chat_identities"] == [
        {
            "platform": "console",
            "workspace": "local",
            "user_id": "ben okafor",
            "email_sha256": None,  # the console has no verified address
            "last_active_on": "2026-11-23",  # the day they used the bot (the frozen clock's)
            "conversation": None,  # no direct-message channel opened with them yet
        }
    ]
    assert data["chat_addresses"] == []
    assert [(t["project"], t["role"]) for t in data["project_teams"]] == [
        ("Falls prevention", "carer")
    ]
    assert data["forums"][0]["would_like_a_project"] is True
    assert data["meeting_answers"][0]["answer"] == "going"
    assert {a["action"] for a in data["actions_taken"]} >= {"membership.joined", "rsvp.answered"}


def test_erasure_removes_the_person_and_keeps_projects_running(chat, asha, ben, clock, sessions):
    _busy_person(chat, asha, ben, clock, sessions)
    with sessions.begin() as session:
        grant_admin(session, find_person(session, "Asha Patel").id, by_id=None, now=clock())
    with sessions.begin() as session:
        asha_id = find_person(session, "Asha Patel").id
        erasure = erase_person(session, asha_id, now=clock())

    assert erasure.projects_left_without_lead == ["Falls prevention"]
    with sessions() as session:
        assert session.get(Person, asha_id) is None
        assert session.scalar(select(Project.lead_person_id)) is None
        assert (
            session.scalar(
                select(func.count())
                .select_from(ChatIdentity)
                .where(ChatIdentity.person_id == asha_id)
            )
            == 0
        )
        # Sam stays on the team; who recorded the consent is forgotten with Asha.
        sam = session.scalar(
            select(Membership)
            .join(Person, Person.id == Membership.person_id)
            .where(Person.display_name == "Sam Jones")
        )
        assert sam is not None and sam.consent_recorded_by_id is None
        assert (
            session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.actor_person_id == asha_id)
            )
            == 0
        )
        assert (
            session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "person.erased")
            )
            == 1
        )


def test_erasing_a_forum_member_removes_their_answers(chat, asha, ben, clock, sessions):
    _busy_person(chat, asha, ben, clock, sessions)
    with sessions.begin() as session:
        erase_person(session, find_person(session, "Ben Okafor").id, now=clock())
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Rsvp)) == 0
        names = set(session.scalars(select(Person.display_name)))
    assert names == {"Asha Patel", "Sam Jones"}
    assert "Nobody has said they're going yet." in chat.say(asha, "/qi-forum").text


def test_find_person_explains_ambiguity_and_absence(sessions, clock):
    with sessions.begin() as session:
        session.add_all([Person(display_name="Sam Jones", created_at=clock()) for _ in range(2)])
    with sessions() as session, pytest.raises(Refusal, match="2 people are called"):
        find_person(session, "sam jones")
    with sessions() as session, pytest.raises(Refusal, match="Nobody is called"):
        find_person(session, "Nobody Here")


def test_reminders_sent_to_a_person_are_exported_and_erased_with_them(chat, asha, clock, sessions):
    from handlers.core.weeks import week_of
    from handlers.nudges.weekly import NudgePolicy, run_sweep
    from store.models import Delivery

    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(asha, "/qi-project reminders off")
    chat.say(asha, "/qi-project reminders on")
    ctx = chat.bot.ctx
    run_sweep(ctx, week=week_of(clock(), ctx), policy=NudgePolicy())
    with sessions.begin() as session:
        asha_id = find_person(session, "console:Asha Patel").id
        exported = export_person(session, asha_id)
        erase_person(session, asha_id, now=clock())
    with sessions() as session:
        left = session.scalar(select(func.count()).select_from(Delivery))

    assert exported["messages_sent_to_them"] == [
        {
            "kind": "nudge",
            "status": "pending",
            "planned": clock().isoformat(),
            "sent": None,
            "platform": None,
            "conversation": None,
            "message_id": None,
            "error": None,
        }
    ]
    assert exported["person"]["weekly_reminders_off_since"] is None
    assert left == 0


def test_export_includes_everything_erasure_removes(chat, asha, ben, clock, sessions):
    _busy_person(chat, asha, ben, clock, sessions)
    with sessions.begin() as session:
        grant_admin(session, find_person(session, "Asha Patel").id, by_id=None, now=clock())
        ben_on_chat = session.scalar(
            select(ChatIdentity).where(ChatIdentity.user_id == "ben okafor")
        )
        ben_on_chat.dm_channel = "D0BEN"  # the bot's direct-message channel with him
    asked_at = clock()
    chat.say(ben, '/qi-forum slot "Falls prevention" "Night checks: what carers see"')
    clock.advance(hours=2)
    with sessions() as session:
        request = session.scalars(select(Delivery).where(Delivery.kind == "slot_request")).one()
    chat.press(asha, render_delivery(chat.bot.ctx, outbox.as_claimed(request)), "Accept")
    with sessions.begin() as session:
        told = session.scalars(select(Delivery).where(Delivery.kind == "slot_decision")).one()
        outbox.mark_sent(
            session,
            told.id,
            now=clock(),
            platform="console",
            channel_id="D0BEN",
            message_ts=None,
            note="not confirmed by the platform",
        )

    with sessions() as session:
        data = export_person(session, find_person(session, "Ben Okafor").id)
        meeting = session.scalar(select(SlotRequest)).meeting.starts_at.isoformat()

    assert data["chat_identities"][0]["conversation"] == "D0BEN"
    assert data["forum_slots"] == [
        {
            "project": "Falls prevention",
            "forum": "QI Forum",
            "meeting": meeting,
            "topic": "Night checks: what carers see",
            "status": "accepted",
            "asked": asked_at.isoformat(),
            "decided": clock().isoformat(),
            "asked_by_them": True,
            "decided_by_them": False,
        }
    ]
    assert data["meeting_answers"] == [
        {
            "forum": "QI Forum",
            "meeting": meeting,
            "answer": "going",
            "role": "carer",
            "answered": asked_at.isoformat(),
        }
    ]
    assert data["messages_sent_to_them"] == [
        {
            "kind": "slot_decision",
            "status": "sent",
            "planned": clock().isoformat(),
            "sent": clock().isoformat(),
            "platform": "console",
            "conversation": "D0BEN",
            "message_id": None,
            "error": "not confirmed by the platform",
        }
    ]
    with sessions() as session:
        organiser = export_person(session, find_person(session, "Asha Patel").id)
    assert [
        (s["topic"], s["asked_by_them"], s["decided_by_them"]) for s in organiser["forum_slots"]
    ] == [("Night checks: what carers see", False, True)]


def test_erasing_someone_who_asked_the_forum_takes_them_out_of_the_organisers_note(
    chat, ctx, dm, asha, ben, chloe, clock, sessions
):
    given.organiser(sessions, chloe, clock())
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.press(asha, nudge_now(ctx, dm(asha)), "Ask the forum to find a partner")
    with sessions.begin() as session:
        erase_person(session, find_person(session, "Asha Patel").id, now=clock())
    # Someone new arrives after her: on SQLite they may be given the number she had.
    chat.say(ben, '/qi-project new "Sepsis screening"')
    with sessions() as session:
        payloads = [d.payload for d in session.scalars(select(Delivery))]

    sent = send_all(ctx)

    (note,) = [reply for kind, _, reply in sent if kind == "partner_request_admin"]
    assert note.text.startswith(
        'A project lead asked the forum to help find a service user or carer for "Falls'
    )
    assert not [p for p in payloads if "asked_by" in p]  # her number is nowhere in the outbox


def test_an_erased_name_is_not_left_readable_in_the_sqlite_file(tmp_path, clock):
    """secure_delete: erased rows are overwritten, not left in the file's free space."""
    from store.engine import make_engine, make_sessions
    from store.migrate import upgrade
    from store.people import ensure_person_for_identity

    path = tmp_path / "qi.db"
    engine = make_engine(f"sqlite:///{path}")

    # Debian builds SQLite with secure_delete on by default; python.org's and Windows' don't.
    # Start every connection as theirs do, before qi-nudge's own settings.
    def as_on_most_builds(dbapi_connection, _record):
        dbapi_connection.execute("PRAGMA secure_delete=OFF")

    event.listen(engine, "connect", as_on_most_builds, insert=True)
    upgrade(engine)
    sessions = make_sessions(engine)
    with sessions.begin() as session:
        for n in range(3):
            ensure_person_for_identity(
                session,
                platform="slack",
                workspace="T1",
                user_id=f"U0KEEP{n}",
                display_name=f"Someone Staying {n}",
                now=clock(),
            )
        zanele = ensure_person_for_identity(
            session,
            platform="slack",
            workspace="T1",
            user_id="U0ZANELE01",
            display_name="Zanele Okonkwo-Marsh",
            now=clock(),
        ).id
    with sessions.begin() as session:
        erase_person(session, zanele, now=clock())
    engine.dispose()  # the last connection checkpoints the write-ahead log into the file

    on_disk = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("qi.db"))
    assert b"Someone Staying 1" in on_disk  # the file is readable as it is
    assert b"Okonkwo-Marsh" not in on_disk
    assert b"U0ZANELE01" not in on_disk


def test_erasure_takes_a_name_out_of_chart_notes_as_a_whole_word_only(sessions, clock):
    from store.models import ChartNote

    with sessions.begin() as session:
        al = Person(display_name="Al", created_at=clock())
        session.add(al)
        session.flush()
        session.add_all(
            [
                ChartNote(on_date=clock().date(), text="Alcohol liaison began", created_at=clock()),
                ChartNote(on_date=clock().date(), text="AL joined as a carer", created_at=clock()),
            ]
        )
        session.flush()
        erase_person(session, al.id, now=clock())
    with sessions() as session:
        notes = sorted(session.scalars(select(ChartNote.text)))

    assert notes == ["(name removed) joined as a carer", "Alcohol liaison began"]


def test_a_lead_hears_of_a_new_member_and_not_of_one_erased_meanwhile(
    chat, asha, ben, chloe, clock, sessions
):
    """The hour's news is written when it goes: an erased member is not in it."""
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(ben, "/qi-join falls as carer")
    with sessions.begin() as session:
        erase_person(session, find_person(session, "Ben Okafor").id, now=clock())

    chat.say(chloe, "/qi-join falls as carer")
    clock.advance(hours=1, minutes=1)

    news = [reply.text for kind, _to, reply in send_all(chat.bot.ctx) if kind == "member_joined"]
    assert news == [
        'Chloe Evans has joined your project "Falls prevention" as a carer. That means a '
        "service user or carer is on the team. Do say hello!"
    ]
