"""Rendering handler replies and forms as Slack Block Kit, escaping everything people typed."""

from __future__ import annotations

import json
import re
from typing import Any

from handlers.core.clipping import clip, within
from handlers.core.long_lists import text_units
from handlers.core.reply import (
    BUTTON_VALUE_MAX,
    FREE_TEXT_MAX,
    Button,
    Form,
    FormField,
    Image,
    Reply,
)

# Slack's own limits; beyond them it refuses the whole message (invalid_blocks, msg_too_long).
MESSAGE_BLOCKS_MAX = 50
VIEW_BLOCKS_MAX = 100  # a modal or the App Home tab
SECTION_TEXT_MAX = 3000
HEADER_TEXT_MAX = 150
BUTTON_TEXT_MAX = 75
OPTION_TEXT_MAX = 75
OPTIONS_MAX = 100
MODAL_TITLE_MAX = 24
BUTTONS_PER_BLOCK = 25
MAX_IMAGE_TEXT = 2000  # an image block's alt text and title
# A message's own text (notifications, screen readers) may be 40,000; a few lines say enough.
FALLBACK_TEXT_MAX = 3000
# All the text of a message's blocks together, in UTF-16 units. Slack refuses more than about
# 12,000 characters (msg_blocks_too_long; observed, not documented: slackapi/bolt-js#2509 and
# #2867, refused at 11,341); this keeps well below it.
MESSAGE_TEXT_MAX = 10_000
# Inside one block every button needs its own action_id; "<id>#<n>" keeps the id routable.
ACTION_SUFFIX = "#"
FIELD_ACTION = "value"
# What ends a message (or the Home tab) too long for Slack, where its last blocks would be.
LEFT_OUT = "There is more than fits in one Slack message, so the rest is left out."
LEFT_OUT_OF_HOME = "There is more than fits on this page, so the rest is left out."
LEFT_OUT_OF_FORM = "There is more than fits in this form, so the rest is left out."
# A reply's last section (a "Turn reminders off" button, say) stays after that note if it has
# buttons and is this short.
FINAL_BLOCKS_KEPT = 3

Block = dict[str, Any]
_ENTITY = re.compile(r"&[a-z]*$")


def escape_mrkdwn(text: str) -> str:
    """Make user text inert in mrkdwn: no <!channel>, <@U123> or <http://link|labels>."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(text, limit) or " ", "emoji": False}


def _wrap(line: str, limit: int) -> list[str]:
    """An escaped line as pieces within `limit`, broken at spaces and never inside an entity."""
    pieces = []
    while text_units(line) > limit:
        head = within(line, limit)
        space = head.rfind(" ")
        if space > len(head) // 2:
            head = head[:space]
        else:  # no space near: cut where the room ends, before any "&amp;" it would split
            entity = _ENTITY.search(head)
            head = head[: entity.start()] if entity else head
        pieces.append(head)
        line = line[len(head) :].lstrip(" ")
    pieces.append(line)
    return pieces


def _mrkdwn_chunks(text: str) -> list[str]:
    # A long team list must not make Slack refuse the message: split at line ends, and a line
    # longer than a section at its spaces, so nothing is lost.
    chunks, current = [], ""
    for line in escape_mrkdwn(text).splitlines() or [""]:
        for piece in _wrap(line, SECTION_TEXT_MAX):
            if current and text_units(current) + text_units(piece) + 1 > SECTION_TEXT_MAX:
                chunks.append(current)
                current = ""
            current = f"{current}\n{piece}" if current else piece
    chunks.append(current)
    return [c for c in chunks if c.strip()]


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def build_button(button: Button, index: int) -> Block:
    """One button; its action_id carries the handler's id plus a per-block suffix."""
    element: Block = {
        "type": "button",
        "text": _plain(button.label, BUTTON_TEXT_MAX),
        "action_id": f"{button.action_id}{ACTION_SUFFIX}{index}",
        "value": button.value or "-",
    }
    if button.primary:
        element["style"] = "primary"
    return element


