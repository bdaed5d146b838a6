"""A platform-neutral message as an e-mail or a text: buttons become signed links.

Only the buttons that have a web page of their own can be offered outside chat (answering for
a meeting, confirming an address); a message with any other button cannot be sent this way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.outside.ics import ics
from bot.outside.links import Links
from handlers.core import ids
from handlers.core.long_lists import text_units
from handlers.core.reply import Button, Reply

# The answers the answer page records (bot/web/answer.py): going, or not going.
ANSWERS_ON_THE_PAGE = frozenset({"going", "not_going"})
# GOV.UK Notify refuses a text longer than this (six fragments); ours stay well inside.
TEXT_MAX = 918
# An e-mail subject line: RFC 5322 allows 998 characters, and mail programs show about 70.
SUBJECT_MAX = 150
DEFAULT_SUBJECT = "A message from the QI forum"
# An answer link for a message that names no meeting time keeps working this long.
ANSWER_FALLBACK = timedelta(days=60)
SIGN_OFF = (
    "You get these messages because you agreed to hear about the QI forum. "
    "To stop them, open this link and press the button: {stop}"
)


class CannotSendOutsideChat(ValueError):
    """The message needs chat: it has a button no web page stands in for."""


@dataclass(frozen=True)
class OutsideMessage:
    """An e-mail or a text, ready for its sender."""

    subject: str
    body: str  # plain text, links written out in full
    calendar: bytes | None = None  # the meeting's .ics, for e-mail to attach
    calendar_url: str | None = None  # the same entry as a link (for texts, and Notify)
    stop_url: str | None = None  # "stop these messages" (also an e-mail's List-Unsubscribe)


def _link(button: Button, *, person_id: int, links: Links, reply: Reply, now: datetime) -> str:
    """The signed link that stands in for a button, or CannotSendOutsideChat."""
    if button.action_id == ids.RSVP:
        meeting_text, _, answer = button.value.partition(":")
        if not meeting_text.isdigit():
            raise CannotSendOutsideChat(f"an answer button with value {button.value!r}")
        starts_at = reply.event.starts_at if reply.event is not None else now + ANSWER_FALLBACK
        return links.answer(person_id, int(meeting_text), starts_at, answer)
    if button.action_id == ids.CONFIRM_CONTACT:
        forum_text, _, role = button.value.partition(":")
        if forum_text.isdigit():  # "<forum id>:<role>": to hear about one more forum
            return links.confirm(person_id, int(forum_text), role or None)
        return links.confirm(person_id)
    raise CannotSendOutsideChat(f"a {button.action_id!r} button, which only works in chat")


def _offered(button: Button) -> bool:
    """Whether the button has a web page to stand in for it: the answer page has two answers.

    "Maybe" (in chat, where a count of maybes helps organisers) is left out rather than given
    a link that could not record it.
    """
    if button.action_id != ids.RSVP:
        return True
    return button.value.partition(":")[2] in ANSWERS_ON_THE_PAGE


def _subject(reply: Reply) -> str:
    """The heading; or, for a message without one, its first sentence (what it is about)."""
    heading = next((s.heading for s in reply.sections if s.heading), None)
    if heading is None:
        first = next((s.text for s in reply.sections if s.text.strip()), "")
        heading = _first_sentence(first) or DEFAULT_SUBJECT
    return heading if len(heading) <= SUBJECT_MAX else heading[: SUBJECT_MAX - 1] + "…"


def _first_sentence(text: str) -> str:
    line = text.strip().split("\n", 1)[0]
    end = line.find(". ")
    return line[: end + 1] if end >= 0 else line


def _calendar(reply: Reply, links: Links, zone: ZoneInfo, now: datetime) -> tuple[bytes, str]:
    assert reply.event is not None
    host = links.public_url.split("://", 1)[-1].split("/", 1)[0]
    body = ics([reply.event], host=host, zone=zone, stamp=now)
    meeting_id = int(reply.event.uid.rsplit("-", 1)[-1])
    return body, links.meeting_calendar(meeting_id, reply.event.starts_at)


def as_email(
    reply: Reply,
    *,
    person_id: int,
    links: Links,
    zone: ZoneInfo,
    now: datetime,
    attach_calendar: bool = True,
) -> OutsideMessage:
    """The message as an e-mail: every section, each button as a labelled link.

    `attach_calendar`: whether the sender attaches the .ics (SMTP does; Notify cannot, so its
    e-mails offer the calendar as a link only).
    """
    parts: list[str] = []
    for section in reply.sections:
        if section.heading:
            parts.append(section.heading)
        if section.text:
            parts.append(section.text)
        for button in filter(_offered, section.buttons):
            link = _link(button, person_id=person_id, links=links, reply=reply, now=now)
            parts.append(f"{button.label}: {link}")
    calendar = calendar_url = None
    if reply.event is not None:
        calendar, calendar_url = _calendar(reply, links, zone, now)
        verb = "Remove it from" if reply.event.cancelled else "Add it to"
        how = "with the attached file, or from" if attach_calendar else "from"
        parts.append(f"{verb} your calendar {how} {calendar_url}")
    stop = links.stop(person_id)
    parts.append(SIGN_OFF.format(stop=stop))
    return OutsideMessage(
        _subject(reply),
        "\n\n".join(parts),
        calendar if attach_calendar else None,
        calendar_url,
        stop_url=stop,
    )


def as_text(
    reply: Reply, *, person_id: int, links: Links, zone: ZoneInfo, now: datetime
) -> OutsideMessage:
    """The message as a text: its first lines, one link to act, the calendar, and stop.

    Shortened to fit TEXT_MAX (counted in UTF-16 units, as Notify counts); links are never cut.
    """
    tail: list[str] = []
    offered = [b for b in reply.buttons if _offered(b)]
    if offered:
        # One page answers either way: a text with two long links costs twice as much.
        button = offered[0]
        link = _link(button, person_id=person_id, links=links, reply=reply, now=now)
        if button.action_id == ids.RSVP:
            tail.append(f"Please answer here: {link.split('?choice=', 1)[0]}")
        else:
            tail.append(f"{button.label}: {link}")
    calendar = calendar_url = None
    if reply.event is not None:
        calendar, calendar_url = _calendar(reply, links, zone, now)
        tail.append(f"Calendar: {calendar_url}")
    stop = links.stop(person_id)
    tail.append(f"Stop these texts: {stop}")
    end = "\n".join(tail)
    room = TEXT_MAX - text_units(end) - 1
    head = "\n".join(
        line for s in reply.sections for line in (s.heading, s.text.split("\n", 1)[0]) if line
    )
    if text_units(head) > room:
        # Cut by the overshoot (an emoji is two units, so once more may be needed), then "…".
        while head and (over := text_units(head) - (room - 1)) > 0:
            head = head[: -max(1, over // 2)]
        head += "…"
    return OutsideMessage(_subject(reply), f"{head}\n{end}", calendar, calendar_url, stop_url=stop)
