"""Rendering replies and forms as Adaptive Cards for Teams, and reading back what was pressed.

Pure functions over plain dicts (no SDK import), like `bot/slack/blocks.py`.

People's words never pass through Markdown. Teams renders a Markdown subset in `TextBlock`
(bold, italics, lists, `[links](url)`), so a project called "*Falls* [x](http://evil)" would
come out bold and as a link. Escaping Markdown reliably is not possible here: Teams documents
no escape syntax for cards and its clients use different parsers. `TextRun` (inside a
`RichTextBlock`) is documented as "Markdown is not supported" in the Adaptive Card schema, so
*every* piece of reply text, headings included, goes in a `TextRun`; this module emits no
`TextBlock` at all. Mentions (`<at>Name</at>`) only ping when the card also carries
`msteams.entities`, which these cards never do, so such text shows as the characters typed.
Button titles, input labels, placeholders and choice titles are plain text in the schema.

Buttons and form submits are `Action.Execute` (Universal Actions, card version 1.5), which Teams
delivers as an `invoke` named `adaptiveCard/action`; `read_card_action` turns its value back into
a button press or a form submission.
"""

from __future__ import annotations

import base64
import json
import re
import struct
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from handlers.core.clipping import clip
from handlers.core.reply import Button, Form, FormField, Image, Reply

Card = dict[str, Any]
Element = dict[str, Any]

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
# Universal Actions (Action.Execute) need 1.4+; Microsoft's Teams docs ask for 1.5.
CARD_VERSION = "1.5"

# What a button's and a form's Action.Execute carry in `data` (Teams sends it back verbatim,
# with each input's value merged in under the input's id).
DATA_ACTION = "action"
DATA_VALUE = "value"
DATA_FORM = "form"
DATA_CONTEXT = "context"
# A form's submit verb is "form:<form id>"; a button's verb is its action id.
FORM_VERB_PREFIX = "form:"
# Input ids are "field:<name>", so no field name can collide with "form" or "context".
INPUT_PREFIX = "field:"

# Limits. Teams shows at most 6 actions of one action set on desktop and web (more are cut off
# or folded away on mobile), so long rows of buttons become several action sets.
ACTIONS_PER_SET = 6
# A choice list this long gets typeahead ("filtered", Adaptive Cards 1.5): Teams' drop-down
# shows about 15 options at a time, and typing a project's name is quicker than scrolling.
CHOICES_BEFORE_FILTER = 15
TEXT_INPUT_MAX = 200  # as Slack's plain_text_input
# "/qi-join" in the handlers' words: on Teams a "/" at the start of the compose box opens Teams'
# own command menu, so commands are shown as typed there, "qi-join" (not inside a link or path).
SLASH_COMMAND = re.compile(r"(?<![\w/.:-])/(qi-[a-z]+)\b")
# Teams refuses a message over about 100 KB (413 MessageSizeTooBig), counted as UTF-16. Our
# own messages stay within 40 KB: Microsoft advises 80 KB but documented 40 KB until recently,
# and tenants may differ (issue 13). The SDK adds the conversation's, sender's and recipient's
# ids and the service URL around our message JSON, so that much is kept free for it.
MESSAGE_BUDGET_UTF16 = 40_000
ACTIVITY_ALLOWANCE_UTF16 = 2_000
# What one card may take, the message around it included (see _fit).
CARD_BUDGET_UTF16 = MESSAGE_BUDGET_UTF16 - ACTIVITY_ALLOWANCE_UTF16
# A chart is embedded as a base64 data: URL. Microsoft says base64 images are not counted in
# the 100 KB, but that could not be tried against real Teams, so the whole image card (base64
# included) stays under 90 KB; anything bigger is described in words instead.
IMAGE_CARD_MAX_BYTES = 90_000
# Teams shows card images of at most 1024 x 1024 pixels and 1 MB.
IMAGE_MAX_PIXELS = 1024
SUMMARY_MAX = 500

TRUNCATED_NOTE = "(There is more, but it doesn't fit in one Teams message.)"
REQUIRED_ERROR = "Please answer this question."
IMAGE_NOT_SHOWN = (
    "I can't show the chart “{title}” in Teams. What it shows: {alt_text}\n"
    "Whoever looks after qi-nudge for your trust can make the chart outside chat with: "
    "qi-nudge stats --chart FILE.png"
)


class ButtonPress(NamedTuple):
    """A pressed button: call the action `action_id` with `value`."""

    action_id: str
    value: str


