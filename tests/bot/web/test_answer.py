"""The answer page: opening it records nothing; pressing a button records, with the role."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import delete

from bot.outside.links import Links
from handlers.forum.changes import cancel_meeting
from store.models import ForumMember, Person
from store.roles import Role
from tests.bot.serving import serving
from tests.bot.web.conftest import audit_count, carer_by_email, rsvps
from tests.handlers import given


def test_opening_the_link_shows_the_meeting_and_records_nothing(site, sessions):
    page = site.client.get(site.answer_path("going"))

    assert page.status_code == 200
    assert "Can you come to the Carers QI Forum?" in page.text
    assert "Room 4, Trust HQ" in page.text
    assert "Thursday 26 November 2026 at 10am" in page.text
    assert "Nothing is recorded until you do." in page.text
    # "I'm coming" is the one picked in the message: it stands out.
    assert re.search(r'value="going" class="button">I&#39;m coming', page.text)
    assert re.search(r'value="not_going" class="button button-secondary">', page.text)
    assert rsvps(sessions) == []
    assert site.answered == []


def test_the_link_for_cant_come_picks_that_button_and_still_records_nothing(site, sessions):
    page = site.client.get(site.answer_path("not_going"))

    assert re.search(r'value="not_going" class="button">I can&#39;t come', page.text)
    assert rsvps(sessions) == []


def test_pressing_im_coming_records_it_with_the_forum_role_and_updates_the_channel(site, sessions):
    done = site.client.post(site.answer_path("going"), data={"choice": "going"})

    assert done.status_code == 200
    assert "Thank you" in done.text and "We&#39;ve noted that you&#39;re coming" in done.text
    assert "Changed your mind?" in done.text
    assert rsvps(sessions) == [(site.meeting, site.carer, "going", Role.CARER)]
    assert site.answered == [site.meeting]


def test_the_button_pressed_counts_not_the_choice_in_the_link(site, sessions):
    site.client.post(site.answer_path("going"), data={"choice": "not_going"})

    assert rsvps(sessions) == [(site.meeting, site.carer, "not_going", Role.CARER)]


def test_changing_the_answer_on_the_thank_you_page_changes_it(site, sessions):
    site.client.post(site.answer_path("going"), data={"choice": "going"})
    again = site.client.post(site.answer_path("going"), data={"choice": "not_going"})

    assert "We&#39;ve noted that you can&#39;t come" in again.text
    assert rsvps(sessions) == [(site.meeting, site.carer, "not_going", Role.CARER)]
    assert site.answered == [site.meeting, site.meeting]


def test_a_replayed_press_changes_nothing(site, sessions, clock):
    path = site.answer_path("going")
    site.client.post(path, data={"choice": "going"})
    first = rsvps(sessions), audit_count(sessions)
    clock.advance(hours=1)

    replay = site.client.post(path, data={"choice": "going"})

    assert replay.status_code == 200 and "Thank you" in replay.text
    assert (rsvps(sessions), audit_count(sessions)) == first
    assert site.answered == [site.meeting]  # the channel's counts did not change again


def test_a_post_without_a_choice_records_nothing_and_asks_again(site, sessions):
    page = site.client.post(site.answer_path(), data={"choice": "maybe-later"})

    assert page.status_code == 400
    assert "Choose &#39;I&#39;m coming&#39; or &#39;I can&#39;t come&#39;" in page.text
    assert rsvps(sessions) == []


def altered(path: str) -> str:
    """The path with one character of its token's signature changed."""
    token = path.split("/")[2].split("?")[0]
    swapped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    return path.replace(token, swapped)


def test_forged_altered_and_cut_short_links_change_nothing(site, sessions, ctx):
    other = carer_by_email(sessions, ctx.now(), site.forum, name="Evan Other")
    forged = Links("https://qi.example.nhs.uk", "someone-elses-secret", clock=ctx.clock)
    bad_paths = [
        altered(site.answer_path()),
        site.answer_path()[:-30],
        site.path(forged.answer(other, site.meeting, site.starts_at, "going")),
        "/answer/not-a-token",
    ]
    for path in bad_paths:
        for response in (
            site.client.get(path),
            site.client.post(path, data={"choice": "going"}),
        ):
            assert response.status_code == 404, path
            assert "This link doesn&#39;t work" in response.text
            assert "Nothing has been changed" in response.text
    assert rsvps(sessions) == []
    assert site.answered == []


