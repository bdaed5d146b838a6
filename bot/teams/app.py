"""The Teams SDK's App, hosted inside our own Starlette app: its routes, its checks, its handlers.

Import this module only when Teams is configured: importing the SDK takes about two seconds
and loads `.env` into the process environment (it calls load_dotenv itself).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from microsoft_teams.api import InvokeResponse, TokenCredentials
from microsoft_teams.api.auth.cloud_environment import PUBLIC, with_overrides
from microsoft_teams.apps import App
from microsoft_teams.apps.http.adapter import HttpRequest, HttpResponse, HttpRouteHandler
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.runtime.http import MALFORMED, is_shape_error, raised_at, read_body
from bot.runtime.replays import SeenRequests, request_key
from bot.runtime.settings import Settings
from bot.teams import once
from bot.teams.activity_shape import activity_problem
from bot.teams.auth import BotConnectorToken
from bot.teams.token_cache import cache_token_checks
from bot.teams.transport import TeamsTransport
from handlers.dispatch import REQUEST_DATABASE_WAIT
from store.deadline import unavailable_because, waiting_at_most

log = logging.getLogger(__name__)

MESSAGING_ENDPOINT = "/api/messages"
TEAMS_CHANNEL = "msteams"
MAX_BODY_BYTES = 512 * 1024  # an activity is at most ~100 KB; anything far larger is not Teams
# The SDK accepts a token up to five minutes past its expiry (clock skew): an activity that
# came with it could come again until then, so its id is kept that long.
TOKEN_LEEWAY = timedelta(minutes=5)
UNKNOWN_TOKEN_LIFE = timedelta(hours=1)  # if the token did not say (the SDK then refuses it)
MOST_KEPT = timedelta(days=1)
# The activities qi-nudge acts on (see register): only these are remembered.
ACTED_ON = frozenset({"message", "invoke", "installationUpdate", "conversationUpdate"})

# installationUpdate actions Teams sends when an installed app is upgraded (botframework-sdk#6139).
UPGRADE_ACTIONS = frozenset({"add-upgrade", "remove-upgrade"})

# When the token of the request being handled expires: read in the endpoint, which sees the
# header, for the middleware that keeps the activity's id, which sees only the activity.
_token_expires: ContextVar[datetime | None] = ContextVar("token_expires", default=None)


class StarletteRoutes:
    """The SDK's HttpServerAdapter, handing its routes to our Starlette app (no second server)."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def register_route(self, method: str, path: str, handler: HttpRouteHandler) -> None:
        """Serve the SDK's handler at `path`: parse the JSON, let the SDK check and route it."""

        async def endpoint(request: Request) -> Response:
            arrived = time.monotonic()
            claims = _bot_framework_claims(request.headers.get("authorization", ""))
            if claims is None:
                return JSONResponse({"error": "Unauthorized"}, status_code=401)
            raw = await read_body(request, MAX_BODY_BYTES)
            if raw is None:
                return JSONResponse({"error": "request too large"}, status_code=413)
            try:
                body = json.loads(raw)
                if not isinstance(body, dict):
                    raise ValueError("not an object")
            except (ValueError, RecursionError):  # RecursionError: "[[[[…" nested too deep
                log.warning("malformed Teams request refused (not a JSON object)")
                return JSONResponse(MALFORMED, status_code=400)
            if _upgrade_notice(body):
                # Teams says the app was upgraded where it is installed: nothing to do (what
                # is remembered about the conversation still holds). The SDK's models know only
                # add and remove, and would refuse it as malformed.
                log.info("Teams app upgrade noticed: %s", body.get("action"))
                return Response(status_code=200)
            problem = activity_problem(body)
            if problem is not None:
                log.warning("malformed Teams request refused: %s", problem)
                return JSONResponse(MALFORMED, status_code=400)
            _token_expires.set(_expiry(claims))
            # One wait for the database for the whole request, from its arrival: the replay
            # check and the handler share it (a context variable, it follows them into threads).
            with waiting_at_most(REQUEST_DATABASE_WAIT - (time.monotonic() - arrived)):
                result = await handler(HttpRequest(body=body, headers=dict(request.headers)))
            return _response(result)

        self.routes.append(Route(path, endpoint, methods=[method]))

    def serve_static(self, path: str, directory: str) -> None:
        """Not needed: qi-nudge has no tabs or pages."""
        raise NotImplementedError("qi-nudge serves no static files")

    async def start(self, port: int) -> None:
        """Never called: `qi-nudge serve` runs the one uvicorn for Slack and Teams alike."""
        raise NotImplementedError("qi-nudge serve runs the web server")

    async def stop(self) -> None:
        """Nothing to stop (see start)."""


