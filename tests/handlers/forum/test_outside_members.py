"""Organisers add forum members who are not on chat, see how each is reached, and remove them."""

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select

from bot.outside.links import FORUM_CALENDAR, Links
from handlers.core import ids
from handlers.dispatch import Dispatcher
from handlers.forum.announcements import ANNOUNCE, run_announcements
from store import signups
from store.models import (
    AuditEvent,
    ChatIdentity,
    Forum,
    ForumMember,
    OutsideContact,
    Person,
    Rsvp,
)
from store.roles import Role, RsvpAnswer
from tests.conftest import Chat
from tests.handlers import given
from tests.handlers.sweeps import send_all

SAM = '/qi-forum add-member "Sam Jones" email sam.jones@nhs.net as carer --consent'
PRIYA = '/qi-forum add-member "Priya Shah" text 07700 900123 as carer --consent'
BOTH = frozenset({"email", "text"})


def outside(sessions):
    """Everyone reached outside chat: (name, forum role, method, address, consent by, confirmed)."""
    with sessions() as session:
        rows = session.execute(
            select(
                Person.display_name,
                ForumMember.role,
                OutsideContact.method,
                OutsideContact.address,
                OutsideContact.consent_recorded_by_id,
                OutsideContact.confirmed_at,
            )
            .join(OutsideContact, OutsideContact.person_id == Person.id)
            .outerjoin(
                ForumMember,
                (ForumMember.person_id == Person.id) & ForumMember.left_at.is_(None),
            )
            .order_by(Person.id)
        )
        return [tuple(row) for row in rows]


def test_an_organiser_adds_a_carer_by_email_and_one_by_text(chat, ctx, chloe, sessions, clock):
    given.forum(sessions, clock())
    chloe_id = given.organiser(sessions, chloe, clock())

    by_email = chat.say(chloe, SAM)
    by_text = chat.say(chloe, PRIYA)

    assert by_email.ok and by_text.ok
    assert by_email.text.startswith(
        'Sam Jones is now a member of "QI Forum" as a carer. They will hear about its meetings '
        "by e-mail at s***@nhs.net. I've noted that you checked they agreed."
    )
    assert "by text at •••• ••0123" in by_text.text
    assert "sam.jones" not in by_email.text and "900123" not in by_text.text
    assert outside(sessions) == [
        ("Sam Jones", Role.CARER, "email", "sam.jones@nhs.net", chloe_id, clock()),
        ("Priya Shah", Role.CARER, "text", "+447700900123", chloe_id, clock()),
    ]
    with sessions() as session:
        # Not on chat: they have no chat identity.
        assert (
            session.scalar(select(ChatIdentity.id).where(ChatIdentity.person_id != chloe_id))
            is None
        )
        audit = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action.in_(["forum_member.added", "outside_contact.recorded"])
            )
        ).all()
    assert len(audit) == 4 and {a.actor_person_id for a in audit} == {chloe_id}
    held = " ".join(str(a.detail) for a in audit)
    assert "Sam" not in held and "sam.jones" not in held and "900123" not in held


def test_with_nothing_set_up_to_send_the_organiser_is_told_nobody_reaches_them(
    chat, chloe, sessions, clock
):
    given.forum(sessions, clock())
    given.organiser(sessions, chloe, clock())

    reply = chat.say(chloe, SAM)

    assert "E-mail isn't set up here yet, so nothing reaches them until it is" in reply.text


def test_without_consent_nothing_is_recorded_and_the_organiser_is_told_why(
    chat, chloe, sessions, clock
):
    given.forum(sessions, clock())
    given.organiser(sessions, chloe, clock())
    before = given.row_counts(sessions)

    reply = chat.say(chloe, SAM.removesuffix(" --consent"))

    assert not reply.ok
    assert reply.text.startswith(
        "Before I add Sam Jones, please check they are happy to hear about the forum's "
        "meetings by e-mail, and for their name and address to be kept in qi-nudge"
    )
    assert "add --consent to the end of the same command" in reply.text
    assert given.row_counts(sessions) == before


