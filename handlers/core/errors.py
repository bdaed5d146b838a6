"""The one way a handler says no: raise Refusal, and the unit of work rolls back."""

from __future__ import annotations

from handlers.core.reply import Button, Reply, refuse


class Refusal(Exception):
    """A kind 'no' for the person; nothing they asked for was changed."""

    def __init__(self, text: str, *, buttons: tuple[Button, ...] = ()) -> None:
        super().__init__(text)
        self.reply: Reply = refuse(text, buttons=buttons)


class NotFound(Refusal):
    """A Refusal for a name that fits no one thing, with the names that might have been meant.

    `typed` is the name as the command gave it; a transport-neutral caller (the dispatcher)
    can offer each suggestion as a button that runs the same command with that name.
    """

    def __init__(self, text: str, *, typed: str, suggestions: tuple[str, ...]) -> None:
        super().__init__(text)
        self.typed = typed
        self.suggestions = suggestions
