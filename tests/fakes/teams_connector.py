"""A fake Microsoft Teams on 127.0.0.1: Entra token endpoint, Bot Framework keys, Bot Connector.

One server plays the three Microsoft services the bot talks to, so one setting each points it
here (TEAMS_LOGIN_URL = `FakeTeams.login_url`, TEAMS_OPENID_METADATA_URL =
`FakeTeams.openid_metadata_url`, TEAMS_SERVICE_URL = `FakeTeams.service_url`):

* Entra ID: ``POST /{tenant}/oauth2/v2.0/token`` (form: grant_type=client_credentials,
  client_id, client_secret, scope=https://api.botframework.com/.default) answers
  ``{"token_type": "Bearer", "expires_in", "ext_expires_in", "access_token"}`` with an RS256 JWT
  (aud https://api.botframework.com, appid, tid, exp) signed by the fake's own key, or Entra's
  OAuth error JSON (``error``, ``error_description`` "AADSTS...", ``error_codes``): 400
  invalid_request for an unknown tenant, unsupported_grant_type, unauthorized_client for an
  unknown client id, invalid_scope; 401 invalid_client for a wrong secret.
* Bot Framework OpenID: ``GET /v1/.well-known/openidconfiguration`` (issuer
  https://api.botframework.com, jwks_uri here) and ``GET /v1/.well-known/keys`` (RSA JWKs with
  kid and ``endorsements: ["msteams"]``). The private keys stay here: `FakeTeams.sign` makes the
  tokens Teams sends with inbound activities (see tests/fakes/teams_signing.py).
* Bot Connector, under `service_url` (``/teams/``): ``POST v3/conversations`` (1:1 only; the same
  user and tenant always get the same conversation id, as Teams does), ``POST
  v3/conversations/{id}/activities`` (the fake assigns ids), ``POST .../activities/{id}`` (reply),
  ``PUT .../activities/{id}`` (edit; 404 if the conversation has no such activity), ``DELETE
  .../activities/{id}``, ``GET .../members/{userId}`` (a 29: id or an AAD object id),
  ``GET .../members``, ``GET .../pagedMembers``. Every Connector call needs ``Authorization:
  Bearer`` with a token this fake issued to the bot's app id and has not revoked, else 401
  ``{"message": "Authorization has been denied for this request."}``. ``GET v3/conversations`` is
  405, as on Teams: a bot cannot list its conversations, and nothing reads a message back, so a
  sender cannot look for what it already sent.

Conversations exist only as on Teams (see "Status codes from bot conversational APIs" in
Microsoft's msteams-docs, bots/build-conversational-capability.md). A 1:1 exists once POST
v3/conversations made it for a user of the tenant (`add_user`), or once its user wrote to the bot
(an activity made by `activity`: Teams made the chat). A channel exists once the app is installed
in its team (`install_in_team`, or a ``team_added`` activity). Anything else is 404
ConversationNotFound for sends, edits and member reads. Opening a 1:1 with someone the fake does
not know is refused as Teams refuses it: a 29: id it cannot read is 400 BadArgument "Failed to
decrypt pairwise id" (seen from Teams, not documented: MicrosoftDocs/msteams-docs#7424); any other
id is 403 ForbiddenOperationException, "Bot isn't installed in user's personal scope".

Connector errors are ``{"error": {"code", "message"}}`` with Teams' documented codes
(BadArgument, ConversationNotFound, BotNotInConversationRoster, MessageSizeTooBig, Throttled...).
Every activity sent, replied or edited is checked as Teams checks it (tests/fakes/teams_rules.py
says where each rule comes from), before anything else about the conversation:

* Size: the activity's JSON text as received, encoded as UTF-16, over `MAX_ACTIVITY_BYTES`
  (100,000 bytes: the stricter reading of Microsoft's approximate "100 KB") is 413
  MessageSizeTooBig. Base64 images count: Microsoft says they do not, but that was never tried
  against real Teams, so the fake takes the strict reading and exempts nothing.
* Content: an activity that does not parse as one of the Teams SDK's outgoing activity models,
  or carries an Adaptive Card that fails Microsoft's published schema for the version it
  declares (or declares no version, or one without a schema in tests/data/schemas), is 400
  BadArgument whose message says what is wrong and where (a guard for tests: Teams may instead
  show the card as "couldn't be displayed", see tests/fakes/teams_rules.py).

Misbehaviour on demand, as FakeSlack: `fail`, `delay`, `stall_after`, `fail_after` (acts, then
answers with an error or an empty body, as a gateway in front of Teams can), `remove_bot` (app
uninstalled from a team or a person's chat: 403 BotNotInConversationRoster) and
`reinstall_bot`, `block_bot` (the person blocked the bot: 403 ConversationBlockedByUser),
`revoke_tokens`, and `enforce_rate_limits` (Teams' per-bot per-conversation limits, 429 with or
without Retry-After).
"""

from __future__ import annotations

import bisect
import copy
import itertools
import json
import math
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jwt

