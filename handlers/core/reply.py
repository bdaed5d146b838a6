"""Platform-neutral answers: text, buttons and forms that each transport renders its own way."""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

# The most a button's value may carry (Slack's limit); a handler never offers a longer one.
BUTTON_VALUE_MAX = 2000
# The most a free-text box takes unless a field says otherwise (Slack's and Teams' boxes).
FREE_TEXT_MAX = 200
# The longest heading every platform shows whole (Slack's header block), in UTF-16 code units.
HEADING_MAX = 150


@dataclass(frozen=True)
class Button:
    """A one-click next step; pressing it calls the action `action_id` with `value`."""

    label: str
    action_id: str
    value: str = ""
    primary: bool = False


@dataclass(frozen=True)
class Choice:
    """One option in a form field."""

    label: str
    value: str


@dataclass(frozen=True)
class FormField:
    """A question in a form: pick from choices, or type free text when there are none."""

    name: str
    label: str
    choices: tuple[Choice, ...] = ()
    optional: bool = False
    hint: str | None = None
    # The most characters a free-text box takes (a comment in someone's own words: more).
    max_length: int = FREE_TEXT_MAX


@dataclass(frozen=True)
class Form:
    """A short form; submitting it calls the form handler `form_id` with the answers."""

    form_id: str
    title: str
    fields: tuple[FormField, ...]
    submit_label: str = "Done"
    # Carried back unchanged on submit, e.g. which project an add-member form is for.
    context: str = ""


@dataclass(frozen=True)
class Section:
    """A block of plain text (never markup: transports escape it) with optional buttons."""

    text: str
    heading: str | None = None
    buttons: tuple[Button, ...] = ()


class Image:
    """A picture to show with a reply (a run chart), with words for people who can't see it.

    Give the PNG, or a way to draw it: drawing takes a few hundred milliseconds, so a chart is
    drawn only when a transport asks for `png`, after it has answered the person.
    """

    def __init__(
        self,
        png: bytes | None = None,
        *,
        title: str,
        alt_text: str,
        filename: str = "chart.png",
        # Called with no arguments for the picture, or with `scale` (below 1) for a smaller one.
        draw: Callable[..., bytes] | None = None,
        drawn_from: str | None = None,
    ) -> None:
        if (png is None) == (draw is None):
            raise ValueError("an Image needs its PNG or a way to draw it, not both")
        self.title = title
        # Read aloud by screen readers and shown when the picture can't be: says what it shows.
        self.alt_text = alt_text
        self.filename = filename
        # What the picture is drawn from (a digest of its data): the same means the same
        # picture, so a transport can reuse an upload without drawing it again.
        self.drawn_from = drawn_from
        self._png = png
        self._draw = draw
        self._smaller: dict[int, bytes] = {}
        self._lock = threading.Lock()

    @property
    def png(self) -> bytes:
        """The picture, drawn the first time it is asked for."""
        with self._lock:
            if self._png is None:
                assert self._draw is not None
                self._png = self._draw()
            return self._png

    def png_within(self, max_pixels: int) -> bytes:
        """The picture at most `max_pixels` wide and high (Teams shows up to 1024 pixels).

        Redrawn smaller when it must be, so it stays sharp rather than scaled by the client.
        """
        png = self.png
        width, height = png_size(png)
        if max(width, height) <= max_pixels or self._draw is None:
            return png
        scale = max_pixels / max(width, height)
        with self._lock:
            smaller = self._smaller.get(max_pixels)
            if smaller is None:
                smaller = self._draw(scale=scale)
                self._smaller[max_pixels] = smaller
            return smaller

    def undrawn(self) -> Image:
        """The same picture as a new Image not yet drawn: handed out again, keeping no bytes."""
        if self._draw is None:
            return self
        return Image(
            title=self.title,
            alt_text=self.alt_text,
            filename=self.filename,
            draw=self._draw,
            drawn_from=self.drawn_from,
        )

    def __repr__(self) -> str:
        return f"Image(title={self.title!r}, filename={self.filename!r})"


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) of a PNG, read from its header; (0, 0) if it is not one."""
    if len(png) < 24 or png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        return 0, 0
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)


@dataclass(frozen=True)
class CalendarEvent:
    """A meeting as a calendar entry (RFC 5545): e-mail attaches it, a text links to it."""

    uid: str  # the same for every message about one meeting ("meeting-12")
    # Raised each time the meeting changes: calendars keep the entry with the highest.
    sequence: int
    starts_at: datetime
    ends_at: datetime
    title: str
    location: str | None
    description: str
    cancelled: bool = False


@dataclass(frozen=True)
class Reply:
    """What the bot answers the person who acted; only they see it, on every platform."""

    sections: tuple[Section, ...]
    form: Form | None = None
    # False when the request was refused or could not be understood (nothing was changed).
    ok: bool = True
    # Occurrence prefixes of posted messages whose content changed (RSVP counts): the
    # transport edits them in place after answering.
    refresh: tuple[str, ...] = ()
    # Posted after the answer where the person asked (Slack: a file upload with alt text).
    image: Image | None = None
    # The meeting a message is about, for transports that can add it to a calendar (e-mail).
    event: CalendarEvent | None = None

    @property
    def text(self) -> str:
        """All the text, headings included, as plain lines (for logs, tests and fallbacks)."""
        parts: list[str] = []
        for section in self.sections:
            if section.heading:
                parts.append(section.heading)
            if section.text:
                parts.append(section.text)
        return "\n".join(parts)

    @property
    def buttons(self) -> tuple[Button, ...]:
        """Every button in the reply, in order."""
        return tuple(b for s in self.sections for b in s.buttons)


def say(text: str, *, heading: str | None = None, buttons: tuple[Button, ...] = ()) -> Reply:
    """A reply of one section."""
    return Reply(sections=(Section(text=text, heading=heading, buttons=buttons),))


def refuse(text: str, *, buttons: tuple[Button, ...] = ()) -> Reply:
    """A kind refusal: nothing was changed, and the text says what to do instead."""
    return Reply(sections=(Section(text=text, buttons=buttons),), ok=False)


@dataclass(frozen=True)
class Actor:
    """Who is acting, as their chat platform knows them."""

    platform: str
    workspace: str
    user_id: str
    display_name: str
    # Only an address the platform itself has verified (Slack's users.info, say); never typed.
    verified_email: str | None = None
    # False when the platform could not say (a slow lookup): use the name, but don't store it.
    name_verified: bool = True
