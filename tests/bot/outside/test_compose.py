"""A message as an e-mail or a text: buttons become signed links, and texts fit Notify's limit."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.outside.compose import TEXT_MAX, CannotSendOutsideChat, as_email, as_text
from bot.outside.links import ANSWER, CONFIRM, Links
from handlers.core import ids
from handlers.core.long_lists import text_units
from handlers.core.reply import Button, CalendarEvent, Reply, Section, say

NOW = datetime(2026, 12, 7, 10, tzinfo=UTC)
LINKS = Links("https://qi.example.nhs.uk", "k" * 40, clock=lambda: NOW)
MADE = {"person_id": 7, "links": LINKS, "zone": ZoneInfo("Europe/London"), "now": NOW}
EVENT = CalendarEvent(
    uid="meeting-3",
    sequence=0,
    starts_at=NOW + timedelta(days=7),
    ends_at=NOW + timedelta(days=7, minutes=90),
    title="QI Forum",
    location="Room 3",
    description="About",
)


def invitation(text: str) -> Reply:
    buttons = (
        Button("I'm coming", ids.RSVP, "3:going", primary=True),
        Button("I can't come", ids.RSVP, "3:not_going"),
    )
    return Reply(
        sections=(Section(heading="You're invited", text=text, buttons=buttons),), event=EVENT
    )


def token_of(url: str, marker: str) -> str:
    return url.split(marker, 1)[1].split("?", 1)[0].split()[0].removesuffix(".ics")


@pytest.mark.parametrize("text", ["", "x", "🙂" * 1000, "Long line " * 1000])
def test_a_text_never_passes_notifys_limit_and_keeps_its_links_whole(text):
    message = as_text(invitation(text), **MADE)

    assert text_units(message.body) <= TEXT_MAX
    answer = token_of(message.body, "/answer/")
    assert LINKS.read(answer, ANSWER).person_id == 7
    assert "?choice=" not in message.body  # one page for either answer
    assert "Stop these texts: https://qi.example.nhs.uk/stop/" in message.body


def test_an_email_from_notify_offers_the_calendar_as_a_link_and_attaches_nothing():
    attached = as_email(invitation("Come"), **MADE)
    linked = as_email(invitation("Come"), attach_calendar=False, **MADE)

    assert attached.calendar is not None and "with the attached file" in attached.body
    assert linked.calendar is None and "attached" not in linked.body
    assert linked.calendar_url in linked.body


def test_a_confirmation_text_says_what_its_link_does():
    reply = say("Please confirm", buttons=(Button("Yes, this is my address", ids.CONFIRM_CONTACT),))

    message = as_text(reply, **MADE)

    assert "Yes, this is my address: https://qi.example.nhs.uk/confirm/" in message.body
    assert LINKS.read(token_of(message.body, "/confirm/"), CONFIRM).person_id == 7


def test_a_message_with_a_button_only_chat_has_cannot_go_outside_chat():
    reply = say("Snooze?", buttons=(Button("Snooze", ids.OPEN_SNOOZE, "4"),))

    with pytest.raises(CannotSendOutsideChat):
        as_email(reply, **MADE)


def test_a_moved_meeting_by_email_offers_the_two_answers_the_page_records_and_says_so():
    reply = Reply(
        sections=(
            Section(
                text="The QI Forum meeting you said you're going to has moved. It is now "
                "Thursday. Can you still come?",
                buttons=(
                    Button("I'm going", ids.RSVP, "3:going"),
                    Button("Maybe", ids.RSVP, "3:maybe"),
                    Button("I can't make it", ids.RSVP, "3:not_going"),
                ),
            ),
        ),
        event=EVENT,
    )

    email = as_email(reply, **MADE)

    assert email.subject == "The QI Forum meeting you said you're going to has moved."
    assert "I'm going: " in email.body and "I can't make it: " in email.body
    assert "Maybe" not in email.body and "choice=maybe" not in email.body