def test_only_organisers_add_members(chat, ben, sessions, clock):
    given.forum(sessions, clock())
    given.person_id(sessions, ben, clock())
    before = given.row_counts(sessions)

    reply = chat.say(ben, SAM)

    assert not reply.ok and "Only QI forum organisers can do that." in reply.text
    assert given.row_counts(sessions) == before


def test_a_mistyped_address_is_explained_and_nothing_is_recorded(chat, chloe, sessions, clock):
    given.forum(sessions, clock())
    given.organiser(sessions, chloe, clock())
    before = given.row_counts(sessions)

    email = chat.say(chloe, '/qi-forum add-member "Sam Jones" email sam.jones@ as carer --consent')
    landline = chat.say(chloe, '/qi-forum add-member "Sam" text 020 7946 0000 as carer --consent')
    missing = chat.say(chloe, '/qi-forum add-member "Sam Jones" as carer --consent')

    assert "'sam.jones@' doesn't look like an e-mail address" in email.text
    assert "is not a mobile number, so it can't get text messages" in landline.text
    assert missing.text.startswith("Please give their name, then email or text and their address")
    assert given.row_counts(sessions) == before


def test_adding_someone_again_records_them_once_and_can_change_their_role(
    chat, chloe, sessions, clock
):
    given.forum(sessions, clock())
    given.organiser(sessions, chloe, clock())
    chat.say(chloe, SAM)

    again = chat.say(chloe, SAM.replace("sam.jones@", "Sam.Jones@").replace("add-", "add "))
    other_role = chat.say(chloe, SAM.replace("as carer", "as service user"))

    assert again.text == (
        'Sam Jones is already a member of "QI Forum", reached at that address. Nothing has changed.'
    )
    assert "I've changed their role from carer to service user." in other_role.text
    assert [row[:2] for row in outside(sessions)] == [("Sam Jones", Role.SERVICE_USER)]


def test_someone_on_chat_with_that_address_is_asked_to_join_themselves(
    chat, ben, chloe, sessions, clock
):
    given.forum(sessions, clock())
    given.organiser(sessions, chloe, clock())
    ben_id = given.person_id(sessions, ben, clock())
    with sessions.begin() as session:
        identity = session.scalar(select(ChatIdentity).where(ChatIdentity.person_id == ben_id))
        identity.email_sha256 = __import__("store.people").people.email_digest("ben@nhs.net")
    before = given.row_counts(sessions)

    reply = chat.say(chloe, '/qi-forum add-member "Ben" email ben@nhs.net as carer --consent')

    assert not reply.ok and "Please ask them to type /qi-join forum." in reply.text
    assert given.row_counts(sessions) == before


def test_with_several_forums_the_organiser_names_one(chat, chloe, sessions, clock):
    given.forum(sessions, clock(), "North Forum")
    south = given.forum(sessions, clock(), "South Forum")
    given.organiser(sessions, chloe, clock())

    unsaid = chat.say(chloe, SAM)
    said = chat.say(chloe, SAM + ' --forum "South Forum"')

    assert not unsaid.ok and 'There are 2 forums: "North Forum", "South Forum".' in unsaid.text
    assert said.ok and '"South Forum"' in said.text
    with sessions() as session:
        assert session.scalars(select(ForumMember.forum_id)).all() == [south]


