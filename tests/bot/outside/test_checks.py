"""Start-up checks of the e-mail and text settings: each provider asked once, nothing sent.

`qi-nudge serve` refuses to start (and `qi-nudge check` says why) when the relay refuses the
password, or Notify the key or the template; a provider that is down only warns.
"""

import socket
from collections.abc import Iterator

import pytest

from bot.runtime.credentials import check_platforms
from bot.runtime.settings import load_settings
from tests.fakes.notify_api import EMAIL_TEMPLATE_ID, TEXT_TEMPLATE_ID, FakeNotify, Template
from tests.fakes.smtp_server import FakeSmtpServer

LINKS = {"PUBLIC_URL": "https://qi.example.nhs.uk", "LINK_SECRET": "s" * 40}


@pytest.fixture
def relay() -> Iterator[FakeSmtpServer]:
    with FakeSmtpServer(login=("qi", "right")) as running:
        yield running


@pytest.fixture
def notify() -> Iterator[FakeNotify]:
    with FakeNotify() as running:
        yield running


def smtp(relay: FakeSmtpServer, password: str) -> dict[str, str]:
    # The fake relay listens on this machine, where a password may go without TLS.
    return {
        **LINKS,
        "SMTP_URL": relay.url(login=("qi", password)),
        "SMTP_FROM": "QI Forum <qi@example.nhs.uk>",
    }


def by_notify(notify: FakeNotify, key: str | None = None) -> dict[str, str]:
    return {
        **LINKS,
        "NOTIFY_API_KEY": key or notify.api_key,
        "NOTIFY_EMAIL_TEMPLATE_ID": EMAIL_TEMPLATE_ID,
        "NOTIFY_TEXT_TEMPLATE_ID": TEXT_TEMPLATE_ID,
        "NOTIFY_API_URL": notify.root_url,
    }


def problems(values: dict[str, str]) -> list[tuple[str, bool]]:
    return [(p.text, p.passing) for p in check_platforms(load_settings(values, env_file=None))]


def test_a_relay_that_accepts_the_password_passes_and_receives_no_email(relay):
    assert problems(smtp(relay, "right")) == []
    assert relay.received == []


def test_a_relay_refusing_the_password_stops_the_start_naming_smtp_url(relay):
    [(text, passing)] = problems(smtp(relay, "wrong"))

    assert text.startswith("email: ") and "SMTP_URL" in text and not passing
    assert "wrong" not in text and "right" not in text  # no password in what is printed


def test_a_relay_that_is_down_only_warns():
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]  # nothing listens there once it is closed
    values = {**LINKS, "SMTP_URL": f"smtp://127.0.0.1:{port}", "SMTP_FROM": "qi@example.nhs.uk"}

    [(text, passing)] = problems(values)

    assert text.startswith("email: ") and passing


def test_notify_accepting_the_key_and_both_templates_passes_and_sends_nothing(notify):
    assert problems(by_notify(notify)) == []
    assert notify.sent() == []


def test_notify_refusing_the_key_stops_the_start_naming_notify_api_key(notify):
    wrong = notify.api_key[:-12] + "000000000000"

    found = problems(by_notify(notify, wrong))

    assert [passing for _, passing in found] == [False, False]  # e-mail and texts
    assert all("NOTIFY_API_KEY" in text for text, _ in found)


def test_a_template_id_notify_does_not_know_is_named(notify):
    values = {
        **by_notify(notify),
        "NOTIFY_TEXT_TEMPLATE_ID": "11111111-2222-3333-4444-555555555555",
    }

    [(text, passing)] = problems(values)

    assert text.startswith("text: NOTIFY_TEXT_TEMPLATE_ID") and not passing


def test_a_template_without_the_placeholders_we_fill_is_named_with_what_it_needs(notify):
    notify.add_template(Template(EMAIL_TEMPLATE_ID, "email", "Hello", "A message"))

    [(text, passing)] = problems(by_notify(notify))

    assert text.startswith("email: NOTIFY_EMAIL_TEMPLATE_ID") and not passing
    assert "((subject))" in text and "((body))" in text


def test_with_no_email_or_text_settings_nothing_is_asked():
    assert problems({}) == []
