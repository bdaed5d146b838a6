"""Issue 18 end to end: carers outside chat invited by e-mail and text, answering on the web page.

Everything is real but the providers: `qi-nudge serve` and every CLI step are subprocesses
configured only by environment variables, e-mail goes to a real SMTP server (aiosmtpd) in this
process, texts to the fake GOV.UK Notify, chat to the fake Slack, and the pages are fetched and
their buttons pressed over HTTP, as a phone's browser does. The subprocesses have only the real
clock, so the meeting is three days ahead of now.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import Engine, func, inspect, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from store import outbox, people
from store.engine import make_engine, make_sessions
from store.migrate import upgrade
from store.models import (
    AuditEvent,
    Delivery,
    ForumMember,
    Meeting,
    OutsideContact,
    Person,
    Rsvp,
)
from store.roles import Role, RsvpAnswer
from tests.bot.test_processes import Bot, free_port, throwaway_database
from tests.fakes import FakeSlack, slack_headers, slash_command_body
from tests.fakes.notify_api import EMAIL_TEMPLATE_ID, TEXT_TEMPLATE_ID, FakeNotify
from tests.fakes.slack_api import TEAM_ID
from tests.fakes.smtp_server import FakeSmtpServer

pytestmark = pytest.mark.slow

LONDON = ZoneInfo("Europe/London")
SIGNING_SECRET = "e2e-signing-secret"
FORUM_CHANNEL = "CFORUM"
ORGANISER = "UORG"
EMAIL_CARER = ("Ellie Email", "ellie.email@example.org")
TEXT_CARER = ("Tess Text", "+447700900123")
WAIT = 20  # seconds: the longest any one step may take


# -- the running parts --------------------------------------------------------------------------


class Trust:
    """The database, the fakes, one `qi-nudge serve`, and the CLI, as a trust would run them."""

    def __init__(
        self,
        url: str,
        folder: Path,
        fake: FakeSlack,
        smtp: FakeSmtpServer,
        notify: FakeNotify,
    ) -> None:
        self.engine: Engine = make_engine(url)
        upgrade(self.engine)
        self.sessions: sessionmaker[Session] = make_sessions(self.engine)
        self.folder = folder
        self.fake, self.smtp, self.notify = fake, smtp, notify
        port = free_port()
        self.public_url = f"http://127.0.0.1:{port}"
        token = "xoxb-e2e"
        fake.add_token(token)
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("SLACK_", "NUDGE_", "DELIVERY_", "SCHEDULER_", "QI_"))
            and not key.startswith(("SMTP_", "NOTIFY_", "TEAMS_"))
            and key
            not in ("DATABASE_URL", "HOST", "PORT", "LOG_LEVEL", "PUBLIC_URL", "LINK_SECRET")
        }
        self.env.update(
            DATABASE_URL=url,
            SLACK_BOT_TOKEN=token,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=fake.base_url,
            SMTP_URL=smtp.url(),
            SMTP_FROM="QI Forum <qi-forum@example.nhs.uk>",
            NOTIFY_API_KEY=notify.api_key,
            NOTIFY_EMAIL_TEMPLATE_ID=EMAIL_TEMPLATE_ID,
            NOTIFY_TEXT_TEMPLATE_ID=TEXT_TEMPLATE_ID,
            NOTIFY_API_URL=notify.root_url,
            PUBLIC_URL=self.public_url,
            LINK_SECRET="an-end-to-end-test-secret-of-enough-length",
            SCHEDULER_TICK_SECONDS="1",
            QI_TIMEZONE="Europe/London",
            HOST="127.0.0.1",
            PORT=str(port),
            LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
        )
        self.bot: Bot | None = None
        self.http = httpx.Client(base_url=self.public_url, timeout=10)

    def serve(self) -> None:
        """Start `qi-nudge serve` and wait until it answers."""
        self.bot = Bot("serve", self.env, self.folder)
        self.wait_until(self.bot.healthy, "serve answering /healthz")

    def cli(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        """`qi-nudge ARGS` as a subprocess with the same settings; checked to succeed if `ok`."""
        done = subprocess.run(
            [sys.executable, "-m", "bot.cli", *args],
            env=self.env,
            cwd=self.folder,  # no .env file there
            capture_output=True,
            text=True,
            timeout=60,
        )
        if ok:
            assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done

    def slash(self, command: str, words: str) -> str:
        """A signed slash command from the organiser; what the bot answered them."""
        response_url = self.fake.response_url()
        body = slash_command_body(
            command,
            words,
            user_id=ORGANISER,
            channel_id=FORUM_CHANNEL,
            response_url=response_url,
            trigger_id=self.fake.new_trigger_id(),
        )
        answer = self.http.post(
            "/slack/events", content=body, headers=slack_headers(body, SIGNING_SECRET)
        )
        assert answer.status_code == 200, answer.text
        if answer.content and "json" in answer.headers.get("content-type", ""):
            return message_text(answer.json())
        # Answered later, by the response_url.
        key = urlsplit(response_url).path.rsplit("/", 1)[-1]
        self.wait_until(
            lambda: any(k == key for k, _ in self.fake.responses), f"an answer to {command}"
        )
        return "\n".join(message_text(p) for k, p in self.fake.responses if k == key)

    def wait_until(self, condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
        """Poll until `condition` holds; fail at the deadline, or if serve died."""
        deadline = time.monotonic() + timeout
        while not condition():
            if self.bot is not None and not self.bot.alive():
                pytest.fail(f"serve exited ({self.bot.process.returncode}) before {what}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} after {timeout} s")
            time.sleep(0.05)

    def close(self) -> None:
        self.http.close()
        if self.bot is not None:
            self.bot.kill()
            print(f"----- serve (exit {self.bot.process.returncode}) -----\n{self.bot.output()}")
        self.engine.dispose()

    # -- what the database holds ------------------------------------------------------------

    def person_at(self, address: str) -> int:
        with self.sessions() as session:
            return session.scalars(
                select(OutsideContact.person_id).where(OutsideContact.address == address)
            ).one()

    def rsvps(self) -> set[tuple[int, RsvpAnswer, Role | None, datetime]]:
        with self.sessions() as session:
            return {
                (r.person_id, r.answer, r.role, r.answered_at)
                for r in session.scalars(select(Rsvp))
            }

    def audit_count(self) -> int:
        with self.sessions() as session:
            return session.scalar(select(func.count()).select_from(AuditEvent)) or 0

    def all_sent(self) -> bool:
        with self.sessions() as session:
            counts = outbox.counts_by_status(session)
        return bool(counts) and set(counts) == {outbox.SENT}


@pytest.fixture(params=["sqlite", "postgresql"])
def trust(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Trust]:
    with (
        throwaway_database(request.param, tmp_path) as url,
        FakeSlack() as fake,
        FakeSmtpServer() as smtp,
        FakeNotify() as notify,
    ):
        fake.add_channel(FORUM_CHANNEL, "qi-forum", bot_member=True)
        fake.add_user(ORGANISER, "Olu Organiser", email="olu.organiser@example.nhs.uk")
        running = Trust(url, tmp_path, fake, smtp, notify)
        try:
            yield running
        finally:
            running.close()


# -- reading messages and pages -----------------------------------------------------------------


def message_text(message: dict) -> str:
    """What a person sees in a Slack message: its text and every block's text and labels."""
    out = [message.get("text") or ""]
    for block in message.get("blocks") or []:
        if isinstance(block.get("text"), dict):
            out.append(block["text"]["text"])
        for element in block.get("elements", []):
            if isinstance(element.get("text"), dict):
                out.append(element["text"]["text"])
    return "\n".join(out)


