"""What Slack lets a caller do, and for how long: tokens, trigger ids and response URLs.

Each takes a monotonic clock (seconds), so a test moves time instead of sleeping.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

# The tokens the fake knows from the start: the bot tokens and the app-level token the tests
# use. Any other token is invalid_auth until `FakeSlack.add_token` makes it known.
KNOWN_TOKENS = frozenset({"xoxb-test", "xoxb-test-token", "xapp-test"})
# https://docs.slack.dev/authentication/tokens: app-level tokens ("xapp-") only open Socket
# Mode connections; any other method answers not_allowed_token_type to them, and
# apps.connections.open answers it to a bot token.
APP_TOKEN_PREFIX = "xapp-"
APP_TOKEN_METHODS = frozenset({"apps.connections.open"})

# https://docs.slack.dev/surfaces/modals: a trigger_id "expires in 3 seconds" and opens one view.
TRIGGER_LIFETIME = 3.0
# https://docs.slack.dev/interactivity/handling-user-interaction: a response_url can be used
# "up to 5 times within 30 minutes" of receiving it.
RESPONSE_URL_USES = 5
RESPONSE_URL_LIFETIME = 30 * 60.0


class Tokens:
    """The tokens Slack would accept; revoked ones answer token_revoked, unknown invalid_auth."""

    def __init__(self, known: Iterable[str] = KNOWN_TOKENS) -> None:
        self._known = set(known)
        self._revoked: set[str] = set()
        self._lock = threading.Lock()

    def add(self, token: str) -> None:
        """Accept `token` from now on (a new install, or another app's token)."""
        with self._lock:
            self._known.add(token)
            self._revoked.discard(token)

    def revoke(self, token: str) -> None:
        """Refuse `token` from now on with token_revoked, as Slack does after an uninstall."""
        with self._lock:
            self._revoked.add(token)

    def problem(self, token: str, method: str) -> str | None:
        """Slack's error for calling `method` with `token`, or None if the call may go."""
        with self._lock:
            if token in self._revoked:
                return "token_revoked"
            if token not in self._known:
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
            url = self._urls.setdefault(key, _ResponseUrl(self._clock()))
            if self._clock() - url.issued > RESPONSE_URL_LIFETIME:
                return "expired_url"
            if url.uses >= RESPONSE_URL_USES:
                return "used_url"
        return None

    def use(self, key: str) -> None:
        """Count one answer posted through the URL."""
        with self._lock:
            self._urls[key].uses += 1
