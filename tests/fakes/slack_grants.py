"""What Slack lets a caller do, and for how long: tokens, scopes, trigger ids, response URLs.

Trigger ids and response URLs take a monotonic clock (seconds), so a test moves time instead of
sleeping.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

# The tokens the fake knows from the start: the bot tokens and the app-level token the tests
# use. Any other token is invalid_auth until `FakeSlack.add_token` makes it known.
KNOWN_TOKENS = frozenset({"xoxb-test", "xoxb-test-token", "xapp-test"})
# https://docs.slack.dev/authentication/tokens: app-level tokens ("xapp-") only open Socket
# Mode connections; any other method answers not_allowed_token_type to them, and
# apps.connections.open answers it to a bot token.
APP_TOKEN_PREFIX = "xapp-"
APP_TOKEN_METHODS = frozenset({"apps.connections.open"})

# What a token may do is its scopes. A bot token carries what the manifest asked for when the
# app was installed: the manifest is the one source, read when a fake starts.
MANIFEST = Path(__file__).resolve().parents[2] / "deploy" / "slack-manifest.yml"
# An app-level token (Socket Mode) is made with connections:write, and needs nothing else.
APP_TOKEN_SCOPES = ("connections:write",)

# The kinds of conversation, as Slack's per-kind scopes name them: a public channel, a private
# one (a "group"), a DM and a group DM.
PUBLIC, PRIVATE, DM, GROUP_DM = "channels", "groups", "im", "mpim"

# The bot-token scope each method needs, from its page at https://docs.slack.dev/reference/
# methods/<method> ("Scopes", bot token). Where the scope depends on the kind of conversation
# (https://docs.slack.dev/apis/web-api/using-the-conversations-api), Slack asks only for the
# one for that kind: {"error": "missing_scope", "needed": "groups:history", ...}.
METHOD_SCOPES: dict[str, str | Mapping[str, str]] = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.postEphemeral": "chat:write",
    "conversations.join": "channels:join",
    "conversations.info": {
        PUBLIC: "channels:read",
        PRIVATE: "groups:read",
        DM: "im:read",
        GROUP_DM: "mpim:read",
    },
    "conversations.history": {
        PUBLIC: "channels:history",
        PRIVATE: "groups:history",
        DM: "im:history",
        GROUP_DM: "mpim:history",
    },
    "conversations.open": {DM: "im:write", GROUP_DM: "mpim:write"},
    "users.info": "users:read",
    "users.lookupByEmail": "users:read.email",
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
    "apps.connections.open": "connections:write",
}
# Methods whose pages say "No scope required".
SCOPELESS_METHODS = frozenset({"auth.test", "views.open", "views.publish"})


@cache
def manifest_bot_scopes(manifest: Path = MANIFEST) -> tuple[str, ...]:
    """The bot scopes the app manifest asks for, in its order: what an install's token carries."""
    with manifest.open(encoding="utf-8") as file:
        loaded: Any = yaml.safe_load(file)
    return tuple(str(scope) for scope in loaded["oauth_config"]["scopes"]["bot"])


def scope_needed(method: str, kind: str | None) -> str | None:
    """The scope `method` needs for a conversation of `kind` (None: none, or not yet known)."""
    needed = METHOD_SCOPES.get(method)
    if isinstance(needed, Mapping):
        return needed.get(kind) if kind is not None else None
    return needed


# https://docs.slack.dev/surfaces/modals: a trigger_id "expires in 3 seconds" and opens one view.
TRIGGER_LIFETIME = 3.0
# https://docs.slack.dev/interactivity/handling-user-interaction: a response_url can be used
# "up to 5 times within 30 minutes" of receiving it.
RESPONSE_URL_USES = 5
RESPONSE_URL_LIFETIME = 30 * 60.0
# A hooks URL Slack never issued (or has removed) is HTTP 404 with this body, as Slack answers an
# unknown webhook (slackapi/slack-github-action#249 shows it for a removed one).
UNKNOWN_URL = "no_service"


