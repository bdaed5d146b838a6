"""Long lists in chat: the first few that fit in one message, then how many more there are."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from handlers.core.reply import Section

T = TypeVar("T")

# How much listed text one message carries, in UTF-16 code units (as Teams counts, and never
# fewer than the characters Slack counts). Teams takes a message of 40 KB at most, and each
# line costs about 170 bytes of card markup as well: 8,000 leaves room for the headings,
# buttons and words around a list, even of 200-character names in any script.
LIST_TEXT_MAX = 8_000


@dataclass(frozen=True)
class Shortlist(Generic[T]):
    """The items to show, and how many more there are that are not shown."""

    shown: list[T]
    more: int


def text_units(text: str) -> int:
    """The length of text as chat platforms count it: UTF-16 code units (an emoji is two)."""
    if text.isascii():  # known to Python without reading the text: one unit each
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def shortlist(
    items: Sequence[T],
    most: int,
    *,
    line: Callable[[T], str] = str,
    room: int = LIST_TEXT_MAX,
    total: int | None = None,
) -> Shortlist[T]:
    """The first `most` items whose lines fit in `room`, and how many are left out.

    Always at least one item when there is any, however long its line (the platforms' own
    limits cut a line that long). `total`: how many there are in all, when `items` holds only
    the first of them.
    """
    shown: list[T] = []
    used = 0
    for item in items[:most]:
        size = text_units(line(item)) + 1  # and its line break
        if shown and used + size > room:
            break
        shown.append(item)
        used += size
    everything = len(items) if total is None else max(total, len(items))
    return Shortlist(shown, everything - len(shown))


def and_more(count: int, one: str = "", many: str | None = None) -> str:
    """'…and 277 more projects' ('…and 1 more project'; '…and 3 more' without a noun)."""
    noun = one if count == 1 else (many or (one + "s" if one else ""))
    return f"…and {count} more" + (f" {noun}" if noun else "")


def words_of(*sections: Section) -> str:
    """Every word of these sections, headings and button labels too: what they add to a message."""
    return " ".join(
        " ".join([section.heading or "", section.text, *(b.label for b in section.buttons)])
        for section in sections
    )
