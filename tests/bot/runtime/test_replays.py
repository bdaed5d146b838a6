"""The record of requests acted on: keys that give nothing away, kept only while needed."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.runtime.replays import SeenRequests, request_key
from store.models import SeenRequest
from store.seen_requests import note_first_sighting


def test_a_key_is_a_digest_that_keeps_its_parts_apart():
    key = request_key("slack", "1700000000", "v0=abc")

    assert len(key) == 64 and "abc" not in key and "1700000000" not in key
    assert request_key("ab", "c") != request_key("a", "bc")


def test_a_request_is_new_once_and_expired_keys_are_cleared_as_requests_come(sessions):
    now = datetime.now(UTC)
    with sessions.begin() as session:
        note_first_sighting(session, "long gone", now - timedelta(minutes=1), now)
    seen = SeenRequests(sessions, prune_every=0)

    first = seen.first_time("a request", now + timedelta(minutes=6))
    again = seen.first_time("a request", now + timedelta(minutes=6))

    assert (first, again) == (True, False)
    with sessions() as session:
        assert session.scalars(select(SeenRequest.key)).all() == ["a request"]


def test_a_key_is_kept_a_minute_at_least_whatever_it_was_given(sessions):
    seen = SeenRequests(sessions)

    seen.first_time("a request", datetime.now(UTC) - timedelta(hours=1))

    assert not seen.first_time("a request", datetime.now(UTC))
