"""What Slack refuses in a message or a view, and the answer it gives: the fake Slack's rules.

Every payload is checked twice, and must pass both:

* slack_sdk's own Block Kit models (`Block.parse`, `View`), whose `to_dict()` runs every
  validator down the tree and raises `SlackObjectFormationError`;
* Slack's documented limits below, walked with JSON pointers so a refusal reads as Slack's:
  "must be less than 3001 characters [json-pointer:/blocks/0/text/text]".

Of these limits slack_sdk 3.48 checks: block_id, action_id and section text lengths, 10 section
fields, header text, button text/value/url, 25 actions and 10 context elements, option
text/value, 100 select options, input label and hint, placeholders, image alt text/url/title,
and a view's title, submit, close, callback_id, private_metadata and 1 to 100 blocks. It does not
check 50 blocks per message, a section field's 2,000 characters, unique block_id and action_id,
plain_text_input min/max_length, 10 checkbox or radio options, option descriptions, empty text,
plain_text where Slack takes nothing else, properties a block cannot have, a modal without a
title (or, with inputs, without a submit button), message metadata, or a view's size.

Slack counts characters; so does `len()` here.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block, BlockElement
from slack_sdk.models.views import View

# -- Slack's documented limits (characters unless said otherwise) ----------------------------

# https://docs.slack.dev/reference/block-kit/blocks: "up to 50 blocks in each message".
MAX_MESSAGE_BLOCKS = 50
# https://docs.slack.dev/reference/block-kit/blocks: "100 blocks in modals or Home tabs".
MAX_VIEW_BLOCKS = 100
# https://docs.slack.dev/reference/methods/chat.postMessage: longer text is msg_too_long. Since
# 2018 Slack has also documented truncating such text with a message_truncated warning
# (https://docs.slack.dev/changelog/2018-04-truncating-really-long-messages), so the fake, which
# refuses it, is the stricter of the two.
MAX_TEXT = 40_000
# Observed, not documented: Slack refuses a message whose blocks' text objects add up to more than
# about 12,000 characters with msg_blocks_too_long. A Slack maintainer gave "12,000 text characters
# with a buffer" (slackapi/bolt-js#2509, refused at about 13,200) and slackapi/bolt-js#2867 reports
# a refusal at 11,341; the fake refuses over 11,000, below both.
MAX_BLOCKS_TEXT = 11_000
# https://docs.slack.dev/reference/block-kit/blocks/section-block: text.
SECTION_TEXT_MAX = 3000
# https://docs.slack.dev/reference/block-kit/blocks/section-block: fields, items.
SECTION_FIELDS_MAX = 10
# https://docs.slack.dev/reference/block-kit/blocks/section-block: each field's text.
SECTION_FIELD_TEXT_MAX = 2000
# https://docs.slack.dev/reference/block-kit/blocks/header-block: text.
HEADER_TEXT_MAX = 150
# https://docs.slack.dev/reference/block-kit/blocks (every block): block_id.
BLOCK_ID_MAX = 255
# https://docs.slack.dev/reference/block-kit/blocks/actions-block: elements.
ACTIONS_ELEMENTS_MAX = 25
# https://docs.slack.dev/reference/block-kit/blocks/context-block: elements.
CONTEXT_ELEMENTS_MAX = 10
# https://docs.slack.dev/reference/block-kit/composition-objects/text-object: text.
TEXT_OBJECT_MAX = 3000
# https://docs.slack.dev/reference/block-kit/blocks/input-block: label.
INPUT_LABEL_MAX = 2000
# https://docs.slack.dev/reference/block-kit/blocks/input-block: hint.
INPUT_HINT_MAX = 2000
# https://docs.slack.dev/reference/block-kit/blocks/image-block: alt_text (image element too).
IMAGE_ALT_TEXT_MAX = 2000
# https://docs.slack.dev/reference/block-kit/blocks/image-block: image_url (image element too).
IMAGE_URL_MAX = 3000
# https://docs.slack.dev/reference/block-kit/blocks/image-block: title.
IMAGE_TITLE_MAX = 2000
# https://docs.slack.dev/reference/block-kit/block-elements/button-element: text.
BUTTON_TEXT_MAX = 75
# https://docs.slack.dev/reference/block-kit/block-elements/button-element: value.
BUTTON_VALUE_MAX = 2000
# https://docs.slack.dev/reference/block-kit/block-elements/button-element: url.
BUTTON_URL_MAX = 3000
# https://docs.slack.dev/reference/block-kit/block-elements/button-element: action_id (all).
ACTION_ID_MAX = 255
# https://docs.slack.dev/reference/block-kit/block-elements/select-menu-element: placeholder.
PLACEHOLDER_MAX = 150
# https://docs.slack.dev/reference/block-kit/block-elements/select-menu-element: options.
SELECT_OPTIONS_MAX = 100
# https://docs.slack.dev/reference/block-kit/block-elements/select-menu-element: option_groups.
SELECT_OPTION_GROUPS_MAX = 100
# https://docs.slack.dev/reference/block-kit/composition-objects/option-group-object: label.
OPTION_GROUP_LABEL_MAX = 75
# https://docs.slack.dev/reference/block-kit/block-elements/checkboxes-element: options.
CHECKBOX_OPTIONS_MAX = 10
# https://docs.slack.dev/reference/block-kit/block-elements/radio-button-group-element: options.
RADIO_OPTIONS_MAX = 10
# https://docs.slack.dev/reference/block-kit/block-elements/overflow-menu-element: options.
OVERFLOW_OPTIONS_MAX = 5
# https://docs.slack.dev/reference/block-kit/composition-objects/option-object: text.
OPTION_TEXT_MAX = 75
# https://docs.slack.dev/reference/block-kit/composition-objects/option-object: value.
OPTION_VALUE_MAX = 150
# https://docs.slack.dev/reference/block-kit/composition-objects/option-object: description.
OPTION_DESCRIPTION_MAX = 75
# https://docs.slack.dev/reference/block-kit/block-elements/plain-text-input-element: 1-3000.
INPUT_MAX_LENGTH = 3000
# https://docs.slack.dev/reference/views/modal-views: title.
MODAL_TITLE_MAX = 24
# https://docs.slack.dev/reference/views/modal-views: submit.
MODAL_SUBMIT_MAX = 24
# https://docs.slack.dev/reference/views/modal-views: close.
MODAL_CLOSE_MAX = 24
# https://docs.slack.dev/reference/views/modal-views: callback_id.
CALLBACK_ID_MAX = 255
# https://docs.slack.dev/reference/views/modal-views: private_metadata.
PRIVATE_METADATA_MAX = 3000
# https://docs.slack.dev/reference/methods/views.open: external_id.
EXTERNAL_ID_MAX = 255
# https://docs.slack.dev/reference/methods/views.open: view_too_large, "greater than 250kb".
VIEW_MAX_BYTES = 250_000

VIEW_TYPES = ("modal", "home")
PLAIN = ("plain_text",)
PLAIN_OR_MRKDWN = ("plain_text", "mrkdwn")

# What each object may carry; Slack refuses anything else ("invalid additional property").
# Only the kinds the bot sends are listed; other kinds are left to slack_sdk.
TEXT_PROPERTIES = {"plain_text": {"type", "text", "emoji"}, "mrkdwn": {"type", "text", "verbatim"}}
BLOCK_PROPERTIES = {
    "section": {"type", "block_id", "text", "fields", "accessory", "expand"},
    "header": {"type", "block_id", "text"},
    "actions": {"type", "block_id", "elements"},
    "context": {"type", "block_id", "elements"},
    "divider": {"type", "block_id"},
    "image": {"type", "block_id", "image_url", "slack_file", "alt_text", "title"},
    "input": {
        "type", "block_id", "label", "element", "dispatch_action", "hint", "optional",
    },
}  # fmt: skip
ELEMENT_PROPERTIES = {
    "button": {"type", "text", "action_id", "url", "value", "style", "confirm",
               "accessibility_label"},
    "static_select": {"type", "action_id", "options", "option_groups", "initial_option",
                      "confirm", "focus_on_load", "placeholder"},
    "plain_text_input": {"type", "action_id", "initial_value", "multiline", "min_length",
                         "max_length", "dispatch_action_config", "focus_on_load", "placeholder"},
    "image": {"type", "image_url", "slack_file", "alt_text"},
}  # fmt: skip
OPTION_PROPERTIES = {"text", "value", "description", "url"}


@dataclass(frozen=True)
class Refusal:
    """Slack's refusal of a payload: its error code and what it found, JSON pointers and all."""

    error: str
    problems: tuple[str, ...] = ()

    def answer(self) -> dict[str, Any]:
        """The Web API's body: invalid_blocks lists the problems twice, as Slack does."""
        body: dict[str, Any] = {"ok": False, "error": self.error}
        if self.problems:
            if self.error == "invalid_blocks":
                body["errors"] = list(self.problems)
            body["response_metadata"] = {"messages": [f"[ERROR] {p}" for p in self.problems]}
        return body


