"""The HTTP host: Slack's and Teams' endpoints and a health check, under uvicorn."""

from __future__ import annotations

import contextlib
import logging
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

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

from bot.runtime.health import HealthChecks
from bot.runtime.replays import SeenRequests, request_key
from bot.slack.payload_shape import shape_problem
from handlers.dispatch import REQUEST_DATABASE_WAIT
from store.deadline import (
    WouldWait,
    give_up_if_busy,
    unavailable_because,
    waiting_at_most,
    without_waiting,
)
from store.engine import make_sessions
from store.seen_requests import AlreadyActedOn, Sighting, keep_sighting, noting_sighting

log = logging.getLogger(__name__)
# Few threads: with Starlette's default 40, twenty concurrent requests thrashed the GIL.
# Measured (bench/slack_ack.py, PostgreSQL, 20 clients): 40 threads ~230 req/s; 2, 4 or 8
# threads 325-336 req/s. Eight kept the best one-client latency of those runs (noisy machine).
LIMITER = anyio.CapacityLimiter(8)

MAX_SLACK_BODY = 1024 * 1024  # bytes; a modal's submission with every field full is far less
# How long a signed Slack request could be accepted again: slack_sdk takes a timestamp up to
# five minutes either side of its clock; one more minute covers replicas' clocks disagreeing.
SLACK_REQUEST_WINDOW = timedelta(minutes=6)
# Slack retries an event three times within about six minutes, each time newly signed.
SLACK_EVENT_WINDOW = timedelta(hours=1)
MALFORMED = {"error": "malformed request"}
PROJECT_ROOT = Path(__file__).resolve().parents[2]

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
    `health`: the checks behind /livez, /healthz and /healthz/scheduler (see bot.runtime.health).
    `database_wait`: how long a Slack request may wait for the database, from its arrival.
    """
    routes: list[BaseRoute] = (health or HealthChecks(engine)).routes()
    routes.extend(extra_routes)
    if slack_app is not None:
        if not signing_secret:
            # The signature is checked here only (the Bolt app does not check it again).
            raise ValueError("a Slack endpoint needs the signing secret")
        seen = SeenRequests(make_sessions(engine))
        routes.append(
            Route(
                "/slack/events",
                _slack_events(
                    slack_app, SignatureVerifier(signing_secret), offload, seen, database_wait
                ),
                methods=["POST"],
            )
        )
    return Starlette(routes=routes)


def _slack_events(  # noqa: ANN202 - a Starlette endpoint
    app: App,
    verifier: SignatureVerifier,
    offload: Offload | None,
    seen: SeenRequests,
    database_wait: float,
):
    async def slack_events(request: Request) -> Response:
        arrived = time.monotonic()
        # Slack's requests are a few kilobytes: anything far larger is refused before it is all
        # read (the signature can only be checked once the whole body is in memory).
        body = await read_body(request, MAX_SLACK_BODY)
        if body is None:
            return JSONResponse({"error": "request too large"}, status_code=413)
        # Verify before parsing: nothing Slack did not sign is even read (and only here: see
        # bot.slack.app.build_slack_app).
        if not _signed_by_slack(verifier, body, request):
            return JSONResponse({"error": "invalid signature"}, status_code=401)
        try:
            bolt_request = to_bolt_request(request, body)
            if not isinstance(bolt_request.body, dict):
                raise TypeError("body is not an object")
        except Exception as error:
            log.warning("malformed Slack request refused: %s", type(error).__name__)
            return JSONResponse(MALFORMED, status_code=400)
        problem = shape_problem(bolt_request.body)
        if problem is not None:
            log.warning("malformed Slack request refused: %s", problem)
            return JSONResponse(MALFORMED, status_code=400)
        new: list[bool] = []  # whether it is new, once known (kept if it runs again in a thread)
        # A command, button or form has its key noted in its handler's own transaction (no
        # transaction of its own before it); an event is checked first, as it may start work
        # after the ack that no transaction of the request covers (App Home).
        sighting = None if _is_event(bolt_request) else _sighting(seen, request)

        def handle() -> BoltResponse:
            if sighting is None:
                if not new:
                    new.append(_first_time(seen, bolt_request, request))
                if not new[0]:
                    return BoltResponse(status=200, body="")  # acknowledged; done the first time
                return app.dispatch(bolt_request)
            with noting_sighting(sighting):
                try:
                    response = app.dispatch(bolt_request)
                    # No handler took it up (nothing acted on): noted all the same.
                    keep_sighting(seen.sessions)
                except AlreadyActedOn:
                    pass
            if sighting.replayed:
                log.warning("a Slack request already acted on came again (replayed?); not acted on")
                return BoltResponse(status=200, body="")  # acknowledged; done the first time
            return response

        # The deadline runs from arrival: time spent waiting for a worker thread counts too.
        try:
            with waiting_at_most(database_wait - (time.monotonic() - arrived)):
                response = await _dispatch(
                    handle, inline=offload is None or not offload(bolt_request)
                )
            return to_starlette_response(response)
        except Exception as error:
            # The last resort, for a shape shape_problem did not foresee: one line, no
            # traceback (whose messages could carry what was sent), and never a dropped line.
            if not is_shape_error(error):
                # Ours, not the sender's: the traceback is for IT, and still an answer.
                log.error("Slack request failed: %s", type(error).__name__, exc_info=error)
                return JSONResponse({"error": "internal error"}, status_code=500)
            log.warning(
                "malformed Slack request refused: %s at %s", type(error).__name__, raised_at(error)
            )
            return JSONResponse(MALFORMED, status_code=400)

    return slack_events


def _is_event(bolt_request: BoltRequest) -> bool:
    return bolt_request.body.get("type") == "event_callback"


def _sighting(seen: SeenRequests, request: Request) -> Sighting:
    """A command's, button's or form's key: its timestamp and signature, which a copy repeats."""
    stamp = request.headers.get("x-slack-request-timestamp", "")
    key = request_key("slack", stamp, request.headers.get("x-slack-signature", ""))
    # The signature was checked, so the timestamp is a number within five minutes of now.
    until = datetime.fromtimestamp(int(stamp), UTC) + SLACK_REQUEST_WINDOW
    return seen.sighting(key, until)


