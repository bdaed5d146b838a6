"""Forum invitations by e-mail and text through GOV.UK Notify, exactly once whatever Notify says.

The invitations are planned as the scheduler plans them (run_announcements) and sent by the real
outbox Deliverer through NotifyEmailSender and NotifyTextSender, which use Notify's own Python
client against tests.fakes.notify_api.FakeNotify over HTTP. Each test reads as what a carer or an
admin would notice: what arrived, to whom, how often, and what `qi-nudge deliveries` would say.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.cli.main import build_parser
from bot.outside.links import ANSWER, STOP, Links
from bot.outside.notify import NotifyEmailSender, NotifyTextSender
from bot.runtime.delivery import Deliverer, DeliveryPolicy, Pacer
from bot.runtime.outside_settings import OutsideSettings
from bot.runtime.routing import SenderRouter
from bot.runtime.settings import Secret
from handlers.core.context import Context
from handlers.core.reply import Reply, Section
from handlers.forum.announcements import run_announcements
from handlers.forum.invitations import INVITE
from store import contacts
from store.models import Delivery
from tests.bot.runtime.test_delivery import FakeMonotonic, time_passes
from tests.fakes.notify_api import (
    EMAIL_TEMPLATE_ID,
    LIST,
    SEND,
    SERVICE_ID,
    TEXT_TEMPLATE_ID,
    FakeNotify,
    api_key,
)
from tests.handlers import given


@pytest.fixture
def ctx(ctx):
    """E-mail and texts set up, as in a serve with SMTP_URL or NOTIFY_API_KEY configured."""
    return replace(ctx, outside_methods=frozenset({"email", "text"}))


PUBLIC_URL = "https://qi.example.nhs.uk"
LINK_SECRET = "a-link-secret-of-at-least-32-characters"
CAROL_MOBILE = "+447700900123"
DEV_EMAIL = "dev.carer@example.org"
POLICY = DeliveryPolicy(max_attempts=3, first_backoff=timedelta(seconds=30), batch=10)
URL = re.compile(r"https?://\S+")


@dataclass(frozen=True)
class Scene:
    """A forum meeting next week, and two carers not on chat: Carol by text, Dev by e-mail."""

    meeting_id: int
    carol: int
    dev: int


@pytest.fixture
def notify(clock) -> Iterator[FakeNotify]:
    with FakeNotify(stamp=clock) as running:
        yield running


@pytest.fixture
def monotonic() -> FakeMonotonic:
    return FakeMonotonic()


def settings(notify: FakeNotify, key: str | None = None) -> OutsideSettings:
    """What NOTIFY_* and PUBLIC_URL set up, pointed at the fake."""
    return OutsideSettings(
        public_url=PUBLIC_URL,
        link_secret=Secret(LINK_SECRET),
        notify_api_key=Secret(key or notify.api_key),
        notify_email_template_id=EMAIL_TEMPLATE_ID,
        notify_text_template_id=TEXT_TEMPLATE_ID,
        notify_api_url=notify.root_url,
    )


def links(ctx: Context) -> Links:
    return Links(PUBLIC_URL, LINK_SECRET, clock=ctx.clock)


def deliverer(
    ctx: Context, notify: FakeNotify, monotonic: FakeMonotonic, *, key: str | None = None
) -> Deliverer:
    """The deliverer over the two Notify senders, as serve builds it with NOTIFY_* set."""
    made = settings(notify, key)
    zone = ZoneInfo("Europe/London")
    senders = [
        kind(ctx.sessions, links(ctx), zone, settings=made, clock=ctx.clock, timeout=(2, 0.5))
        for kind in (NotifyEmailSender, NotifyTextSender)
    ]
    return Deliverer(
        ctx,
        SenderRouter(senders),
        POLICY,
        pacer=Pacer(POLICY, clock=monotonic, sleep=monotonic.sleep),
    )


def carer(
    sessions: sessionmaker[Session],
    ctx: Context,
    forum_id: int,
    name: str,
    method: str,
    address: str,
) -> int:
    """A carer in the forum, not on chat, reached by `method` with their consent recorded."""
    return given.outside_member(sessions, forum_id, name, ctx.now(), method=method, address=address)


def scene(ctx: Context, *, carol_mobile: str = CAROL_MOBILE) -> Scene:
    forum_id = given.forum(ctx.sessions, ctx.now(), "Carers QI Forum")
    meeting_id = given.meeting(ctx, forum_id, ctx.now() + timedelta(days=6), "Room 4, Trust HQ")
    carol = carer(ctx.sessions, ctx, forum_id, "Carol Jones", contacts.TEXT, carol_mobile)
    dev = carer(ctx.sessions, ctx, forum_id, "Dev Shah", contacts.EMAIL, DEV_EMAIL)
    return Scene(meeting_id, carol, dev)


def invitations(sessions: sessionmaker[Session]) -> dict[str, Delivery]:
    """The invitation deliveries, by recipient person."""
    with sessions() as session:
        rows = session.scalars(select(Delivery).where(Delivery.kind == INVITE)).all()
        return {row.recipient: row for row in rows}


def tokens(body: str, path: str) -> list[str]:
    """The tokens of the links in `body` to PUBLIC_URL/<path>/."""
    prefix = f"{PUBLIC_URL}/{path}/"
    return [u.removeprefix(prefix).split("?")[0] for u in URL.findall(body) if u.startswith(prefix)]


def test_a_carer_by_text_and_one_by_email_each_get_the_invitation_once_with_their_own_links(
    ctx, notify, monotonic, capsys
):
    seen = scene(ctx)

    assert run_announcements(ctx) == 2
    outcomes = deliverer(ctx, notify, monotonic).drain()

    assert outcomes == {"sent": 2}
    (text,) = notify.sent("sms")
    (email,) = notify.sent("email")
    assert (text.to, text.template_id) == (CAROL_MOBILE, TEXT_TEMPLATE_ID)
    assert (email.to, email.template_id) == (DEV_EMAIL, EMAIL_TEMPLATE_ID)
    assert email.subject == "You're invited: Carers QI Forum"
    assert "Room 4, Trust HQ" in text.body and "Room 4, Trust HQ" in email.shown
    # Each link works for its own person and this meeting, and no one else's.
    reader = links(ctx)
    for message, person in ((text, seen.carol), (email, seen.dev)):
        answers = [reader.read(t, ANSWER) for t in tokens(message.body, "answer")]
        assert answers and all(
            a is not None and (a.person_id, a.meeting_id) == (person, seen.meeting_id)
            for a in answers
        )
        (stop,) = [reader.read(t, STOP) for t in tokens(message.body, "stop")]
        assert stop is not None and stop.person_id == person
    assert len(tokens(email.body, "answer")) == 2  # "I'm coming" and "I can't come"
    # Notify cannot attach the .ics: the e-mail offers its link, and promises no attachment.
    assert f"{PUBLIC_URL}/calendar/meeting/" in email.body
    assert "attached" not in email.body
    assert email.formatting == []  # the agenda bullets and the rest stay plain text
    # Each went with its delivery key as Notify's reference, and is recorded as sent.
    rows = invitations(ctx.sessions)
    assert {r.status for r in rows.values()} == {"sent"}
    assert sorted(n.reference for n in notify.sent()) == sorted(
        f"qi-nudge-delivery-{r.id}" for r in rows.values()
    )
    assert {r.message_ts for r in rows.values()} == {text.id, email.id}

    # Nothing is sent twice when the scheduler runs again.
    assert run_announcements(ctx) == 0
    assert deliverer(ctx, notify, monotonic).drain() == {}
    assert len(notify.sent()) == 2
    # qi-nudge deliveries says how each went, naming the person, never the address.
    args = build_parser().parse_args(["deliveries"])
    args.handler(ctx, args)
    listed = capsys.readouterr().out
    assert "to Carol Jones: sent by text after 1 attempt" in listed
    assert "by e-mail after 1 attempt" in listed and DEV_EMAIL not in listed


def test_a_wrong_api_key_fails_the_deliveries_telling_the_admin_and_sends_nothing(
    ctx, notify, monotonic
):
    scene(ctx)
    run_announcements(ctx)
    wrong = api_key(SERVICE_ID, "00000000-1111-4222-8333-444444444444")

    outcomes = deliverer(ctx, notify, monotonic, key=wrong).drain()

    assert outcomes == {"failed": 2}
    assert notify.sent() == []
    for row in invitations(ctx.sessions).values():
        assert row.status == "failed"
        assert row.error.startswith("GOV.UK Notify refused our API key: check NOTIFY_API_KEY")
        assert "Invalid token: API key not found" in row.error


def test_rate_limited_by_notify_it_waits_and_sends_each_exactly_once(ctx, notify, monotonic, clock):
    scene(ctx)
    run_announcements(ctx)
    notify.fail(429)  # RateLimitError, with no Retry-After (as Notify answers)
    sending = deliverer(ctx, notify, monotonic)

    first = sending.drain()

    assert first["retry"] >= 1
    # Every platform holds off for a minute; nothing is tried again before then.
    assert sending.next_look_in(longest=300) == pytest.approx(60)
    time_passes(clock, monotonic, seconds=60)
    sending.drain()
    assert len(notify.sent("sms")) == 1 and len(notify.sent("email")) == 1
    assert len(notify.calls_to(SEND)) == 3  # the refused one, then one each
    assert {r.status for r in invitations(ctx.sessions).values()} == {"sent"}


def test_a_send_whose_answer_never_came_is_found_by_its_reference_and_not_sent_again(
    ctx, notify, monotonic, clock
):
    seen = scene(ctx)
    run_announcements(ctx)
    notify.hang(3, after_acting=True)  # the text goes, the answer does not come in time
    sending = deliverer(ctx, notify, monotonic)

    sending.drain()
    texts = notify.sent("sms")
    assert len(texts) == 1
    text_row = invitations(ctx.sessions)[f"person:{seen.carol}"]
    assert text_row.status == "pending" and "no answer from GOV.UK Notify" in text_row.error

    time_passes(clock, monotonic, seconds=POLICY.first_backoff.total_seconds())
    sending.drain()

    assert notify.sent("sms") == texts  # not sent again
    assert len([c for c in notify.calls_to(SEND) if c.path.endswith("/sms")]) == 1
    assert notify.calls_to(LIST)  # it asked Notify by reference
    text_row = invitations(ctx.sessions)[f"person:{seen.carol}"]
    assert (text_row.status, text_row.message_ts) == ("sent", texts[0].id)


def test_a_number_notify_cannot_text_fails_kindly_without_naming_the_number(
    ctx, notify, monotonic, caplog
):
    landline = "+441632960001"  # stored before Notify's rules were known: not a mobile
    seen = scene(ctx, carol_mobile=landline)
    run_announcements(ctx)

    deliverer(ctx, notify, monotonic).drain()

    row = invitations(ctx.sessions)[f"person:{seen.carol}"]
    assert row.status == "failed"
    assert row.error.startswith(
        "GOV.UK Notify cannot send to this person's mobile number: please check it with them "
        "and correct it"
    )
    assert notify.sent("sms") == []
    assert len(notify.sent("email")) == 1  # the other carer still hears
    assert "1632" not in caplog.text and "1632" not in row.error


def test_words_that_look_like_formatting_reach_the_reader_as_written(ctx, notify):
    seen = scene(ctx)
    written = (
        "# Not a heading\n"
        "* not a list\n"
        "^ not inset text\n"
        "1. not numbered\n"
        "---\n"
        "A [link](https://example.org/evil) with | a bar and a \\ backslash\n"
        "Join at https://meet.example.org/a_b-c?x=1&y=2"
    )
    sender = NotifyEmailSender(
        ctx.sessions,
        links(ctx),
        ZoneInfo("Europe/London"),
        settings=settings(notify),
        clock=ctx.clock,
    )
    with ctx.sessions() as session:
        contact = contacts.contact_of(session, seen.dev)
        assert contact is not None
        channel = f"contact:{contact.id}"

    sender.post(channel, Reply(sections=(Section(heading="News", text=written),)), "key-1")

    (email,) = notify.sent("email")
    assert email.formatting == []
    assert written in email.shown
    # Web addresses go exactly as written, so Notify makes them plain links.
    assert "Join at https://meet.example.org/a_b-c?x=1&y=2" in email.body.split("\n")