def handler_action_id(action_id: str) -> str:
    """The handler's action id from a Slack action_id such as 'rsvp#2'."""
    return action_id.split(ACTION_SUFFIX, 1)[0]


def build_reply_blocks(
    reply: Reply,
    *,
    most: int = MESSAGE_BLOCKS_MAX,
    text_most: int | None = MESSAGE_TEXT_MAX,
    left_out: str = LEFT_OUT,
) -> list[Block]:
    """A reply as blocks: a header per heading, text sections, and rows of buttons.

    Never more than `most` blocks, nor more than `text_most` UTF-16 units of text in them all
    (None: no such limit): a reply that would need more keeps its first sections, then says
    that the rest is left out (`left_out`), then its last section if that has buttons and fits
    (a "Turn reminders off").
    """
    groups: list[list[Block]] = []
    index = 0
    for section in reply.sections:
        group: list[Block] = []
        if section.heading:
            group.append({"type": "header", "text": _plain(section.heading, HEADER_TEXT_MAX)})
        group += [_section(chunk) for chunk in _mrkdwn_chunks(section.text)]
        # A value Slack can't carry would cost the whole message; handlers never make one.
        buttons = [b for b in section.buttons if len(b.value) <= BUTTON_VALUE_MAX]
        for start in range(0, len(buttons), BUTTONS_PER_BLOCK):
            elements = []
            for button in buttons[start : start + BUTTONS_PER_BLOCK]:
                elements.append(build_button(button, index))
                index += 1
            group.append({"type": "actions", "elements": elements})
        groups.append(group)
    blocks = [block for group in groups for block in group]
    text_room = text_most if text_most is not None else float("inf")
    if len(blocks) <= most and _text_units(blocks) <= text_room:
        return blocks
    return _cut(groups, most, text_room, left_out)


def _cut(groups: list[list[Block]], most: int, text_most: float, left_out: str) -> list[Block]:
    """The first whole sections that fit, the note, and the last section if it has buttons."""
    last = groups[-1]
    note = _section(left_out)
    keep_last = (
        len(last) <= FINAL_BLOCKS_KEPT
        and last[-1]["type"] == "actions"
        and _text_units([note, *last]) <= text_most
    )
    tail = last if keep_last else []
    room = most - 1 - len(tail)
    text_room = text_most - _text_units([note, *tail])
    head: list[Block] = []
    used = 0
    for group in groups[:-1] if keep_last else groups:
        size = _text_units(group)
        if len(head) + len(group) > room or used + size > text_room:
            if not head:  # one section longer than a message: as much of it as fits
                head = _fitting(group, room, text_room)
            break
        head += group
        used += size
    while head and head[-1]["type"] == "header":  # a heading with nothing under it
        head.pop()
    return [*head, note, *tail]


def _fitting(blocks: list[Block], room: int, text_room: float) -> list[Block]:
    """The first of the blocks that fit in `room` blocks and `text_room` units of text."""
    kept: list[Block] = []
    used = 0
    for block in blocks[:room]:
        used += _text_units([block])
        if used > text_room:
            break
        kept.append(block)
    return kept


