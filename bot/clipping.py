"""Cutting text to a platform's limit: at a word boundary, ending with an ellipsis."""

from __future__ import annotations

from handlers.listing import text_units

ELLIPSIS = "…"


def clip(text: str, limit: int) -> str:
    """The text within `limit` UTF-16 code units, cut at a word and ended with "…" if it must be.

    UTF-16, as Teams counts and never less than Slack counts: an emoji is two.
    """
    if text_units(text) <= limit:
        return text
    head = within(text, limit - len(ELLIPSIS))
    space = max(head.rfind(" "), head.rfind("\n"))
    # A word longer than half the room (Chinese has no spaces) is cut where the room ends.
    if space > len(head) // 2:
        head = head[:space]
    return head.rstrip() + ELLIPSIS


def within(text: str, limit: int) -> str:
    """The longest start of the text within `limit` UTF-16 code units."""
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit:
            return text[:index]
    return text
