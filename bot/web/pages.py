"""Rendering the pages: Jinja2 templates (always escaped), our style sheet, and kind errors."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from importlib.resources import files
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from bot.web.headers import security_headers

log = logging.getLogger(__name__)

# Every page sits two levels down (/answer/<token>, /join/<forum>): the style sheet is found
# relative to it, so the pages work behind a proxy that serves them under a path of its own.
STYLE_PATH = "/static/pages.css"
STYLE_HREF = "../static/pages.css"
STYLE = (files("bot.web") / "static" / "pages.css").read_bytes()

_templates = Environment(
    loader=PackageLoader("bot.web", "templates"),
    autoescape=True,  # every value is text, never markup: names and places are typed by people
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

SORRY = "Sorry, something went wrong"
SORRY_TEXT = (
    "We couldn't do that just now. Nothing has been changed. Please try again in a few "
    "minutes, or ask the forum's organiser."
)

Endpoint = Callable[[Request], Awaitable[Response]]


class Pages:
    """Renders the templates with the headers every response carries."""

    def __init__(self, *, https: bool) -> None:
        self.headers = security_headers(https=https)

    def page(self, template: str, *, status: int = 200, **values: Any) -> HTMLResponse:
        """The template filled in, as an HTML response."""
        html = _templates.get_template(template).render(style=STYLE_HREF, **values)
        return HTMLResponse(html, status_code=status, headers=self.headers)

    def message(self, title: str, *paragraphs: str, status: int = 200) -> HTMLResponse:
        """A page that only says something: a thank-you, or why a link did not work."""
        return self.page("message.html", status=status, title=title, paragraphs=paragraphs)

    def respond(self, body: bytes, media_type: str, **headers: str) -> Response:
        """Any other response (a calendar, the style sheet) with the same headers."""
        return Response(body, media_type=media_type, headers={**self.headers, **headers})

    def kindly(self, endpoint: Endpoint) -> Endpoint:
        """The endpoint, answering a kind page (never a traceback) if anything goes wrong."""

        @functools.wraps(endpoint)
        async def guarded(request: Request) -> Response:
            try:
                return await endpoint(request)
            except Exception as error:
                # The type only: a message could hold a token, a name or an address.
                log.error("web page failed: %s", type(error).__name__)
                return self.message(SORRY, SORRY_TEXT, status=500)

        return guarded

    async def style(self, request: Request) -> Response:
        """Our style sheet (a day in the browser's cache: it changes only with a release)."""
        headers = {**self.headers, "Cache-Control": "public, max-age=86400"}
        return Response(STYLE, media_type="text/css", headers=headers)
