"""What a page says when its link cannot be used: kind words, and nothing changed."""

from __future__ import annotations

from starlette.responses import HTMLResponse

from bot.web.pages import Pages

BAD_LINK = "This link doesn't work"
BAD_LINK_TEXT = (
    "The link may be incomplete, or too old: links in our messages stop working after a "
    "while. Nothing has been changed.",
    "If you copied the link, check you copied all of it. Otherwise, use the link in the most "
    "recent message from the forum, or ask the forum's organiser.",
)
TOO_LARGE = "That was too much to send"
TOO_LARGE_TEXT = "Nothing has been changed. Please go back and try again."


def bad_link(pages: Pages) -> HTMLResponse:
    """A forged, altered, cut-short or expired link (404: there is no such page)."""
    return pages.message(BAD_LINK, *BAD_LINK_TEXT, status=404)


def too_large(pages: Pages) -> HTMLResponse:
    """A posted form larger than any of ours."""
    return pages.message(TOO_LARGE, TOO_LARGE_TEXT, status=413)
