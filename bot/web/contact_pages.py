"""The pages that stop every message, and that confirm an address someone signed up with."""

from __future__ import annotations

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
from handlers.people.by_link import Outcome, confirm_by_link, stop_by_link

ASK_ORGANISER = (
    "If you change your mind, ask the forum's organiser to start sending you messages again."
)
STOP_TITLE = "Stop all messages from the QI forum?"
STOP_TEXT = (
    "If you press the button, we will not send you any more e-mails or text messages about "
    "the forum.",
    ASK_ORGANISER,
)
STOPPED = {
    Outcome.DONE: ("We've stopped your messages", "We will not send you anything more."),
    Outcome.ALREADY: ("Your messages are already stopped", "We will not send you anything more."),
    Outcome.NO_ADDRESS: (
        "We have nothing to stop",
        "We no longer keep an address for you, so we cannot send you anything.",
    ),
}
CONFIRM_TITLE = "Confirm your address"
CONFIRM_TEXT = (
    "Someone signed up to hear about the QI forum at the address this link was sent to. "
    "If it was you, press the button to confirm it. If not, close this page: unless it is "
    "confirmed, we delete the address in about a week.",
)
CONFIRMED = {
    Outcome.DONE: (
        "Thank you, your address is confirmed",
        "We'll send you news of the forum's meetings there. Each message has a link to stop them.",
    ),
    Outcome.ALREADY: (
        "Your address is already confirmed",
        "Nothing has changed. Each message we send has a link to stop them.",
    ),
    Outcome.NO_ADDRESS: (
        "We can't confirm this address",
        "We no longer keep it: perhaps you asked us to remove it. To sign up again, use the "
        "forum's sign-up page or ask the forum's organiser.",
    ),
}


class ContactPages:
    """GET asks; POST (the button) does it and says what happened."""

    def __init__(self, ctx: Context, links: Links, pages: Pages) -> None:
        self.ctx = ctx
        self.links = links
        self.pages = pages

    def _person(self, request: Request, purpose: str) -> int | None:
        token = self.links.read(request.path_params["token"], purpose)
        return token.person_id if token is not None else None

    async def ask_stop(self, request: Request) -> Response:
        """'Stop all messages?' and its button."""
        if self._person(request, link_purposes.STOP) is None:
            return bad_link(self.pages)
        return self.pages.page(
            "confirm_step.html",
            title=STOP_TITLE,
            paragraphs=STOP_TEXT,
            button="Stop all messages",
            warning=True,
        )

    async def stop(self, request: Request) -> Response:
        """Stop every message to the person, and say how to start again."""
        person_id = self._person(request, link_purposes.STOP)
        if person_id is None:
            return bad_link(self.pages)
        try:
            await read_form(request)
        except TooLarge:
            return too_large(self.pages)
        outcome = await anyio.to_thread.run_sync(stop_by_link, self.ctx, person_id, limiter=LIMITER)
        title, text = STOPPED[outcome]
        return self.pages.message(title, text, ASK_ORGANISER)

    async def ask_confirm(self, request: Request) -> Response:
        """'Is this your address?' and its button."""
        if self._person(request, link_purposes.CONFIRM) is None:
            return bad_link(self.pages)
        return self.pages.page(
            "confirm_step.html",
            title=CONFIRM_TITLE,
            paragraphs=CONFIRM_TEXT,
            button="Yes, this is my address",
            warning=False,
        )

    async def confirm(self, request: Request) -> Response:
        """Confirm the address: messages about the forum may go to it from now on."""
        token = self.links.read(request.path_params["token"], link_purposes.CONFIRM)
        if token is None or token.person_id is None:
            return bad_link(self.pages)
        try:
            await read_form(request)
        except TooLarge:
            return too_large(self.pages)
        outcome = await anyio.to_thread.run_sync(
            confirm_by_link,
            self.ctx,
            token.person_id,
            token.forum_id,
            token.role,
            limiter=LIMITER,
        )
        title, text = CONFIRMED[outcome]
        return self.pages.message(title, text)
