"""Suggested names as buttons: pressing one runs the same command again with that name."""

from __future__ import annotations

import json

from handlers.core import ids
from handlers.core.args import ArgumentError, split_words
from handlers.core.errors import NotFound
from handlers.core.reply import BUTTON_VALUE_MAX, Button, Reply, refuse

# Commands whose first word says what to do ("show", "slot"): the name comes after it, so
# "/qi-project show show" means the project called "show", not the word "show" twice.
COMMANDS_WITH_VERBS = frozenset({"qi-project", "qi-forum"})
# Characters that would change how a name is read back as one argument: the quotes (straight
# and curly) that group words. Names are matched folded, where a quote mark is a space, so a
# name with spaces in their place is still found exactly.
_QUOTE_MARKS = str.maketrans(dict.fromkeys('"“”„«»', " "))


def offer_suggestions(command: str, text: str, missing: NotFound) -> Reply:
    """The refusal, with a button per suggested name that completes the command with it."""
    buttons = suggestion_buttons(command, text, missing)
    return refuse(missing.reply.text, buttons=buttons)


def suggestion_buttons(command: str, text: str, missing: NotFound) -> tuple[Button, ...]:
    """A button per suggestion, or none if the typed name can't be found in the command."""
    try:
        words = split_words(text)
    except ArgumentError:
        return ()
    where = _where_typed(words, missing.typed, after_verb=command in COMMANDS_WITH_VERBS)
    if where is None:
        return ()
    start, end = where
    buttons = []
    for name in missing.suggestions:
        completed = [*words[:start], _as_argument(name), *words[end:]]
        text_again = " ".join(_typable(w) for w in completed)
        value = json.dumps([command, text_again], ensure_ascii=False, separators=(",", ":"))
        # A name too long to carry in a button is still listed in the text.
        if len(value) <= BUTTON_VALUE_MAX:
            buttons.append(Button(name, ids.RUN_SUGGESTED, value))
    return tuple(buttons)


def read_suggestion(value: str) -> tuple[str, str] | None:
    """(command, text) from a suggestion button's value, or None if it is not one."""
    try:
        command, text = json.loads(value)
    except (ValueError, TypeError, RecursionError):  # altered by a client: not ours
        return None
    if not isinstance(command, str) or not isinstance(text, str):
        return None
    return command, text


def _where_typed(words: list[str], typed: str, *, after_verb: bool) -> tuple[int, int] | None:
    """(start, end): the run of words that reads as the typed name; after a verb if there is one."""
    found: list[tuple[int, int]] = []
    for start in range(len(words)):
        # Lengths first: a run is joined and compared only when it is exactly as long.
        length = -1
        for end in range(start + 1, len(words) + 1):
            length += len(words[end - 1]) + 1
            if length >= len(typed):
                if length == len(typed) and " ".join(words[start:end]) == typed:
                    found.append((start, end))
                break
    if after_verb:
        later = [run for run in found if run[0] > 0]
        if later:
            return later[0]
    return found[0] if found else None


def _as_argument(name: str) -> str:
    """The project's name as one argument: no quote marks or leading dashes, which fold away."""
    return " ".join(name.translate(_QUOTE_MARKS).split()).lstrip("-") or name


def _typable(word: str) -> str:
    """A word as typed again: in quotes if it holds spaces (or is empty)."""
    return f'"{word}"' if not word or any(ch.isspace() for ch in word) else word
