"""A fake Slack Web API on 127.0.0.1 that records every call, answers as Slack does, and misbehaves.

Point the real client at it: ``WebClient(base_url=fake.base_url, token="xoxb-test")``.

How requests arrive, and how the fake reads them (slack_sdk 3.47's sync WebClient):

* Every call is a POST, even the ones slack_sdk declares as GET (users.info, users.lookupByEmail,
  conversations.history): the urllib client ignores ``http_verb`` and sends ``params`` as a
  form-encoded body. The async client (aiohttp) does send GET with a query string, so both work.
* Methods that carry blocks (chat.*, views.*) send a JSON body; the rest send form fields, where
  booleans become "1"/"0" and lists must already be strings.
* A call without arguments (auth.test) has an empty body labelled ``application/json``.
* The token travels in ``Authorization: Bearer ...``; a form or query ``token`` field is also
  accepted, as Slack does, but never a JSON one.

Answers are HTTP 200 with ``{"ok": true, ...}`` or ``{"ok": false, "error": ...}``, like Slack's.

Files go up in three steps, as slack_sdk's ``files_upload_v2`` sends them:
files.getUploadURLExternal (filename, length, and the alt text as ``alt_txt``) answers a file id
and an ``upload_url`` on this server; the bytes are POSTed there (raw, or as multipart); then
files.completeUploadExternal (``files`` a JSON list of ``{"id", "title"}``, ``channel_id``,
``initial_comment``) shares them. ``fake.uploads`` and ``fake.files(channel)`` show the result.

Channels are known only once added (`fake.add_channel`), as in a real workspace: chat.postMessage,
chat.update, chat.postEphemeral, conversations.history and files.completeUploadExternal (its
``channel_id``) in a channel answer ``channel_not_found`` for an unknown channel or a private one
the bot is not in, ``not_in_channel`` for a public one it is not in, and ``is_archived`` when
posting in an archived one. conversations.join and conversations.info answer as Slack's do (see
`FakeSlack.add_channel`). A user id or a DM needs no set-up.

What Slack refuses, the fake refuses, with Slack's answer: every message and view is checked by
`slack_rules` (slack_sdk's own Block Kit models, plus Slack's documented limits), so a message
too big for Slack fails here as it would there (invalid_blocks, msg_too_long, invalid_arguments).
`slack_grants` keeps what Slack lets a caller do: only known tokens work (`add_token`,
`revoke_token`; else invalid_auth, token_revoked), each with its scopes: by default the bot scopes
of deploy/slack-manifest.yml, read when the fake starts, and a method without the scope Slack
requires for it answers ``missing_scope`` with ``needed`` and ``provided``, as Slack does
(`add_token(token, scopes=...)` makes an install from before a scope was added). views.open needs
a trigger_id minted by `new_trigger_id` less than 3 s ago and never used before, and a
`response_url` must be one the fake issued (`fake.response_url()`; else 404) and takes 5 answers
within 30 minutes. Both age on `fake.clock`, which a test may replace to move time.

Slack's rate limits are off unless asked for: ``fake.enforce_rate_limits(RateLimits(...))`` makes
chat.postMessage and conversations.open answer 429 with Retry-After, as Slack does, when they go
faster than the limits allow (see `RateLimits`).
"""

from __future__ import annotations

import base64
import copy
import email.parser
import email.policy
import itertools
import json
import math
import mimetypes
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.local_server import LocalFake, QuietServer
from tests.fakes.slack_grants import (
    DM,
    GROUP_DM,
    KNOWN_TOKENS,
    PRIVATE,
    PUBLIC,
    ResponseUrls,
    Tokens,
    Triggers,
)
from tests.fakes.slack_rules import decoded, message_refusal, response_url_refusal, view_refusal

TEAM_ID = "T0001"
TEAM_NAME = "QI Test"
TEAM_URL = "https://qi-test.slack.com/"
BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
BOT_NAME = "qi-nudge"
APP_ID = "A0001"

RESPONSE_URL_METHOD = "response_url"
"""The name `fail` and `delay` take to misbehave on response URLs instead of a Web API method."""

UPLOAD_URL_METHOD = "upload_url"
"""The name `fail` and `delay` take to misbehave on upload URLs (files.getUploadURLExternal's)."""

FIRST_TS_MICROS = 1_700_000_000_000_100
TS_STEP_MICROS = 100
MAX_ALT_TXT = 1000


@dataclass(frozen=True)
class Call:
    """One Web API call as the fake received it."""

    method: str
    args: dict[str, Any]
    token: str | None

    def json_arg(self, name: str, default: Any = None) -> Any:
        """The argument `name`, decoded if it came as a JSON string (form-encoded blocks, view)."""
        return decoded(self.args.get(name, default))


@dataclass(frozen=True)
class Upload:
    """A file shared by files.completeUploadExternal, with what Slack had received for it."""

    file_id: str
    filename: str
    content: bytes
    title: str
    # As files.getUploadURLExternal received it (slack_sdk sends it there, not in `files`).
    alt_txt: str | None
    # None: the file stays private to the bot (completed without a channel).
    channel_id: str | None
    initial_comment: str | None


@dataclass
class _Failure:
    status: int
    retry_after: int | None
    error: str | None
    remaining: int


@dataclass
class _Delay:
    seconds: float
    remaining: int


@dataclass
class _Stall:
    seconds: float
    remaining: int
    started: threading.Event