from tests.fakes.local_server import JsonHandler, LocalFake
from tests.fakes.teams_rules import MAX_MESSAGE_BYTES, activity_problems, message_bytes
from tests.fakes.teams_signing import (
    ACTIVITY_KINDS,
    APP_ID,
    APP_PASSWORD,
    BOT_FRAMEWORK_ISSUER,
    BOT_FRAMEWORK_SCOPE,
    FIRST_ACTIVITY_MS,
    KEYS_PATH,
    OPENID_PATH,
    PRIYA,
    TEAM_ID,
    TENANT_ID,
    SigningKey,
    TeamsUser,
    forged_token,
    inbound_token,
    personal_conversation_id,
)

SERVICE_PATH = "/teams/"
MAX_ACTIVITY_BYTES = MAX_MESSAGE_BYTES  # UTF-16 bytes of the activity's JSON text
TOKEN_LIFETIME = 3599  # what Entra answers as expires_in for client-credentials tokens
DENIED = {"message": "Authorization has been denied for this request."}

# Route names: what `fail`, `delay`, `stall_after` and `calls_to` take (an HTTP method also
# works for `fail`/`delay`/`stall_after`, meaning every route called with it).
OPENID = "openid"
KEYS = "keys"
TOKEN = "token"
CREATE_CONVERSATION = "create_conversation"
GET_CONVERSATIONS = "get_conversations"
SEND_ACTIVITY = "send_activity"
REPLY_ACTIVITY = "reply_activity"
UPDATE_ACTIVITY = "update_activity"
DELETE_ACTIVITY = "delete_activity"
GET_MEMBER = "get_member"
GET_MEMBERS = "get_members"
PAGED_MEMBERS = "paged_members"

_SENDS = (SEND_ACTIVITY, REPLY_ACTIVITY, UPDATE_ACTIVITY, DELETE_ACTIVITY)
_MEMBER_READS = (GET_MEMBER, GET_MEMBERS, PAGED_MEMBERS)

_ERROR_CODES = {
    400: ("BadArgument", "Bad argument"),
    401: ("BotNotRegistered", "No registration found for this bot."),
    403: ("BotDisabledByAdmin", "The tenant admin disabled this bot"),
    404: ("ConversationNotFound", "Conversation not found."),
    405: ("MethodNotAllowed", "The requested resource does not support this http method."),
    412: ("PreconditionFailed", "Precondition failed, please try again."),
    413: ("MessageSizeTooBig", "Message size too large."),
    429: ("Throttled", "Too many requests."),
    502: ("ServiceError", "Bad gateway."),
    503: ("ServiceUnavailable", "Service unavailable."),
    504: ("GatewayTimeout", "Gateway timeout."),
}

Window = tuple[float, int]
"""A rate limit as Microsoft tabulates it: (seconds, most operations allowed in any such span)."""

_THREAD_LIMITS: tuple[Window, ...] = ((1, 7), (2, 8), (30, 60), (3600, 1800))
_MEMBER_LIMITS: tuple[Window, ...] = ((1, 14), (2, 16), (30, 120), (3600, 3600))


