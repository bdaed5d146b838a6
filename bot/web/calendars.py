"""Calendar entries: one meeting's (.ics, linked from texts) and a forum's feed to subscribe to."""

from __future__ import annotations

from urllib.parse import urlsplit

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from bot.outside import links as link_purposes
from bot.outside.ics import ics
from bot.outside.links import Links
from bot.runtime.http import LIMITER
from bot.web.link_problems import bad_link
from bot.web.pages import Pages
from handlers.core.context import Context
from handlers.core.reply import CalendarEvent
from handlers.forum.calendar import calendar_event, feed_name, forum_events
from store.models import Meeting

CALENDAR_TYPE = "text/calendar; charset=utf-8"


class CalendarPages:
    """The .ics files; a meeting moved or cancelled shows its SEQUENCE and STATUS."""

    def __init__(self, ctx: Context, links: Links, pages: Pages) -> None:
        self.ctx = ctx
        self.links = links
        self.pages = pages
        # The entries' uids end with our host, as in the e-mails' attachments: the same entry.
        self.host = urlsplit(links.public_url).netloc or "qi-nudge"

    async def meeting(self, request: Request) -> Response:
        """One meeting's entry, as the e-mail attaches it."""
        token = self.links.read(request.path_params["token"], link_purposes.MEETING_CALENDAR)
        if token is None or token.meeting_id is None:
            return bad_link(self.pages)
        event = await anyio.to_thread.run_sync(self._event, token.meeting_id, limiter=LIMITER)
        if event is None:
            return bad_link(self.pages)
        body = ics([event], host=self.host, zone=self.ctx.timezone, stamp=self.ctx.now())
        return self.pages.respond(
            body, CALENDAR_TYPE, **{"Content-Disposition": 'attachment; filename="meeting.ics"'}
        )

    async def forum(self, request: Request) -> Response:
        """The forum's recent and coming meetings, named after the forum."""
        token = self.links.read(request.path_params["token"], link_purposes.FORUM_CALENDAR)
        if token is None or token.forum_id is None:
            return bad_link(self.pages)
        found = await anyio.to_thread.run_sync(self._feed, token.forum_id, limiter=LIMITER)
        if found is None:
            return bad_link(self.pages)
        name, events = found
        body = ics(events, host=self.host, zone=self.ctx.timezone, stamp=self.ctx.now(), name=name)
        return self.pages.respond(body, CALENDAR_TYPE)

    def _event(self, meeting_id: int) -> CalendarEvent | None:
        with self.ctx.sessions() as session:
            meeting = session.get(Meeting, meeting_id)
            return calendar_event(meeting) if meeting is not None else None

    def _feed(self, forum_id: int) -> tuple[str, list[CalendarEvent]] | None:
        with self.ctx.sessions() as session:
            events = forum_events(session, self.ctx, forum_id)
            name = feed_name(session, forum_id)
            if events is None or name is None:
                return None
            return name, events
