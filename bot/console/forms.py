"""Checking each answer to a console form as it is typed, so a form is never lost at the end."""

from __future__ import annotations

from handlers.core.reply import FormField
from store.names import name_key

AGAIN = ", or :cancel to stop."


class NotAnAnswer(ValueError):
    """An answer the question cannot take; the message says what to type instead."""


def check_answer(field: FormField, typed: str, *, kept: str | None = None) -> str:
    """The value to submit for what was typed; Enter keeps `kept` (an earlier answer).

    A choice is taken by its number or by its words (case and spacing aside), and by words
    that hold all of its label's, as people say them: "as a carer", "carers" or "family carer"
    for Carer.
    """
    typed = typed.strip()
    if not typed and kept is not None:
        return kept
    if not typed:
        if field.optional:
            return ""
        raise NotAnAnswer(_choose(field) if field.choices else "Please type an answer" + AGAIN)
    if not field.choices:
        # As the boxes of Slack's and Teams' own forms: a longer answer could not go there.
        most = field.max_length
        if len(typed) > most:
            raise NotAnAnswer(
                f"Please keep it to {most} characters (that was {len(typed):,})" + AGAIN
            )
        return typed
    if typed.isascii() and typed.isdecimal():
        number = int(typed)
        if 1 <= number <= len(field.choices):
            return field.choices[number - 1].value
        raise NotAnAnswer(_choose(field))
    for choice in field.choices:
        if name_key(choice.label) == name_key(typed):
            return choice.value
    said = name_key(typed).split()
    fits = [
        choice
        for choice in field.choices
        if all(
            any(word.startswith(part) for word in said) for part in name_key(choice.label).split()
        )
    ]
    if len(fits) == 1:
        return fits[0].value
    raise NotAnAnswer(_choose(field))


def shown_answer(field: FormField, value: str) -> str:
    """How an answer given earlier reads: its choice's words, or the text as typed."""
    labels = {choice.value: choice.label for choice in field.choices}
    return labels.get(value, value)


def _choose(field: FormField) -> str:
    if len(field.choices) == 1:
        return f'Please type 1 for "{field.choices[0].label}"' + AGAIN
    return f"Please type a number from 1 to {len(field.choices)}" + AGAIN
