"""Calendar entries: one meeting's, and a forum's feed, with moves and cancellations."""

from __future__ import annotations

from datetime import timedelta

from icalendar import Calendar

from handlers.forum.changes import cancel_meeting, move_meeting


def events(body: bytes) -> list:
    return [c for c in Calendar.from_ical(body).walk("VEVENT")]


def test_a_meetings_entry_is_a_calendar_file(site):
    got = site.client.get(site.path(site.links.meeting_calendar(site.meeting, site.starts_at)))

    assert got.status_code == 200
    assert got.headers["content-type"] == "text/calendar; charset=utf-8"
    (event,) = events(got.content)
    assert str(event["summary"]) == "Carers QI Forum"
    assert str(event["location"]) == "Room 4, Trust HQ"
    assert str(event["uid"]) == f"meeting-{site.meeting}@qi.example.nhs.uk"
    assert event.decoded("dtstart") == site.starts_at
    assert got.headers["x-content-type-options"] == "nosniff"


def test_the_forums_feed_is_named_after_it(site):
    got = site.client.get(site.path(site.links.forum_calendar(site.forum)))

    assert got.status_code == 200
    assert got.headers["content-type"] == "text/calendar; charset=utf-8"
    assert str(Calendar.from_ical(got.content)["x-wr-calname"]) == "Carers QI Forum"
    assert [int(e["sequence"]) for e in events(got.content)] == [0]


def test_the_feed_after_a_move_has_sequence_one(site, ctx):
    moved_to = site.starts_at + timedelta(days=1)
    move_meeting(ctx, site.meeting, moved_to, actor_id=None)

    got = site.client.get(site.path(site.links.forum_calendar(site.forum)))

    (event,) = events(got.content)
    assert int(event["sequence"]) == 1
    assert event.decoded("dtstart") == moved_to
    assert str(event["status"]) == "CONFIRMED"


def test_the_feed_after_a_cancel_says_cancelled(site, ctx):
    cancel_meeting(ctx, site.meeting, actor_id=None)

    feed = site.client.get(site.path(site.links.forum_calendar(site.forum)))
    entry = site.client.get(site.path(site.links.meeting_calendar(site.meeting, site.starts_at)))

    for got in (feed, entry):
        (event,) = events(got.content)
        assert str(event["status"]) == "CANCELLED"
        assert int(event["sequence"]) == 1
        assert b"STATUS:CANCELLED" in got.content


def test_a_calendar_link_for_another_purpose_or_forged_is_refused(site):
    answer_token = site.answer_path().split("/")[2].split("?")[0]
    feed_token = site.path(site.links.forum_calendar(site.forum)).split("/")[3]

    for path in (
        f"/calendar/forum/{answer_token}.ics",
        f"/calendar/meeting/{feed_token}",
        f"/calendar/forum/{feed_token[:-4]}abcd",
    ):
        refused = site.client.get(path)
        assert refused.status_code == 404, path
        assert "BEGIN:VCALENDAR" not in refused.text