class FormSubmission(NamedTuple):
    """A submitted form: call the form handler `form_id` with the answers and its context."""

    form_id: str
    values: dict[str, str]
    context: str


def teams_words(text: str) -> str:
    """The handlers' words as Teams people type them: "/qi-join …" becomes "qi-join …"."""
    return SLASH_COMMAND.sub(r"\1", text)


def inert(text: str) -> str:
    """Text for a TextRun, shown exactly as typed.

    TextRun never interprets Markdown; the one thing left is the card renderer's date functions
    (`{{DATE(...)}}`, `{{TIME(...)}}`), which some renderers expand in any text. A zero-width
    space between the braces keeps them literal without changing what people see.
    """
    return text.replace("{{", "{\u200b{")


def _run(text: str, *, heading: bool = False, spacing: str | None = None) -> Element:
    run: Element = {"type": "TextRun", "text": inert(teams_words(text))}
    if heading:
        run["weight"] = "Bolder"
        run["size"] = "Medium"
    block: Element = {"type": "RichTextBlock", "inlines": [run]}
    if spacing:
        block["spacing"] = spacing
    return block


def build_heading(text: str) -> Element:
    """A heading: bold, a size up, still a TextRun (headings often carry project names)."""
    return _run(text, heading=True)


def build_text(text: str) -> list[Element]:
    """Text as one RichTextBlock per line (renderers differ on newlines inside a TextRun).

    Lines of one paragraph sit tight together; a blank line starts a new paragraph.
    """
    blocks: list[Element] = []
    gap = False
    for line in text.splitlines():
        if not line.strip():
            gap = True
            continue
        blocks.append(_run(line, spacing=None if gap or not blocks else "None"))
        gap = False
    return blocks


def build_button(button: Button) -> Element:
    """One button: Action.Execute whose verb is the action id; data carries id and value."""
    action: Element = {
        "type": "Action.Execute",
        "title": button.label,
        "verb": button.action_id,
        "data": {DATA_ACTION: button.action_id, DATA_VALUE: button.value},
        # A button is not a form's submit: it must neither send nor validate any inputs on the
        # same card (a required, empty field would otherwise block it).
        "associatedInputs": "none",
    }
    if button.primary:
        action["style"] = "positive"
    return action


def build_button_sets(buttons: Iterable[Button]) -> list[Element]:
    """Buttons as action sets of at most ACTIONS_PER_SET each."""
    actions = [build_button(button) for button in buttons]
    return [
        {"type": "ActionSet", "actions": actions[start : start + ACTIONS_PER_SET]}
        for start in range(0, len(actions), ACTIONS_PER_SET)
    ]


def input_id(field_name: str) -> str:
    """The card input id of a form field."""
    return f"{INPUT_PREFIX}{field_name}"


def build_input(field: FormField, value: str | None = None) -> Element:
    """A form field: a drop-down of choices, or a short text box; `value` is an earlier answer.

    Nothing is pre-selected on a fresh form: even a single option (consent) must be chosen by
    the person. Only what they answered themselves comes back (after a refusal).
    """
    element: Element
    if field.choices:
        element = {
            "type": "Input.ChoiceSet",
            "id": input_id(field.name),
            "choices": [{"title": c.label, "value": c.value} for c in field.choices],
            "style": "filtered" if len(field.choices) > CHOICES_BEFORE_FILTER else "compact",
            "isMultiSelect": False,
        }
        if value is not None and any(c.value == value for c in field.choices):
            element["value"] = value
    else:
        element = {
            "type": "Input.Text",
            "id": input_id(field.name),
            "maxLength": field.max_length,
        }
        if field.max_length > TEXT_INPUT_MAX:
            element["isMultiline"] = True  # room for a few sentences
        if value:
            element["value"] = value[: field.max_length]
    element["label"] = field.label
    if field.hint:
        element["placeholder"] = field.hint
    if not field.optional:
        element["isRequired"] = True
        element["errorMessage"] = REQUIRED_ERROR
    return element


def build_submit(form: Form) -> Element:
    """The form's one submit button, sending every input with the form's id and context."""
    return {
        "type": "Action.Execute",
        "title": form.submit_label,
        "verb": f"{FORM_VERB_PREFIX}{form.form_id}",
        "data": {DATA_FORM: form.form_id, DATA_CONTEXT: form.context},
        "associatedInputs": "auto",
        "style": "positive",
    }


def build_form_elements(form: Form, values: Mapping[str, str] | None = None) -> list[Element]:
    """A form's title, inputs (with earlier answers, if any) and submit, for a card's body."""
    values = values or {}
    return [
        build_heading(form.title),
        *(build_input(field, values.get(field.name)) for field in form.fields),
        {"type": "ActionSet", "actions": [build_submit(form)]},
    ]


