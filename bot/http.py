"""The HTTP host: Slack's endpoint and a health check, under uvicorn."""

from __future__ import annotations

import logging

from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from sqlalchemy import Engine, text
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

log = logging.getLogger(__name__)


def build_http_app(slack_app: App | None, engine: Engine) -> Starlette:
    """POST /slack/events for commands, buttons, forms and events; GET /healthz."""
    routes = [Route("/healthz", _healthz(engine), methods=["GET"])]
    if slack_app is not None:
        # SQLite takes one writer at a time, so threads only add GIL contention there (measured);
        # PostgreSQL requests mostly wait on the network, and a few threads let those waits
        # overlap instead of each one holding the event loop.
        threaded = engine.dialect.name != "sqlite"

        async def slack_events(request: Request) -> Response:
            try:
                bolt_request = to_bolt_request(request, await request.body())
            except ValueError as error:
                # Bolt parses the body before it can verify it; a body that is not Slack's
                # form or JSON is a bad request, not a crash. Nothing was read or changed.
                log.warning("malformed Slack request refused: %s", type(error).__name__)
                return JSONResponse({"error": "malformed request"}, status_code=400)
            if threaded:
                bolt_response = await run_in_threadpool(slack_app.dispatch, bolt_request)
            else:
                bolt_response = slack_app.dispatch(bolt_request)
            return to_starlette_response(bolt_response)

        routes.append(Route("/slack/events", slack_events, methods=["POST"]))
    return Starlette(routes=routes)


def _healthz(engine: Engine):  # noqa: ANN202 - a Starlette endpoint
    async def healthz(request: Request) -> Response:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as error:
            log.warning("health check: database unreachable: %s", type(error).__name__)
            return JSONResponse({"status": "database unreachable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    return healthz