def _text_units(blocks: list[Block]) -> int:
    """The UTF-16 units of every text object in the blocks (headers, sections, buttons)."""
    total = 0
    stack: list[Any] = list(blocks)
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("type") in ("plain_text", "mrkdwn") and isinstance(node.get("text"), str):
                total += text_units(node["text"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return total


def fallback_text(reply: Reply) -> str:
    """The notification and screen-reader text of a message, escaped like the blocks."""
    return escape_mrkdwn(clip(reply.text, FALLBACK_TEXT_MAX)) or " "


def _input_block(field: FormField) -> Block:
    element: Block
    if field.choices:
        element = {
            "type": "static_select",
            "action_id": FIELD_ACTION,
            # Handlers ask for typing instead of offering more (Slack would refuse the form).
            "options": [
                {"text": _plain(choice.label, OPTION_TEXT_MAX), "value": choice.value}
                for choice in field.choices[:OPTIONS_MAX]
            ],
        }
        # Never pre-select, even a single option: for consent, choosing it *is* the answer.
    else:
        element = {
            "type": "plain_text_input",
            "action_id": FIELD_ACTION,
            "max_length": field.max_length,
            # Room for a few sentences when the box takes more than a line's worth.
            "multiline": field.max_length > FREE_TEXT_MAX,
        }
        if field.hint:
            element["placeholder"] = _plain(field.hint, 150)
    block: Block = {
        "type": "input",
        "block_id": field.name,
        "label": _plain(field.label, 2000),
        "element": element,
        "optional": field.optional,
    }
    return block


def build_modal(
    form: Form, *, intro: str = "", channel_id: str = "", response_url: str = ""
) -> Block:
    """A form as a modal; private_metadata carries the form's context and where to answer."""
    inputs = [_input_block(field) for field in form.fields]
    # The form's own questions always stay; its introduction has the room they leave.
    blocks = [_section(chunk) for chunk in _mrkdwn_chunks(intro)] if intro else []
    if len(blocks) + len(inputs) > VIEW_BLOCKS_MAX:
        blocks = [*blocks[: VIEW_BLOCKS_MAX - len(inputs) - 1], _section(LEFT_OUT_OF_FORM)]
    blocks += inputs
    return {
        "type": "modal",
        "callback_id": form.form_id,
        "title": _plain(form.title, MODAL_TITLE_MAX),
        "submit": _plain(form.submit_label, MODAL_TITLE_MAX),
        "close": _plain("Cancel", MODAL_TITLE_MAX),
        "private_metadata": json.dumps(
            {"context": form.context, "channel": channel_id, "response_url": response_url}
        ),
        "blocks": blocks,
    }


def read_modal_values(view: dict[str, Any]) -> tuple[dict[str, str], str, str, str]:
    """A submitted modal's answers, and the (context, channel, response_url) it carried."""
    values: dict[str, str] = {}
    for block_id, actions in (view.get("state", {}).get("values", {}) or {}).items():
        element = actions.get(FIELD_ACTION, {}) if isinstance(actions, dict) else {}
        selected = element.get("selected_option") or {}
        values[block_id] = selected.get("value") or element.get("value") or ""
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        meta = {}
    if not isinstance(meta, dict):
        meta = {}
    return (
        values,
        str(meta.get("context", "")),
        str(meta.get("channel", "")),
        str(meta.get("response_url", "")),
    )


def build_home_view(reply: Reply, *, image_file_id: str | None = None) -> Block:
    """App Home: the same blocks as a reply, in a home tab view, with its picture if uploaded.

    Within the tab's 100 blocks; if the reply needs more, the tab says the rest is left out.
    """
    picture = reply.image is not None and image_file_id is not None
    most = VIEW_BLOCKS_MAX - (1 if picture else 0)
    # A view has no msg_blocks_too_long: its limits are 100 blocks and 250 KB.
    blocks = build_reply_blocks(reply, most=most, text_most=None, left_out=LEFT_OUT_OF_HOME)
    if reply.image is not None and image_file_id is not None:
        blocks.append(build_image_block(reply.image, image_file_id))
    return {"type": "home", "blocks": blocks}


def build_image_block(image: Image, file_id: str) -> Block:
    """A picture already uploaded to Slack, with its alt text for screen readers."""
    block: Block = {
        "type": "image",
        "slack_file": {"id": file_id},
        "alt_text": clip(image.alt_text, MAX_IMAGE_TEXT),
    }
    if image.title:  # optional, and Slack refuses an empty one
        block["title"] = {"type": "plain_text", "text": clip(image.title, MAX_IMAGE_TEXT)}
    return block