def test_a_link_made_for_another_purpose_is_refused(site, sessions):
    stop_token = site.path(site.links.stop(site.carer)).split("/")[2]

    refused = site.client.post(f"/answer/{stop_token}", data={"choice": "going"})

    assert refused.status_code == 404
    assert rsvps(sessions) == []


def test_an_expired_link_changes_nothing(site, sessions, clock):
    path = site.answer_path()
    clock.advance(days=3 + 7, seconds=1)  # a week after the meeting started

    refused = site.client.post(path, data={"choice": "going"})

    assert refused.status_code == 404
    assert rsvps(sessions) == []


def test_a_cancelled_meeting_cannot_be_answered(site, sessions, ctx):
    cancel_meeting(ctx, site.meeting, actor_id=None)

    page = site.client.get(site.answer_path())
    pressed = site.client.post(site.answer_path(), data={"choice": "going"})

    assert "That meeting has been cancelled" in page.text and "<button" not in page.text
    assert pressed.status_code == 409 and "cancelled" in pressed.text
    assert rsvps(sessions) == []
    assert site.answered == []


def test_a_meeting_that_has_started_cannot_be_answered(site, sessions, clock):
    path = site.answer_path()
    clock.advance(days=3, minutes=1)

    pressed = site.client.post(path, data={"choice": "going"})

    assert "already started" in pressed.text
    assert rsvps(sessions) == []


def test_someone_no_longer_in_the_forum_cannot_answer(site, sessions):
    with sessions.begin() as session:
        session.execute(delete(ForumMember).where(ForumMember.person_id == site.carer))

    pressed = site.client.post(site.answer_path(), data={"choice": "going"})

    assert "no longer on the forum" in pressed.text
    assert rsvps(sessions) == []


def test_an_erased_person_gets_a_kind_page(site, sessions):
    path = site.answer_path()
    with sessions.begin() as session:
        session.execute(delete(Person).where(Person.id == site.carer))

    pressed = site.client.post(path, data={"choice": "going"})

    assert pressed.status_code == 404 and "We can&#39;t find that meeting" in pressed.text
    assert rsvps(sessions) == []


def test_a_huge_post_is_refused_before_it_is_read(site, sessions):
    pressed = site.client.post(site.answer_path(), content=b"choice=going&" + b"x" * 20000)

    assert pressed.status_code == 413
    assert rsvps(sessions) == []


def test_a_failure_gives_a_kind_page_and_no_traceback(site, sessions, ctx, monkeypatch):
    def broken(*args):
        raise RuntimeError("database said something with secret words")

    monkeypatch.setattr("bot.web.answer.answer_by_link", broken)

    pressed = site.client.post(site.answer_path(), data={"choice": "going"})

    assert pressed.status_code == 500
    assert "Sorry, something went wrong" in pressed.text
    assert "secret words" not in pressed.text and "Traceback" not in pressed.text


@pytest.mark.parametrize("migrated_engine", ["sqlite"], indirect=True)
def test_answering_over_a_real_server(site, sessions):
    with serving(site.app) as base, httpx.Client(base_url=base) as client:
        opened = client.get(site.answer_path("going"))
        assert rsvps(sessions) == []
        pressed = client.post(site.answer_path("going"), data={"choice": "going"})

    assert opened.status_code == pressed.status_code == 200
    assert opened.headers["content-security-policy"].startswith("default-src 'none'")
    assert rsvps(sessions) == [(site.meeting, site.carer, "going", Role.CARER)]
    assert site.answered == [site.meeting]


def test_a_second_meeting_link_opens_only_its_own_meeting(site, sessions, ctx):
    later = given.meeting(ctx, site.forum, site.starts_at + timedelta(days=28), "Room 9")
    path = site.path(site.links.answer(site.carer, later, site.starts_at, "going"))

    site.client.post(path, data={"choice": "going"})

    assert rsvps(sessions) == [(later, site.carer, "going", Role.CARER)]
    assert site.answered == [later]