@dataclass(frozen=True)
class RateLimits:
    """Slack's Web API rate limits, as `FakeSlack.enforce_rate_limits` applies them.

    Each limit is a token bucket: `burst` calls may go at once, then one more each time the rate
    allows; a call over the limit is answered HTTP 429, Retry-After (whole seconds, rounded up)
    and {"ok": false, "error": "ratelimited"}, and changes nothing. Slack's documented limits:

    * chat.postMessage: about one message a second per channel, short bursts allowed, within a
      workspace-wide limit of "several hundred a minute" (Slack gives no figure, so the
      workspace limit is off unless `workspace_posts_per_minute` is set). A user id and the
      DM it means ("U1", "DU1") are one channel.
    * conversations.open: Tier 3, 50+ calls a minute, sporadic bursts welcome.

    None turns a limit off.
    """

    post_per_channel_per_second: float | None = 1.0
    post_burst: int = 3
    workspace_posts_per_minute: float | None = None
    workspace_burst: int = 10
    open_per_minute: float | None = 50.0
    open_burst: int = 5

    def __post_init__(self) -> None:
        rates = (
            self.post_per_channel_per_second,
            self.workspace_posts_per_minute,
            self.open_per_minute,
        )
        if any(rate is not None and rate <= 0 for rate in rates):
            raise ValueError("a rate must be positive (or None for no limit)")
        if min(self.post_burst, self.workspace_burst, self.open_burst) < 1:
            raise ValueError("a burst must be at least 1")

    def floor_seconds(self, messages_per_channel: Iterable[int], *, opens: int = 0) -> float:
        """The least time these limits allow for these posts (and DM opens), from full buckets.

        A bucket of rate r a second and burst b lets n calls through in no less than
        max(0, n - b) / r seconds; the floor is the largest of the per-channel, the workspace
        and the conversations.open figures (the limits run side by side).
        """
        counts = list(messages_per_channel)
        floors = [0.0]
        if self.post_per_channel_per_second is not None:
            floors += [
                _bucket_floor(n, self.post_per_channel_per_second, self.post_burst) for n in counts
            ]
        if self.workspace_posts_per_minute is not None:
            per_second = self.workspace_posts_per_minute / 60
            floors.append(_bucket_floor(sum(counts), per_second, self.workspace_burst))
        if self.open_per_minute is not None:
            floors.append(_bucket_floor(opens, self.open_per_minute / 60, self.open_burst))
        return max(floors)


def _bucket_floor(calls: int, per_second: float, burst: int) -> float:
    return max(0, calls - burst) / per_second


class _TokenBucket:
    """`burst` calls at once, refilled at `per_second`; the caller holds the fake's lock."""

    def __init__(self, per_second: float, burst: int, now: float) -> None:
        self.per_second = per_second
        self.burst = burst
        self.tokens = float(burst)
        self.updated = now

    def wait(self, now: float) -> float:
        """Seconds until one call may go (0.0: now)."""
        self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.per_second)
        self.updated = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.per_second

    def take(self) -> None:
        self.tokens -= 1


class _RateLimiter:
    """Which buckets a call draws on; a call refused by one takes nothing from the others."""

    def __init__(self, limits: RateLimits, clock: Callable[[], float]) -> None:
        self.limits = limits
        self.clock = clock
        start = clock()
        self._channels: dict[str, _TokenBucket] = {}
        self._workspace = (
            _TokenBucket(limits.workspace_posts_per_minute / 60, limits.workspace_burst, start)
            if limits.workspace_posts_per_minute is not None
            else None
        )
        self._open = (
            _TokenBucket(limits.open_per_minute / 60, limits.open_burst, start)
            if limits.open_per_minute is not None
            else None
        )

    def retry_after(self, method: str, args: dict[str, Any]) -> int | None:
        """None if the call may go (it is counted), else whole seconds to wait."""
        now = self.clock()
        buckets = self._buckets(method, args, now)
        wait = max((bucket.wait(now) for bucket in buckets), default=0.0)
        if wait > 0:
            return max(1, math.ceil(wait))
        for bucket in buckets:
            bucket.take()
        return None

    def _buckets(self, method: str, args: dict[str, Any], now: float) -> list[_TokenBucket]:
        if method == "conversations.open":
            return [self._open] if self._open is not None else []
        if method != "chat.postMessage" or not args.get("channel"):
            return []  # (without a channel the call fails anyway, as Slack's does)
        buckets = [self._workspace] if self._workspace is not None else []
        per_second = self.limits.post_per_channel_per_second
        if per_second is not None:
            channel = _dm_for(str(args["channel"]))
            if channel not in self._channels:
                self._channels[channel] = _TokenBucket(per_second, self.limits.post_burst, now)
            buckets.append(self._channels[channel])
        return buckets


@dataclass
class _User:
    user_id: str
    name: str
    email: str | None
    team_id: str
    is_bot: bool


# Methods that need the bot in the channel, and of those, the ones that post in it. An ephemeral
# message too: Slack refuses it where the bot is not a member, even though only one person sees it.
_POSTS = frozenset(
    {"chat.postMessage", "chat.update", "chat.postEphemeral", "files.completeUploadExternal"}
)
_MEMBERS_ONLY = _POSTS | {"conversations.history"}


@dataclass
class _Channel:
    channel_id: str
    name: str
    private: bool
    archived: bool
    bot_member: bool


@dataclass
class _Answer:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


