"""A forum's public sign-up page: name, how to reach them, role and consent.

Mistakes re-show the form with what was typed and a message by each field (the GOV.UK error
summary pattern). The thank-you page reads the same whether the address was new or known.
"""

from __future__ import annotations

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from bot.runtime.http import LIMITER
from bot.web.forms import TooLarge, read_form
from bot.web.limits import PerAddressLimit
from bot.web.link_problems import too_large
from bot.web.pages import Pages
from handlers.core.context import Context
from handlers.forum import public_signup
from handlers.forum.public_signup import SignupForm, SignupForum

NO_PAGE = "There is no sign-up page here"
NO_PAGE_TEXT = (
    "This forum doesn't take sign-ups on the web, or the link is not quite right. "
    "Please ask the forum's organiser how to join."
)
THANKS = "Thank you for signing up"
THANKS_TEXT = (
    "If we need to check that the address is yours, we have sent a message to it. Please open "
    "the link in that message and press the button. Until then, we send nothing else.",
    "The link works for 7 days. If no message comes, check your junk mail folder, or ask the "
    "forum's organiser.",
)
TOO_MANY = "Please wait a few minutes"
TOO_MANY_TEXT = (
    "There have been a lot of sign-ups just now, so this one was not saved. Please try again "
    "in an hour, or ask the forum's organiser to add you."
)
# Where each field's error links to: its input, or the first of its choices.
FIRST_INPUT = {
    "name": "name",
    "method": f"method-{public_signup.METHOD_CHOICES[0][0]}",
    "address": "address",
    "role": f"role-{public_signup.ROLE_CHOICES[0][0]}",
    "consent": "consent",
}
HONEYPOT = "website"


class SignupPage:
    """GET shows the form; POST checks it, and signs up or shows it again with the errors."""

    def __init__(
        self,
        ctx: Context,
        pages: Pages,
        limit: PerAddressLimit,
        *,
        per_forum: PerAddressLimit | None = None,
    ) -> None:
        self.ctx = ctx
        self.pages = pages
        self.limit = limit  # per network address
        self.per_forum = per_forum  # per forum, whoever sends them

    async def _forum(self, request: Request) -> SignupForum | None:
        key = request.path_params["forum"]
        return await anyio.to_thread.run_sync(
            public_signup.signup_forum, self.ctx, key, limiter=LIMITER
        )

    async def show(self, request: Request) -> Response:
        """The empty form."""
        forum = await self._forum(request)
        if forum is None:
            return self.pages.message(NO_PAGE, NO_PAGE_TEXT, status=404)
        return self._form(forum, SignupForm())

    async def submit(self, request: Request) -> Response:
        """Sign up, or show the form again with what to put right."""
        forum = await self._forum(request)
        if forum is None:
            return self.pages.message(NO_PAGE, NO_PAGE_TEXT, status=404)
        try:
            values = await read_form(request)
        except TooLarge:
            return too_large(self.pages)
        if values.get(HONEYPOT):
            # Filled in by a program, not a person (people never see the field): thanked, unsaved.
            return self.pages.message(THANKS, *THANKS_TEXT)
        form = public_signup.read_form(values)
        if form.errors:
            return self._form(forum, form, status=400)
        client = request.client.host if request.client else "unknown"
        if not self.limit.allow(client) or (
            self.per_forum is not None and not self.per_forum.allow(f"forum:{forum.id}")
        ):
            return self.pages.message(TOO_MANY, TOO_MANY_TEXT, status=429)
        await anyio.to_thread.run_sync(
            public_signup.sign_up, self.ctx, forum, form, limiter=LIMITER
        )
        return self.pages.message(THANKS, *THANKS_TEXT)

    def _form(self, forum: SignupForum, form: SignupForm, *, status: int = 200) -> Response:
        return self.pages.page(
            "join.html",
            status=status,
            title=f"Sign up to the {forum.name}",
            forum_name=forum.name,
            form=form,
            errors=form.errors,
            first_input=FIRST_INPUT,
            methods=public_signup.METHOD_CHOICES,
            roles=public_signup.ROLE_CHOICES,
        )
