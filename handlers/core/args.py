"""Reading command arguments the way people actually type them."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

# Phones and word processors turn straight quotes into curly ones; treat them the same.
_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "«": '"', "»": '"'})

MAX_ARGUMENT_LENGTH = 2000
_HELD_QUOTE = "\0"  # never typed: NUL is dropped from the text first


class ArgumentError(ValueError):
    """The text could not be read; the message says kindly why."""


@dataclass
class Arguments:
    """Words of a command, with `--flags` and `--option value` pulled out."""

    words: list[str]
    flags: set[str] = field(default_factory=set)
    options: dict[str, str] = field(default_factory=dict)


def split_words(text: str) -> list[str]:
    """Split on spaces, keeping "quoted phrases" together; apostrophes in names are fine."""
    if len(text) > MAX_ARGUMENT_LENGTH:
        raise ArgumentError("That's a lot of text for one command. Please keep it shorter.")
    # \" is a quote mark inside a name ("The \"Big I\" project"): held aside while splitting.
    text = text.translate(_QUOTES).replace("\0", "").replace('\\"', _HELD_QUOTE)
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    # Only double quotes group words: "O'Brien" and "St John's ward" must survive.
    lexer.quotes = '"'
    lexer.escape = ""
    # "#5" is a meeting's number and "Ward #3" a name, not the start of a comment.
    lexer.commenters = ""
    try:
        return [word.replace(_HELD_QUOTE, '"') for word in lexer]
    except ValueError:
        raise ArgumentError(
            'It looks like a quote mark is missing. Put names in pairs of quotes, like "Falls '
            'prevention".'
        ) from None


def parse_arguments(text: str, *, options: frozenset[str] = frozenset()) -> Arguments:
    """Split text into words, flags (`--consent`) and options that take a value (`--site X`)."""
    parsed = Arguments(words=[])
    words = split_words(text)
    index = 0
    while index < len(words):
        word = words[index]
        if word.startswith("--") and len(word) > 2:
            name = word[2:].lower()
            if name in options:
                if index + 1 >= len(words):
                    raise ArgumentError(f"Please add a value after --{name}.")
                parsed.options[name] = words[index + 1]
                index += 2
                continue
            parsed.flags.add(name)
        else:
            parsed.words.append(word)
        index += 1
    return parsed


def split_on_as(words: list[str]) -> tuple[list[str], list[str] | None]:
    """Split "<name words> as <role words>" at the last standalone "as"."""
    for index in range(len(words) - 1, -1, -1):
        if words[index].casefold() == "as":
            return words[:index], words[index + 1 :]
    return words, None


# Ids travel in button values and form context, which a client can alter: a 20-digit number
# or a Unicode digit like "²" must be a kind "no", not an overflow or a crash.
MAX_ID_DIGITS = 12


def parse_id(text: str) -> int | None:
    """A database id from text, or None unless it is a short run of ASCII digits."""
    text = text.strip()
    if text.isascii() and text.isdecimal() and len(text) <= MAX_ID_DIGITS:
        return int(text)
    return None
