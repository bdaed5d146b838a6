"""Block Kit built from replies and forms, checked without any Slack at all."""

import json
import re

from bot.slack.blocks import (
    BUTTONS_PER_BLOCK,
    LEFT_OUT,
    LEFT_OUT_OF_HOME,
    MESSAGE_BLOCKS_MAX,
    MESSAGE_TEXT_MAX,
    SECTION_TEXT_MAX,
    VIEW_BLOCKS_MAX,
    build_home_view,
    build_modal,
    build_reply_blocks,
    escape_mrkdwn,
    fallback_text,
    handler_action_id,
    read_modal_values,
)
from handlers.core.long_lists import text_units
from handlers.core.reply import Button, Choice, Form, FormField, Reply, Section
from tests.bot.message_limits import check_slack_message, check_slack_view
from tests.fakes.slack_rules import walk


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
    text = "\n".join(f"• Project {i}: led by someone with a long name" for i in range(200))
    blocks = build_reply_blocks(Reply(sections=(Section(text=text),)))
    assert len(blocks) > 1
    assert all(len(b["text"]["text"]) <= SECTION_TEXT_MAX for b in blocks)
    assert "Project 199" in blocks[-1]["text"]["text"]


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


# --- whatever a handler gives it, Slack never refuses the message -----------------------------


def many_sections(count: int) -> Reply:
    """A reply far longer than one message: a project and its buttons each, then a way out."""
    projects = [
        Section(text=f'"Project {n}"', buttons=(Button("Ask the forum", "ask_forum", str(n)),))
        for n in range(count)
    ]
    last = Section(
        text="Rather not?", buttons=(Button("Turn reminders off", "mute_nudges", "off"),)
    )
    return Reply(sections=(Section(heading="Who is on your team?", text="Hello."), *projects, last))