def test_members_shows_how_each_is_reached_with_addresses_masked(
    ctx, chat, ben, chloe, sessions, clock
):
    given.forum(sessions, clock())
    given.organiser(sessions, chloe, clock())
    chat.say(ben, "/qi-join forum as carer")
    chat.say(chloe, SAM)
    chat.say(chloe, PRIYA)
    chat.say(chloe, '/qi-forum add-member "Ola" email ola@example.org as service user --consent')
    with sessions.begin() as session:
        ola = session.scalar(
            select(OutsideContact).where(OutsideContact.address == "ola@example.org")
        )
        ola.stopped_at = clock()
    configured = Chat(Dispatcher(replace(ctx, outside_methods=BOTH)))

    reply = configured.say(chloe, "/qi-forum members")
    bare = chat.say(chloe, "/qi-forum members")

    assert reply.ok and reply.sections[0].heading == "Members of QI Forum"
    assert reply.sections[0].text.splitlines() == [
        '4 members of "QI Forum": 1 service user, 3 carers.',
        "• Ben Okafor, carer: on chat",
        "• Ola, service user: asked not to be messaged",
        "• Priya Shah, carer: by text (•••• ••0123)",
        "• Sam Jones, carer: by e-mail (s***@nhs.net)",
        "Reached: 1 on chat, 1 by e-mail, 1 by text, 1 asked not to be messaged",
    ]
    assert "• Sam Jones, carer: not reachable (no e-mail or text set up)" in bare.text
    assert "Reached: 1 on chat, 1 asked not to be messaged, 2 not reachable" in bare.text
    assert not chat.say(ben, "/qi-forum members").ok


def test_removing_a_member_takes_them_off_and_stops_their_messages(
    ctx, chat, chloe, sessions, clock
):
    forum_id = given.forum(sessions, clock())
    meeting_id = given.meeting(ctx, forum_id, clock() + timedelta(days=7))
    given.organiser(sessions, chloe, clock())
    chat.say(chloe, SAM)
    answer_by_link(sessions, clock, meeting_id, "sam.jones@nhs.net")
    clock.advance(hours=1)

    reply = chat.say(chloe, '/qi-forum remove member "sam jones"')

    assert reply.ok and reply.text.startswith(
        'I\'ve taken Sam Jones off "QI Forum". Their time in it is kept in its history. Their '
        "name is off the 1 meeting they said they'd come to. They won't get any more messages."
    )
    assert reply.refresh == (f"meeting:{meeting_id}@",)
    with sessions() as session:
        member = session.scalars(select(ForumMember)).one()
        contact = session.scalars(select(OutsideContact)).one()
        rsvp = session.scalars(select(Rsvp)).one()
    assert member.left_at == clock() and contact.stopped_at == clock()
    assert rsvp.answer == RsvpAnswer.NOT_GOING
    # Added again, with their agreement checked again: they hear again.
    back = chat.say(chloe, SAM)
    assert "they will get them again" in back.text
    assert [row[:2] for row in outside(sessions)] == [("Sam Jones", Role.CARER)]


def test_a_member_of_another_forum_still_hears_from_it(ctx, chat, chloe, sessions, clock):
    given.forum(sessions, clock(), "North Forum")
    given.forum(sessions, clock(), "South Forum")
    given.organiser(sessions, chloe, clock())
    chat.say(chloe, SAM + ' --forum "North Forum"')
    chat.say(chloe, SAM + ' --forum "South Forum"')

    reply = chat.say(chloe, '/qi-forum remove-member "Sam Jones" --forum "North Forum"')

    assert "They are still in another forum, so they still hear about its meetings." in reply.text
    with sessions() as session:
        assert session.scalars(select(OutsideContact.stopped_at)).all() == [None]
        assert len(session.scalars(select(Person)).all()) == 2  # Chloe and Sam, once


def test_removing_someone_on_chat_or_unknown_is_refused_kindly(chat, ben, chloe, sessions, clock):
    given.forum(sessions, clock())
    given.organiser(sessions, chloe, clock())
    chat.say(ben, "/qi-join forum as carer")
    before = given.row_counts(sessions)

    on_chat = chat.say(chloe, '/qi-forum remove-member "Ben Okafor"')
    unknown = chat.say(chloe, '/qi-forum remove-member "Nobody Here"')

    assert on_chat.text == "Ben Okafor uses chat: they can leave themselves with /qi-leave forum."
    assert unknown.text.startswith(
        'I couldn\'t find "Nobody Here" among the members of "QI Forum".'
    )
    assert given.row_counts(sessions) == before


