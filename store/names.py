"""How names are folded so that people can type them loosely."""

from __future__ import annotations

import re
import unicodedata

_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


def name_key(name: str) -> str:
    """Fold a name for comparison: case, accents' forms, punctuation and spacing don't count."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    # "St John's" and "St Johns" are the same ward: apostrophes join, they don't split.
    folded = folded.replace("'", "").replace("\u2019", "")
    return " ".join(_NOT_WORD.sub(" ", folded).split())


def clean_name(name: str) -> str:
    """Tidy a name for storing: normal Unicode form, single spaces, no control characters."""
    text = unicodedata.normalize("NFKC", name)
    # Line breaks and tabs separate words; other control characters are dropped.
    text = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or unicodedata.category(ch)[0] != "C"
    )
    return " ".join(text.split())


def site_key(site: str | None) -> str | None:
    """The key a site is found by (its folded name); None for no site, or one without letters."""
    return (name_key(site) or None) if site else None
