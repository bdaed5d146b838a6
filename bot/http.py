"""The HTTP host: Slack's endpoint and a health check, under uvicorn."""

from __future__ import annotations

import logging

from slack_bolt import App
from slack_bolt.adapter.starlette import SlackRequestHandler
from sqlalchemy import Engine, text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

log = logging.getLogger(__name__)


def build_http_app(slack_app: App | None, engine: Engine) -> Starlette:
    """POST /slack/events for commands, buttons, forms and events; GET /healthz."""
    routes = [Route("/healthz", _healthz(engine), methods=["GET"])]
    if slack_app is not None:
        handler = SlackRequestHandler(slack_app)

        async def slack_events(request: Request) -> Response:
            try:
                return await handler.handle(request)
            except ValueError as error:
                # Bolt parses the body before it can verify it; a body that is not Slack's
                # form or JSON is a bad request, not a crash. Nothing was read or changed.
                log.warning("malformed Slack request refused: %s", type(error).__name__)
                return JSONResponse({"error": "malformed request"}, status_code=400)

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
