"""What a signed Slack payload must look like before Bolt and our listeners read it.

A valid signature proves who sent a body, not that it is whole: a mangling proxy, or anyone
holding the signing secret, can sign anything. The listeners read these fields without
checking each one, so a body that lacks one, or has a string where Slack sends an object, is
refused here with a 400 and a reason of a few words (never a value from the body).

Only what qi-nudge reads is checked, and only as Slack documents it: slash commands
(https://api.slack.com/interactivity/slash-commands), block_actions and view_submission
(https://api.slack.com/reference/interaction-payloads) and the Events API envelope
(https://api.slack.com/apis/events-api). Kinds the bot does not handle pass on to Bolt,
which answers them 404.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Payload = Mapping[str, Any]

# Fields that are text whenever Slack sends them (None allowed where Slack sends null).
COMMAND_TEXT = ("text", "user_name", "channel_id", "response_url", "trigger_id", "api_app_id")
INTERACTION_TEXT = ("response_url", "trigger_id", "api_app_id")


class Malformed(ValueError):
    """Why a payload is not one Slack sends: a few words, no values from it."""


def shape_problem(body: Payload) -> str | None:
    """Why this signed body is not a payload qi-nudge can read, or None if it is."""
    try:
        _check(body)
    except Malformed as problem:
        return str(problem)
    return None


def _check(body: Payload) -> None:
    kind = body.get("type")
    if kind is None:
        if body.get("ssl_check") is not None:
            return  # Slack's check of the command URL; Bolt answers it
        _check_command(body)
    elif not isinstance(kind, str):
        raise Malformed("type is not text")
    elif kind == "block_actions":
        _check_block_actions(body)
    elif kind == "view_submission":
        _check_view_submission(body)
    elif kind == "event_callback":
        _check_event_callback(body)
    elif kind == "url_verification":
        _text(body, "challenge", "url_verification", required=True)


def _check_command(body: Payload) -> None:
    where = "slash command"
    command = _text(body, "command", where, required=True)
    if not command.startswith("/"):
        raise Malformed(f"{where}: command does not start with /")
    _text(body, "user_id", where, required=True)
    _text(body, "team_id", where, required=True)
    for name in COMMAND_TEXT:
        _text(body, name, where)


def _check_block_actions(body: Payload) -> None:
    where = "block_actions"
    _check_actor(body, where)
    actions = body.get("actions")
    if not isinstance(actions, list) or not actions:
        raise Malformed(f"{where}: actions is not a list of actions")
    for action in actions:
        if not isinstance(action, Mapping):
            raise Malformed(f"{where}: an action is not an object")
        _text(action, "action_id", f"{where} action", required=True)
        _text(action, "value", f"{where} action")
        _text(action, "block_id", f"{where} action")
    for name in INTERACTION_TEXT:
        _text(body, name, where)
    channel = _object(body, "channel", where)
    if channel is not None:
        _text(channel, "id", f"{where} channel", required=True)
    container = _object(body, "container", where)
    if container is not None:
        _text(container, "type", f"{where} container")
    _object(body, "view", where)
    _object(body, "message", where)


def _check_view_submission(body: Payload) -> None:
    where = "view_submission"
    _check_actor(body, where)
    for name in INTERACTION_TEXT:
        _text(body, name, where)
    view = _object(body, "view", where, required=True)
    _text(view, "callback_id", f"{where} view", required=True)
    _text(view, "private_metadata", f"{where} view")
    state = _object(view, "state", f"{where} view")
    values = _object(state, "values", f"{where} view state") if state is not None else None
    for block in (values or {}).values():
        if not isinstance(block, Mapping):
            raise Malformed(f"{where}: a field is not an object")
        for element in block.values():
            if not isinstance(element, Mapping):
                raise Malformed(f"{where}: a field's value is not an object")
            _text(element, "value", f"{where} field")
            option = _object(element, "selected_option", f"{where} field")
            if option is not None:
                _text(option, "value", f"{where} field's option")


def _check_event_callback(body: Payload) -> None:
    where = "event_callback"
    _text(body, "event_id", where, required=True)
    _text(body, "team_id", where, required=True)
    authorizations = body.get("authorizations")
    if authorizations is not None and not (
        isinstance(authorizations, list) and all(isinstance(a, Mapping) for a in authorizations)
    ):
        raise Malformed(f"{where}: authorizations is not a list of objects")
    event = _object(body, "event", where, required=True)
    kind = _text(event, "type", f"{where} event", required=True)
    if kind == "app_home_opened":
        _text(event, "user", f"{where} {kind}", required=True)
        _text(event, "tab", f"{where} {kind}")
        _text(event, "channel", f"{where} {kind}")


def _check_actor(body: Payload, where: str) -> None:
    """The person acting, and their workspace (`team`, or null and `user.team_id` instead)."""
    user = _object(body, "user", where, required=True)
    _text(user, "id", f"{where} user", required=True)
    _text(user, "username", f"{where} user")
    _text(user, "name", f"{where} user")
    team_of_user = _text(user, "team_id", f"{where} user")
    team = _object(body, "team", where)
    if team is not None:
        _text(team, "id", f"{where} team", required=True)
    elif not team_of_user:
        raise Malformed(f"{where}: no team")


def _object(
    payload: Payload, name: str, where: str, *, required: bool = False
) -> Mapping[str, Any] | None:
    value = payload.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, Mapping):
        raise Malformed(f"{where}: {name} is {'missing' if value is None else 'not an object'}")
    return value


def _text(payload: Payload, name: str, where: str, *, required: bool = False) -> str:
    value = payload.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise Malformed(f"{where}: {name} is {'missing' if value is None else 'not text'}")
    if required and not value:
        raise Malformed(f"{where}: {name} is empty")
    return value