def _bot_framework_claims(authorization: str) -> dict[str, Any] | None:
    """The token's claims if it at least claims to come from the Bot Framework, else None.

    Checked properly by the SDK later; read here only to refuse the wrong issuer early, and
    to know how long the token (so a copy of the request) stays valid.

    The SDK also accepts tokens issued by Entra for "Agent 365" apps, and for those it fetches
    the signing keys of whatever tenant the token names, with blocking I/O, before checking
    anything: one forged token could stall every request on this server (Slack's acks too)
    for a round trip to Microsoft. qi-nudge is a Bot Framework bot, so those are refused here.
    """
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    return claims if claims.get("iss") == PUBLIC.token_issuer else None


def _expiry(claims: dict[str, Any]) -> datetime | None:
    expires = claims.get("exp")
    if not isinstance(expires, int | float) or isinstance(expires, bool):
        return None
    try:
        return datetime.fromtimestamp(expires, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _response(result: HttpResponse) -> Response:
    body = result.get("body")
    status = int(result.get("status", 200))
    if body is None:
        return Response(status_code=status)
    return JSONResponse(body, status_code=status)


class SdkRefused(Exception):
    """The SDK would not use the bot's own token provider (see build_teams_app)."""


def build_teams_app(settings: Settings, transport: TeamsTransport) -> tuple[App, list[Route]]:
    """The SDK App for our bot registration, and the Starlette routes that serve it."""
    assert settings.teams_tenant_id
    routes = StarletteRoutes()
    app = _sdk_app(settings, routes)
    register(app, transport, tenant_id=settings.teams_tenant_id)
    asyncio.run(app.initialize())  # registers POST /api/messages with `routes`; starts nothing
    cache_token_checks(app.server)  # made by initialize
    return app, routes.routes


def build_token_provider(settings: Settings) -> Any:
    """The SDK's token provider for Connector calls, for commands that only send (no routes)."""
    return _sdk_app(settings, StarletteRoutes()).token_provider


def _sdk_app(settings: Settings, routes: StarletteRoutes) -> App:
    """The SDK's App with our token provider and our signing-key address, checked."""
    assert settings.teams_app_id and settings.teams_app_password and settings.teams_tenant_id
    token = BotConnectorToken(
        settings.teams_login_url,
        settings.teams_tenant_id,
        settings.teams_app_id,
        settings.teams_app_password.reveal(),
    )
    app = App(
        client_id=settings.teams_app_id,
        tenant_id=settings.teams_tenant_id,
        token=token,
        cloud=with_overrides(PUBLIC, openid_metadata_url=settings.teams_openid_metadata_url),
        service_url=settings.teams_service_url,
        http_server_adapter=routes,
        messaging_endpoint=MESSAGING_ENDPOINT,
        # Explicit, so that no environment variable can turn the checks off.
        dangerously_allow_unauthenticated_requests=False,
    )
    if not isinstance(app.credentials, TokenCredentials):
        # The SDK prefers a CLIENT_SECRET from the environment to our provider, and would then
        # ask the real Microsoft login with it: refuse to start rather than talk past settings.
        raise SdkRefused(
            "A CLIENT_SECRET (or similar) in the environment overrides qi-nudge's Teams sign-in. "
            "Remove it and use TEAMS_APP_PASSWORD."
        )
    return app


class SigningKeys:
    """Keeps the Bot Framework signing keys fresh from a thread, never inside a request.

    The SDK checks tokens with PyJWT's JWKS client, which fetches the keys with blocking I/O,
    inside the event loop, whenever its five-minute cache runs out: every few minutes one
    request would hold up every other (Slack's acks too) for a round trip to Microsoft, or up
    to 30 s if it is slow. Fetched at start and refreshed every four minutes instead, the
    cache never runs out on a request.
    """

    REFRESH_SECONDS = 240.0

    def __init__(self, app: App) -> None:
        self._client = _jwks_client(app)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="qi-teams-keys", daemon=True)

    def fetch(self) -> bool:
        """Fetch the keys now; False (and a log line) if they could not be."""
        if self._client is None:
            return False
        try:
            self._client.get_jwk_set(refresh=True)
            return True
        except Exception as error:
            # Not fatal: the SDK fetches them itself on the next request.
            log.warning("could not fetch the Teams signing keys: %s", type(error).__name__)
            return False

    def start(self) -> SigningKeys:
        """Refresh in the background until stopped."""
        if self._client is not None:
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop refreshing."""
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.REFRESH_SECONDS):
            self.fetch()


def _jwks_client(app: App) -> jwt.PyJWKClient | None:
    """The SDK's JWKS client (private to it: looked up carefully, and optional)."""
    validator = getattr(app.server, "_token_validator", None)
    validator = getattr(validator, "inner", validator)  # under our cache (token_cache.py)
    service = getattr(validator, "_service_validator", None)
    client = getattr(service, "_jwks_client", None)
    if not isinstance(client, jwt.PyJWKClient):
        log.warning("the Teams SDK changed: its signing keys are fetched in requests")
        return None
    return client


