"""Cutting text to a platform's limit: at a word boundary, ending with an ellipsis."""

from __future__ import annotations

import unicodedata

from handlers.core.long_lists import text_units

ELLIPSIS = "…"
ZWJ = "\u200d"  # joins emoji into one picture: a family, a rainbow flag
# Regional indicators pair up into a flag: 🇬🇧 is two of them.
REGIONAL_INDICATORS = range(0x1F1E6, 0x1F1FF + 1)


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
    """The longest start of the text within `limit` UTF-16 code units, ending on a whole character.

    A character as people see it: an accent stays with its letter and an emoji sequence (a
    family, the Welsh flag, a skin tone) stays whole, or is left out whole. Only a first
    character longer than the whole room (a letter under hundreds of accents) is cut inside:
    callers that cut a long text into pieces must always move on.
    """
    head = text[: max(limit, 0)]
    if limit >= 0 and text_units(head) == len(head):
        # No character of two units among the first `limit`: the first left out is the next.
        return text[: _character_start(text, limit) or limit] if len(text) > limit else text
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit:
            return text[: _character_start(text, index) or index]
    return text


def _character_start(text: str, index: int) -> int:
    """Where the user-perceived character holding `text[index]` starts (at or before `index`).

    Unicode's grapheme rules, for what names hold: marks, variation selectors, tags and skin
    tones extend what comes before them, a zero-width joiner joins what comes after it, and
    regional indicators pair up.
    """
    while index > 0 and (_extends(text[index]) or text[index - 1] == ZWJ):
        index -= 1
    if ord(text[index]) in REGIONAL_INDICATORS:
        run = index
        while run > 0 and ord(text[run - 1]) in REGIONAL_INDICATORS:
            run -= 1
        if (index - run) % 2:  # the second of a pair
            index -= 1
    return index


def _extends(char: str) -> bool:
    """Whether the character belongs with the one before it, never shown on its own."""
    code = ord(char)
    return (
        char == ZWJ
        or unicodedata.category(char).startswith("M")  # accents, vowel signs, selectors, keycap
        or 0xE0020 <= code <= 0xE007F  # tags: the Welsh and Scottish flags
        or 0x1F3FB <= code <= 0x1F3FF  # skin tones
    )
