"""The answer page: a meeting's details and "I'm coming" / "I can't come".

Opening the page records nothing (mail scanners open every link in an e-mail); only pressing
a button, which posts the form, does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from bot.outside import links as link_purposes
from bot.outside.links import Links
from bot.runtime.http import LIMITER
from bot.web.forms import TooLarge, read_form
from bot.web.link_problems import bad_link, too_large
from bot.web.pages import Pages
from handlers.core.context import Context
from handlers.forum.by_link import GONE, MeetingByLink, answer_by_link, meeting_by_link
from handlers.forum.invitations import COMING, NOT_COMING
from store.roles import RsvpAnswer

log = logging.getLogger(__name__)

CHOICES = ((RsvpAnswer.GOING.value, COMING), (RsvpAnswer.NOT_GOING.value, NOT_COMING))
ANSWERS = {
    RsvpAnswer.GOING: "You're coming.",
    RsvpAnswer.MAYBE: "You might come.",
    RsvpAnswer.NOT_GOING: "You can't come.",
}
RECORDED = {
    RsvpAnswer.GOING: "We've noted that you're coming. We look forward to seeing you.",
    RsvpAnswer.NOT_GOING: "We've noted that you can't come. Thank you for letting us know.",
}
PRESS_A_BUTTON = "Choose 'I'm coming' or 'I can't come'"


class AnswerPage:
    """GET shows the meeting and the two buttons; POST records the one pressed."""

    def __init__(
        self, ctx: Context, links: Links, pages: Pages, answered: Callable[[int], None]
    ) -> None:
        self.ctx = ctx
        self.links = links
        self.pages = pages
        self.answered = answered

    async def show(self, request: Request) -> Response:
        """The meeting, the answer so far, and the buttons (the link's choice highlighted)."""
        token = self.links.read(request.path_params["token"], link_purposes.ANSWER)
        if token is None or token.person_id is None or token.meeting_id is None:
            return bad_link(self.pages)
        meeting = await anyio.to_thread.run_sync(
            meeting_by_link, self.ctx, token.person_id, token.meeting_id, limiter=LIMITER
        )
        picked = request.query_params.get("choice", "")
        return self._page(meeting, picked=picked)

    async def record(self, request: Request) -> Response:
        """Record the answer pressed, then thank them; the same answer again changes nothing."""
        token = self.links.read(request.path_params["token"], link_purposes.ANSWER)
        if token is None or token.person_id is None or token.meeting_id is None:
            return bad_link(self.pages)
        try:
            form = await read_form(request)
        except TooLarge:
            return too_large(self.pages)
        choice = form.get("choice", "")
        if choice not in dict(CHOICES):
            meeting = await anyio.to_thread.run_sync(
                meeting_by_link, self.ctx, token.person_id, token.meeting_id, limiter=LIMITER
            )
            return self._page(meeting, picked="", error=PRESS_A_BUTTON, status=400)
        meeting = await anyio.to_thread.run_sync(
            answer_by_link,
            self.ctx,
            token.person_id,
            token.meeting_id,
            RsvpAnswer(choice),
            limiter=LIMITER,
        )
        if meeting is not None and meeting.changed:
            await anyio.to_thread.run_sync(self._tell_channel, token.meeting_id, limiter=LIMITER)
        if meeting is None or meeting.problem is not None:
            return self._page(meeting, picked="", status=409)
        assert meeting.answer is not None
        return self._page(meeting, picked=choice, recorded=RECORDED[meeting.answer])

    def _tell_channel(self, meeting_id: int) -> None:
        """Have the channel's announcement show the new counts; the answer stands regardless."""
        try:
            self.answered(meeting_id)
        except Exception as error:
            log.warning("could not refresh the meeting's announcement: %s", type(error).__name__)

    def _page(
        self,
        meeting: MeetingByLink | None,
        *,
        picked: str,
        recorded: str | None = None,
        error: str | None = None,
        status: int = 200,
    ) -> Response:
        if meeting is None:
            return self.pages.message("We can't find that meeting", GONE, status=404)
        return self.pages.page(
            "answer.html",
            status=status,
            title=f"Can you come to the {meeting.forum_name}?",
            meeting=meeting,
            answers=ANSWERS,
            choices=CHOICES,
            # The link's choice stands out; with none, "I'm coming", as in chat.
            picked=picked if picked in dict(CHOICES) else RsvpAnswer.GOING.value,
            recorded=recorded,
            error=error,
        )
