"""Forum invitations by e-mail through an SMTP relay: a real SMTP server here reads what arrives.

A carer who is not on chat is a forum member with a confirmed e-mail address. Invitations are
planned as the scheduler plans them (run_announcements), and the real outbox and Deliverer send
them through SmtpSender to tests.fakes.smtp_server.FakeSmtpServer (aiosmtpd on 127.0.0.1). Each
test says what the carer, or an admin reading `qi-nudge deliveries`, would notice.
"""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.cli.main import build_parser
from bot.outside.links import ANSWER, STOP, Links
from bot.outside.smtp import SmtpSender
from bot.runtime.delivery import Deliverer, DeliveryPolicy, Pacer, delivery_key
from bot.runtime.outside_settings import OutsideSettings
from bot.runtime.routing import SenderRouter
from bot.runtime.settings import Secret
from handlers.core.context import Context
from handlers.forum.announcements import MEETING_CHANGED, run_announcements
from handlers.forum.changes import cancel_meeting, move_meeting
from handlers.forum.invitations import INVITE
from store.models import Delivery, OutsideContact, Rsvp
from store.roles import Role, RsvpAnswer
from tests.fakes.smtp_server import FakeSmtpServer
from tests.handlers import given


@pytest.fixture
def ctx(ctx):
    """E-mail and texts set up, as in a serve with SMTP_URL or NOTIFY_API_KEY configured."""
    return replace(ctx, outside_methods=frozenset({"email", "text"}))


PUBLIC_URL = "https://qi.example.nhs.uk"
LINK_SECRET = "a-link-secret-for-tests-only-0123456789"
FROM = "QI Forum <qi-forum@trust.example.nhs.uk>"
CAROL = "carol.jones@example.org"
DAVE = "dave.smith@example.org"
LONDON = ZoneInfo("Europe/London")
POLICY = DeliveryPolicy(max_attempts=3, first_backoff=timedelta(seconds=30), batch=10)
LINK = re.compile(r"https://\S+")
# The test server warns that it takes a password without TLS: only these tests on 127.0.0.1 do.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


class Monotonic:
    """The pacer's clock, moved by its sleeps instead of waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def server() -> Iterator[FakeSmtpServer]:
    with FakeSmtpServer() as running:
        yield running


@pytest.fixture
def links(clock) -> Links:
    return Links(PUBLIC_URL, LINK_SECRET, clock=clock)


def email_sender(
    ctx: Context, links: Links, url: str, *, timeout: float = 5.0, **kwargs
) -> SmtpSender:
    """The sender `qi-nudge serve` builds from SMTP_URL and SMTP_FROM."""
    settings = OutsideSettings(
        public_url=PUBLIC_URL,
        link_secret=Secret(LINK_SECRET),
        smtp_url=Secret(url),
        smtp_from=FROM,
    )
    return SmtpSender(
        ctx.sessions,
        links,
        ctx.timezone,
        settings=settings,
        clock=ctx.clock,
        timeout=timeout,
        **kwargs,
    )


def deliverer(ctx: Context, sender: SmtpSender) -> Deliverer:
    monotonic = Monotonic()
    return Deliverer(
        ctx,
        SenderRouter([sender]),
        POLICY,
        pacer=Pacer(POLICY, clock=monotonic, sleep=monotonic.sleep),
    )


def carer_by_email(
    sessions: sessionmaker[Session], now: datetime, forum_id: int, name: str, address: str
) -> int:
    """A carer in the forum, not on chat, reached by e-mail with consent an organiser recorded."""
    return given.outside_member(sessions, forum_id, name, now, address=address)


@pytest.fixture
def forum_id(sessions, clock) -> int:
    return given.forum(sessions, clock(), "QI Forum")


@pytest.fixture
def meeting_id(ctx, forum_id, clock) -> int:
    """Monday 30 November 2026, 10am in London (GMT): a week from the test's clock."""
    return given.meeting(ctx, forum_id, clock() + timedelta(days=7), "Room 4, Trust HQ")


@pytest.fixture
def carol(sessions, clock, forum_id) -> int:
    return carer_by_email(sessions, clock(), forum_id, "Carol Jones", CAROL)


