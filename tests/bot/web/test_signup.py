"""A forum's public sign-up page: checks, kind errors, the honeypot, and no duplicates."""

from __future__ import annotations

from sqlalchemy import select, update
from starlette.testclient import TestClient

from bot.outside import compose
from bot.runtime.scheduler import UNCONFIRMED_KEPT, Jobs
from bot.web import routes
from handlers.forum.public_signup import CONFIRM_CONTACT, CONFIRM_LABEL
from handlers.messages import render_delivery
from handlers.nudges.weekly import NudgePolicy
from store import outbox, people
from store.forums import forums_of as forums_rows
from store.models import ChatIdentity, Delivery, Forum, ForumMember, OutsideContact, Person
from store.roles import Role
from tests.bot.web.conftest import build_app
from tests.handlers import given

GOOD = {
    "name": "Fran Signup",
    "method": "email",
    "address": "fran@example.org",
    "role": "carer",
    "consent": "yes",
    "website": "",
}


def public(sessions, forum_id: int) -> None:
    with sessions.begin() as session:
        session.execute(update(Forum).where(Forum.id == forum_id).values(public_signup=True))


def signed_up(sessions) -> list[tuple]:
    """Everyone with an outside contact: (name, method, address, confirmed, forum roles)."""
    with sessions() as session:
        rows = session.execute(
            select(Person.display_name, OutsideContact.method, OutsideContact.address)
            .join(OutsideContact, OutsideContact.person_id == Person.id)
            .where(OutsideContact.consent_recorded_by_id.is_(None))
            .where(Person.display_name != "Dana Carer")
            .order_by(Person.id)
        ).all()
        roles = session.execute(
            select(ForumMember.role).join(Person).where(Person.display_name != "Dana Carer")
        ).all()
        return [tuple(r) for r in rows] + [("roles", [r for (r,) in roles])]


def confirmations(sessions) -> list[Delivery]:
    with sessions() as session:
        return list(session.scalars(select(Delivery).where(Delivery.kind == CONFIRM_CONTACT)))


def test_a_forum_without_public_sign_up_has_no_page(site, sessions):
    shown = site.client.get("/join/carers qi forum")
    sent = site.client.post("/join/carers qi forum", data=GOOD)

    assert shown.status_code == sent.status_code == 404
    assert "There is no sign-up page here" in shown.text
    assert signed_up(sessions) == [("roles", [])]


def test_the_form_labels_every_field(site, sessions):
    public(sessions, site.forum)

    page = site.client.get("/join/Carers QI Forum")

    assert page.status_code == 200
    assert "<h1>Sign up to the Carers QI Forum</h1>" in page.text
    for field in ("name", "method-email", "method-text", "address", "role-carer", "consent"):
        assert f'for="{field}"' in page.text
    assert 'for="role-unsaid"' in page.text and "rather not say" in page.text


def test_signing_up_keeps_them_unconfirmed_and_sends_only_the_confirmation(site, sessions, ctx):
    public(sessions, site.forum)

    done = site.client.post("/join/carers qi forum", data=GOOD)

    assert done.status_code == 200 and "Thank you for signing up" in done.text
    assert signed_up(sessions) == [
        ("Fran Signup", "email", "fran@example.org"),
        ("roles", [Role.CARER]),
    ]
    with sessions() as session:
        contact = session.scalar(
            select(OutsideContact).where(OutsideContact.address == "fran@example.org")
        )
        assert contact.confirmed_at is None and contact.consent_recorded_at == ctx.now()
    (delivery,) = confirmations(sessions)
    assert delivery.recipient == outbox.person_recipient(contact.person_id)
    message = render_delivery(ctx, outbox.as_claimed(delivery))
    assert message is not None
    assert "Carers QI Forum" in message.text
    assert [b.label for b in message.buttons] == [CONFIRM_LABEL]


def test_the_confirmation_is_not_sent_once_confirmed(site, sessions, ctx):
    public(sessions, site.forum)
    site.client.post("/join/carers qi forum", data=GOOD)
    (delivery,) = confirmations(sessions)
    person_id = outbox.recipient_person_id(delivery.recipient)

    site.client.post(site.path(site.links.confirm(person_id)))

    assert render_delivery(ctx, outbox.as_claimed(delivery)) is None


