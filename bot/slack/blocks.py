"""Rendering handler replies and forms as Slack Block Kit, escaping everything people typed."""

from __future__ import annotations

import json
from typing import Any

from handlers.reply import Button, Form, FormField, Image, Reply

# Slack's own limits; beyond them it rejects the whole message.
SECTION_TEXT_MAX = 3000
HEADER_TEXT_MAX = 150
BUTTON_TEXT_MAX = 75
OPTION_TEXT_MAX = 75
MODAL_TITLE_MAX = 24
BUTTONS_PER_BLOCK = 25
MAX_IMAGE_TEXT = 2000  # an image block's alt text and title
# Inside one block every button needs its own action_id; "<id>#<n>" keeps the id routable.
ACTION_SUFFIX = "#"
FIELD_ACTION = "value"

Block = dict[str, Any]


def escape_mrkdwn(text: str) -> str:
    """Make user text inert in mrkdwn: no <!channel>, <@U123> or <http://link|labels>."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plain(text: str, limit: int) -> dict[str, Any]:
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return {"type": "plain_text", "text": text, "emoji": False}


def _mrkdwn_chunks(text: str) -> list[str]:
    # A long team list must not make Slack refuse the message: split at line ends.
    chunks, current = [], ""
    for line in escape_mrkdwn(text).splitlines() or [""]:
        if current and len(current) + len(line) + 1 > SECTION_TEXT_MAX:
            chunks.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line[:SECTION_TEXT_MAX]
    chunks.append(current)
    return [c for c in chunks if c.strip()]


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


def build_reply_blocks(reply: Reply) -> list[Block]:
    """A reply as blocks: a header per heading, text sections, and rows of buttons."""
    blocks: list[Block] = []
    index = 0
    for section in reply.sections:
        if section.heading:
            blocks.append({"type": "header", "text": _plain(section.heading, HEADER_TEXT_MAX)})
        blocks += [
            {"type": "section", "text": {"type": "mrkdwn", "text": chunk}}
            for chunk in _mrkdwn_chunks(section.text)
        ]
        buttons = list(section.buttons)
        for start in range(0, len(buttons), BUTTONS_PER_BLOCK):
            elements = []
            for button in buttons[start : start + BUTTONS_PER_BLOCK]:
                elements.append(build_button(button, index))
                index += 1
            blocks.append({"type": "actions", "elements": elements})
    return blocks


def fallback_text(reply: Reply) -> str:
    """The notification and screen-reader text of a message, escaped like the blocks."""
    return escape_mrkdwn(reply.text)[:SECTION_TEXT_MAX] or " "


def _input_block(field: FormField) -> Block:
    element: Block
    if field.choices:
        element = {
            "type": "static_select",
            "action_id": FIELD_ACTION,
            "options": [
                {"text": _plain(choice.label, OPTION_TEXT_MAX), "value": choice.value}
                for choice in field.choices
            ],
        }
        # Never pre-select, even a single option: for consent, choosing it *is* the answer.
    else:
        element = {"type": "plain_text_input", "action_id": FIELD_ACTION, "max_length": 200}
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
    blocks: list[Block] = []
    if intro:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": escape_mrkdwn(intro)}})
    blocks += [_input_block(field) for field in form.fields]
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
    """App Home: the same blocks as a reply, in a home tab view, with its picture if uploaded."""
    blocks = build_reply_blocks(reply)[:99]
    if reply.image is not None and image_file_id is not None:
        blocks.append(build_image_block(reply.image, image_file_id))
    return {"type": "home", "blocks": blocks}


def build_image_block(image: Image, file_id: str) -> Block:
    """A picture already uploaded to Slack, with its alt text for screen readers."""
    return {
        "type": "image",
        "slack_file": {"id": file_id},
        "alt_text": image.alt_text[:MAX_IMAGE_TEXT],
        "title": {"type": "plain_text", "text": image.title[:MAX_IMAGE_TEXT]},
    }
