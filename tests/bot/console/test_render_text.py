"""Replies as terminal text: headings, text, and buttons numbered across the reply."""

from bot.console.render_text import render_field, render_reply
from handlers.core.reply import Button, Choice, FormField, Reply, Section


def test_buttons_are_numbered_across_sections_in_order():
    reply = Reply(
        sections=(
            Section(
                text="First", heading="QI Forum", buttons=(Button("Going", "rsvp", "1:going"),)
            ),
            Section(text="Second", buttons=(Button("Leave", "leave", "forum:1"),)),
        )
    )
    text, buttons = render_reply(reply)

    assert text.splitlines()[:3] == ["== QI Forum ==", "First", "[1] Going"]
    assert "[2] Leave" in text
    assert [b.action_id for b in buttons] == ["rsvp", "leave"]


def test_reply_without_buttons_has_no_button_hint():
    text, buttons = render_reply(Reply(sections=(Section(text="Hello"),)))
    assert text == "Hello" and buttons == []


def test_form_field_lists_choices():
    field = FormField("role", "How will you take part?", choices=(Choice("Carer", "carer"),))
    assert render_field(field) == "How will you take part?\n  [1] Carer"
