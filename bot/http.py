"""The HTTP host: Slack's and Teams' endpoints and a health check, under uvicorn."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import anyio
import anyio.to_thread
from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.health import HealthChecks
from handlers.dispatch import REQUEST_DATABASE_WAIT
from store.deadline import waiting_at_most, without_waiting

log = logging.getLogger(__name__)
# Few threads: with Starlette's default 40, twenty concurrent requests thrashed the GIL.
# Measured (bench/slack_ack.py, PostgreSQL, 20 clients): 40 threads ~230 req/s; 2, 4 or 8
# threads 325-336 req/s. Eight kept the best one-client latency of those runs (noisy machine).
LIMITER = anyio.CapacityLimiter(8)

MAX_SLACK_BODY = 1024 * 1024  # bytes; a modal's submission with every field full is far less

# Which requests leave the event loop for a worker thread (see build_http_app).
Offload = Callable[[BoltRequest], bool]


def build_http_app(
    slack_app: App | None,
    engine: Engine,
    *,
    signing_secret: str = "",
    offload: Offload | None = None,
    extra_routes: Sequence[BaseRoute] = (),
    health: HealthChecks | None = None,
    database_wait: float = REQUEST_DATABASE_WAIT,
) -> Starlette:
    """POST /slack/events for commands, buttons, forms and events; the health endpoints.

    `extra_routes`: other platforms' endpoints (Teams' POST /api/messages) on the same server.
    `health`: the checks behind /livez, /healthz and /healthz/scheduler (see bot.health).
    `database_wait`: how long a Slack request may wait for the database, from its arrival.
    """
    routes: list[BaseRoute] = (health or HealthChecks(engine)).routes()
    routes.extend(extra_routes)
    if slack_app is not None:
        routes.append(
            Route(
                "/slack/events",
                _slack_events(slack_app, SignatureVerifier(signing_secret), offload, database_wait),
                methods=["POST"],
            )
        )
    return Starlette(routes=routes)


def _slack_events(  # noqa: ANN202
    app: App, verifier: SignatureVerifier, offload: Offload | None, database_wait: float
):
    async def slack_events(request: Request) -> Response:
        arrived = time.monotonic()
        # Slack's requests are a few kilobytes: anything far larger is refused before it is all
        # read (the signature can only be checked once the whole body is in memory).
        body = await read_body(request, MAX_SLACK_BODY)
        if body is None:
            return JSONResponse({"error": "request too large"}, status_code=413)
        # Verify before parsing: nothing Slack did not sign is even read (Bolt checks again).
        if not _signed_by_slack(verifier, body, request):
            return JSONResponse({"error": "invalid signature"}, status_code=401)
        try:
            bolt_request = to_bolt_request(request, body)
            if not isinstance(bolt_request.body, dict):
                raise TypeError("body is not an object")
        except Exception as error:
            log.warning("malformed Slack request refused: %s", type(error).__name__)
            return JSONResponse({"error": "malformed request"}, status_code=400)
        with waiting_at_most(database_wait - (time.monotonic() - arrived)):
            response = await _dispatch(app, bolt_request, offload)
        return to_starlette_response(response)

    return slack_events


async def _dispatch(app: App, request: BoltRequest, offload: Offload | None) -> BoltResponse:
    """Run Bolt's listener for a request: on the event loop if it need not wait, else a thread.

    Bolt and the handlers are synchronous. Quick requests run right here; one that must wait
    (PostgreSQL round trips, a first users.info) goes to a thread so that its wait holds up
    nobody else's ack, nor the health checks. One that finds SQLite's write lock taken gives
    up at once (it would block the event loop) and runs again in a thread, where it waits for
    the lock with what is left of its deadline (the deadline, a context variable, goes along).
    """
    if offload is None or not offload(request):
        with without_waiting() as attempt:
            response = app.dispatch(request)
        if not attempt.gave_up:
            return response
    return await anyio.to_thread.run_sync(app.dispatch, request, limiter=LIMITER)


async def read_body(request: Request, limit: int) -> bytes | None:
    """The request's body, or None as soon as it is found to be longer than `limit` bytes.

    A chunked body declares no length: it is counted as it arrives, so a body without end
    costs at most `limit` bytes of memory, and the sender hears 413 while still sending.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and (len(declared) > len(str(limit)) or int(declared) > limit):
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _signed_by_slack(verifier: SignatureVerifier, body: bytes, request: Request) -> bool:
    # slack_sdk reads the timestamp with int(): "abc" would raise, and become a 500 with a
    # traceback for anyone who sends one. It is simply not a valid signature.
    try:
        return verifier.is_valid_request(body, dict(request.headers))
    except (ValueError, TypeError, OverflowError):
        return False
