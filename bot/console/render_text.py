"""Rendering replies as terminal text for the console transport."""

from __future__ import annotations

from handlers.core.reply import Button, FormField, Reply

BUTTON_HINT = "(Type a number to press a button.)"


def render_reply(
    reply: Reply, *, bold: bool = False, first: int = 1, hint: bool = True
) -> tuple[str, list[Button]]:
    """The reply as text, and its buttons in the order they are numbered (from `first`)."""
    lines: list[str] = []
    buttons: list[Button] = []
    for section in reply.sections:
        if section.heading:
            lines.append(f"\033[1m{section.heading}\033[0m" if bold else f"== {section.heading} ==")
        if section.text:
            lines.append(section.text)
        if section.buttons:
            labels = []
            for button in section.buttons:
                buttons.append(button)
                labels.append(f"[{first + len(buttons) - 1}] {button.label}")
            lines.append("   ".join(labels))
    if buttons and hint:
        lines.append(BUTTON_HINT)
    return "\n".join(lines), buttons


def render_field(field: FormField) -> str:
    """A form question with its numbered choices."""
    lines = [field.label + (" (optional, Enter to skip)" if field.optional else "")]
    if field.hint:
        lines.append(f"  {field.hint}")
    for index, choice in enumerate(field.choices, start=1):
        lines.append(f"  [{index}] {choice.label}")
    return "\n".join(lines)
