"""The one way a handler says no: raise Refusal, and the unit of work rolls back."""

from __future__ import annotations

from handlers.core.reply import Button, Reply, refuse


class Refusal(Exception):
    """A kind 'no' for the person; nothing they asked for was changed."""

    def __init__(self, text: str, *, buttons: tuple[Button, ...] = ()) -> None:
        super().__init__(text)
        self.reply: Reply = refuse(text, buttons=buttons)