class FakeSlack(LocalFake):
    """A Slack Web API on 127.0.0.1: records calls, keeps messages and views, fails on request.

    A channel takes messages only once added with `add_channel`, with the bot in it; a user id
    given as a channel means the bot's DM with them ("U123" -> "DU123"), with no set-up.
    users.info and users.lookupByEmail find only users added with `add_user` (and the bot, UBOT).
    Calls need one of `tokens` (or one added with `add_token`); trigger ids and response URLs
    age on `clock`, a monotonic clock in seconds.
    """

    def __init__(
        self,
        *,
        tokens: Iterable[str] = KNOWN_TOKENS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(_Handler, "fake-slack")
        # Trigger ids and response URLs age on this clock: a test may swap it for its own.
        self.clock = clock
        self.tokens = Tokens(tokens)
        self.triggers = Triggers(lambda: self.clock())
        self.response_urls = ResponseUrls(lambda: self.clock())
        self._opened_views: list[dict[str, Any]] = []
        self.calls: list[Call] = []
        self.responses: list[tuple[str, dict]] = []
        self.rate_limited: Counter[str] = Counter()  # calls answered 429 by enforce_rate_limits
        self._lock = threading.RLock()
        self._limiter: _RateLimiter | None = None
        self.socket_url = ""  # answered by apps.connections.open (Socket Mode tests)
        self._failures: dict[str, deque[_Failure]] = {}
        self._delays: dict[str, deque[_Delay]] = {}
        self._stalls: dict[str, deque[_Stall]] = {}
        self._users: dict[str, _User] = {}
        self._open_dms: set[str] = set()
        self._channels: dict[str, _Channel] = {}
        self._messages: dict[str, list[dict[str, Any]]] = {}
        self._ephemerals: dict[str, list[dict[str, Any]]] = {}
        self._homes: dict[str, dict[str, Any]] = {}
        self._home_view_ids: dict[str, str] = {}
        self._files: dict[str, dict[str, Any]] = {}  # file id -> upload started, not completed
        self._uploads: list[Upload] = []
        self._file_counter = itertools.count(1)
        # Message ts are times, as Slack's are (`oldest` and `latest` bound them): a test may
        # swap this for its own clock, in seconds since the epoch.
        self.wall_clock: Callable[[], float] = time.time
        self._last_ts_micros = FIRST_TS_MICROS - TS_STEP_MICROS
        self._view_counter = itertools.count(1)
        self.add_user(BOT_USER_ID, BOT_NAME, is_bot=True)

    # -- addresses (start, close and root_url come from LocalFake) ---------------------------

    @property
    def base_url(self) -> str:
        """What `WebClient(base_url=...)` takes, e.g. "http://127.0.0.1:54321/api/"."""
        return f"{self.root_url}/api/"

    def response_url(self, key: str | None = None) -> str:
        """A new response_url on this server (or the one named `key`), as an interaction has.

        Like Slack's, it takes 5 answers within 30 minutes of its first issue, then answers
        404 used_url or expired_url. Only URLs issued here work: any other is 404 no_service.
        """
        return f"{self.root_url}/hooks/{self.response_urls.issue(key)}"

    # -- grants: tokens and trigger ids --------------------------------------------------------

    def add_token(self, token: str, *, scopes: Iterable[str] | None = None) -> None:
        """Accept `token` too, carrying `scopes` (the fake knows `KNOWN_TOKENS` from the start).

        `scopes` defaults to the manifest's bot scopes (`bot_scopes`), or connections:write for
        an app-level "xapp-" token. Fewer make an install from before the manifest asked for
        more, e.g. ``scopes=[s for s in fake.bot_scopes if s != "channels:join"]``; adding a
        known token again changes its scopes, as reinstalling the app does.
        """
        self.tokens.add(token, scopes)

    @property
    def bot_scopes(self) -> tuple[str, ...]:
        """The bot scopes of deploy/slack-manifest.yml, which a token carries unless told."""
        return self.tokens.bot_scopes

    def revoke_token(self, token: str) -> None:
        """Answer token_revoked to every call with `token` from now on (an uninstalled app)."""
        self.tokens.revoke(token)

    def new_trigger_id(self) -> str:
        """A trigger_id as Slack sends with an interaction: one views.open, within 3 seconds."""
        return self.triggers.mint()

    # -- set-up ------------------------------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        name: str,
        *,
        email: str | None = None,
        team_id: str = TEAM_ID,
        is_bot: bool = False,
    ) -> None:
        """A workspace member that users.info and users.lookupByEmail will find."""
        with self._lock:
            self._users[user_id] = _User(user_id, name, email, team_id, is_bot)

    # -- channels --------------------------------------------------------------------------

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        private: bool = False,
        archived: bool = False,
        bot_member: bool = False,
    ) -> None:
        """A channel of the workspace: public ids start with C; private with G (old) or C."""
        if channel_id[:1] not in (("C", "G") if private else ("C",)):
            kind = "private channel ids start with C or G" if private else "public ids start with C"
            raise ValueError(f"{channel_id!r}: {kind}")
        with self._lock:
            self._channels[channel_id] = _Channel(channel_id, name, private, archived, bot_member)

    def invite_bot(self, channel_id: str) -> None:
        """Someone adds the bot to the channel (/invite @qi-nudge), as a private one needs."""
        with self._lock:
            self._channel(channel_id).bot_member = True

    def remove_bot(self, channel_id: str) -> None:
        """Someone removes the bot from the channel (/remove @qi-nudge)."""
        with self._lock:
            self._channel(channel_id).bot_member = False

    def archive(self, channel_id: str) -> None:
        """Someone archives the channel: nothing more can be posted in it."""
        with self._lock:
            self._channel(channel_id).archived = True

    def bot_is_member(self, channel_id: str) -> bool:
        """Whether the bot is in the channel now."""
        with self._lock:
            return self._channel(channel_id).bot_member

    def _channel(self, channel_id: str) -> _Channel:
        found = self._channels.get(channel_id)
        if found is None:
            raise KeyError(f"no channel {channel_id!r}: add it first with add_channel")
        return found

    def fail(
        self,
        method: str,
        status: int,
        *,
        retry_after: int | None = None,
        times: int = 1,
        error: str | None = None,
    ) -> None:
        """Answer the next `times` calls to `method` with HTTP `status` (or 200 + error).

        429 carries Retry-After when `retry_after` is given and the body Slack sends,
        {"ok": false, "error": "ratelimited"}; other statuses carry "fatal_error". With `error`,
        the answer is HTTP 200 {"ok": false, "error": error} whatever `status` says. For
        method "response_url" (or "upload_url") the answer is `status` with `error` as plain
        text, e.g. fail("response_url", 404, error="expired_url"). Failed calls change nothing.
        """
        if error is None and status == 200:
            raise ValueError("fail() needs a non-200 status or an error")
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._failures.setdefault(method, deque()).append(
                _Failure(status, retry_after, error, times)
            )

    def delay(self, method: str, seconds: float, *, times: int = 1) -> None:
        """Sleep `seconds` before answering the next `times` calls to `method`."""
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._delays.setdefault(method, deque()).append(_Delay(seconds, times))

    def stall_after(self, method: str, seconds: float, *, times: int = 1) -> threading.Event:
        """Do the next `times` calls to `method`, then sleep `seconds` before answering each.

        Slack has acted but the caller has not heard: kill the caller during the stall to test
        a crash between a send and its record. The event is set when the first stall begins.
        """
        if times < 1:
            raise ValueError("times must be at least 1")
        started = threading.Event()
        with self._lock:
            self._stalls.setdefault(method, deque()).append(_Stall(seconds, times, started))
        return started

    def enforce_rate_limits(
        self, limits: RateLimits | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> RateLimits:
        """From now on, answer calls over Slack's rate limits with 429 and Retry-After.

        `limits` defaults to `RateLimits()` (Slack's documented figures, no workspace limit);
        `clock` (seconds, monotonic) lets a test move time instead of sleeping. Calls refused
        are recorded in `calls` and counted per method in `rate_limited`, and post nothing.
        Calling again starts afresh with full buckets.
        """
        limits = limits or RateLimits()
        with self._lock:
            self._limiter = _RateLimiter(limits, clock)
        return limits

    @property
    def rate_limits(self) -> RateLimits | None:
        """The limits in force, or None if the fake answers every call."""
        limiter = self._limiter
        return limiter.limits if limiter is not None else None

    # -- reading what happened ---------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        """The calls to `method`, oldest first."""
        with self._lock:
            return [call for call in self.calls if call.method == method]

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Messages in `channel` (a user id means the bot's DM with them), oldest first."""
        with self._lock:
            return copy.deepcopy(self._messages.get(_dm_for(channel), []))

    def ephemerals(self, channel: str) -> list[dict[str, Any]]:
        """Ephemeral messages posted in `channel`, oldest first, each with the `user` who saw it."""
        with self._lock:
            return copy.deepcopy(self._ephemerals.get(_dm_for(channel), []))

    @property
    def uploads(self) -> list[Upload]:
        """Files shared by files.completeUploadExternal, oldest first."""
        with self._lock:
            return list(self._uploads)

    def files(self, channel: str) -> list[Upload]:
        """Files shared in `channel` (a user id means the bot's DM with them), oldest first."""
        wanted = _dm_for(channel)
        return [upload for upload in self.uploads if upload.channel_id == wanted]

    def opened_views(self) -> list[dict[str, Any]]:
        """The modals views.open opened, oldest first, as Slack answered them."""
        with self._lock:
            return copy.deepcopy(self._opened_views)

    def home(self, user_id: str) -> dict[str, Any] | None:
        """The home tab last published for `user_id`."""
        with self._lock:
            return copy.deepcopy(self._homes.get(user_id))

    # -- serving -----------------------------------------------------------------------------

    def _answer(self, request: _Handler) -> _Answer:
        url = urlsplit(request.path)
        body = request.read_body()
        if url.path.startswith("/api/"):
            method = url.path.removeprefix("/api/")
            answer = self._answer_api(request, method, url.query, body)
            stall = self._take(self._stalls, method)
            if stall is not None:
                stall.started.set()
                self._closing.wait(stall.seconds)
            return answer
        if url.path.startswith("/hooks/"):
            return self._answer_response_url(url.path.removeprefix("/hooks/"), body)
        if url.path.startswith("/upload/"):
            content_type = request.headers.get("Content-Type", "")
            return self._answer_upload(url.path.removeprefix("/upload/"), content_type, body)
        return _Answer(404, b"not found", "text/plain; charset=utf-8")

    def _answer_api(self, request: _Handler, method: str, query: str, body: bytes) -> _Answer:
        content_type = request.headers.get("Content-Type", "")
        args = _form(query)
        parse_error = None
        try:
            args.update(_body_args(content_type, body))
        except ValueError as problem:
            parse_error = str(problem)
        token = _bearer(request.headers.get("Authorization"))
        form_token = args.pop("token", None)
        if token is None and "json" not in content_type:
            token = form_token or None
        with self._lock:
            self.calls.append(Call(method, args, token))
        if not self._wait_out_delay(method):
            return _Answer(503, b"", "text/plain")
        failure = self._take(self._failures, method)
        if failure is not None:
            return _failure_answer(failure)
        if parse_error is not None:
            return _json_answer({"ok": False, "error": parse_error})
        if not token:
            return _json_answer({"ok": False, "error": "not_authed"})
        token_problem = self.tokens.problem(token, method)
        if token_problem is not None:
            return _json_answer({"ok": False, "error": token_problem})
        handler = self._handlers().get(method)
        if handler is None:
            return _json_answer({"ok": False, "error": "unknown_method"})
        with self._lock:
            kind = self._conversation_kind(method, args)
            missing = self.tokens.missing_scope(token, method, kind)
            if missing is not None:
                return _json_answer(missing)
            # One lock for the check and the work: concurrent calls cannot both take a last token.
            retry_after = self._limiter.retry_after(method, args) if self._limiter else None
            if retry_after is not None:
                self.rate_limited[method] += 1
                return _failure_answer(_Failure(429, retry_after, None, 0))
            refusal = self._membership_refusal(method, args)
            if refusal is not None:
                return _json_answer(refusal)
            return _json_answer(handler(args))

    def _answer_response_url(self, key: str, body: bytes) -> _Answer:
        if not self._wait_out_delay(RESPONSE_URL_METHOD):
            return _Answer(503, b"", "text/plain")
        failure = self._take(self._failures, RESPONSE_URL_METHOD)
        if failure is not None:
            text = failure.error or "failure"
            return _Answer(failure.status, text.encode(), "text/html")
        try:
            payload = json.loads(body or b"null")
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return _Answer(400, b"invalid_payload", "text/html")
        with self._lock:
            refused = self.response_urls.refusal(key)
            if refused is not None:
                return _Answer(404, refused.encode(), "text/html")
            refused = response_url_refusal(payload)
            if refused is not None:
                return _Answer(400, refused.encode(), "text/html")
            self.response_urls.use(key)
            self.responses.append((key, payload))
        return _Answer(200, b"ok", "text/html")

    def _answer_upload(self, file_id: str, content_type: str, body: bytes) -> _Answer:
        """The bytes of a file, POSTed raw or as multipart; Slack answers "OK - <length>"."""
        if not self._wait_out_delay(UPLOAD_URL_METHOD):
            return _Answer(503, b"", "text/plain")
        failure = self._take(self._failures, UPLOAD_URL_METHOD)
        if failure is not None:
            text = failure.error or "failure"
            return _Answer(failure.status, text.encode(), "text/plain; charset=utf-8")
        content = body
        if content_type.startswith("multipart/form-data"):
            parts = _multipart(content_type, body).values()
            content = next((part for part in parts if isinstance(part, bytes)), b"")
        with self._lock:
            pending = self._files.get(file_id)
            if pending is None:
                return _Answer(404, b"file not found", "text/plain; charset=utf-8")
            pending["content"] = content
        return _Answer(200, f"OK - {len(content)}".encode(), "text/plain; charset=utf-8")

    def _wait_out_delay(self, method: str) -> bool:
        """Sleep as asked; False if the fake closed meanwhile."""
        delay = self._take(self._delays, method)
        if delay is None:
            return True
        return not self._closing.wait(delay.seconds)

    def _take(self, queues: dict[str, deque[Any]], method: str) -> Any:
        with self._lock:
            queue = queues.get(method)
            if not queue:
                return None
            entry = queue[0]
            entry.remaining -= 1
            if entry.remaining <= 0:
                queue.popleft()
            return entry

    def _handlers(self) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        return {
            "auth.test": self._auth_test,
            "conversations.open": self._conversations_open,
            "conversations.history": self._conversations_history,
            "conversations.join": self._conversations_join,
            "conversations.info": self._conversations_info,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "views.open": self._views_open,
            "views.publish": self._views_publish,
            "users.info": self._users_info,
            "users.lookupByEmail": self._users_lookup_by_email,
            "apps.connections.open": self._apps_connections_open,
            "files.getUploadURLExternal": self._files_get_upload_url_external,
            "files.completeUploadExternal": self._files_complete_upload_external,
        }

    # -- the methods (called with the lock held) ---------------------------------------------

    def _next_ts(self) -> str:
        # As Slack's: the time of posting (on `wall_clock`), unique and increasing.
        now = int(self.wall_clock() * 1_000_000)
        micros = max(now, self._last_ts_micros + TS_STEP_MICROS)
        self._last_ts_micros = micros
        seconds, fraction = divmod(micros, 1_000_000)
        return f"{seconds}.{fraction:06d}"

    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        # Socket Mode: where the app should dial; a test sets socket_url to a FakeSocketMode.
        if not self.socket_url:
            return {"ok": False, "error": "socket_mode_not_enabled"}
        return {"ok": True, "url": self.socket_url}

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": TEAM_URL,
            "team": TEAM_NAME,
            "user": BOT_NAME,
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("channel"):
            return {"ok": True, "channel": {"id": args["channel"]}}
        users = args.get("users")
        if isinstance(users, list):
            users = ",".join(users)
        user_ids = [user.strip() for user in (users or "").split(",") if user.strip()]
        if not user_ids:
            return {"ok": False, "error": "users_list_not_supplied"}
        channel_id = _dm_for(user_ids[0]) if len(user_ids) == 1 else "G" + "".join(user_ids)
        answer: dict[str, Any] = {"ok": True, "channel": {"id": channel_id}}
        if channel_id in self._open_dms:
            answer.update(no_op=True, already_open=True)
        self._open_dms.add(channel_id)
        return answer

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        problem = _message_problem(args)
        if problem:
            return problem
        channel = _dm_for(channel)
        message = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "ts": self._next_ts(),
            "text": args.get("text") or "",
        }
        _copy_content(args, message)
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
            message["reply_broadcast"] = _truthy(args.get("reply_broadcast"))
        self._messages.setdefault(channel, []).append(message)
        return {
            "ok": True,
            "channel": channel,
            "ts": message["ts"],
            "message": copy.deepcopy(message),
        }

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = _dm_for(args.get("channel") or "")
        ts = args.get("ts")
        found = [m for m in self._messages.get(channel, []) if m["ts"] == ts]
        if not found:
            return {"ok": False, "error": "message_not_found"}
        problem = _message_problem(args, require_content=False)
        if problem:
            return problem
        message = found[0]
        if "text" in args:
            message["text"] = args["text"] or ""
        _copy_content(args, message)
        message["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "text": message["text"],
            "message": copy.deepcopy(message),
        }

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not args.get("user"):
            return {"ok": False, "error": "user_not_in_channel"}
        problem = _message_problem(args)
        if problem:
            return problem
        message = {"type": "message", "user": args["user"], "ts": self._next_ts()}
        message["text"] = args.get("text") or ""
        _copy_content(args, message)
        self._ephemerals.setdefault(_dm_for(channel), []).append(message)
        return {"ok": True, "message_ts": message["ts"]}

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        inclusive = _truthy(args.get("inclusive"))
        oldest = Decimal(str(args.get("oldest") or "0"))
        latest = Decimal(str(args["latest"])) if args.get("latest") else None
        limit = min(int(args.get("limit") or 100), 999)
        # Slack's cursor names the next message to show ("next_ts:<ts>", base64): pages stay
        # put while messages arrive. A cursor it did not issue is refused, as Slack does.
        cursor = str(args.get("cursor") or "")
        below: Decimal | None = None
        if cursor:
            try:
                below = Decimal(base64.b64decode(cursor).decode().removeprefix("next_ts:"))
            except (ValueError, ArithmeticError, UnicodeDecodeError):
                return {"ok": False, "error": "invalid_cursor"}
        with_metadata = _truthy(args.get("include_all_metadata"))

        def in_range(message: dict[str, Any]) -> bool:
            ts = Decimal(message["ts"])
            after = ts >= oldest if inclusive else ts > oldest
            before = latest is None or (ts <= latest if inclusive else ts < latest)
            return after and before and (below is None or ts <= below)

        top_level = [
            message
            for message in reversed(self._messages.get(_dm_for(channel), []))
            if message.get("thread_ts", message["ts"]) == message["ts"]
            or message.get("reply_broadcast")
        ]
        chosen = [message for message in top_level if in_range(message)]
        page = copy.deepcopy(chosen[:limit])
        if not with_metadata:
            for message in page:
                message.pop("metadata", None)
        has_more = limit < len(chosen)
        answer: dict[str, Any] = {
            "ok": True,
            "messages": page,
            "has_more": has_more,
            "pin_count": 0,
            "channel_actions_ts": None,
            "channel_actions_count": 0,
        }
        if has_more:
            following = f"next_ts:{chosen[limit]['ts']}".encode()
            answer["response_metadata"] = {"next_cursor": base64.b64encode(following).decode()}
        return answer

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        trigger_id = args.get("trigger_id") or args.get("interactivity_pointer")
        if not trigger_id:
            return _invalid_arguments("missing required field: trigger_id")
        view = decoded(args.get("view"))
        problem = _view_problem(view)
        if problem:
            return problem
        trigger_problem = self.triggers.exchange(str(trigger_id))
        if trigger_problem is not None:
            return {"ok": False, "error": trigger_problem}
        view_id = f"V{next(self._view_counter):010d}"
        opened = self._view_object(view_id, view)
        self._opened_views.append(opened)
        return {"ok": True, "view": copy.deepcopy(opened)}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = args.get("user_id")
        if not user_id:
            return _invalid_arguments("missing required field: user_id")
        view = decoded(args.get("view"))
        problem = _view_problem(view)
        if problem:
            return problem
        if view.get("type") != "home":
            return _invalid_arguments("must be a home view")
        view_id = self._home_view_ids.setdefault(user_id, f"V{next(self._view_counter):010d}")
        published = self._view_object(view_id, view)
        self._homes[user_id] = published
        return {"ok": True, "view": copy.deepcopy(published)}

    def _view_object(self, view_id: str, view: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "id": view_id,
            "team_id": TEAM_ID,
            "type": view.get("type"),
            "blocks": [],
            "private_metadata": "",
            "callback_id": "",
            "state": {"values": {}},
            "hash": f"{self._next_ts()}.fake",
            "clear_on_close": False,
            "notify_on_close": False,
            "root_view_id": view_id,
            "previous_view_id": None,
            "app_id": APP_ID,
            "external_id": "",
            "app_installed_team_id": TEAM_ID,
            "bot_id": BOT_ID,
        }
        answer.update(copy.deepcopy(view))
        answer["id"] = view_id
        return answer

    def _files_get_upload_url_external(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("filename"):
            return _invalid_arguments("missing required field: filename")
        try:
            length = int(args.get("length") or 0)
        except (TypeError, ValueError):
            return _invalid_arguments("length must be an integer")
        if length <= 0:
            return {"ok": False, "error": "missing_argument"}
        alt_txt = args.get("alt_txt")
        if alt_txt is not None and len(str(alt_txt)) > MAX_ALT_TXT:
            return {"ok": False, "error": "alt_txt_too_large"}
        file_id = f"F{next(self._file_counter):010d}"
        self._files[file_id] = {
            "filename": str(args["filename"]),
            "length": length,
            "alt_txt": alt_txt,
            "content": None,
        }
        return {"ok": True, "upload_url": f"{self.root_url}/upload/{file_id}", "file_id": file_id}

    def _files_complete_upload_external(self, args: dict[str, Any]) -> dict[str, Any]:
        entries = decoded(args.get("files"))
        if not (
            isinstance(entries, list)
            and entries
            and all(isinstance(entry, dict) and entry.get("id") for entry in entries)
        ):
            return _invalid_arguments("files must be a list of objects with an id")
        channel_id = args.get("channel_id") or None
        if channel_id is not None and str(channel_id)[:1] not in ("C", "G", "D", "Z"):
            # A user id is refused here (unlike chat.postMessage): the DM's own id is needed.
            return _invalid_arguments(
                "input must match regex pattern: ^[CGDZ][A-Z0-9]{8,}$ [json-pointer:/channel_id]"
            )
        # Each upload completes once, and only after its bytes arrived at the upload URL.
        if any((self._files.get(entry["id"]) or {}).get("content") is None for entry in entries):
            return {"ok": False, "error": "file_not_found"}
        shared = []
        for entry in entries:
            pending = self._files.pop(entry["id"])
            upload = Upload(
                file_id=entry["id"],
                filename=pending["filename"],
                content=pending["content"],
                title=str(entry.get("title") or pending["filename"]),
                alt_txt=pending["alt_txt"],
                channel_id=channel_id,
                initial_comment=args.get("initial_comment"),
            )
            self._uploads.append(upload)
            shared.append(_file_object(upload))
        return {"ok": True, "files": shared}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self._users.get(args.get("user") or "")
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        answer = {"ok": True, "user": _user_object(user)}
        if _truthy(args.get("include_locale")):
            answer["user"]["locale"] = "en-GB"
        return answer

    def _users_lookup_by_email(self, args: dict[str, Any]) -> dict[str, Any]:
        wanted = str(args.get("email") or "").casefold()
        for user in self._users.values():
            if wanted and user.email is not None and user.email.casefold() == wanted:
                return {"ok": True, "user": _user_object(user)}
        return {"ok": False, "error": "users_not_found"}

    # -- channel membership (called with the lock held) --------------------------------------

    def _conversation_kind(self, method: str, args: dict[str, Any]) -> str | None:
        """What kind of conversation the call is about, for its scope; None if hidden or none.

        A channel the bot cannot see has no kind yet: Slack answers channel_not_found for it.
        """
        if method == "conversations.open" and not args.get("channel"):
            users = args.get("users")
            names = users if isinstance(users, list) else str(users or "").split(",")
            return GROUP_DM if len([n for n in names if str(n).strip()]) > 1 else DM
        channel_id = str(args.get("channel") or "")
        if channel_id[:1] in ("U", "W", "D"):
            return DM
        if channel_id in self._open_dms:
            return GROUP_DM
        channel = self._channels.get(channel_id)
        if channel is None or (channel.private and not channel.bot_member):
            return None
        return PRIVATE if channel.private else PUBLIC

    def _membership_refusal(self, method: str, args: dict[str, Any]) -> dict[str, Any] | None:
        """Slack's answer when the bot may not use the channel for `method`; None if it may."""
        if method not in _MEMBERS_ONLY:
            return None
        for channel_id in _channels_of(method, args):
            refusal = self._channel_refusal(method, channel_id)
            if refusal is not None:
                return refusal
        return None

    def _channel_refusal(self, method: str, channel_id: str) -> dict[str, Any] | None:
        if channel_id[:1] not in ("C", "G") or channel_id in self._open_dms:
            return None  # a user id or a DM (or a group DM the bot opened): no membership
        channel = self._channels.get(channel_id)
        if channel is None or (channel.private and not channel.bot_member):
            return {"ok": False, "error": "channel_not_found"}  # a private one is invisible
        if channel.archived and method in _POSTS:
            return {"ok": False, "error": "is_archived"}
        if not channel.bot_member:
            return {"ok": False, "error": "not_in_channel"}
        return None

    def _conversations_join(self, args: dict[str, Any]) -> dict[str, Any]:
        channel_id = str(args.get("channel") or "")
        if channel_id[:1] in ("D", "U", "W") or channel_id in self._open_dms:
            return {"ok": False, "error": "method_not_supported_for_channel_type"}
        channel = self._channels.get(channel_id)
        hidden = channel is not None and channel.private and not channel.bot_member
        if channel is None or (hidden and channel_id.startswith("C")):
            # A private channel the bot was not invited to is invisible to it: not found.
            return {"ok": False, "error": "channel_not_found"}
        if channel.private:
            # No bot joins a private channel by itself; an old one (a G "group") is the wrong
            # kind of conversation for the method, and so, in the fake, is one it is already in.
            return {"ok": False, "error": "method_not_supported_for_channel_type"}
        if channel.archived:
            return {"ok": False, "error": "is_archived"}
        answer: dict[str, Any] = {"ok": True}
        if channel.bot_member:
            answer["warning"] = "already_in_channel"
            answer["response_metadata"] = {"warnings": ["already_in_channel"]}
        channel.bot_member = True
        answer["channel"] = _channel_object(channel)
        return answer

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channels.get(str(args.get("channel") or ""))
        if channel is None or (channel.private and not channel.bot_member):
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "channel": _channel_object(channel)}


class _Handler(BaseHTTPRequestHandler):
    server: QuietServer

    def do_GET(self) -> None:
        self._respond()

    def do_POST(self) -> None:
        self._respond()

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _respond(self) -> None:
        answer = self.server.fake._answer(self)
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(answer.body)
        except OSError:
            pass  # the client timed out and hung up; Slack would have done the work anyway

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output clean."""


# -- request parsing -------------------------------------------------------------------------


def _form(encoded: str) -> dict[str, Any]:
    return {name: values[-1] for name, values in parse_qs(encoded, keep_blank_values=True).items()}


def _body_args(content_type: str, body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    if "json" in content_type:
        try:
            decoded = json.loads(body)
        except ValueError as problem:
            raise ValueError("invalid_json") from problem
        if not isinstance(decoded, dict):
            raise ValueError("invalid_json")
        return decoded
    if content_type.startswith("multipart/form-data"):
        return _multipart(content_type, body)
    return _form(body.decode("utf-8"))


def _multipart(content_type: str, body: bytes) -> dict[str, Any]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, Any] = {}
    for part in message.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        fields[name] = payload if part.get_filename() else payload.decode("utf-8")
    return fields


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def _channels_of(method: str, args: dict[str, Any]) -> list[str]:
    """The channels a call acts in: files.completeUploadExternal names them differently."""
    if method != "files.completeUploadExternal":
        return [str(args.get("channel") or "")]
    named = [str(args.get("channel_id") or "")]
    named += [channel.strip() for channel in str(args.get("channels") or "").split(",")]
    return [channel for channel in named if channel]


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true")


def _dm_for(channel: str) -> str:
    """Slack posts to a user id in the bot's DM with them."""
    return "D" + channel if channel[:1] in ("U", "W") else channel


# -- answers ---------------------------------------------------------------------------------


def _json_answer(payload: dict[str, Any]) -> _Answer:
    return _Answer(200, json.dumps(payload).encode())


def _failure_answer(failure: _Failure) -> _Answer:
    if failure.error is not None:
        return _json_answer({"ok": False, "error": failure.error})
    error = "ratelimited" if failure.status == 429 else "fatal_error"
    answer = _Answer(failure.status, json.dumps({"ok": False, "error": error}).encode())
    if failure.retry_after is not None:
        answer.headers["Retry-After"] = str(failure.retry_after)
    return answer


def _invalid_arguments(message: str) -> dict[str, Any]:
    return {
        "ok": False,
        "error": "invalid_arguments",
        "response_metadata": {"messages": [f"[ERROR] {message}"]},
    }


def _copy_content(args: dict[str, Any], message: dict[str, Any]) -> None:
    for name in ("blocks", "attachments", "metadata"):
        if name in args:
            message[name] = decoded(args[name])


def _message_problem(
    args: dict[str, Any], *, require_content: bool = True
) -> dict[str, Any] | None:
    """Slack's answer to a message it would refuse (see `slack_rules`), if it would."""
    refusal = message_refusal(args, require_content=require_content)
    return refusal.answer() if refusal is not None else None


def _view_problem(view: Any) -> dict[str, Any] | None:
    """Slack's answer to a view it would refuse (see `slack_rules`), if it would."""
    refusal = view_refusal(view)
    return refusal.answer() if refusal is not None else None


def _file_object(upload: Upload) -> dict[str, Any]:
    """A file as files.completeUploadExternal returns it (shares are filled in later by Slack)."""
    answer: dict[str, Any] = {
        "id": upload.file_id,
        "created": 1_700_000_000,
        "name": upload.filename,
        "title": upload.title,
        "mimetype": mimetypes.guess_type(upload.filename)[0] or "application/octet-stream",
        "filetype": upload.filename.rpartition(".")[2].lower() if "." in upload.filename else "",
        "user": BOT_USER_ID,
        "user_team": TEAM_ID,
        "size": len(upload.content),
        "is_public": False,
        "channels": [],
        "groups": [],
        "ims": [],
        "shares": {},
    }
    if upload.alt_txt is not None:
        answer["alt_txt"] = upload.alt_txt
    return answer


def _user_object(user: _User) -> dict[str, Any]:
    """A user as users.info returns it; the email only when one is known."""
    profile: dict[str, Any] = {
        "real_name": user.name,
        "real_name_normalized": user.name,
        "display_name": user.name,
        "display_name_normalized": user.name,
        "team": user.team_id,
    }
    if user.email is not None:
        profile["email"] = user.email
    if user.is_bot:
        profile["bot_id"] = BOT_ID if user.user_id == BOT_USER_ID else "B" + user.user_id
    return {
        "id": user.user_id,
        "team_id": user.team_id,
        "name": user.name.lower().replace(" ", "."),
        "deleted": False,
        "real_name": user.name,
        "tz": "Europe/London",
        "tz_label": "Greenwich Mean Time",
        "tz_offset": 0,
        "is_admin": False,
        "is_owner": False,
        "is_restricted": False,
        "is_ultra_restricted": False,
        "is_bot": user.is_bot,
        "is_app_user": False,
        "updated": 1_700_000_000,
        "profile": profile,
    }


def _channel_object(channel: _Channel) -> dict[str, Any]:
    """A channel as conversations.info and conversations.join return it.

    A private channel made before March 2021 has a G id and is a "group", not a "channel".
    """
    group = channel.private and channel.channel_id.startswith("G")
    return {
        "id": channel.channel_id,
        "name": channel.name,
        "name_normalized": channel.name,
        "is_channel": not group,
        "is_group": group,
        "is_im": False,
        "is_mpim": False,
        "is_private": channel.private,
        "is_archived": channel.archived,
        "is_general": False,
        "is_shared": False,
        "is_ext_shared": False,
        "is_org_shared": False,
        "is_pending_ext_shared": False,
        "pending_shared": [],
        "is_member": channel.bot_member,
        "created": 1_700_000_000,
        "creator": "U0CREATOR",
        "unlinked": 0,
        "topic": {"value": "", "creator": "", "last_set": 0},
        "purpose": {"value": "", "creator": "", "last_set": 0},
        "previous_names": [],
    }