def deliveries(sessions: sessionmaker[Session], kind: str) -> list[Delivery]:
    with sessions() as session:
        return list(
            session.scalars(select(Delivery).where(Delivery.kind == kind).order_by(Delivery.id))
        )


def calendar_of(email: EmailMessage) -> Calendar:
    """The attached invite.ics, read as a calendar program reads it."""
    attached = [part for part in email.iter_attachments() if part.get_filename() == "invite.ics"]
    assert len(attached) == 1
    part = attached[0]
    assert part.get_content_type() == "text/calendar"
    assert part.get_param("method") == "PUBLISH"
    assert str(part.get_param("charset")).upper() == "UTF-8"
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return Calendar.from_ical(payload)


def the_event(email: EmailMessage):
    events = calendar_of(email).walk("VEVENT")
    assert len(events) == 1
    return events[0]


def links_in(email: EmailMessage) -> list[str]:
    return LINK.findall(body_of(email))


def body_of(email: EmailMessage) -> str:
    body = email.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def token_of(link: str, page: str) -> str:
    return link.split(f"/{page}/", 1)[1].split("?", 1)[0]


def what_admins_see(ctx: Context, capsys, *flags: str) -> str:
    """What `qi-nudge deliveries` prints."""
    args = build_parser().parse_args(["deliveries", *flags])
    capsys.readouterr()
    assert args.handler(ctx, args) == 0
    return capsys.readouterr().out


def test_a_carer_gets_one_invitation_email_with_answer_links_stop_link_and_calendar(
    ctx, sessions, clock, server, links, meeting_id, carol, capsys
):
    run_announcements(ctx)
    outcomes = deliverer(ctx, email_sender(ctx, links, server.url())).drain()

    assert outcomes == {"sent": 1}
    assert len(server.received) == 1
    arrived = server.received[0]
    assert arrived.rcpt_tos == (CAROL,)
    assert arrived.mail_from == "qi-forum@trust.example.nhs.uk"
    email = arrived.email
    assert email["To"] == CAROL
    assert email["From"] == FROM
    assert email["Subject"] == "You're invited: QI Forum"
    assert email["Auto-Submitted"] == "auto-generated"
    [invitation] = deliveries(sessions, INVITE)
    assert delivery_key(invitation.id) in email["Message-ID"]
    body = body_of(email)
    assert "Monday 30 November 2026 at 10am" in body and "Room 4, Trust HQ" in body

    # The two answers: each link names Carol and this meeting, with the answer picked.
    answers = [
        line for line in body.splitlines() if line.startswith(("I'm coming:", "I can't come:"))
    ]
    assert len(answers) == 2
    for line, choice in zip(answers, ("going", "not_going"), strict=True):
        link = LINK.search(line)
        assert link is not None and link.group().endswith(f"?choice={choice}")
        token = links.read(token_of(link.group(), "answer"), ANSWER)
        assert token is not None
        assert (token.person_id, token.meeting_id) == (carol, meeting_id)

    # "Stop these messages": in the body, and as the header mail programs offer a button for.
    stops = [link for link in links_in(email) if "/stop/" in link]
    assert len(stops) == 1
    assert email["List-Unsubscribe"] == f"<{stops[0]}>"
    stop = links.read(token_of(stops[0], "stop"), STOP)
    assert stop is not None and stop.person_id == carol

    # The calendar entry, both attached and inline for Outlook.
    event = the_event(email)
    assert str(event["UID"]) == f"meeting-{meeting_id}@qi.example.nhs.uk"
    assert event["SEQUENCE"] == 0
    assert event["STATUS"] == "CONFIRMED"
    assert event["DTSTART"].params["TZID"] == "Europe/London"
    assert event.decoded("DTSTART") == datetime(2026, 11, 30, 10, 0, tzinfo=LONDON)
    assert str(event["LOCATION"]) == "Room 4, Trust HQ"
    inline = [
        part
        for part in email.walk()
        if part.get_content_type() == "text/calendar" and part.get_filename() is None
    ]
    assert len(inline) == 1 and inline[0].get_param("method") == "PUBLISH"

    # The outbox says where it went, and never the address.
    with sessions() as session:
        row = session.get(Delivery, invitation.id)
        assert (row.status, row.platform) == ("sent", "email")
        assert CAROL not in (row.channel_id or "") and row.message_ts == email["Message-ID"]
    shown = what_admins_see(ctx, capsys)
    assert "forum_invite" in shown and "to Carol Jones: sent by e-mail after 1 attempt" in shown
    assert CAROL not in shown

    # Planning again (the scheduler runs every few minutes) sends nothing more.
    run_announcements(ctx)
    assert deliverer(ctx, email_sender(ctx, links, server.url())).drain() == {}
    assert len(server.received) == 1


