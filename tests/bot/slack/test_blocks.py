"""Block Kit built from replies and forms, checked without any Slack at all."""

import json

from bot.slack.blocks import (
    BUTTONS_PER_BLOCK,
    SECTION_TEXT_MAX,
    build_home_view,
    build_modal,
    build_reply_blocks,
    escape_mrkdwn,
    fallback_text,
    handler_action_id,
    read_modal_values,
)
from handlers.reply import Button, Choice, Form, FormField, Reply, Section


def test_escaping_neutralises_mentions_links_and_entities():
    assert escape_mrkdwn("<!channel> <@U1> <!here> <https://x|y> & co") == (
        "&lt;!channel&gt; &lt;@U1&gt; &lt;!here&gt; &lt;https://x|y&gt; &amp; co"
    )


def test_every_text_field_of_a_reply_is_escaped():
    reply = Reply(sections=(Section(heading="<!here>", text="<!channel> joined"),))
    blocks = build_reply_blocks(reply)
    section = blocks[1]["text"]
    assert section == {"type": "mrkdwn", "text": "&lt;!channel&gt; joined"}
    # Headers are plain_text, which Slack never parses for mentions.
    assert blocks[0]["text"]["type"] == "plain_text"
    assert fallback_text(reply) == "&lt;!here&gt;\n&lt;!channel&gt; joined"


def test_buttons_get_unique_action_ids_that_route_back_to_their_handler():
    buttons = tuple(Button(f"B{i}", "rsvp", f"7:{i}") for i in range(BUTTONS_PER_BLOCK + 2))
    blocks = build_reply_blocks(Reply(sections=(Section(text="Pick", buttons=buttons),)))
    actions = [b for b in blocks if b["type"] == "actions"]
    ids = [e["action_id"] for block in actions for e in block["elements"]]
    assert len(actions) == 2 and len(ids) == len(set(ids)) == BUTTONS_PER_BLOCK + 2
    assert {handler_action_id(i) for i in ids} == {"rsvp"}


def test_long_text_is_split_under_slacks_section_limit():
    text = "\n".join(f"• Project {i}: led by someone with a long name" for i in range(400))
    blocks = build_reply_blocks(Reply(sections=(Section(text=text),)))
    assert len(blocks) > 1
    assert all(len(b["text"]["text"]) <= SECTION_TEXT_MAX for b in blocks)
    assert "Project 399" in blocks[-1]["text"]["text"]


def test_a_form_becomes_a_modal_and_its_answers_come_back():
    form = Form(
        form_id="join_form",
        title="Join a QI team, please, today",
        context="42",
        fields=(
            FormField(
                "target", "Which?", choices=(Choice("Falls", "1"), Choice("Forum", "forum:1"))
            ),
            FormField("name", "Their name", hint="As they like"),
        ),
    )
    modal = build_modal(form, intro="<!channel>", channel_id="C9")

    assert modal["callback_id"] == "join_form"
    assert len(modal["title"]["text"]) <= 24
    assert modal["blocks"][0]["text"]["text"] == "&lt;!channel&gt;"
    assert json.loads(modal["private_metadata"]) == {
        "context": "42",
        "channel": "C9",
        "response_url": "",
    }
    submitted = {
        "private_metadata": modal["private_metadata"],
        "state": {
            "values": {
                "target": {"value": {"type": "static_select", "selected_option": {"value": "1"}}},
                "name": {"value": {"type": "plain_text_input", "value": "Sam"}},
            }
        },
    }
    assert read_modal_values(submitted) == ({"target": "1", "name": "Sam"}, "42", "C9", "")


def test_tampered_private_metadata_is_ignored_not_fatal():
    assert read_modal_values({"private_metadata": "[1,2", "state": {}}) == ({}, "", "", "")
    assert read_modal_values({"private_metadata": "[1,2]"}) == ({}, "", "", "")


def test_home_view_is_a_home_tab():
    view = build_home_view(Reply(sections=(Section(text="Hello"),)))
    assert view["type"] == "home" and view["blocks"][0]["text"]["text"] == "Hello"


def test_a_single_choice_such_as_consent_is_never_preselected():
    form = Form(
        form_id="add_member_form",
        title="Record",
        fields=(
            FormField("consent", "Agreed?", choices=(Choice("Yes, they have agreed", "yes"),)),
        ),
    )
    element = build_modal(form)["blocks"][0]["element"]
    assert "initial_option" not in element
