"""Stopping every message, and confirming an address, from the links in messages."""

from __future__ import annotations

from sqlalchemy import select

from store.models import OutsideContact
from tests.bot.web.conftest import carer_by_email


def contact(sessions, person_id: int) -> OutsideContact:
    with sessions() as session:
        found = session.scalar(select(OutsideContact).where(OutsideContact.person_id == person_id))
        assert found is not None
        return found


def test_opening_the_stop_link_asks_and_stops_nothing(site, sessions):
    page = site.client.get(site.path(site.links.stop(site.carer)))

    assert page.status_code == 200
    assert "<h1>Stop all messages from the QI forum?</h1>" in page.text
    assert '<form method="post"' in page.text and "Stop all messages</button>" in page.text
    assert contact(sessions, site.carer).stopped_at is None


def test_pressing_stop_stops_messages_and_says_how_to_start_again(site, sessions, clock):
    pressed = site.client.post(site.path(site.links.stop(site.carer)))

    assert pressed.status_code == 200
    assert "We&#39;ve stopped your messages" in pressed.text
    assert "ask the forum&#39;s organiser" in pressed.text
    assert contact(sessions, site.carer).stopped_at == clock()


def test_pressing_stop_again_changes_nothing(site, sessions, clock):
    path = site.path(site.links.stop(site.carer))
    site.client.post(path)
    first = contact(sessions, site.carer).stopped_at
    clock.advance(days=1)

    again = site.client.post(path)

    assert "already stopped" in again.text
    assert contact(sessions, site.carer).stopped_at == first


def test_a_stop_link_for_another_purpose_or_altered_stops_nothing(site, sessions, ctx):
    other = carer_by_email(sessions, ctx.now(), site.forum, name="Evan Other")
    confirm_token = site.path(site.links.confirm(other)).split("/")[2]
    stop_token = site.path(site.links.stop(other)).split("/")[2]
    for token in (confirm_token, stop_token[:-2] + "xx"):
        refused = site.client.post(f"/stop/{token}")
        assert refused.status_code == 404
    assert contact(sessions, other).stopped_at is None


def unconfirmed(sessions, person_id: int) -> None:
    with sessions.begin() as session:
        found = session.scalar(select(OutsideContact).where(OutsideContact.person_id == person_id))
        found.confirmed_at = None


def test_opening_the_confirm_link_asks_and_confirms_nothing(site, sessions):
    unconfirmed(sessions, site.carer)

    page = site.client.get(site.path(site.links.confirm(site.carer)))

    assert "<h1>Confirm your address</h1>" in page.text
    assert "Yes, this is my address</button>" in page.text
    assert contact(sessions, site.carer).confirmed_at is None


def test_pressing_confirm_confirms_the_address(site, sessions, clock):
    unconfirmed(sessions, site.carer)

    pressed = site.client.post(site.path(site.links.confirm(site.carer)))

    assert "your address is confirmed" in pressed.text
    assert contact(sessions, site.carer).confirmed_at == clock()


def test_a_confirm_link_too_old_confirms_nothing(site, sessions, clock):
    unconfirmed(sessions, site.carer)
    path = site.path(site.links.confirm(site.carer))
    clock.advance(days=7, seconds=1)

    refused = site.client.post(path)

    assert refused.status_code == 404
    assert contact(sessions, site.carer).confirmed_at is None