def _first_time(seen: SeenRequests, bolt_request: BoltRequest, request: Request) -> bool:
    """Whether this request should be acted on: not a copy of one acted on already.

    An event is known by its id, which Slack keeps when it retries (each retry is signed
    anew); anything else by its timestamp and signature, which a replayed copy repeats.
    """
    body = bolt_request.body
    now = datetime.now(UTC)
    if body.get("type") == "event_callback":
        key = request_key("slack event", body["team_id"], body["event_id"])
        until = now + SLACK_EVENT_WINDOW
    else:
        stamp = request.headers.get("x-slack-request-timestamp", "")
        key = request_key("slack", stamp, request.headers.get("x-slack-signature", ""))
        # The signature was checked, so the timestamp is a number within five minutes of now.
        until = datetime.fromtimestamp(int(stamp), UTC) + SLACK_REQUEST_WINDOW
    try:
        if seen.first_time(key, until):
            return True
    except Exception as error:
        # On the event loop, a busy SQLite is not waited for: the request runs again in a
        # thread, where this check is made again (WouldWait).
        give_up_if_busy(error)
        # Without the database the request cannot do anything anyway; its handler says so
        # kindly (at once, if the wait here used up its time), which a refusal here could not.
        # An unavailable database is logged once, by the handler that says so to the person.
        level = logging.DEBUG if unavailable_because(error) else logging.WARNING
        log.log(level, "could not check whether a Slack request was new: %s", type(error).__name__)
        return True
    if body.get("type") == "event_callback" and request.headers.get("x-slack-retry-num"):
        log.info("Slack sent an event again that was handled already; acknowledged")
    else:
        log.warning("a Slack request already acted on came again (replayed?); not acted on")
    return False


def is_shape_error(error: BaseException) -> bool:
    """Whether an exception is what Python raises on data of the wrong shape.

    A missing key, text where an object was expected, a value that does not parse: the
    sender's fault (400). Anything else (the database, a platform's API) is not.
    """
    return isinstance(error, AttributeError | LookupError | TypeError | ValueError)


def raised_at(error: BaseException) -> str:
    """Where an exception was raised, as file:line, and nothing of its message.

    The last place in qi-nudge's own code, if any: that is where someone would look.
    """
    frames = traceback.extract_tb(error.__traceback__)
    ours = [f for f in frames if _is_ours(f.filename)]
    frame = (ours or frames or [None])[-1]
    if frame is None:
        return "unknown place"
    return f"{Path(frame.filename).name}:{frame.lineno}"


def _is_ours(filename: str) -> bool:
    path = Path(filename)
    return path.is_relative_to(PROJECT_ROOT) and "site-packages" not in path.parts


async def _dispatch(handle: Callable[[], BoltResponse], *, inline: bool) -> BoltResponse:
    """Run a request's work: on the event loop if it need not wait, else in a worker thread.

    Bolt and the handlers are synchronous. Quick requests run right here; one that must wait
    (PostgreSQL round trips, a first users.info) goes to a thread so that its wait holds up
    nobody else's ack, nor the health checks. One that finds SQLite's write lock taken gives
    up at once (it would block the event loop) and runs again in a thread, where it waits for
    the lock with what is left of its deadline (the deadline, a context variable, goes along).
    """
    if inline:
        # WouldWait raised outside Bolt (by the replay check) ends up here: gave_up says so.
        with without_waiting() as attempt, contextlib.suppress(WouldWait):
            response = handle()
        if not attempt.gave_up:
            return response
    return await anyio.to_thread.run_sync(handle, limiter=LIMITER)


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