def answer_by_link(sessions, clock, meeting_id, address, answer=RsvpAnswer.GOING):
    """The person at this address answers from the page their invitation's link opens.

    That page (bot/web) records the answer as a button in chat does: in their forum role.
    """
    with sessions.begin() as session:
        contact = session.scalar(select(OutsideContact).where(OutsideContact.address == address))
        role = session.scalar(
            select(ForumMember.role).where(
                ForumMember.person_id == contact.person_id, ForumMember.left_at.is_(None)
            )
        )
        session.add(
            Rsvp(
                meeting_id=meeting_id,
                person_id=contact.person_id,
                answer=answer,
                role=role,
                answered_at=clock(),
            )
        )


def test_carers_going_by_email_and_text_count_in_the_channel_and_the_stats(
    ctx, chat, chloe, sessions, clock
):
    forum_id = given.forum(sessions, clock(), channel="console:forum")
    meeting_id = given.meeting(ctx, forum_id, clock() + timedelta(days=3))
    given.organiser(sessions, chloe, clock())
    chat.say(chloe, SAM)
    chat.say(chloe, PRIYA)
    answer_by_link(sessions, clock, meeting_id, "sam.jones@nhs.net")
    answer_by_link(sessions, clock, meeting_id, "+447700900123")
    chat.bot.action(chloe, ids.RSVP, f"{meeting_id}:going")  # staff, no role given
    run_announcements(ctx)

    (post,) = [reply for kind, _, reply in send_all(ctx) if kind == ANNOUNCE]
    clock.advance(days=4)
    stats = chat.say(chloe, "/qi-stats forum")

    assert "Going so far: 3 (2 carers, 1 who didn't say)." in post.text
    assert (
        "For the last one (26 November 2026), 2 service users and carers and 0 staff said "
        "they were coming." in stats.text
    )


def test_members_gives_organisers_the_calendar_feed_and_the_sign_up_page_to_share(
    ctx, chat, chloe, sessions, clock
):
    forum_id = given.forum(sessions, clock())
    given.organiser(sessions, chloe, clock())
    chat.say(chloe, SAM)
    links = Links("https://qi.example.nhs.uk", "k" * 40, clock=clock)
    with_pages = Chat(Dispatcher(replace(ctx, outside_methods=BOTH, pages=links)))

    closed = with_pages.say(chloe, "/qi-forum members").text
    with sessions.begin() as session:
        session.get(Forum, forum_id).public_signup = True
    opened = with_pages.say(chloe, "/qi-forum members").text

    feed = closed.split("subscribe in Outlook or Google Calendar, or share it): ", 1)[1]
    token = feed.split("/calendar/forum/", 1)[1].removesuffix(".ics").split()[0]
    assert links.read(token, FORUM_CALENDAR).forum_id == forum_id
    assert "sign up" not in closed
    assert "Anyone can sign up on its page: https://qi.example.nhs.uk/join/qi%20forum" in opened
    assert "calendar" not in chat.say(chloe, "/qi-forum members").text  # no PUBLIC_URL: none


def test_an_organiser_adding_someone_still_to_confirm_a_sign_up_confirms_it_for_good(
    chat, chloe, sessions, clock
):
    forum_id = given.forum(sessions, clock())
    organiser = given.organiser(sessions, chloe, clock())
    with sessions.begin() as session:
        signups.sign_up(
            session,
            forum_id=forum_id,
            name="Sam Jones",
            method="email",
            address="sam.jones@nhs.net",
            role=Role.CARER,
            now=clock(),
        )

    assert chat.say(chloe, SAM).ok

    with sessions() as session:
        contact = session.scalar(select(OutsideContact))
        assert contact.confirmed_at == clock() and contact.consent_recorded_by_id == organiser
    with sessions.begin() as session:  # long after the sign-up's own link ran out
        assert signups.forget_unconfirmed(session, before=clock() + timedelta(days=30)) == 0
