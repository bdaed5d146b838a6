"""Calendar entries (RFC 5545) for forum meetings: one per invitation, and a forum's feed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

from handlers.core.reply import CalendarEvent

PRODUCT = "-//qi-nudge//forum meetings//EN"


def _calendar(name: str | None, method: str | None) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODUCT)
    calendar.add("version", "2.0")
    if method:
        calendar.add("method", method)
    if name:
        calendar.add("x-wr-calname", name)
    return calendar


def _event(event: CalendarEvent, *, host: str, zone: ZoneInfo, stamp: datetime) -> Event:
    entry = Event()
    entry.add("uid", f"{event.uid}@{host}")
    entry.add("sequence", event.sequence)
    entry.add("dtstamp", stamp)
    # In the meeting's own zone (with its VTIMEZONE), so calendars show it at the right hour
    # on both sides of a clock change.
    entry.add("dtstart", event.starts_at.astimezone(zone))
    entry.add("dtend", event.ends_at.astimezone(zone))
    entry.add("summary", event.title)
    if event.location:
        entry.add("location", event.location)
    entry.add("description", event.description)
    entry.add("status", "CANCELLED" if event.cancelled else "CONFIRMED")
    return entry


def ics(
    events: Sequence[CalendarEvent],
    *,
    host: str,
    zone: ZoneInfo,
    stamp: datetime,
    name: str | None = None,
    method: str | None = "PUBLISH",
) -> bytes:
    """The events as one calendar file; `host` makes their uids unique to this bot."""
    calendar = _calendar(name, method)
    for event in events:
        calendar.add_component(_event(event, host=host, zone=zone, stamp=stamp))
    if events:
        # Only the clock changes around these meetings: a zone's whole history is 4 KB.
        first = min(e.starts_at for e in events).astimezone(zone).date()
        last = max(e.ends_at for e in events).astimezone(zone).date()
        calendar.add_missing_timezones(
            first_date=first - timedelta(days=366), last_date=last + timedelta(days=366)
        )
    return bytes(calendar.to_ical())