@pytest.mark.parametrize(
    ("step", "reply"),
    [
        ("rcpt", "451 4.3.0 Mail server temporarily rejected message"),
        ("rcpt", "452 4.5.3 Too many recipients for now"),
        ("data", "451 4.7.1 Please try again later"),
    ],
)
def test_a_temporary_refusal_is_tried_again_later_and_sent_once(
    ctx, sessions, clock, server, links, meeting_id, carol, step, reply
):
    (server.answer_rcpt if step == "rcpt" else server.answer_data)(reply)
    run_announcements(ctx)
    sending = deliverer(ctx, email_sender(ctx, links, server.url()))

    assert sending.drain() == {"retry": 1}
    assert server.received == []
    [waiting] = deliveries(sessions, INVITE)
    assert waiting.status == "pending" and reply[:3] in (waiting.error or "")
    assert CAROL not in (waiting.error or "")

    clock.advance(seconds=POLICY.first_backoff.total_seconds())
    assert sending.drain() == {"sent": 1}
    assert [r.rcpt_tos for r in server.received] == [(CAROL,)]
    clock.advance(hours=1)
    assert sending.drain() == {}
    assert len(server.received) == 1


def test_an_address_the_server_refuses_for_good_fails_with_a_reason_naming_no_address(
    ctx, sessions, clock, server, links, meeting_id, carol, capsys
):
    # Relays put the address in their answer; it must not reach the outbox or the log.
    server.answer_rcpt("550 5.1.1 <{address}>: Recipient address rejected: User unknown")
    run_announcements(ctx)
    sending = deliverer(ctx, email_sender(ctx, links, server.url()))

    assert sending.drain() == {"failed": 1}
    assert server.received == []
    [failed] = deliveries(sessions, INVITE)
    assert failed.status == "failed"
    assert "refused the address (550)" in (failed.error or "")
    shown = what_admins_see(ctx, capsys, "--failed")
    assert "refused the address (550)" in shown
    assert CAROL not in shown

    clock.advance(days=1)
    assert sending.drain() == {}
    assert server.rcpts_tried == 1  # never tried again


def test_someone_who_asked_to_stop_gets_nothing_while_others_still_do(
    ctx, sessions, clock, server, links, forum_id, meeting_id, carol
):
    dave = carer_by_email(sessions, clock(), forum_id, "Dave Smith", DAVE)
    run_announcements(ctx)
    assert len(deliveries(sessions, INVITE)) == 2
    with sessions.begin() as session:  # Dave presses "stop these messages" before it goes
        session.execute(
            update(OutsideContact)
            .where(OutsideContact.person_id == dave)
            .values(stopped_at=clock())
        )

    deliverer(ctx, email_sender(ctx, links, server.url())).drain()

    assert [r.rcpt_tos for r in server.received] == [(CAROL,)]
    assert server.rcpts_tried == 1
    statuses = {d.recipient: d.status for d in deliveries(sessions, INVITE)}
    # Withdrawn, not failed: nothing is wrong, they just want no more.
    assert statuses == {f"person:{carol}": "sent", f"person:{dave}": "withdrawn"}


def say_going(sessions: sessionmaker[Session], meeting_id: int, person_id: int, now) -> None:
    """They pressed "I'm coming" on the answer page."""
    with sessions.begin() as session:
        session.add(
            Rsvp(
                meeting_id=meeting_id,
                person_id=person_id,
                answer=RsvpAnswer.GOING,
                role=Role.CARER,
                answered_at=now,
            )
        )