def test_mistakes_show_the_form_again_with_what_was_typed(site, sessions):
    public(sessions, site.forum)
    typed = {**GOOD, "name": "  ", "address": "fran at example", "consent": "", "role": ""}

    page = site.client.post("/join/carers qi forum", data=typed)

    assert page.status_code == 400
    assert "<title>Error: Sign up to the Carers QI Forum" in page.text
    assert "There is a problem" in page.text
    assert '<a href="#name">Enter your name</a>' in page.text
    assert "Enter an e-mail address in the right form, like name@example.com" in page.text
    assert '<a href="#role-service_user">' in page.text
    assert "Tick the box to say we may contact you" in page.text
    assert 'value="fran at example"' in page.text  # kept, to put right
    assert 'id="method-email" name="method" type="radio" value="email" checked' in page.text
    assert 'aria-describedby="address-hint address-error"' in page.text
    assert signed_up(sessions) == [("roles", [])]
    assert confirmations(sessions) == []


def test_what_was_typed_is_shown_as_text_never_as_markup(site, sessions):
    public(sessions, site.forum)

    page = site.client.post(
        "/join/carers qi forum", data={**GOOD, "name": "<script>alert(1)</script>", "consent": ""}
    )

    assert "<script>" not in page.text and "&lt;script&gt;" in page.text


def test_a_mobile_number_is_taken_in_international_form(site, sessions):
    public(sessions, site.forum)
    typed = {**GOOD, "method": "text", "address": "07700 900123", "role": "unsaid"}

    site.client.post("/join/carers qi forum", data=typed)

    assert signed_up(sessions) == [("Fran Signup", "text", "+447700900123"), ("roles", [None])]


def test_a_filled_honeypot_is_thanked_and_nothing_kept(site, sessions):
    public(sessions, site.forum)

    page = site.client.post("/join/carers qi forum", data={**GOOD, "website": "http://spam"})

    assert "Thank you for signing up" in page.text
    assert signed_up(sessions) == [("roles", [])]
    assert confirmations(sessions) == []


def test_the_same_address_twice_makes_no_second_person_and_reads_the_same(site, sessions):
    public(sessions, site.forum)
    first = site.client.post("/join/carers qi forum", data=GOOD)

    second = site.client.post(
        "/join/carers qi forum",
        data={**GOOD, "name": "Someone Else", "address": "FRAN@example.org"},
    )

    assert second.text == first.text
    assert signed_up(sessions) == [
        ("Fran Signup", "email", "fran@example.org"),
        ("roles", [Role.CARER]),
    ]
    assert len(confirmations(sessions)) == 1  # one a day, however often the form is sent


def test_a_known_confirmed_address_is_not_told_apart_nor_changed(site, sessions):
    public(sessions, site.forum)
    fresh = site.client.post("/join/carers qi forum", data=GOOD)

    known = site.client.post(
        "/join/carers qi forum", data={**GOOD, "name": "Dana Again", "address": "dana@example.org"}
    )

    assert known.text == fresh.text
    with sessions() as session:
        names = session.scalars(select(Person.display_name).order_by(Person.id)).all()
    assert names == ["Dana Carer", "Fran Signup"]
    assert len(confirmations(sessions)) == 1  # Fran's only: Dana's address is confirmed


def test_many_sign_ups_from_one_network_address_are_slowed(site, sessions, ctx):
    public(sessions, site.forum)
    answers = [
        site.client.post(
            "/join/carers qi forum", data={**GOOD, "address": f"person{n}@example.org"}
        ).status_code
        for n in range(11)
    ]

    assert answers == [200] * 10 + [429]
    assert len(confirmations(sessions)) == 10


def test_a_second_forums_page_is_its_own(site, sessions, ctx):
    other = given.forum(sessions, ctx.now(), "Young People's Forum")
    public(sessions, other)

    page = site.client.get("/join/young peoples forum")
    closed = site.client.get("/join/carers qi forum")

    assert "Sign up to the Young People&#39;s Forum" in page.text
    assert closed.status_code == 404


def test_a_sign_up_never_confirmed_is_forgotten_by_the_scheduler_once_its_link_runs_out(
    site, sessions, ctx, clock
):
    public(sessions, site.forum)
    site.client.post("/join/carers qi forum", data=GOOD)
    site.client.post(
        "/join/carers qi forum", data={**GOOD, "name": "Gus", "address": "gus@example.org"}
    )
    with sessions() as session:
        gus = session.scalar(select(Person.id).where(Person.display_name == "Gus"))
    site.client.post(site.path(site.links.confirm(gus)))  # Gus confirms; Fran never does
    jobs = Jobs(ctx, NudgePolicy())

    clock.advance(seconds=UNCONFIRMED_KEPT.total_seconds() - 60)
    assert jobs.forget_unconfirmed_signups() == 0  # her link may still be followed
    clock.advance(minutes=2)
    assert jobs.forget_unconfirmed_signups() == 1

    assert signed_up(sessions) == [("Gus", "email", "gus@example.org"), ("roles", [Role.CARER])]
    # Fran's confirmation message went with her; Gus's stays, as a record of what was sent.
    assert [d.recipient for d in confirmations(sessions)] == [outbox.person_recipient(gus)]


