"""The web pages' routes: answer, stop, confirm, calendars and sign-up."""

from __future__ import annotations

from collections.abc import Callable

from starlette.routing import BaseRoute, Route

from bot.outside.links import Links
from bot.web.answer import AnswerPage
from bot.web.calendars import CalendarPages
from bot.web.contact_pages import ContactPages
from bot.web.limits import PerAddressLimit
from bot.web.pages import STYLE_PATH, Pages
from bot.web.signup import SignupPage
from handlers.core.context import Context

# Sign-ups from one network address: a few a quarter of an hour covers a family or a ward.
SIGNUPS_PER_ADDRESS = 10
SIGNUP_WINDOW_SECONDS = 15 * 60
# Sign-ups to one forum, from anywhere: a forum gains a few people a week, so a flood is a
# script (behind a proxy that hides addresses, or spread over many), not a crowd.
SIGNUPS_PER_FORUM = 60
SIGNUP_FORUM_WINDOW_SECONDS = 60 * 60


def web_routes(
    ctx: Context, links: Links, *, answered: Callable[[int], None] = lambda meeting_id: None
) -> list[BaseRoute]:
    """The pages' routes; `answered(meeting_id)` is called after an answer is recorded."""
    pages = Pages(https=links.public_url.startswith("https://"))
    answer = AnswerPage(ctx, links, pages, answered)
    contact = ContactPages(ctx, links, pages)
    calendars = CalendarPages(ctx, links, pages)
    signup = SignupPage(
        ctx,
        pages,
        PerAddressLimit(SIGNUPS_PER_ADDRESS, SIGNUP_WINDOW_SECONDS),
        per_forum=PerAddressLimit(SIGNUPS_PER_FORUM, SIGNUP_FORUM_WINDOW_SECONDS),
    )
    kindly = pages.kindly
    return [
        Route("/answer/{token}", kindly(answer.show), methods=["GET"]),
        Route("/answer/{token}", kindly(answer.record), methods=["POST"]),
        Route("/stop/{token}", kindly(contact.ask_stop), methods=["GET"]),
        Route("/stop/{token}", kindly(contact.stop), methods=["POST"]),
        Route("/confirm/{token}", kindly(contact.ask_confirm), methods=["GET"]),
        Route("/confirm/{token}", kindly(contact.confirm), methods=["POST"]),
        Route("/calendar/meeting/{token}.ics", kindly(calendars.meeting), methods=["GET"]),
        Route("/calendar/forum/{token}.ics", kindly(calendars.forum), methods=["GET"]),
        Route("/join/{forum}", kindly(signup.show), methods=["GET"]),
        Route("/join/{forum}", kindly(signup.submit), methods=["POST"]),
        Route(STYLE_PATH, pages.style, methods=["GET"]),
    ]
