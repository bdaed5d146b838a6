"""Hand-written fakes of the chat platforms: a Slack Web API server and Slack's signed requests."""

from tests.fakes.slack_api import Call, FakeSlack
from tests.fakes.slack_signing import (
    block_actions_body,
    event_body,
    slack_headers,
    slash_command_body,
    url_verification_body,
    view_submission_body,
)

__all__ = [
    "Call",
    "FakeSlack",
    "block_actions_body",
    "event_body",
    "slack_headers",
    "slash_command_body",
    "url_verification_body",
    "view_submission_body",
]