def test_a_moved_meeting_sends_the_carer_going_an_email_with_the_new_time(
    ctx, sessions, clock, server, links, meeting_id, carol
):
    run_announcements(ctx)
    sending = deliverer(ctx, email_sender(ctx, links, server.url()))
    sending.drain()
    say_going(sessions, meeting_id, carol, clock())
    clock.advance(hours=1)
    # To a Monday in April, after the clocks go forward: 2pm in London is 1pm UTC.
    new_time = datetime(2027, 4, 5, 14, 0, tzinfo=LONDON)

    move_meeting(ctx, meeting_id, new_time, actor_id=None)
    assert sending.drain() == {"sent": 1}

    first, moved = server.emails_to(CAROL)
    assert "has moved" in body_of(moved) and "Monday 5 April 2027 at 2pm" in body_of(moved)
    [news] = deliveries(sessions, MEETING_CHANGED)
    assert delivery_key(news.id) in moved["Message-ID"]
    assert moved["Message-ID"] != first["Message-ID"]
    event = the_event(moved)
    assert str(event["UID"]) == str(the_event(first)["UID"])  # the same entry, updated
    assert event["SEQUENCE"] == 1
    assert event["STATUS"] == "CONFIRMED"
    assert event["DTSTART"].params["TZID"] == "Europe/London"
    assert event.decoded("DTSTART") == new_time
    answers = [link for link in links_in(moved) if "/answer/" in link]
    assert answers, "the moved e-mail asks again whether they can come"
    for link in answers:
        token = links.read(token_of(link, "answer"), ANSWER)
        assert token is not None and (token.person_id, token.meeting_id) == (carol, meeting_id)


def test_a_cancelled_meeting_sends_the_carer_going_a_cancelled_calendar_entry(
    ctx, sessions, clock, server, links, meeting_id, carol
):
    say_going(sessions, meeting_id, carol, clock())

    cancel_meeting(ctx, meeting_id, actor_id=None)
    assert deliverer(ctx, email_sender(ctx, links, server.url())).drain() == {"sent": 1}

    [cancelled] = server.emails_to(CAROL)
    assert "has been cancelled" in body_of(cancelled)
    assert "Remove it from your calendar" in body_of(cancelled)
    event = the_event(cancelled)
    assert event["STATUS"] == "CANCELLED"
    assert event["SEQUENCE"] == 1
    assert str(event["UID"]) == f"meeting-{meeting_id}@qi.example.nhs.uk"


def test_a_timeout_after_the_message_was_sent_is_recorded_unconfirmed_and_never_sent_twice(
    ctx, sessions, clock, server, links, meeting_id, carol, capsys
):
    server.pause_after_data = 2.0  # the message arrives; the server's "250" comes too late
    run_announcements(ctx)
    sending = deliverer(ctx, email_sender(ctx, links, server.url(), timeout=0.5))

    sending.drain()
    clock.advance(hours=1)
    sending.drain()

    assert len(server.received) == 1
    [invitation] = deliveries(sessions, INVITE)
    assert invitation.status == "sent"
    assert "unconfirmed" in what_admins_see(ctx, capsys)