def _upgrade_notice(body: dict[str, Any]) -> bool:
    """Whether the activity only says that the installed app was upgraded."""
    return body.get("type") == "installationUpdate" and body.get("action") in UPGRADE_ACTIONS


def register(app: App, transport: TeamsTransport, *, tenant_id: str) -> None:
    """Everything qi-nudge answers on Teams: the table of contents for this transport."""
    seen = SeenRequests(transport.bot.ctx.sessions)

    async def admit(ctx: Any) -> Any:
        # One middleware, not three: the SDK wraps each in a tracing span and metrics.
        try:
            activity = ctx.activity
            # The SDK proved Microsoft sent this; it does not check for whom. The bot is
            # single-tenant: another organisation's activity, or another channel than Teams,
            # is refused before anything is read or stored.
            if activity.channel_id != TEAMS_CHANNEL or _tenant(activity) != tenant_id:
                log.warning("Teams activity from another tenant or channel refused")
                return InvokeResponse(status=403, body={"error": "forbidden"})
            # Acted on once: after the SDK checked the token, so a forged request cannot use
            # up a genuine id. Armed here, checked by the listener in its own worker thread
            # (see bot/teams/once.py). Typing and the like: nothing to do twice, no write.
            if activity.type in ACTED_ON:
                key = request_key("teams", activity.conversation.id, activity.id)
                until = _keep_until(_token_expires.get())
                once.arm(lambda: _first_time(seen, key, until))
            return await ctx.next()
        except Exception as error:
            # The last resort, for a shape activity_problem did not foresee: 400 and one line,
            # where the SDK would answer 500 and log a traceback.
            if not is_shape_error(error):
                raise  # not about the activity: the SDK answers 500, as before
            log.warning(
                "malformed Teams request refused: %s at %s", type(error).__name__, raised_at(error)
            )
            return InvokeResponse(status=400, body=MALFORMED)

    app.use(admit)
    app.on_message(transport.on_message)
    app.on_card_action(transport.on_card_action)
    app.on_installation_update(transport.on_installation_update)
    app.on_conversation_update(transport.on_conversation_update)


def _keep_until(token_expires: datetime | None) -> datetime:
    """Until when an activity's id is kept: while its token, so a copy, could still pass."""
    now = datetime.now(UTC)
    expires = token_expires or now + UNKNOWN_TOKEN_LIFE
    return min(expires + TOKEN_LEEWAY, now + MOST_KEPT)


def _first_time(seen: SeenRequests, key: str, until: datetime) -> bool:
    """Whether to act on an activity: its id not seen lately in its conversation."""
    try:
        return seen.first_time(key, until)
    except Exception as error:
        # Without the database the activity cannot do anything anyway; its handler says so.
        # An unavailable database is logged once, by the handler that says so to the person.
        level = logging.DEBUG if unavailable_because(error) else logging.WARNING
        log.log(level, "could not check whether a Teams activity was new: %s", type(error).__name__)
        return True


def _tenant(activity: Any) -> str | None:
    conversation = getattr(activity, "conversation", None)
    tenant = getattr(conversation, "tenant_id", None)
    if tenant:
        return str(tenant)
    channel_data = getattr(activity, "channel_data", None)
    tenant_info = getattr(channel_data, "tenant", None)
    return getattr(tenant_info, "id", None)