def fallback_text(reply: Reply) -> str:
    """The reply as plain words (notifications, screen readers, clients without cards).

    For the card's `fallbackText` and a message's `summary`, which are not Markdown. Never send
    it as a message's `text` unless `textFormat` is "plain": Teams reads `text` as Markdown.
    """
    return _summary(reply.text)


def build_reply_card(
    reply: Reply, *, form: Form | None = None, values: Mapping[str, str] | None = None
) -> Card:
    """A reply as a card: headings, text, rows of buttons, then its form (or `form`) if any.

    `form` shows a form under a reply that has none, e.g. the form again under a refusal.
    """
    parts: list[_Part] = []
    for number, section in enumerate(reply.sections):
        if section.heading:
            parts.append(_Part(build_heading(section.heading), number))
        parts += [_Part(block, number) for block in build_text(section.text)]
        parts += [_Part(block, number, button=True) for block in build_button_sets(section.buttons)]
    form = form or reply.form
    if form is not None:
        parts += [_Part(element, None) for element in build_form_elements(form, values)]
    summary = reply.text or (form.title if form is not None else "")
    return _card(_fit(parts), _summary(summary))


def build_form_card(form: Form, *, intro: Reply | None = None) -> Card:
    """A form on its own card, under an optional reply (a refusal saying what to fix)."""
    return build_reply_card(intro or Reply(sections=()), form=form)


def build_image_card(image: Image) -> Card:
    """A chart as a card: an Image with a data: URL and alt text, or, if it can't be, words.

    Draws the chart (a few hundred milliseconds): call it after the person has been answered.
    """
    png = image.png_within(IMAGE_MAX_PIXELS)
    if _png_fits(png):
        card = _card(
            [
                build_heading(image.title),
                {
                    "type": "Image",
                    "url": "data:image/png;base64," + base64.b64encode(png).decode("ascii"),
                    "altText": image.alt_text,
                    "msteams": {"allowExpand": True},
                },
            ],
            _summary(image.alt_text),
        )
        if card_bytes(card) <= IMAGE_CARD_MAX_BYTES:
            return card
    return build_image_words_card(image)


def build_image_words_card(image: Image) -> Card:
    """What a chart shows, in words, and how to make it outside chat (no drawing needed)."""
    words = IMAGE_NOT_SHOWN.format(title=image.title, alt_text=image.alt_text)
    return _card(build_text(words), _summary(words))


def attachment(card: Card) -> dict[str, Any]:
    """A card as a message attachment."""
    return {"contentType": CARD_CONTENT_TYPE, "content": card}


def build_message(card: Card) -> dict[str, Any]:
    """A message activity carrying one card; `summary` is what notifications show.

    No `text`: Teams would show it above the card (twice the words) and read it as Markdown.
    """
    return {
        "type": "message",
        "summary": card.get("fallbackText") or " ",
        "attachments": [attachment(card)],
    }


def build_command_reply(reply: Reply, *, form: Form | None = None) -> dict[str, Any]:
    """The message answering a command (or a button, in a new message): the reply's card.

    A reply's image is not in it: draw it afterwards with `build_image_card` and send that as
    a second message, so nobody waits for a chart to be drawn before they see the answer.
    """
    return build_message(build_reply_card(reply, form=form))