def free_port() -> int:
    """A port of 127.0.0.1 nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_mail_server_that_is_not_there_is_tried_again_later(
    ctx, sessions, clock, server, links, meeting_id, carol
):
    run_announcements(ctx)
    down = deliverer(ctx, email_sender(ctx, links, f"smtp://127.0.0.1:{free_port()}"))

    assert down.drain() == {"retry": 1}
    [waiting] = deliveries(sessions, INVITE)
    assert waiting.status == "pending"
    assert "could not reach the mail server (connection refused)" in (waiting.error or "")

    clock.advance(seconds=POLICY.first_backoff.total_seconds())
    assert deliverer(ctx, email_sender(ctx, links, server.url())).drain() == {"sent": 1}
    assert len(server.received) == 1


def test_the_relay_password_is_used_and_a_wrong_one_fails_telling_the_admin_to_check_smtp_url(
    ctx, sessions, clock, links, forum_id, meeting_id, carol, caplog
):
    caplog.set_level(logging.DEBUG)
    with FakeSmtpServer(login=("qi-bot", "right horse battery")) as server:
        run_announcements(ctx)
        wrong = server.url(login=("qi-bot", "wrong-staple"))
        assert deliverer(ctx, email_sender(ctx, links, wrong)).drain() == {"failed": 1}
        [failed] = deliveries(sessions, INVITE)
        assert "did not accept the user name and password (535)" in (failed.error or "")
        assert "check SMTP_URL" in (failed.error or "")
        assert "wrong-staple" not in (failed.error or "")
        assert server.received == [] and server.sign_ins
        assert not any(accepted for _, accepted in server.sign_ins)

        # The admin puts the right password in SMTP_URL (a space written %20, as in any URL);
        # the next invitation goes.
        dave = carer_by_email(sessions, clock(), forum_id, "Dave Smith", DAVE)
        run_announcements(ctx)
        right = server.url(login=("qi-bot", "right%20horse%20battery"))
        assert deliverer(ctx, email_sender(ctx, links, right)).drain() == {"sent": 1}
        assert [r.rcpt_tos for r in server.received] == [(DAVE,)]
        assert server.sign_ins[-1] == ("qi-bot", True)
        assert {d.recipient: d.status for d in deliveries(sessions, INVITE)} == {
            f"person:{carol}": "failed",
            f"person:{dave}": "sent",
        }
    # What qi-nudge logged (the test server's own log shows the whole conversation).
    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail."))
    assert "e-mail qi-nudge-delivery-" in ours
    for secret in ("wrong-staple", "right horse battery", "right%20horse", CAROL, DAVE):
        assert secret not in ours


def test_starttls_is_used_when_offered_and_an_untrusted_certificate_fails_saying_so(
    ctx, sessions, clock, links, forum_id, meeting_id, carol, tmp_path: Path
):
    login = ("qi-bot", "s3cret")
    with FakeSmtpServer(login=login, certificate_dir=tmp_path) as server:
        run_announcements(ctx)
        # The server's own certificate is not one this machine trusts: nothing is sent to it.
        untrusted = deliverer(ctx, email_sender(ctx, links, server.url(login=login)))
        assert untrusted.drain() == {"failed": 1}
        [failed] = deliveries(sessions, INVITE)
        assert "certificate could not be trusted" in (failed.error or "")
        assert server.received == [] and server.sign_ins == []

        carer_by_email(sessions, clock(), forum_id, "Dave Smith", DAVE)
        run_announcements(ctx)
        trusted = email_sender(ctx, links, server.url(login=login), tls=server.client_tls())
        assert deliverer(ctx, trusted).drain() == {"sent": 1}
        # The server takes nothing before STARTTLS: the sign-in and the message went encrypted.
        assert server.sign_ins == [("qi-bot", True)]
        assert [r.rcpt_tos for r in server.received] == [(DAVE,)]


def test_smtps_sends_over_tls_from_the_first_byte(
    ctx, sessions, clock, links, meeting_id, carol, tmp_path: Path
):
    login = ("qi-bot", "s3cret")
    with FakeSmtpServer(login=login, certificate_dir=tmp_path, implicit_tls=True) as server:
        run_announcements(ctx)
        url = server.url(scheme="smtps", login=login)
        sending = deliverer(ctx, email_sender(ctx, links, url, tls=server.client_tls()))
        assert sending.drain() == {"sent": 1}
        assert [r.rcpt_tos for r in server.received] == [(CAROL,)]
        assert server.sign_ins == [("qi-bot", True)]


def address_off_this_machine() -> str | None:
    """This machine's own address on its network (not loopback), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.254.254.254", 9))  # no packet is sent: this only picks a route
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


def test_a_password_is_never_sent_unencrypted_to_a_server_on_another_machine(
    ctx, sessions, clock, links, meeting_id, carol
):
    host = address_off_this_machine()
    if host is None:
        pytest.skip("this machine has no network address other than loopback")
    login = ("qi-bot", "s3cret")
    with FakeSmtpServer(login=login, host=host) as server:  # offers no STARTTLS
        run_announcements(ctx)
        sending = deliverer(ctx, email_sender(ctx, links, server.url(login=login)))

        assert sending.drain() == {"failed": 1}

        [failed] = deliveries(sessions, INVITE)
        assert "does not offer STARTTLS, so the password would go unencrypted" in (
            failed.error or ""
        )
        assert server.sign_ins == [] and server.received == []