# --- review fixes: a known address on another forum's page, one that said stop, one on chat ---


def test_a_confirmed_member_signing_up_to_another_forum_is_asked_and_joins_when_they_agree(
    site, sessions, ctx
):
    young = given.forum(sessions, ctx.now(), "Young People's Forum")
    public(sessions, young)

    site.client.post("/join/young peoples forum", data={**GOOD, "address": "dana@example.org"})

    (asked,) = confirmations(sessions)
    reply = render_delivery(ctx, outbox.as_claimed(asked))
    assert reply is not None and reply.sections[0].heading == (
        "Would you like to hear about the Young People's Forum too?"
    )
    dana = outbox.recipient_person_id(asked.recipient)
    email = compose.as_email(
        reply, person_id=dana, links=site.links, zone=ctx.timezone, now=ctx.now()
    )
    link = next(w for w in email.body.split() if "/confirm/" in w)
    with sessions() as session:
        assert forums_of(session, dana) == ["Carers QI Forum"]  # nothing until they agree

    agreed = site.client.post(site.path(link))

    assert "Thank you" in agreed.text
    with sessions() as session:
        assert forums_of(session, dana) == ["Carers QI Forum", "Young People's Forum"]
        role = session.scalar(
            select(ForumMember.role).where(
                ForumMember.person_id == dana, ForumMember.forum_id == young
            )
        )
    assert role == Role.CARER
    assert render_delivery(ctx, outbox.as_claimed(asked)) is None  # in it now: not asked again


def test_an_address_that_said_stop_or_belongs_to_someone_on_chat_gets_nothing(
    site, sessions, ctx, asha
):
    public(sessions, site.forum)
    young = given.forum(sessions, ctx.now(), "Young People's Forum")
    public(sessions, young)
    with sessions.begin() as session:
        session.scalar(
            select(OutsideContact).where(OutsideContact.address == "dana@example.org")
        ).stopped_at = ctx.now()
    given.person_id(sessions, asha, ctx.now())  # on chat, their work address verified there
    with sessions.begin() as session:
        session.execute(
            update(ChatIdentity).values(email_sha256=people.email_digest("asha@nhs.net"))
        )
    fresh = site.client.post("/join/carers qi forum", data=GOOD)
    before = given.row_counts(sessions)

    stopped = site.client.post(
        "/join/young peoples forum", data={**GOOD, "address": "dana@example.org"}
    )
    on_chat = site.client.post("/join/carers qi forum", data={**GOOD, "address": "ASHA@nhs.net"})

    assert stopped.text == on_chat.text == fresh.text  # nobody learns who is known here
    assert given.row_counts(sessions) == before


def test_a_sign_up_made_again_is_kept_while_its_newest_link_works(site, sessions, ctx, clock):
    public(sessions, site.forum)
    site.client.post("/join/carers qi forum", data=GOOD)
    clock.advance(days=6)
    site.client.post("/join/carers qi forum", data=GOOD)  # a second link, good for a week
    jobs = Jobs(ctx, NudgePolicy())

    clock.advance(days=3)  # past the first link's time, not the second's
    assert jobs.forget_unconfirmed_signups() == 0
    clock.advance(days=6)
    assert jobs.forget_unconfirmed_signups() == 1


def forums_of(session, person_id: int) -> list[str]:
    return sorted(forum.name for forum in forums_rows(session, person_id))


def test_many_sign_ups_to_one_forum_from_anywhere_are_slowed_too(site, sessions, ctx, monkeypatch):
    # As if each came from its own network address (many people, or a script spread wide).
    monkeypatch.setattr(routes, "SIGNUPS_PER_ADDRESS", 1000)
    monkeypatch.setattr(routes, "SIGNUPS_PER_FORUM", 3)
    client = TestClient(build_app(ctx, site.links, []), raise_server_exceptions=False)
    public(sessions, site.forum)

    answers = [
        client.post(
            "/join/carers qi forum", data={**GOOD, "address": f"person{n}@example.org"}
        ).status_code
        for n in range(4)
    ]

    assert answers == [200, 200, 200, 429]
    assert len(confirmations(sessions)) == 3