@dataclass(frozen=True)
class RateLimits:
    """Teams' per bot per conversation limits, as `FakeTeams.enforce_rate_limits` applies them.

    From Microsoft's "Optimize your bot with rate limiting in Teams" (bots/how-to/rate-limit):
    send to conversation and create conversation each 7 per 1 s, 8 per 2 s, 60 per 30 s and
    1800 per hour; get conversation members 14/1 s, 16/2 s, 120/30 s, 3600/hour. Each window
    slides: a call is refused when the last `seconds` already hold `n` calls of its kind in its
    conversation. Sends are posts, replies, edits and deletes (the docs put every request under
    one policy); creating a 1:1 counts against the conversation it yields. `per_app_per_second`
    is the global per-app-per-tenant limit (30 in the current docs, 50 in an older Microsoft
    answer); off by default. An empty tuple turns a kind off.
    """

    send: tuple[Window, ...] = _THREAD_LIMITS
    create_conversation: tuple[Window, ...] = _THREAD_LIMITS
    get_members: tuple[Window, ...] = _MEMBER_LIMITS
    per_app_per_second: int | None = None

    def __post_init__(self) -> None:
        windows = (*self.send, *self.create_conversation, *self.get_members)
        if any(seconds <= 0 or most < 1 for seconds, most in windows):
            raise ValueError("a window needs positive seconds and at least one operation")
        if self.per_app_per_second is not None and self.per_app_per_second < 1:
            raise ValueError("per_app_per_second must be at least 1 (or None)")

    def floor_seconds(self, sends_per_conversation: Iterable[int]) -> float:
        """The least time these limits allow for these sends (each count in one conversation).

        Call k + n may go no sooner than `seconds` after call k, so n sends take at least
        max over windows of floor((n - 1) / most) * seconds.
        """
        return max(
            (
                ((count - 1) // most) * seconds
                for count in sends_per_conversation
                if count > 0
                for seconds, most in self.send
            ),
            default=0.0,
        )


class _SlidingWindows:
    """When calls happened, per (kind, conversation); the caller holds the fake's lock."""

    def __init__(self, limits: RateLimits, clock: Callable[[], float]) -> None:
        self.limits = limits
        self.clock = clock
        self._log: dict[tuple[str, str], list[float]] = {}  # times, ascending

    def wait(self, kind: str, conversation_id: str) -> float | None:
        """None if the call may go (it is counted), else seconds until it could."""
        windows = self._windows(kind)
        keys = [(kind, conversation_id)] if windows else []
        checks = [(key, windows) for key in keys]
        if self.limits.per_app_per_second is not None:
            checks.append((("app", ""), ((1, self.limits.per_app_per_second),)))
        now = self.clock()
        longest = 0.0
        for key, limits in checks:
            log = self._log.setdefault(key, [])
            horizon = max(seconds for seconds, _ in limits)
            del log[: bisect.bisect_right(log, now - horizon)]
            for seconds, most in limits:
                recent = len(log) - bisect.bisect_right(log, now - seconds)
                if recent >= most:
                    longest = max(longest, log[len(log) - most] + seconds - now)
        if longest > 0:
            return longest
        for key, _ in checks:
            self._log[key].append(now)
        return None

    def _windows(self, kind: str) -> tuple[Window, ...]:
        if kind in _SENDS:
            return self.limits.send
        if kind == CREATE_CONVERSATION:
            return self.limits.create_conversation
        if kind in _MEMBER_READS:
            return self.limits.get_members
        return ()


@dataclass(frozen=True)
class Call:
    """One request as the fake received it, with the status it answered."""

    method: str
    path: str  # with the query string
    route: str | None  # None: no such route (answered 404)
    headers: dict[str, str]  # Authorization, Content-Type, Accept, User-Agent (those sent)
    body: Any  # JSON decoded, a dict for a form, the text if neither, None if empty
    status: int

    @property
    def token(self) -> str | None:
        """The bearer token, if the call carried one."""
        scheme, _, value = self.headers.get("Authorization", "").partition(" ")
        return value.strip() or None if scheme.lower() == "bearer" else None

    @property
    def conversation_id(self) -> str | None:
        """The conversation a Connector call is about (from its path)."""
        parts = urlsplit(self.path).path.split("/")
        if len(parts) > 4 and parts[3] == "conversations":
            return unquote(parts[4])
        return None


@dataclass(frozen=True)
class Conversation:
    """A 1:1 conversation: made by POST /v3/conversations, or by its user writing to the bot."""

    conversation_id: str
    tenant_id: str
    user_id: str
    app_id: str


@dataclass
class _Failure:
    status: int
    retry_after: int | None
    code: str | None
    remaining: int


@dataclass
class _Delay:
    seconds: float
    remaining: int
    started: threading.Event = field(default_factory=threading.Event)


@dataclass
class _Answer:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class FakeTeams(LocalFake):
    """Entra token endpoint + Bot Framework OpenID/JWKS + Bot Connector on one local server.

    The bot registration is `app_id`/`app_password` in `tenant_id` (defaults from
    teams_signing). `register_client` adds other apps of the tenant, whose tokens the Connector
    refuses (they are not the bot). Conversations exist as on Teams (see the module docstring):
    1:1s once made or written in, channels once the app is in their team (`install_in_team`).
    Members are the users added with `add_user` or seen in an activity (in a 1:1, only its user).
    """

    def __init__(
        self,
        *,
        app_id: str = APP_ID,
        app_password: str = APP_PASSWORD,
        tenant_id: str = TENANT_ID,
    ) -> None:
        super().__init__(_Handler, "fake-teams")
        self.app_id = app_id
        self.tenant_id = tenant_id
        self.token_lifetime = TOKEN_LIFETIME
        self.max_activity_bytes = MAX_ACTIVITY_BYTES
        self.calls: list[Call] = []
        self.rate_limited: Counter[str] = Counter()  # calls answered 429 by the rate limits
        self._lock = threading.RLock()
        self._clients: dict[str, str] = {app_id: app_password}
        self._signing_keys = [SigningKey.shared("fake-bf-key-1")]
        self._token_key = SigningKey.shared("fake-entra-key-1")
        self._issued: dict[str, str] = {}  # jti -> app id
        self._revoked: set[str] = set()
        self._limiter: _SlidingWindows | None = None
        self._retry_after_header = True
        self._failures: dict[str, deque[_Failure]] = {}
        self._delays: dict[str, deque[_Delay]] = {}
        self._stalls: dict[str, deque[_Delay]] = {}
        self._failures_after: dict[str, deque[_Failure]] = {}
        self._users: dict[str, TeamsUser] = {}
        self._conversations: dict[str, Conversation] = {}
        self._activities: dict[str, list[dict[str, Any]]] = {}
        self._channels: dict[str, str] = {}  # channel id -> its team's id (General's is the team's)
        self._removed: set[str] = set()  # teams and 1:1 chats the app was uninstalled from
        self._blocked: set[str] = set()  # ids of users who blocked the bot
        self._activity_ids = itertools.count()

    # -- addresses (start, close and root_url come from LocalFake) ---------------------------

    @property
    def login_url(self) -> str:
        """TEAMS_LOGIN_URL: tokens come from {login_url}/{tenant}/oauth2/v2.0/token."""
        return self.root_url

    @property
    def token_url(self) -> str:
        """The bot's tenant's token endpoint."""
        return f"{self.root_url}/{self.tenant_id}/oauth2/v2.0/token"

    @property
    def openid_metadata_url(self) -> str:
        """TEAMS_OPENID_METADATA_URL; the SDK turns it into the keys URL by itself."""
        return self.root_url + OPENID_PATH

    @property
    def jwks_url(self) -> str:
        """Where the signing keys are published."""
        return self.root_url + KEYS_PATH

    @property
    def service_url(self) -> str:
        """The Bot Connector's service URL, with its trailing slash like Teams' own."""
        return self.root_url + SERVICE_PATH

    # -- set-up ------------------------------------------------------------------------------

    def add_user(self, user: TeamsUser) -> TeamsUser:
        """A tenant member the member calls will find (by 29: id or AAD object id)."""
        with self._lock:
            self._users[user.user_id] = user
        return user

    def register_client(self, app_id: str, secret: str) -> None:
        """Another app registration in the tenant: it gets tokens, the Connector refuses them."""
        with self._lock:
            self._clients[app_id] = secret

    def revoke_tokens(self) -> None:
        """Every token issued so far is refused from now on (as after a secret rotation)."""
        with self._lock:
            self._revoked.update(self._issued)

    def install_in_team(self, team_id: str = TEAM_ID, *, channel_ids: Iterable[str] = ()) -> None:
        """The app was added to a team: its General channel (the team's id) and `channel_ids`.

        Installing again adds channels and undoes `remove_bot` there.
        """
        with self._lock:
            for channel in (team_id, *channel_ids):
                self._channels[channel] = team_id
            self._removed.discard(team_id)

    def remove_bot(self, conversation_id: str) -> None:
        """The app was uninstalled there: from a channel's whole team, or from a person's chat.

        Sends and member reads there answer 403 BotNotInConversationRoster. A conversation
        that does not exist raises ValueError: the test has not set up what it means to undo.
        """
        with self._lock:
            self._removed.add(self._installation(conversation_id))

    def reinstall_bot(self, conversation_id: str) -> None:
        """The app was added back there (to the team, for a channel): it may post again."""
        with self._lock:
            self._removed.discard(self._installation(conversation_id))

    def block_bot(self, user: TeamsUser) -> None:
        """The person blocked the bot: sends to their 1:1 answer 403 ConversationBlockedByUser.

        Until they write to it again (an activity from them made by `activity`), as on Teams.
        """
        with self._lock:
            self._blocked.add(user.user_id)

    def rotate_signing_key(self, *, keep_old: bool = True) -> SigningKey:
        """Publish a new key and sign inbound tokens with it from now on."""
        with self._lock:
            key = SigningKey.shared(f"fake-bf-key-{len(self._signing_keys) + 1}")
            self._signing_keys = [*self._signing_keys, key] if keep_old else [key]
            return key

    @property
    def signing_key(self) -> SigningKey:
        """The key inbound tokens are signed with (published in the JWKS)."""
        return self._signing_keys[-1]

    def fail(
        self,
        route: str,
        status: int,
        *,
        retry_after: int | None = None,
        times: int = 1,
        code: str | None = None,
    ) -> None:
        """Answer the next `times` calls to `route` (a route name or HTTP method) with `status`.

        The body is the Connector's ``{"error": {"code", "message"}}`` (`code` defaults to the one
        Teams documents for the status); 429 carries Retry-After only when `retry_after` is given.
        Failed calls change nothing and are not counted by the rate limits.
        """
        if status < 400:
            raise ValueError("fail() needs an error status")
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._failures.setdefault(route, deque()).append(
                _Failure(status, retry_after, code, times)
            )

    def delay(self, route: str, seconds: float, *, times: int = 1) -> None:
        """Sleep `seconds` before handling the next `times` calls to `route` (name or method)."""
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._delays.setdefault(route, deque()).append(_Delay(seconds, times))

    def stall_after(self, route: str, seconds: float, *, times: int = 1) -> threading.Event:
        """Do the next `times` calls to `route`, then sleep `seconds` before answering each.

        Teams has acted but the caller has not heard: kill the caller during the stall to test
        the window between a send and its record. The event is set when the first stall begins.
        """
        if times < 1:
            raise ValueError("times must be at least 1")
        stall = _Delay(seconds, times)
        with self._lock:
            self._stalls.setdefault(route, deque()).append(stall)
        return stall.started

    def fail_after(self, route: str, status: int, *, times: int = 1) -> None:
        """Do the next `times` calls to `route`, then answer `status` instead of the real answer.

        Teams (or a gateway in front of it, answering 502 or 504) has acted, but the caller is
        told it failed. A status of 200 answers with an empty body, which is not the JSON the
        caller expects.
        """
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._failures_after.setdefault(route, deque()).append(
                _Failure(status, None, None, times)
            )

    def enforce_rate_limits(
        self,
        limits: RateLimits | None = None,
        *,
        retry_after: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> RateLimits:
        """From now on, answer calls over Teams' rate limits with 429 Throttled.

        With `retry_after`, the answer says in Retry-After (whole seconds, rounded up) when the
        call could go; Microsoft does not document the header, so `retry_after=False` leaves it
        out. `clock` (monotonic seconds) lets a test move time instead of sleeping. Refused calls
        are recorded, counted per route in `rate_limited`, and change nothing. Calling again
        starts afresh.
        """
        limits = limits or RateLimits()
        with self._lock:
            self._limiter = _SlidingWindows(limits, clock)
            self._retry_after_header = retry_after
        return limits

    # -- inbound: what Teams sends to the bot ------------------------------------------------

    def sign(
        self,
        app_id: str | None = None,
        service_url: str | None = None,
        *,
        key: SigningKey | None = None,
        **claims: Any,
    ) -> str:
        """The bearer token Teams sends with an activity (defaults: the bot, this service URL).

        `key` signs instead of the published key; `claims` override or add (None removes one).
        """
        return inbound_token(
            key or self.signing_key,
            app_id or self.app_id,
            service_url or self.service_url,
            **claims,
        )

    def sign_bad(self, kind: str, *, app_id: str | None = None) -> str:
        """A token the bot must refuse; `kind` as in teams_signing.BAD_TOKEN_KINDS."""
        return forged_token(kind, self.signing_key, app_id or self.app_id, self.service_url)

    def headers(self, **claims: Any) -> dict[str, str]:
        """Authorization (a good token) and Content-Type, as Teams posts an activity."""
        return {
            "Authorization": f"Bearer {self.sign(**claims)}",
            "Content-Type": "application/json",
        }

    def activity(self, kind: str, *args: Any, **options: Any) -> dict[str, Any]:
        """An activity as Teams posts it, for this service URL and bot (see teams_signing).

        `kind`: "personal" (text), "channel_mention" (text), "card_action" (verb, data,
        reply_to_id=...), "install", "team_added".
        """
        builder = ACTIVITY_KINDS.get(kind)
        if builder is None:
            raise ValueError(f"unknown activity kind {kind!r}; one of {sorted(ACTIVITY_KINDS)}")
        options.setdefault("service_url", self.service_url)
        options.setdefault("app_id", self.app_id)
        activity = builder(*args, **options)
        self._arrived(activity, options.get("user", PRIYA))
        return activity

    # -- reading what happened ---------------------------------------------------------------

    def calls_to(self, route: str) -> list[Call]:
        """The calls to `route` (a route name), oldest first."""
        with self._lock:
            return [call for call in self.calls if call.route == route]

    def activities(self, conversation_id: str) -> list[dict[str, Any]]:
        """Activities the bot posted to `conversation_id` (exact id), oldest first, as now.

        Each is the JSON the bot sent with the ``id`` Teams assigned; an edit replaces the
        content (``id`` kept); a deleted one is gone.
        """
        with self._lock:
            return copy.deepcopy(self._activities.get(conversation_id, []))

    @property
    def conversations(self) -> dict[str, Conversation]:
        """The 1:1 conversations that exist (opened by the bot, or its user wrote), by id."""
        with self._lock:
            return dict(self._conversations)

    @property
    def tokens_issued(self) -> int:
        """How many access tokens the token endpoint has issued (to any client)."""
        with self._lock:
            return len(self._issued)

    # -- serving -----------------------------------------------------------------------------

    def _serve(self, request: _Handler) -> _Answer:
        url = urlsplit(request.path)
        raw = request.read_body()
        route, params, allowed = _route(request.command, url.path)
        body = _decode(request.headers.get("Content-Type", ""), raw)
        interest = ("Authorization", "Content-Type", "Accept", "User-Agent")
        headers = {name: request.headers[name] for name in interest if name in request.headers}

        def record(answer: _Answer) -> _Answer:
            call = Call(request.command, request.path, route, headers, body, answer.status)
            with self._lock:
                self.calls.append(call)
            return answer

        if route is None:
            if allowed:
                return record(_error(405, headers={"Allow": ", ".join(allowed)}))
            return record(_error(404, "NotFound", "No such resource."))
        delay = self._take(self._delays, route, request.command)
        if delay is not None and self._closing.wait(delay.seconds):
            return record(_Answer(503, {"error": {"code": "ServiceUnavailable"}}))
        failure = self._take(self._failures, route, request.command)
        if failure is not None:
            answer = _error(failure.status, failure.code)
            if failure.retry_after is not None:
                answer.headers["Retry-After"] = str(failure.retry_after)
            return record(answer)
        answer = record(self._handle(route, params, url.query, headers, body, raw))
        after = self._take(self._failures_after, route, request.command)
        if after is not None:
            answer = _Answer(200) if after.status < 400 else _error(after.status)
        stall = self._take(self._stalls, route, request.command)
        if stall is not None:
            stall.started.set()
            self._closing.wait(stall.seconds)
        return answer

    def _handle(
        self,
        route: str,
        params: dict[str, str],
        query: str,
        headers: dict[str, str],
        body: Any,
        raw: bytes,
    ) -> _Answer:
        if route == OPENID:
            return _Answer(200, self._openid_configuration())
        if route == KEYS:
            return _Answer(200, {"keys": [key.public_jwk() for key in self._signing_keys]})
        if route == TOKEN:
            return self._token(params["tenant"], body)
        if not self._authorised(headers.get("Authorization", "")):
            return _Answer(401, DENIED)
        if route == GET_CONVERSATIONS:
            return _error(405, headers={"Allow": "POST"})
        if route in (SEND_ACTIVITY, REPLY_ACTIVITY, UPDATE_ACTIVITY):
            refused = self._refuse_content(raw, body)
            if refused is not None:
                return refused
        with self._lock:
            # One lock for the check and the work: concurrent calls cannot both take a last slot.
            if route == CREATE_CONVERSATION:
                return self._create_conversation(body)
            conversation_id = params["conversation"]
            refused = self._refuse_conversation(route, conversation_id)
            if refused is not None:
                return refused
            throttled = self._throttle(route, conversation_id)
            if throttled is not None:
                return throttled
            if route in (SEND_ACTIVITY, REPLY_ACTIVITY):
                return self._send(conversation_id, body, params.get("activity"))
            if route == UPDATE_ACTIVITY:
                return self._update(conversation_id, params["activity"], body)
            if route == DELETE_ACTIVITY:
                return self._delete(conversation_id, params["activity"])
            if route == GET_MEMBER:
                return self._member(conversation_id, params["member"])
            if route == GET_MEMBERS:
                return _Answer(200, [user.member() for user in self._members_of(conversation_id)])
            return self._paged_members(conversation_id, query)

    def _openid_configuration(self) -> dict[str, Any]:
        return {
            "issuer": BOT_FRAMEWORK_ISSUER,
            "authorization_endpoint": "https://invalid.botframework.com",
            "jwks_uri": self.jwks_url,
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        }

    def _token(self, tenant: str, form: Any) -> _Answer:
        form = form if isinstance(form, dict) else {}
        client_id = str(form.get("client_id") or "")
        if tenant != self.tenant_id:
            return _entra_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
        if form.get("grant_type") != "client_credentials":
            return _entra_error(
                400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
            )
        with self._lock:
            secret = self._clients.get(client_id)
        if secret is None:
            return _entra_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory.",
            )
        if form.get("client_secret") != secret:
            return _entra_error(401, "invalid_client", 7000215, "Invalid client secret provided.")
        if form.get("scope") != BOT_FRAMEWORK_SCOPE:
            return _entra_error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {form.get('scope')} is not valid.",
            )
        now = int(time.time())
        jti = uuid.uuid4().hex
        claims = {
            "aud": BOT_FRAMEWORK_ISSUER,
            "iss": f"https://sts.windows.net/{tenant}/",
            "iat": now,
            "nbf": now,
            "exp": now + self.token_lifetime,
            "appid": client_id,
            "appidacr": "1",
            "tid": tenant,
            "ver": "1.0",
            "jti": jti,
        }
        with self._lock:
            self._issued[jti] = client_id
        return _Answer(
            200,
            {
                "token_type": "Bearer",
                "expires_in": self.token_lifetime,
                "ext_expires_in": self.token_lifetime,
                "access_token": self._token_key.encode(claims),
            },
        )

    def _authorised(self, authorization: str) -> bool:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return False
        try:
            claims = jwt.decode(
                token.strip(),
                self._token_key.private_key.public_key(),
                algorithms=["RS256"],
                audience=BOT_FRAMEWORK_ISSUER,
                options={"require": ["exp", "appid", "jti"]},
            )
        except jwt.PyJWTError:
            return False
        with self._lock:
            issued_to = self._issued.get(claims["jti"])
            revoked = claims["jti"] in self._revoked
        return issued_to == self.app_id == claims["appid"] and not revoked

    def _throttle(self, route: str, conversation_id: str) -> _Answer | None:
        if self._limiter is None:
            return None
        wait = self._limiter.wait(route, _thread_of(conversation_id))
        if wait is None:
            return None
        self.rate_limited[route] += 1
        answer = _error(429)
        if self._retry_after_header:
            answer.headers["Retry-After"] = str(max(1, math.ceil(wait)))
        return answer

    def _refuse_content(self, raw: bytes, body: Any) -> _Answer | None:
        """413 for an activity over the size limit, 400 for one Teams would not take."""
        if message_bytes(raw.decode("utf-8", errors="replace")) > self.max_activity_bytes:
            return _error(413)
        problems = activity_problems(body)
        if problems:
            return _error(400, message="; ".join(problems))
        return None

    def _installation(self, conversation_id: str) -> str:
        """What the app is installed in for a conversation: a 1:1's id, or a channel's team.

        Raises ValueError if the conversation does not exist (call with the lock held).
        """
        where = self._installed_in(conversation_id)
        if where is None:
            raise ValueError(
                f"no conversation {conversation_id!r}: open the 1:1 (or send an activity from its "
                "user), or install_in_team, first"
            )
        return where

    def _installed_in(self, conversation_id: str) -> str | None:
        conversation = _thread_of(conversation_id)
        if conversation in self._conversations:
            return conversation
        return self._channels.get(conversation)

    def _refuse_conversation(self, route: str, conversation_id: str) -> _Answer | None:
        """404 for a conversation that does not exist, 403 where the bot may not be."""
        where = self._installed_in(conversation_id)
        if where is None:
            return _error(404, "ConversationNotFound", "Conversation not found.")
        if where in self._removed:
            return _error(
                403, "BotNotInConversationRoster", "The bot is not part of the conversation roster."
            )
        chat = self._conversations.get(where)
        if route in _SENDS and chat is not None and chat.user_id in self._blocked:
            return _error(
                403, "ConversationBlockedByUser", "User blocked the conversation with the bot."
            )
        return None

    def _arrived(self, activity: dict[str, Any], user: TeamsUser) -> None:
        """Teams sent this activity: its sender, and the conversation it came in, exist."""
        conversation = activity["conversation"]
        data = activity.get("channelData") or {}
        team = (data.get("team") or {}).get("id")
        with self._lock:
            self._users.setdefault(user.user_id, user)
            if conversation.get("conversationType") == "personal":
                chat = conversation["id"]
                self._conversations.setdefault(
                    chat, Conversation(chat, user.tenant_id, user.user_id, self.app_id)
                )
                self._blocked.discard(user.user_id)  # they write to the bot: not blocked
                if activity["type"] == "installationUpdate":
                    self._removed.discard(chat)
            elif team is not None:
                channel = (data.get("channel") or {}).get("id") or team
                self._channels.setdefault(team, team)
                self._channels.setdefault(channel, team)
                if data.get("eventType") == "teamMemberAdded":
                    self._removed.discard(team)

    def _create_conversation(self, body: Any) -> _Answer:
        if not isinstance(body, dict):
            return _error(400, message="The request body must be a conversation's parameters.")
        members = body.get("members") or []
        tenant = body.get("tenantId") or ((body.get("channelData") or {}).get("tenant") or {}).get(
            "id"
        )
        if body.get("isGroup"):
            return _error(400, message="Bots cannot create group conversations.")
        if not tenant:
            return _error(400, message="Tenant id is required.")
        if len(members) != 1 or not isinstance(members[0], dict) or not members[0].get("id"):
            return _error(400, message="A 1:1 conversation needs exactly one member with an id.")
        member_id = str(members[0]["id"])
        user = self._find_user(member_id)
        if user is None or user.tenant_id != tenant:
            if member_id.startswith("29:"):
                return _error(400, message="Failed to decrypt pairwise id")
            return _error(
                403,
                "ForbiddenOperationException",
                "Bot isn't installed in user's personal scope",
            )
        user_id = user.user_id
        conversation_id = personal_conversation_id(user, self.app_id)
        throttled = self._throttle(CREATE_CONVERSATION, conversation_id)
        if throttled is not None:
            return throttled
        self._conversations.setdefault(
            conversation_id, Conversation(conversation_id, str(tenant), user_id, self.app_id)
        )
        return _Answer(201, {"id": conversation_id})

    def _send(self, conversation_id: str, body: Any, reply_to: str | None) -> _Answer:
        # `body` passed `_refuse_content`: a JSON object Teams would take.
        activity = copy.deepcopy(body)
        activity["id"] = str(FIRST_ACTIVITY_MS + 1_000 + next(self._activity_ids))
        if reply_to is not None:
            activity.setdefault("replyToId", reply_to)
        self._activities.setdefault(conversation_id, []).append(activity)
        return _Answer(201, {"id": activity["id"]})

    def _update(self, conversation_id: str, activity_id: str, body: Any) -> _Answer:
        stored = self._activities.get(conversation_id, [])
        for index, activity in enumerate(stored):
            if activity["id"] == activity_id:
                stored[index] = {**copy.deepcopy(body), "id": activity_id}
                return _Answer(200, {"id": activity_id})
        return _error(404, "ActivityNotFoundInConversation", "Activity not found in conversation.")

    def _delete(self, conversation_id: str, activity_id: str) -> _Answer:
        stored = self._activities.get(conversation_id, [])
        kept = [activity for activity in stored if activity["id"] != activity_id]
        if len(kept) == len(stored):
            return _error(
                404, "ActivityNotFoundInConversation", "Activity not found in conversation."
            )
        self._activities[conversation_id] = kept
        return _Answer(200, None)

    def _find_user(self, member_id: str) -> TeamsUser | None:
        user = self._users.get(member_id)
        if user is None:
            user = next((u for u in self._users.values() if u.aad_object_id == member_id), None)
        return user

    def _members_of(self, conversation_id: str) -> list[TeamsUser]:
        conversation = self._conversations.get(conversation_id)
        if conversation is not None:
            user = self._users.get(conversation.user_id)
            return [user] if user is not None else []
        return list(self._users.values())

    def _member(self, conversation_id: str, member_id: str) -> _Answer:
        user = self._find_user(member_id)
        if user is None or user not in self._members_of(conversation_id):
            return _error(404, "MemberNotFoundInConversation", "The member was not found.")
        return _Answer(200, user.member())

    def _paged_members(self, conversation_id: str, query: str) -> _Answer:
        args = {name: values[-1] for name, values in parse_qs(query).items()}
        try:
            size = min(max(int(args.get("pageSize") or 200), 1), 500)
            start = int(args.get("continuationToken") or 0)
        except ValueError:
            return _error(400, message="Bad page size or continuation token.")
        members = self._members_of(conversation_id)
        page: dict[str, Any] = {
            "members": [user.member() for user in members[start : start + size]]
        }
        if start + size < len(members):
            page["continuationToken"] = str(start + size)
        return _Answer(200, page)

    def _take(self, queues: dict[str, deque[Any]], route: str, method: str) -> Any:
        with self._lock:
            for name in (route, method):
                queue = queues.get(name)
                if queue:
                    entry = queue[0]
                    entry.remaining -= 1
                    if entry.remaining <= 0:
                        queue.popleft()
                    return entry
            return None


