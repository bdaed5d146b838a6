"""What reaches IT's logs: never people's details, even with LOG_LEVEL=DEBUG."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient

from bot.runtime.settings import load_settings
from bot.runtime.startup import CHAT_SDK_LOGGERS, configure_logging

EMAIL = "ben.okafor@nhs.example"


@pytest.fixture
def restored_log_levels() -> Iterator[None]:
    """configure_logging changes process-wide logger levels: put them back afterwards."""
    before = {name: logging.getLogger(name).level for name in CHAT_SDK_LOGGERS}
    yield
    for name, level in before.items():
        logging.getLogger(name).setLevel(level)


def test_debug_logs_keep_our_lines_but_not_what_slack_was_sent(
    fake_slack, caplog, restored_log_levels
):
    fake_slack.add_user("U1", "Ben Okafor", email=EMAIL)
    fake_slack.add_token("xoxb-not-logged")
    caplog.set_level(logging.DEBUG)
    configure_logging(load_settings({"LOG_LEVEL": "DEBUG"}, env_file=None))

    client = WebClient(token="xoxb-not-logged", base_url=fake_slack.base_url)
    found = client.users_lookupByEmail(email=EMAIL)  # as the CSV import resolves leads
    logging.getLogger("bot.test").debug("our own debug line")

    assert found["user"]["id"] == "U1"
    assert "our own debug line" in caplog.text
    assert EMAIL not in caplog.text
    assert "Ben Okafor" not in caplog.text
    assert "xoxb-not-logged" not in caplog.text
