"""Export and erasure of someone reached by e-mail or text: address, consent, every message."""

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from handlers.core.errors import Refusal
from handlers.forum.announcements import run_announcements
from handlers.forum.invitations import INVITE
from handlers.people.personal_data import erase_person, export_person, find_person
from store import erasure
from store.models import Base, OutsideContact
from store.people import email_digest
from tests.handlers import given
from tests.handlers.sweeps import send_all


@pytest.fixture
def ctx(ctx):
    """E-mail and texts set up, as in a serve with SMTP_URL or NOTIFY_API_KEY configured."""
    return replace(ctx, outside_methods=frozenset({"email", "text"}))


SAM = '/qi-forum add-member "Sam Jones" email sam.jones@nhs.net as carer --consent'


def sam_invited(chat, ctx, chloe, sessions, clock):
    """Chloe, an organiser, adds Sam by e-mail; Sam is invited to a meeting a week ahead."""
    forum_id = given.forum(sessions, clock())
    given.meeting(ctx, forum_id, clock() + timedelta(days=7))
    chloe_id = given.organiser(sessions, chloe, clock())
    assert chat.say(chloe, SAM).ok
    run_announcements(ctx)
    assert [kind for kind, _, reply in send_all(ctx) if reply] == [INVITE]
    with sessions() as session:
        return chloe_id, find_person(session, "sam.jones@nhs.net").id


def test_export_shows_the_address_the_consent_and_every_message_sent(
    chat, ctx, chloe, sessions, clock
):
    chloe_id, sam_id = sam_invited(chat, ctx, chloe, sessions, clock)

    with sessions() as session:
        data = export_person(session, sam_id)

    assert data["reached_outside_chat"] == {
        "by": "e-mail",
        "address": "sam.jones@nhs.net",
        "consent_recorded": "2026-11-23T10:00:00+00:00",
        "consent_recorded_by": chloe_id,
        "address_confirmed": "2026-11-23T10:00:00+00:00",
        "messages_stopped": None,
    }
    [invitation] = data["messages_sent_to_them"]
    assert (invitation["kind"], invitation["status"], invitation["sent"]) == (
        INVITE,
        "sent",
        "2026-11-23T10:00:00+00:00",
    )
    assert invitation["planned"] == "2026-11-23T10:00:00+00:00"


def test_erasure_removes_the_address_and_remembers_it_so_imports_skip_them(
    chat, ctx, chloe, sessions, clock
):
    _, sam_id = sam_invited(chat, ctx, chloe, sessions, clock)

    with sessions.begin() as session:
        erase_person(session, sam_id, now=clock())

    with sessions() as session:
        assert session.scalars(select(OutsideContact)).all() == []
        everything = " ".join(
            str(row)
            for table in Base.metadata.sorted_tables
            for row in session.execute(select(table))
        )
        erased, _ = erasure.erased_among(session, email_sha256s=[email_digest("sam.jones@nhs.net")])
    assert "sam.jones" not in everything.lower() and "Sam Jones" not in everything
    assert erased == {email_digest("sam.jones@nhs.net")}
    # Added again in chat by an organiser who checked: allowed, and said.
    again = chat.say(chloe, SAM)
    assert "once asked for their details to be erased" in again.text


def test_erasing_the_organiser_keeps_the_consent_without_who_recorded_it(
    chat, ctx, chloe, sessions, clock
):
    chloe_id, sam_id = sam_invited(chat, ctx, chloe, sessions, clock)

    with sessions.begin() as session:
        erase_person(session, chloe_id, now=clock())

    with sessions() as session:
        contact = session.scalars(select(OutsideContact)).one()
    assert (contact.person_id, contact.consent_recorded_by_id) == (sam_id, None)
    assert contact.consent_recorded_at == clock()


def test_someone_reached_by_text_is_found_by_their_number_however_it_is_typed(
    chat, ctx, chloe, sessions, clock
):
    forum_id = given.forum(sessions, clock())
    priya = given.outside_member(
        sessions, forum_id, "Priya Shah", clock(), method="text", address="+447700900123"
    )

    with sessions() as session:
        found = [
            find_person(session, typed).id
            for typed in ("07700 900123", "+44 7700 900123", "07700900123")
        ]
        with pytest.raises(Refusal, match="Nobody is reached by text at 07700 900999"):
            find_person(session, "07700 900999")

    assert found == [priya, priya, priya]