def build_invoke_response(
    reply: Reply, *, form: Form | None = None, values: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The answer to an `adaptiveCard/action` invoke: the reply's card replaces the clicked one.

    `form` and `values`: the form again, with what the person typed, under a refusal.
    """
    return {
        "statusCode": 200,
        "type": CARD_CONTENT_TYPE,
        "value": build_reply_card(reply, form=form, values=values),
    }


def read_card_action(value: Any) -> ButtonPress | FormSubmission | None:
    """What an `adaptiveCard/action` invoke asks for, or None when it isn't one of ours.

    `value` is the invoke activity's value: the SDK's `AdaptiveCardInvokeValue` or the raw JSON
    (`{"action": {"type": "Action.Execute", "verb": ..., "data": {...}}, "trigger": ...}`).
    The verb and the data must agree; values that are not text are dropped (only a tampered
    client sends them), and handlers check every value anyway.
    """
    if hasattr(value, "model_dump"):
        value = value.model_dump(by_alias=True)
    if not isinstance(value, Mapping):
        return None
    action = value.get("action")
    if not isinstance(action, Mapping) or action.get("type") != "Action.Execute":
        return None
    data = action.get("data")
    verb = action.get("verb")
    if not isinstance(data, Mapping):
        return None
    if DATA_FORM in data:
        form_id = data[DATA_FORM]
        if not isinstance(form_id, str) or verb != f"{FORM_VERB_PREFIX}{form_id}":
            return None
        values = {
            key[len(INPUT_PREFIX) :]: text
            for key, raw in data.items()
            if isinstance(key, str) and key.startswith(INPUT_PREFIX)
            for text in [_as_text(raw)]
            if text is not None
        }
        return FormSubmission(form_id, values, _as_text(data.get(DATA_CONTEXT)) or "")
    if DATA_ACTION in data:
        action_id = data[DATA_ACTION]
        if not isinstance(action_id, str) or verb != action_id:
            return None
        return ButtonPress(action_id, _as_text(data.get(DATA_VALUE)) or "")
    return None


def card_bytes(card: Card) -> int:
    """A card's size as UTF-8 JSON (how it travels)."""
    return len(_json(card).encode("utf-8"))


def card_utf16_bytes(element: Element | Card) -> int:
    """A card's (or element's) size as Teams counts a message: UTF-16."""
    return len(_json(element).encode("utf-16-le"))


def _summary(text: str) -> str:
    return clip(" ".join(teams_words(text).split()), SUMMARY_MAX) or " "


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _as_text(raw: Any) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int | float):
        return str(raw)
    return None


def _card(body: list[Element], fallback: str) -> Card:
    return {
        "type": "AdaptiveCard",
        "$schema": CARD_SCHEMA,
        "version": CARD_VERSION,
        "fallbackText": fallback,
        "body": body,
    }


class _Part(NamedTuple):
    """An element of a reply's card, and which section it shows (None: the form)."""

    element: Element
    section: int | None
    button: bool = False


def _fit(parts: list[_Part]) -> list[Element]:
    """The elements, within CARD_BUDGET_UTF16 for the whole message (as Teams counts it).

    A card too big keeps its sections in order while they fit, line by line, then a note that
    the rest is left out: text and buttons of the later sections go together, so no button is
    left without the words that say what it is for. The reply's last section (a "Turn
    reminders off") stays after the note if it has buttons and fits: its buttons at least.
    A form always stays: it is what the person came to fill in.
    """
    skeleton = card_utf16_bytes(build_message(_card([], " " * SUMMARY_MAX)))
    sizes = [card_utf16_bytes(part.element) + 2 for part in parts]  # +2: the comma
    room = CARD_BUDGET_UTF16 - skeleton
    if sum(sizes) <= room:
        return [part.element for part in parts]
    note = _run(TRUNCATED_NOTE)
    room -= card_utf16_bytes(note) + 2
    room -= sum(size for part, size in zip(parts, sizes, strict=True) if part.section is None)
    sections = [part.section for part in parts if part.section is not None]
    last = max(sections) if sections else None
    ending = [i for i, part in enumerate(parts) if last is not None and part.section == last]
    if not any(parts[i].button for i in ending):
        ending = []
    elif sum(sizes[i] for i in ending) > room // 4:  # a long last section: its buttons only
        ending = [i for i in ending if parts[i].button]
    room -= sum(sizes[i] for i in ending)
    in_ending = set(ending)
    kept: list[_Part] = []
    for index, (part, size) in enumerate(zip(parts, sizes, strict=True)):
        if part.section is None or index in in_ending:
            continue
        if size > room:
            if part.button:  # its words without their buttons would only puzzle: both go
                whole = [p for p in kept if p.section != part.section]
                kept = whole or kept
            break
        kept.append(part)
        room -= size
    while kept and _is_heading(kept[-1].element):  # a heading with nothing under it
        kept.pop()
    tail = [parts[i].element for i in ending] if room >= 0 else []
    form = [part.element for part in parts if part.section is None]
    return [*(part.element for part in kept), note, *tail, *form]


def _is_heading(element: Element) -> bool:
    inlines = element.get("inlines") or [{}]
    return element.get("type") == "RichTextBlock" and inlines[0].get("weight") == "Bolder"


def _png_fits(png: bytes) -> bool:
    """True for a PNG within Teams' 1024 x 1024 pixels (read from its IHDR header)."""
    if len(png) < 24 or png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        return False
    width, height = struct.unpack(">II", png[16:24])
    return 0 < width <= IMAGE_MAX_PIXELS and 0 < height <= IMAGE_MAX_PIXELS