class _Handler(JsonHandler):
    content_type = "application/json; charset=utf-8"

    def do_PUT(self) -> None:
        self._respond()

    def do_DELETE(self) -> None:
        self._respond()


# -- routing and answers -------------------------------------------------------------------------

_CONNECTOR = SERVICE_PATH + "v3/conversations"


def _route(method: str, path: str) -> tuple[str | None, dict[str, str], list[str]]:
    """The route name for `method` on `path`, its parameters, and the methods `path` allows."""
    table = _routes(path)
    if table is None:
        return None, {}, []
    methods, params = table
    return methods.get(method), params, sorted(methods)


def _routes(path: str) -> tuple[dict[str, str], dict[str, str]] | None:
    if path == OPENID_PATH:
        return {"GET": OPENID}, {}
    if path == KEYS_PATH:
        return {"GET": KEYS}, {}
    parts = path.split("/")
    if len(parts) == 5 and parts[2:] == ["oauth2", "v2.0", "token"] and parts[1]:
        return {"POST": TOKEN}, {"tenant": unquote(parts[1])}
    if path.rstrip("/") == _CONNECTOR:
        return {"POST": CREATE_CONVERSATION, "GET": GET_CONVERSATIONS}, {}
    if not path.startswith(_CONNECTOR + "/"):
        return None
    rest = [unquote(part) for part in path.removeprefix(_CONNECTOR + "/").split("/")]
    if not rest[0]:
        return None
    params = {"conversation": rest[0]}
    tail = rest[1:]
    if tail == ["activities"]:
        return {"POST": SEND_ACTIVITY}, params
    if len(tail) == 2 and tail[0] == "activities" and tail[1]:
        params["activity"] = tail[1]
        return {"POST": REPLY_ACTIVITY, "PUT": UPDATE_ACTIVITY, "DELETE": DELETE_ACTIVITY}, params
    if tail == ["members"]:
        return {"GET": GET_MEMBERS}, params
    if len(tail) == 2 and tail[0] == "members" and tail[1]:
        params["member"] = tail[1]
        return {"GET": GET_MEMBER}, params
    if tail == ["pagedMembers"]:
        return {"GET": PAGED_MEMBERS}, params
    return None