def message_refusal(args: Mapping[str, Any], *, require_content: bool = True) -> Refusal | None:
    """Why Slack would refuse this chat.postMessage/update/postEphemeral or response_url post."""
    blocks = decoded(args.get("blocks"))
    if require_content and not (args.get("text") or blocks or args.get("attachments")):
        return Refusal("no_text")
    if len(str(args.get("text") or "")) > MAX_TEXT:
        return Refusal("msg_too_long")
    if "blocks" in args:
        if not isinstance(blocks, list):
            return Refusal("invalid_blocks_format")
        problems = blocks_problems(blocks, "/blocks", MAX_MESSAGE_BLOCKS)
        if problems:
            return Refusal("invalid_blocks", tuple(problems))
        if blocks_text_length(blocks) > MAX_BLOCKS_TEXT:
            return Refusal("msg_blocks_too_long")
    if "metadata" in args:
        return metadata_refusal(decoded(args["metadata"]))
    return None


def response_url_refusal(payload: Mapping[str, Any]) -> str | None:
    """The plain-text body of Slack's HTTP 400 to a response_url post it would refuse."""
    refusal = message_refusal(payload, require_content=not payload.get("delete_original"))
    return refusal.error if refusal is not None else None


def metadata_refusal(metadata: Any) -> Refusal | None:
    """Message metadata needs an event_type and an event_payload object.

    https://docs.slack.dev/messaging/message-metadata
    """
    if not isinstance(metadata, dict):
        return Refusal("invalid_metadata_format")
    if not (isinstance(metadata.get("event_type"), str) and metadata["event_type"]):
        return Refusal("invalid_metadata_schema")
    if not isinstance(metadata.get("event_payload"), dict):
        return Refusal("invalid_metadata_schema")
    return None