class Tokens:
    """The tokens Slack would accept, with their scopes; revoked ones answer token_revoked.

    Unknown tokens answer invalid_auth. A bot token carries `bot_scopes` (the manifest's)
    unless it was added with others; an app-level token carries connections:write.
    """

    def __init__(
        self, known: Iterable[str] = KNOWN_TOKENS, *, bot_scopes: Iterable[str] | None = None
    ) -> None:
        self.bot_scopes = tuple(bot_scopes if bot_scopes is not None else manifest_bot_scopes())
        self._scopes: dict[str, tuple[str, ...]] = {}
        self._revoked: set[str] = set()
        self._lock = threading.Lock()
        for token in known:
            self.add(token)

    def add(self, token: str, scopes: Iterable[str] | None = None) -> None:
        """Accept `token` from now on (a new install, or another app's token), with `scopes`.

        Adding a known token again gives it these scopes, as reinstalling the app does.
        """
        if scopes is None:
            scopes = APP_TOKEN_SCOPES if token.startswith(APP_TOKEN_PREFIX) else self.bot_scopes
        with self._lock:
            self._scopes[token] = tuple(scopes)
            self._revoked.discard(token)

    def scopes(self, token: str) -> tuple[str, ...]:
        """The scopes `token` carries (none if Slack does not know it)."""
        with self._lock:
            return self._scopes.get(token, ())

    def missing_scope(self, token: str, method: str, kind: str | None) -> dict[str, Any] | None:
        """Slack's answer when `token` lacks the scope `method` needs here; None if it has it."""
        needed = scope_needed(method, kind)
        provided = self.scopes(token)
        if needed is None or needed in provided:
            return None
        return {
            "ok": False,
            "error": "missing_scope",
            "needed": needed,
            "provided": ",".join(provided),
        }

    def revoke(self, token: str) -> None:
        """Refuse `token` from now on with token_revoked, as Slack does after an uninstall."""
        with self._lock:
            self._revoked.add(token)

    def problem(self, token: str, method: str) -> str | None:
        """Slack's error for calling `method` with `token`, or None if the call may go."""
        with self._lock:
            if token in self._revoked:
                return "token_revoked"
            if token not in self._scopes:
                return "invalid_auth"
        if token.startswith(APP_TOKEN_PREFIX) != (method in APP_TOKEN_METHODS):
            return "not_allowed_token_type"
        return None


class Triggers:
    """trigger_ids as Slack mints them with interactions: one view each, within 3 seconds."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._minted: dict[str, float] = {}
        self._exchanged: set[str] = set()
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def mint(self) -> str:
        """A new trigger_id, shaped as Slack's are ("<digits>.<digits>.<hex>"), valid from now."""
        with self._lock:
            n = next(self._counter)
            trigger_id = f"{1_700_000_000_000 + n}.{5_000_000_000 + n}.{secrets.token_hex(16)}"
            self._minted[trigger_id] = self._clock()
        return trigger_id

    def exchange(self, trigger_id: str) -> str | None:
        """Use `trigger_id` for a view: None, or views.open's error (the trigger stays unused)."""
        with self._lock:
            minted = self._minted.get(trigger_id)
            if minted is None:
                return "invalid_trigger_id"
            if trigger_id in self._exchanged:
                return "exchanged_trigger_id"
            if self._clock() - minted > TRIGGER_LIFETIME:
                return "expired_trigger_id"
            self._exchanged.add(trigger_id)
        return None


@dataclass
class _ResponseUrl:
    issued: float
    uses: int = 0


class ResponseUrls:
    """response_urls as Slack hands them out: 5 answers each, within 30 minutes of issue."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._urls: dict[str, _ResponseUrl] = {}
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def issue(self, key: str | None = None) -> str:
        """The key of a response_url, new unless given; its 30 minutes start at its first issue."""
        with self._lock:
            if key is None:
                key = f"r{next(self._counter)}"
                while key in self._urls:
                    key = f"r{next(self._counter)}"
            self._urls.setdefault(key, _ResponseUrl(self._clock()))
        return key

    def refusal(self, key: str) -> str | None:
        """Why Slack would refuse a post to this URL now (HTTP 404 with this body), if it would."""
        with self._lock:
            url = self._urls.get(key)
            if url is None:
                return UNKNOWN_URL
            if self._clock() - url.issued > RESPONSE_URL_LIFETIME:
                return "expired_url"
            if url.uses >= RESPONSE_URL_USES:
                return "used_url"
        return None

    def use(self, key: str) -> None:
        """Count one answer posted through the URL."""
        with self._lock:
            self._urls[key].uses += 1