def _thread_of(conversation_id: str) -> str:
    """A channel thread ("19:...;messageid=N") belongs to its channel's conversation."""
    return conversation_id.split(";", 1)[0]


def _decode(content_type: str, raw: bytes) -> Any:
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    if "json" in content_type:
        try:
            return json.loads(text)
        except ValueError:
            return text
    if "x-www-form-urlencoded" in content_type:
        return {name: values[-1] for name, values in parse_qs(text, keep_blank_values=True).items()}
    return text


def _error(
    status: int,
    code: str | None = None,
    message: str | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> _Answer:
    default_code, default_message = _ERROR_CODES.get(status, ("ServiceError", "Service error."))
    body = {"error": {"code": code or default_code, "message": message or default_message}}
    return _Answer(status, body, dict(headers or {}))


def _entra_error(status: int, error: str, number: int, description: str) -> _Answer:
    """An OAuth error as Entra ID words it."""
    trace, correlation = uuid.uuid4(), uuid.uuid4()
    stamp = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
    return _Answer(
        status,
        {
            "error": error,
            "error_description": (
                f"AADSTS{number}: {description} Trace ID: {trace} Correlation ID: {correlation} "
                f"Timestamp: {stamp}"
            ),
            "error_codes": [number],
            "timestamp": stamp,
            "trace_id": str(trace),
            "correlation_id": str(correlation),
        },
    )