def view_refusal(view: Any) -> Refusal | None:
    """Why views.open or views.publish would refuse this view (invalid_arguments, mostly)."""
    if not isinstance(view, dict) or "type" not in view:
        return Refusal("invalid_arguments", ("missing required field: view",))
    if view_size(view) > VIEW_MAX_BYTES:
        return Refusal("view_too_large")
    problems = list(_view_problems(view))
    if not problems:
        problems = _sdk_problems(lambda: View(**copy.deepcopy(view)), "/view")
    if problems:
        return Refusal(
            "invalid_arguments",
            ("failed to match all allowed schemas [json-pointer:/view]", *problems),
        )
    return None


def view_size(view: dict[str, Any]) -> int:
    """A view's size as Slack weighs it: the UTF-8 bytes of its compact JSON, text unescaped."""
    return len(json.dumps(view, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def blocks_text_length(blocks: Any) -> int:
    """The characters of every text object in the blocks (sections, fields, buttons, options...)."""
    return sum(
        len(node["text"])
        for node in walk(blocks)
        if node.get("type") in PLAIN_OR_MRKDWN and isinstance(node.get("text"), str)
    )


def walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every object in a JSON tree, depth first, in order."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def blocks_problems(blocks: list[Any], at: str, limit: int) -> list[str]:
    """What Slack finds wrong in a list of blocks at JSON pointer `at`; empty if nothing."""
    problems: list[str] = []
    if len(blocks) > limit:
        problems.append(_at(at, f"no more than {limit} items allowed"))
    block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        here = f"{at}/{index}"
        if not (isinstance(block, dict) and isinstance(block.get("type"), str)):
            problems.append(_at(here, "must provide an object with a type"))
            continue
        found = list(_block_problems(block, here))
        block_id = block.get("block_id")
        if isinstance(block_id, str):
            # https://docs.slack.dev/reference/block-kit/blocks: unique for each message.
            if block_id in block_ids:
                found.append(_at(f"{here}/block_id", f"duplicate block_id: {block_id}"))
            block_ids.add(block_id)
        if not found:
            found = _sdk_problems(lambda block=block: Block.parse(copy.deepcopy(block)), here)
        problems += found
    return problems


# -- the walk --------------------------------------------------------------------------------


def _view_problems(view: dict[str, Any]) -> Iterator[str]:
    kind = view["type"]
    if kind not in VIEW_TYPES:
        yield _at("/view/type", f"must be one of: {', '.join(VIEW_TYPES)}")
        return
    yield from _extra(view, _VIEW_PROPERTIES, "/view")
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        yield _at("/view", "missing required field: blocks")
        blocks = []
    if kind == "modal":
        if "title" not in view:
            yield _at("/view", "missing required field: title")
        has_inputs = any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
        if has_inputs and "submit" not in view:
            yield _at("/view", "missing required field: submit")
        for name, limit in (
            ("title", MODAL_TITLE_MAX),
            ("submit", MODAL_SUBMIT_MAX),
            ("close", MODAL_CLOSE_MAX),
        ):
            if name in view:
                yield from _text(view[name], f"/view/{name}", limit, PLAIN)
    for name, limit in (
        ("callback_id", CALLBACK_ID_MAX),
        ("private_metadata", PRIVATE_METADATA_MAX),
        ("external_id", EXTERNAL_ID_MAX),
    ):
        yield from _string(view.get(name), f"/view/{name}", limit)
    yield from blocks_problems(blocks, "/view/blocks", MAX_VIEW_BLOCKS)


_VIEW_PROPERTIES = {
    "type", "title", "blocks", "close", "submit", "private_metadata", "callback_id",
    "clear_on_close", "notify_on_close", "external_id", "submit_disabled",
}  # fmt: skip


def _block_problems(block: dict[str, Any], at: str) -> Iterator[str]:
    kind = block["type"]
    if kind not in _SDK_BLOCK_TYPES:
        yield _at(f"{at}/type", f"unsupported block type: {kind}")
        return
    yield from _extra(block, BLOCK_PROPERTIES.get(kind), at)
    yield from _string(block.get("block_id"), f"{at}/block_id", BLOCK_ID_MAX)
    if kind == "section":
        yield from _section(block, at)
    elif kind == "header":
        yield from _required(block, "text", at)
        yield from _text(block.get("text"), f"{at}/text", HEADER_TEXT_MAX, PLAIN)
    elif kind == "actions":
        yield from _elements(block, at, ACTIONS_ELEMENTS_MAX)
    elif kind == "context":
        yield from _context(block, at)
    elif kind == "image":
        yield from _image(block, at)
        if "title" in block:
            yield from _text(block["title"], f"{at}/title", IMAGE_TITLE_MAX, PLAIN)
    elif kind == "input":
        yield from _required(block, "label", at)
        yield from _text(block.get("label"), f"{at}/label", INPUT_LABEL_MAX, PLAIN)
        if "hint" in block:
            yield from _text(block["hint"], f"{at}/hint", INPUT_HINT_MAX, PLAIN)
        yield from _required(block, "element", at)
        if "element" in block:
            yield from _element(block["element"], f"{at}/element", set())


def _section(block: dict[str, Any], at: str) -> Iterator[str]:
    if "text" not in block and "fields" not in block:
        yield _at(at, "missing required field: text")
    if "text" in block:
        yield from _text(block["text"], f"{at}/text", SECTION_TEXT_MAX, PLAIN_OR_MRKDWN)
    fields = block.get("fields")
    if fields is not None:
        if not isinstance(fields, list):
            yield _at(f"{at}/fields", "must provide an array")
            return
        if len(fields) > SECTION_FIELDS_MAX:
            yield _at(f"{at}/fields", f"no more than {SECTION_FIELDS_MAX} items allowed")
        for index, item in enumerate(fields):
            yield from _text(item, f"{at}/fields/{index}", SECTION_FIELD_TEXT_MAX, PLAIN_OR_MRKDWN)
    if "accessory" in block:
        yield from _element(block["accessory"], f"{at}/accessory", set())


def _elements(block: dict[str, Any], at: str, limit: int) -> Iterator[str]:
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        yield _at(at, "missing required field: elements")
        return
    if len(elements) > limit:
        yield _at(f"{at}/elements", f"no more than {limit} items allowed")
    action_ids: set[str] = set()  # unique within the block
    for index, element in enumerate(elements):
        yield from _element(element, f"{at}/elements/{index}", action_ids)


def _context(block: dict[str, Any], at: str) -> Iterator[str]:
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        yield _at(at, "missing required field: elements")
        return
    if len(elements) > CONTEXT_ELEMENTS_MAX:
        yield _at(f"{at}/elements", f"no more than {CONTEXT_ELEMENTS_MAX} items allowed")
    for index, element in enumerate(elements):
        here = f"{at}/elements/{index}"
        if isinstance(element, dict) and element.get("type") == "image":
            yield from _element(element, here, set())
        else:
            yield from _text(element, here, TEXT_OBJECT_MAX, PLAIN_OR_MRKDWN)


def _image(image: dict[str, Any], at: str) -> Iterator[str]:
    yield from _required(image, "alt_text", at)
    yield from _string(image.get("alt_text"), f"{at}/alt_text", IMAGE_ALT_TEXT_MAX)
    if "image_url" not in image and "slack_file" not in image:
        yield _at(at, "missing required field: image_url")
    yield from _string(image.get("image_url"), f"{at}/image_url", IMAGE_URL_MAX)


def _element(element: Any, at: str, action_ids: set[str]) -> Iterator[str]:
    if not (isinstance(element, dict) and isinstance(element.get("type"), str)):
        yield _at(at, "must provide an object with a type")
        return
    kind = element["type"]
    if kind not in _SDK_ELEMENT_TYPES:
        yield _at(f"{at}/type", f"unsupported element type: {kind}")
        return
    yield from _extra(element, ELEMENT_PROPERTIES.get(kind), at)
    action_id = element.get("action_id")
    if isinstance(action_id, str):
        yield from _string(action_id, f"{at}/action_id", ACTION_ID_MAX)
        # https://docs.slack.dev/reference/block-kit/block-elements/button-element: "unique
        # among all other action_ids in the containing block".
        if action_id in action_ids:
            yield _at(f"{at}/action_id", f"duplicate action_id: {action_id}")
        action_ids.add(action_id)
    if "placeholder" in element:
        yield from _text(element["placeholder"], f"{at}/placeholder", PLACEHOLDER_MAX, PLAIN)
    if kind == "button":
        yield from _required(element, "text", at)
        yield from _text(element.get("text"), f"{at}/text", BUTTON_TEXT_MAX, PLAIN)
        yield from _string(element.get("value"), f"{at}/value", BUTTON_VALUE_MAX)
        yield from _string(element.get("url"), f"{at}/url", BUTTON_URL_MAX)
    elif kind in ("static_select", "multi_static_select"):
        yield from _select(element, at)
    elif kind in ("checkboxes", "radio_buttons", "overflow"):
        limit = {
            "checkboxes": CHECKBOX_OPTIONS_MAX,
            "radio_buttons": RADIO_OPTIONS_MAX,
            "overflow": OVERFLOW_OPTIONS_MAX,
        }[kind]
        yield from _options(element.get("options"), f"{at}/options", limit, PLAIN_OR_MRKDWN)
    elif kind == "plain_text_input":
        yield from _number(element.get("max_length"), f"{at}/max_length", 1, INPUT_MAX_LENGTH)
        yield from _number(element.get("min_length"), f"{at}/min_length", 0, INPUT_MAX_LENGTH)
    elif kind == "image":
        yield from _image(element, at)


def _select(element: dict[str, Any], at: str) -> Iterator[str]:
    if "options" in element:
        yield from _options(element["options"], f"{at}/options", SELECT_OPTIONS_MAX, PLAIN)
    groups = element.get("option_groups")
    if groups is None:
        if "options" not in element:
            yield _at(at, "missing required field: options")
        return
    if not isinstance(groups, list):
        yield _at(f"{at}/option_groups", "must provide an array")
        return
    if len(groups) > SELECT_OPTION_GROUPS_MAX:
        yield _at(f"{at}/option_groups", f"no more than {SELECT_OPTION_GROUPS_MAX} items allowed")
    for index, group in enumerate(groups):
        here = f"{at}/option_groups/{index}"
        if not isinstance(group, dict):
            yield _at(here, "must provide an object")
            continue
        yield from _text(group.get("label"), f"{here}/label", OPTION_GROUP_LABEL_MAX, PLAIN)
        yield from _options(group.get("options"), f"{here}/options", SELECT_OPTIONS_MAX, PLAIN)


def _options(options: Any, at: str, limit: int, kinds: tuple[str, ...]) -> Iterator[str]:
    if not isinstance(options, list) or not options:
        yield _at(at, "must provide an array with at least 1 item")
        return
    if len(options) > limit:
        yield _at(at, f"no more than {limit} items allowed")
    for index, option in enumerate(options):
        here = f"{at}/{index}"
        if not isinstance(option, dict):
            yield _at(here, "must provide an object")
            continue
        yield from _extra(option, OPTION_PROPERTIES, here)
        yield from _required(option, "text", here)
        yield from _text(option.get("text"), f"{here}/text", OPTION_TEXT_MAX, kinds)
        yield from _required(option, "value", here)
        yield from _string(option.get("value"), f"{here}/value", OPTION_VALUE_MAX)
        if "description" in option:
            yield from _text(
                option["description"], f"{here}/description", OPTION_DESCRIPTION_MAX, kinds
            )


# -- leaves ----------------------------------------------------------------------------------


def _text(obj: Any, at: str, limit: int, kinds: tuple[str, ...]) -> Iterator[str]:
    """A text object: a type Slack takes here, 1 to `limit` characters, nothing extra."""
    if obj is None:
        return  # a missing required text is said by _required
    if not isinstance(obj, dict):
        yield _at(at, "must provide an object")
        return
    found: list[str] = []
    kind = obj.get("type")
    if kind not in kinds:
        found.append(_at(f"{at}/type", f"must be one of: {', '.join(kinds)}"))
    else:
        found += _extra(obj, TEXT_PROPERTIES[kind], at)
    text = obj.get("text")
    if not isinstance(text, str):
        found.append(_at(at, "missing required field: text"))
    elif not text:
        found.append(_at(f"{at}/text", "must be more than 0 characters"))
    else:
        found += _string(text, f"{at}/text", limit)
    if found and len(kinds) > 1:
        # Slack tries each kind of text object in turn, and says so first.
        yield _at(at, "failed to match all allowed schemas")
    yield from found


def _string(value: Any, at: str, limit: int) -> Iterator[str]:
    if value is None:
        return
    if not isinstance(value, str):
        yield _at(at, "must be a string")
    elif len(value) > limit:
        yield _at(at, f"must be less than {limit + 1} characters")


def _number(value: Any, at: str, least: int, most: int) -> Iterator[str]:
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        yield _at(at, "must be an integer")
    elif value < least:
        yield _at(at, f"must be greater than {least - 1}")
    elif value > most:
        yield _at(at, f"must be less than {most + 1}")


def _required(obj: dict[str, Any], name: str, at: str) -> Iterator[str]:
    if name not in obj:
        yield _at(at, f"missing required field: {name}")


def _extra(obj: dict[str, Any], allowed: set[str] | None, at: str) -> Iterator[str]:
    if allowed is None:
        return
    for name in sorted(set(obj) - allowed):
        yield _at(at, f"invalid additional property: {name}")


def _sdk_problems(build: Any, at: str) -> list[str]:
    """slack_sdk's verdict on one block or view: its validators' message, at `at`."""
    try:
        model = build()
        if model is None:
            return [_at(at, "failed to match all allowed schemas")]
        model.to_dict()  # validates the whole tree
    except SlackObjectFormationError as problem:
        return [_at(at, str(problem))]
    except (TypeError, KeyError, AttributeError, ValueError):
        # A required argument missing, or of the wrong shape, for the SDK's constructors.
        return [_at(at, "failed to match all allowed schemas")]
    return []


def _at(pointer: str, problem: str) -> str:
    return f"{problem} [json-pointer:{pointer}]"


def decoded(value: Any) -> Any:
    """JSON-looking strings (how form-encoded arguments arrive) as what they encode."""
    if isinstance(value, str) and value.strip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _all_subclasses(cls: type) -> Iterator[type]:
    for subclass in cls.__subclasses__():
        yield subclass
        yield from _all_subclasses(subclass)


# The block and element types slack_sdk knows: Slack's set, as its own client library has it.
_SDK_BLOCK_TYPES = frozenset(
    kind for cls in _all_subclasses(Block) if isinstance(kind := getattr(cls, "type", None), str)
)
_SDK_ELEMENT_TYPES = frozenset(
    kind
    for cls in _all_subclasses(BlockElement)
    if isinstance(kind := getattr(cls, "type", None), str)
)