def test_a_reply_too_long_for_one_message_keeps_its_start_and_its_way_out():
    reply = many_sections(100)

    blocks = build_reply_blocks(reply)

    check_slack_message(fallback_text(reply), blocks)
    assert MESSAGE_BLOCKS_MAX - 2 <= len(blocks) <= MESSAGE_BLOCKS_MAX  # whole sections
    texts = [b["text"]["text"] for b in blocks if b["type"] in ("section", "header")]
    assert texts[:4] == ["Who is on your team?", "Hello.", '"Project 0"', '"Project 1"']
    assert texts[-2:] == [LEFT_OUT, "Rather not?"]
    # Each project shown keeps its button: none is cut off from the words it belongs to.
    assert [b["type"] for b in blocks[2:-3]] == ["section", "actions"] * ((len(blocks) - 5) // 2)
    assert blocks[-1]["elements"][0]["text"]["text"] == "Turn reminders off"


def test_a_reply_of_exactly_fifty_blocks_is_not_cut_and_one_more_section_is():
    exactly, over = many_sections(23), many_sections(24)  # 2 + 2 x 23 + 2 blocks, and 2 more

    assert len(build_reply_blocks(exactly)) == MESSAGE_BLOCKS_MAX
    assert LEFT_OUT not in str(build_reply_blocks(exactly))
    assert LEFT_OUT in str(build_reply_blocks(over))


def test_app_home_too_long_for_the_tab_says_that_the_rest_is_left_out():
    view = build_home_view(many_sections(200))

    check_slack_view(view)
    assert VIEW_BLOCKS_MAX - 2 <= len(view["blocks"]) <= VIEW_BLOCKS_MAX
    assert view["blocks"][-3]["text"]["text"] == LEFT_OUT_OF_HOME


def test_text_cut_to_fit_ends_at_a_word_with_an_ellipsis():
    words = "Reducing falls on the older people's wards at night " * 10
    reply = Reply(sections=(Section(heading=words, text="x", buttons=(Button(words, "a"),)),))
    form = Form("f", words, fields=(FormField("t", words, choices=(Choice(words, "1"),)),))

    blocks = build_reply_blocks(reply)
    modal = build_modal(form)

    check_slack_message(fallback_text(reply), blocks)
    check_slack_view(modal)
    cut = [
        blocks[0]["text"]["text"],
        blocks[2]["elements"][0]["text"]["text"],
        modal["title"]["text"],
        modal["blocks"][0]["element"]["options"][0]["text"]["text"],
    ]
    for text in cut:
        assert text.endswith("…") and words.startswith(text[:-1])
        assert words[len(text) - 1] == " ", f"cut inside a word: {text!r}"


def test_a_line_longer_than_a_section_is_wrapped_at_its_spaces_and_nothing_is_lost():
    names = " and ".join(f'"Falls prevention on ward {n}"' for n in range(200))  # ~7,000
    blocks = build_reply_blocks(Reply(sections=(Section(text=f"Your teams {names}."),)))

    check_slack_message("x", blocks)
    assert len(blocks) == 3
    assert " ".join(b["text"]["text"] for b in blocks) == f"Your teams {names}."


def test_text_without_spaces_is_wrapped_where_the_room_ends_never_inside_an_escape():
    chinese = "减少老年病房夜间跌倒" * 400  # 4,000 characters, no spaces
    # 9,501 characters once escaped as &amp;, so the room ends inside an escape: all in one message.
    ampersands = "x" + "&" * 1900

    for text in (chinese, ampersands):
        blocks = build_reply_blocks(Reply(sections=(Section(text=text),)))

        check_slack_message("x", blocks)
        chunks = [b["text"]["text"] for b in blocks]
        assert "".join(chunks) == escape_mrkdwn(text)  # nothing lost
        assert not any(re.search(r"&[a-z]*$", chunk) for chunk in chunks)


def test_emoji_count_twice_as_slack_and_teams_count_them():
    header = build_reply_blocks(Reply(sections=(Section(heading="🏥" * 100, text="x"),)))[0]

    assert header["text"]["text"] == "🏥" * 74 + "…"  # 149 UTF-16 code units


def test_the_notification_text_is_cut_at_a_word_too():
    words = "Falls prevention " * 500
    text = fallback_text(Reply(sections=(Section(text=words),)))

    assert len(text) <= 3000 and text.endswith("…")
    assert words.startswith(text[:-1]) and words[len(text) - 1] == " "


def blocks_text(blocks) -> int:
    """All the text of the blocks, in UTF-16 units, as Slack adds it up for msg_blocks_too_long."""
    texts = [node["text"] for node in walk(blocks) if node.get("type") in ("plain_text", "mrkdwn")]
    return sum(text_units(text) for text in texts)


def wordy_sections(count: int, words: str) -> Reply:
    """A greeting, `count` projects each with long words and a button, and a way out."""
    projects = [
        Section(
            text=f"Project {n}: {words}", buttons=(Button("Ask the forum", "ask_forum", str(n)),)
        )
        for n in range(count)
    ]
    last = Section(
        text="Rather not?", buttons=(Button("Turn reminders off", "mute_nudges", "off"),)
    )
    return Reply(sections=(Section(heading="Who is on your team?", text="Hello."), *projects, last))


def test_a_reply_with_more_text_than_slack_takes_keeps_its_start_and_its_way_out():
    reply = wordy_sections(10, "falls prevention " * 117)  # 10 x 2,000 characters: 20,000

    blocks = build_reply_blocks(reply)

    check_slack_message(fallback_text(reply), blocks)  # no msg_blocks_too_long
    assert len(blocks) < MESSAGE_BLOCKS_MAX  # cut for its text, not for its blocks
    assert MESSAGE_TEXT_MAX - 2_100 < blocks_text(blocks) <= MESSAGE_TEXT_MAX
    texts = [b["text"]["text"] for b in blocks if b["type"] in ("section", "header")]
    assert texts[:2] == ["Who is on your team?", "Hello."]
    assert [t.split(":")[0] for t in texts[2:-2]] == [f"Project {n}" for n in range(4)]
    assert texts[-2:] == [LEFT_OUT, "Rather not?"]
    # Each project shown keeps its button, and the way out stays last.
    assert [b["type"] for b in blocks[2:-3]] == ["section", "actions"] * 4
    assert blocks[-1]["elements"][0]["text"]["text"] == "Turn reminders off"


def test_text_of_exactly_the_budget_is_not_cut_and_one_more_unit_is():
    def reply(last: int) -> Reply:
        return Reply(sections=(*[Section(text="x" * 3000)] * 3, Section(text="x" * last)))

    exactly, over = build_reply_blocks(reply(1000)), build_reply_blocks(reply(1001))

    assert blocks_text(exactly) == MESSAGE_TEXT_MAX
    assert LEFT_OUT not in str(exactly)
    assert [b["text"]["text"] for b in over] == ["x" * 3000] * 3 + [LEFT_OUT]


def test_the_text_budget_counts_an_emoji_twice_as_it_counts_everywhere():
    # 6,000 characters, which Slack takes, but 12,000 UTF-16 units, which we never send.
    reply = Reply(sections=tuple(Section(text="🏥" * 1500) for _ in range(4)))

    blocks = build_reply_blocks(reply)

    check_slack_message("x", blocks)
    assert blocks_text(blocks) <= MESSAGE_TEXT_MAX
    assert [b["text"]["text"] for b in blocks] == ["🏥" * 1500] * 3 + [LEFT_OUT]


def test_app_home_is_a_view_so_only_its_blocks_are_counted_not_its_text():
    reply = wordy_sections(10, "falls prevention " * 117)

    view = build_home_view(reply)

    check_slack_view(view)
    assert blocks_text(view["blocks"]) > MESSAGE_TEXT_MAX
    assert LEFT_OUT_OF_HOME not in str(view)