def link_after(words: str, body: str) -> str:
    """The link that follows `words` in a message."""
    found = re.search(re.escape(words) + r"\s*(https?://\S+)", body)
    assert found, f"no link after {words!r} in:\n{body}"
    return found.group(1)


class FormReader(HTMLParser):
    """The page's form: where it posts, and its buttons (name, value, label)."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.method = ""
        self.buttons: list[tuple[str, str, str]] = []
        self._button: tuple[str, str] | None = None
        self._label: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form":
            self.method = (found.get("method") or "get").lower()
            self.action = found.get("action") or ""
        elif tag == "button":
            self._button = (found.get("name") or "", found.get("value") or "")
            self._label = []

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._label.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "button" and self._button is not None:
            self.buttons.append((*self._button, "".join(self._label).strip()))
            self._button = None


def press(http: httpx.Client, page_url: str, label: str) -> httpx.Response:
    """Open the page, then press the button labelled `label` as a browser submits its form."""
    page = http.get(page_url)
    assert page.status_code == 200, page.text
    form = FormReader()
    form.feed(page.text)
    assert form.method == "post"
    (name, value) = next((n, v) for n, v, shown in form.buttons if shown == label)
    return http.post(urljoin(page_url, form.action or ""), data={name: value})


def edited(token_url: str) -> str:
    """The link with one character of its token changed, in its signed part."""
    # Not the last character: its low bits are padding, which base64 may ignore.
    head, _, query = token_url.partition("?")
    root, token = head.rsplit("/", 1)
    at = len(token) // 3
    swapped = "A" if token[at] != "A" else "B"
    return f"{root}/{token[:at]}{swapped}{token[at + 1 :]}" + (f"?{query}" if query else "")


def token_of(url: str) -> str:
    """The token in a link."""
    return urlsplit(url).path.rsplit("/", 1)[-1]


# -- the test -----------------------------------------------------------------------------------


def test_carers_by_email_and_text_are_invited_answer_by_link_and_one_is_erased(trust: Trust):
    fake, smtp, notify = trust.fake, trust.smtp, trust.notify
    # The organiser is on Slack; the bot knows them, and the CLI makes them an organiser.
    with trust.sessions.begin() as session:
        people.ensure_person_for_identity(
            session,
            platform="slack",
            workspace=TEAM_ID,
            user_id=ORGANISER,
            display_name="Olu Organiser",
            now=datetime.now(UTC),
        )
    trust.cli("forum", "add", "QI Forum", "--channel", f"slack:{FORUM_CHANNEL}")
    trust.cli("admin", "grant", f"slack:{TEAM_ID}:{ORGANISER}")
    trust.serve()

    # One carer added on Slack, one at the command line, then a meeting three days ahead.
    said = trust.slash("/qi-forum", 'add-member "Tess Text" text 07700 900123 as carer --consent')
    assert 'Tess Text is now a member of "QI Forum" as a carer' in said, said
    assert "by text at •••• ••0123" in said and "900123" not in said  # chat shows it masked
    added = trust.cli(
        "forum", "add-member", EMAIL_CARER[0], "--email", EMAIL_CARER[1], "--role", "carer",
        "--consent",
    )  # fmt: skip
    assert f"They will hear about its meetings by e-mail at {EMAIL_CARER[1]}" in added.stdout
    at = (datetime.now(UTC) + timedelta(days=3)).astimezone(LONDON)
    trust.cli("meeting", "add", "--at", at.strftime("%Y-%m-%d %H:%M"), "--location", "Room 4")

    # The scheduler sends the channel post, one e-mail and one text, each once.
    trust.wait_until(
        lambda: smtp.received and notify.sent("sms") and fake.messages(FORUM_CHANNEL),
        "announcement, e-mail and text",
    )
    trust.wait_until(trust.all_sent, "every message sent")
    (received,) = smtp.received
    assert received.rcpt_tos == (EMAIL_CARER[1],)
    (text_message,) = notify.sent()  # no e-mail by Notify: SMTP carries e-mail
    assert text_message.type == "sms" and text_message.to == TEXT_CARER[1]
    (announcement,) = fake.messages(FORUM_CHANNEL)
    assert "Nobody has said yet." in message_text(announcement)
    email = received.email
    (attachment,) = list(email.iter_attachments())
    assert attachment.get_filename() == "invite.ics"
    assert "BEGIN:VEVENT" in attachment.get_content()
    body = email.get_body(preferencelist=("plain",)).get_content()
    coming_link = link_after("I'm coming:", body)
    stop_link = link_after("open this link and press the button:", body)
    answer_link = link_after("Please answer here:", text_message.body)
    for link in (coming_link, answer_link, stop_link):
        assert link.startswith(trust.public_url + "/")

    # Opening the links (as a mail scanner does) records nothing.
    for link in (coming_link, answer_link):
        page = trust.http.get(link)
        assert page.status_code == 200
        assert "QI Forum" in page.text
    assert trust.rsvps() == set()

    # Each presses "I'm coming": both are going, as carers, and the channel post says so.
    for link in (coming_link, answer_link):
        pressed = press(trust.http, link, "I'm coming")
        assert pressed.status_code == 200
        assert "We've noted that you're coming." in html.unescape(pressed.text)
    ellie, tess = trust.person_at(EMAIL_CARER[1]), trust.person_at(TEXT_CARER[1])
    answers = trust.rsvps()
    assert {(p, a, r) for p, a, r, _ in answers} == {
        (ellie, RsvpAnswer.GOING, Role.CARER),
        (tess, RsvpAnswer.GOING, Role.CARER),
    }
    going = "Going so far: 2 (2 carers)."
    trust.wait_until(
        lambda: going in message_text(fake.messages(FORUM_CHANNEL)[0]), "the post's new count"
    )
    assert len(fake.messages(FORUM_CHANNEL)) == 1  # edited in place, not posted again
    assert fake.calls_to("chat.update")

    # A replayed press changes nothing: same answer time, no new audit row, no edit.
    audits, edits = trust.audit_count(), len(fake.calls_to("chat.update"))
    replay = press(trust.http, coming_link, "I'm coming")
    assert replay.status_code == 200
    # An altered token, and a stop token on the answer page, are refused and change nothing.
    for wrong in (edited(coming_link), f"{trust.public_url}/answer/{token_of(stop_link)}"):
        assert trust.http.get(wrong).status_code == 404
        refused = trust.http.post(wrong, data={"choice": RsvpAnswer.NOT_GOING.value})
        assert refused.status_code == 404
        assert "This link doesn't work" in html.unescape(refused.text)
    assert trust.rsvps() == answers
    assert trust.audit_count() == audits
    assert len(fake.calls_to("chat.update")) == edits

    # /qi-stats forum counts them, by role, for the meeting to come...
    coming = trust.slash("/qi-stats", "forum")
    assert "Coming to the next meeting (" in coming and "): 2 so far (2 carers)." in coming, coming
    # ...and once it has been held (its time moved into the past, as the subprocess's clock
    # cannot be), among who came.
    with trust.sessions.begin() as session:
        session.execute(update(Meeting).values(starts_at=datetime.now(UTC) - timedelta(hours=2)))
    stats = trust.slash("/qi-stats", "forum")
    assert "1 meeting so far." in stats, stats
    assert "2 service users and carers and 0 staff said they were coming" in stats, stats

    # Erasing the e-mail carer leaves nothing that names them.
    erased = trust.cli("person", "erase", EMAIL_CARER[1], "--yes")
    assert f"Erased {EMAIL_CARER[0]}" in erased.stdout
    with trust.sessions() as session:
        assert session.get(Person, ellie) is None
        assert session.scalars(select(OutsideContact.person_id)).all() == [tess]
        assert session.scalars(select(ForumMember.person_id)).all() == [tess]
        assert session.scalars(select(Rsvp.person_id)).all() == [tess]
        assert not session.scalars(
            select(Delivery.id).where(Delivery.recipient == outbox.person_recipient(ellie))
        ).all()
    assert not rows_naming(trust.engine, EMAIL_CARER)
    assert rows_naming(trust.engine, TEXT_CARER)  # the search finds what is there
    export = trust.cli("person", "export", EMAIL_CARER[1], ok=False)
    assert export.returncode == 1
    assert f"Nobody has the e-mail address {EMAIL_CARER[1]}." in export.stderr

    # serve ran without a failure, and its log names nobody and holds no link.
    assert trust.bot is not None
    assert trust.bot.stop() == 0
    log = trust.bot.output()
    assert "Traceback" not in log
    secrets = [*EMAIL_CARER, *TEXT_CARER, "07700 900123", "Olu Organiser"]
    secrets += [token_of(link) for link in (coming_link, answer_link, stop_link)]
    assert [secret for secret in secrets if secret in log] == []


def rows_naming(engine: Engine, words: tuple[str, ...]) -> list[tuple[str, str]]:
    """(table, row) for every row of every table whose text holds any of `words`."""
    found = []
    with engine.connect() as connection:
        for table in inspect(engine).get_table_names():
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                shown = " ".join(str(value) for value in row)
                if any(word.casefold() in shown.casefold() for word in words):
                    found.append((table, shown))
    return found
