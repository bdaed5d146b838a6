"""The web pages' routes: answer, stop, confirm, calendars and sign-up. To be written (helper C)."""

from __future__ import annotations

from collections.abc import Callable

from starlette.routing import BaseRoute

from bot.outside.links import Links
from handlers.core.context import Context


def web_routes(
    ctx: Context, links: Links, *, answered: Callable[[int], None] = lambda meeting_id: None
) -> list[BaseRoute]:
    """The pages' routes; `answered(meeting_id)` is called after an answer is recorded."""
    return []
