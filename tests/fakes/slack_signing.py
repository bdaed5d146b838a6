"""Requests as Slack sends them to the bot: signed headers and the real wire formats of payloads.

Signing follows https://api.slack.com/authentication/verifying-requests-from-slack: the
signature is "v0=" + hex HMAC-SHA256, keyed by the signing secret, of "v0:{timestamp}:{body}".
Slash commands arrive form-encoded; interactivity (block_actions, view_submission) arrives
form-encoded with one field, `payload`, holding JSON; the Events API sends JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

from tests.fakes.slack_api import APP_ID, BOT_ID, BOT_USER_ID, TEAM_ID

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
JSON_CONTENT_TYPE = "application/json"
VERIFICATION_TOKEN = "legacy-verification-token"  # the deprecated field Slack still sends
TEAM_DOMAIN = "qi-test"
DEFAULT_RESPONSE_URL = "https://hooks.slack.com/commands/T0001/1111111111/fake"
MESSAGE_TS = "1700000000.000100"
ACTION_TS = "1700000001.000200"


def slack_headers(
    body: bytes,
    secret: str,
    *,
    timestamp: int | None = None,
    content_type: str = FORM_CONTENT_TYPE,
    retry_num: int | None = None,
    retry_reason: str | None = None,
) -> dict[str, str]:
    """The headers Slack sends with `body`, signed with `secret` at `timestamp` (default: now)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + stamp.encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest}",
    }
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
    if retry_reason is not None:
        headers["X-Slack-Retry-Reason"] = retry_reason
    return headers


def slash_command_body(
    command: str,
    text: str,
    *,
    user_id: str = "U123",
    user_name: str = "ben",
    team_id: str = TEAM_ID,
    channel_id: str = "C123",
    response_url: str = DEFAULT_RESPONSE_URL,
    trigger_id: str = "t.1",
) -> bytes:
    """A slash command as Slack posts it: form-encoded fields."""
    return urlencode(
        {
            "token": VERIFICATION_TOKEN,
            "team_id": team_id,
            "team_domain": TEAM_DOMAIN,
            "channel_id": channel_id,
            "channel_name": "directmessage" if channel_id.startswith("D") else "general",
            "user_id": user_id,
            "user_name": user_name,
            "command": command,
            # Slack sends message text with its control characters as HTML entities.
            "text": text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id,
        }
    ).encode()


def block_actions_body(
    action_id: str,
    value: str,
    *,
    user_id: str = "U123",
    team_id: str = TEAM_ID,
    response_url: str | None = DEFAULT_RESPONSE_URL,
    channel_id: str | None = "C123",
    trigger_id: str = "t.2",
    view: dict[str, Any] | None = None,
    block_id: str = "actions",
    message_ts: str = MESSAGE_TS,
    user_name: str = "ben",
    ephemeral: bool = False,
) -> bytes:
    """A button press as Slack posts it: form field `payload` holding block_actions JSON.

    With `view`, the button sat in a modal or home tab: the container is the view, and Slack
    sends neither channel nor response_url (pass channel_id=None, response_url=None to match).
    """
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id},
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id,
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "state": {"values": {}},
        "actions": [
            {
                "action_id": action_id,
                "block_id": block_id,
                "text": {"type": "plain_text", "text": value, "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": ACTION_TS,
            }
        ],
    }
    if view is not None:
        payload["container"] = {"type": "view", "view_id": view.get("id", "V0000000001")}
        payload["view"] = view
    elif channel_id is not None:
        payload["container"] = {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": ephemeral,
        }
        payload["message"] = {
            "type": "message",
            "user": BOT_USER_ID,
            "ts": message_ts,
            "text": "",
            "blocks": [],
        }
    if channel_id is not None:
        payload["channel"] = {"id": channel_id, "name": "general"}
    if response_url is not None:
        payload["response_url"] = response_url
    return _payload_form(payload)


def view_submission_body(
    callback_id: str,
    values: dict[str, dict[str, dict]],
    *,
    user_id: str = "U123",
    team_id: str = TEAM_ID,
    private_metadata: str = "",
    view_id: str = "V0000000001",
    user_name: str = "ben",
) -> bytes:
    """A modal submission: `values` is view.state.values, {block_id: {action_id: {type, value}}}."""
    payload = {
        "type": "view_submission",
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id},
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": "t.3",
        "view": {
            "id": view_id,
            "team_id": team_id,
            "type": "modal",
            "blocks": [],
            "private_metadata": private_metadata,
            "callback_id": callback_id,
            "state": {"values": values},
            "hash": "1700000000.fakehash",
            "title": {"type": "plain_text", "text": "QI"},
            "clear_on_close": False,
            "notify_on_close": False,
            "root_view_id": view_id,
            "previous_view_id": None,
            "app_id": APP_ID,
            "external_id": "",
            "app_installed_team_id": team_id,
            "bot_id": BOT_ID,
        },
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }
    return _payload_form(payload)


def event_body(event: dict[str, Any], *, team_id: str = TEAM_ID, event_id: str = "Ev1") -> bytes:
    """An Events API delivery: the event_callback JSON envelope around `event`."""
    envelope = {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1_700_000_000,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": BOT_USER_ID,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-fake-{event_id}",
    }
    return json.dumps(envelope).encode()


def url_verification_body(challenge: str) -> bytes:
    """The handshake Slack sends when the Events API request URL is set."""
    return json.dumps(
        {"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"}
    ).encode()


def _payload_form(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()
