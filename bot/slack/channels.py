"""A forum's Slack channel: whether the bot is in it, and joining it when Slack allows."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

# Slack's answers that say the bot cannot see the channel: private and not invited, or gone.
NOT_VISIBLE_ERRORS = frozenset({"channel_not_found", "method_not_supported_for_channel_type"})
# Slack's answers that need the app reinstalled from the current manifest.
SCOPE_ERRORS = frozenset({"missing_scope", "not_allowed_token_type"})


class Access(StrEnum):
    """What the bot may do in a channel."""

    MEMBER = "member"  # it is in the channel: it can post
    JOINED = "joined"  # it was not, and has just joined
    PUBLIC = "public"  # public, and it is not in it yet: it joins before it posts
    NOT_VISIBLE = "not_visible"  # private and it was not invited, or there is no such channel
    ARCHIVED = "archived"  # nothing can be posted there


@dataclass(frozen=True)
class SlackChannel:
    """A channel as the bot sees it; `name` when Slack showed it."""

    access: Access
    name: str | None = None


class SlackCheckFailed(Exception):
    """Slack could not be asked (down, or the app lacks a permission); `reason` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def look_at_channel(client: WebClient, channel_id: str) -> SlackChannel:
    """What the bot may do in a channel, from conversations.info; changes nothing."""
    try:
        channel = client.conversations_info(channel=channel_id)["channel"]
    except SlackApiError as error:
        if _code(error) in NOT_VISIBLE_ERRORS:
            return SlackChannel(Access.NOT_VISIBLE)
        raise SlackCheckFailed(_reason(error)) from None
    except OSError as error:
        raise SlackCheckFailed(_unreachable(error)) from None
    return _as_seen(channel)


def join_channel(client: WebClient, channel_id: str) -> SlackChannel:
    """Join a public channel the bot is not in; a private one must invite it (/invite)."""
    seen = look_at_channel(client, channel_id)
    if seen.access is not Access.PUBLIC:
        return seen
    try:
        client.conversations_join(channel=channel_id)
    except SlackApiError as error:
        code = _code(error)
        if code in NOT_VISIBLE_ERRORS:
            return SlackChannel(Access.NOT_VISIBLE, seen.name)
        if code == "is_archived":
            return SlackChannel(Access.ARCHIVED, seen.name)
        raise SlackCheckFailed(_reason(error)) from None
    except OSError as error:
        raise SlackCheckFailed(_unreachable(error)) from None
    return SlackChannel(Access.JOINED, seen.name)


def _as_seen(channel: dict[str, Any]) -> SlackChannel:
    name = channel.get("name") or None
    if channel.get("is_archived"):
        return SlackChannel(Access.ARCHIVED, name)
    if channel.get("is_member"):
        return SlackChannel(Access.MEMBER, name)
    if channel.get("is_private"):
        return SlackChannel(Access.NOT_VISIBLE, name)
    return SlackChannel(Access.PUBLIC, name)


def _code(error: SlackApiError) -> str | None:
    data = error.response.data
    return str(data.get("error")) if isinstance(data, dict) and data.get("error") else None


def _reason(error: SlackApiError) -> str:
    """Slack's refusal in plain words, with what to do where there is something to do."""
    code = _code(error) or f"HTTP {error.response.status_code}"
    if code in SCOPE_ERRORS:
        needed = (error.response.data or {}).get("needed") if error.response.data else None
        return (
            f"the Slack app lacks a permission{f' ({needed})' if needed else ''}: reinstall it "
            "from deploy/slack-manifest.yml (Install App in the app's settings)"
        )
    if code in ("invalid_auth", "not_authed", "token_revoked", "account_inactive"):
        return f"Slack did not accept the bot's token ({code}): check SLACK_BOT_TOKEN"
    return f"Slack said {code}"


def _unreachable(error: OSError) -> str:
    return f"could not reach Slack just now ({type(error).__name__}); try again later"
