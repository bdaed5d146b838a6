"""What Slack and Teams accept in one message, checked in one place for every size test.

The platforms' rules are the fakes' own (`tests.fakes.slack_rules`: slack_sdk's Block Kit models
and Slack's documented limits; `tests.fakes.teams_rules`: the Teams SDK's activity models and
Microsoft's Adaptive Card schema), so a message these checks pass is one the fakes accept. On
top, what is stricter than the platforms on purpose: Slack's limits counted in UTF-16 units (an
emoji counts twice, never less than Slack counts), Teams within our own 40 KB, and cards the bot
can read back.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.teams.cards import CARD_VERSION, MESSAGE_BUDGET_UTF16, card_utf16_bytes
from tests.fakes import slack_rules
from tests.fakes.slack_rules import walk
from tests.fakes.teams_rules import activity_problems, card_problems

SLACK_MESSAGE_BLOCKS = 50
SLACK_VIEW_BLOCKS = 100
SLACK_SECTION_TEXT = 3000
SLACK_HEADER_TEXT = 150
SLACK_BUTTON_TEXT = 75
SLACK_BUTTON_VALUE = 2000
SLACK_ACTIONS_ELEMENTS = 25
SLACK_OPTION_TEXT = 75
SLACK_OPTIONS = 100
SLACK_ID = 255  # action_id, block_id
SLACK_TEXT = 40_000  # a message's top-level text
TEAMS_ACTIONS_PER_SET = 6
TEAMS_TEXT_ELEMENTS = {"RichTextBlock"}
TEAMS_INPUTS = {"Input.Text", "Input.ChoiceSet"}


def units(text: str) -> int:
    """Length in UTF-16 code units: the stricter of Slack's and Teams' ways of counting."""
    return len(text.encode("utf-16-le")) // 2


def check_slack_blocks(blocks: list[dict[str, Any]], *, most: int) -> None:
    """Blocks Slack accepts: valid per slack_sdk, within its documented limits."""
    assert 1 <= len(blocks) <= most, f"{len(blocks)} blocks (Slack takes 1 to {most})"
    for block, parsed in zip(blocks, Block.parse_all(blocks), strict=True):
        assert parsed is not None, f"not a block slack_sdk knows: {block.get('type')}"
        parsed.to_dict()  # validates the block and everything in it (raises if Slack would)
        kind = block["type"]
        if kind == "section":
            text = block["text"]["text"]
            assert text.strip() and units(text) <= SLACK_SECTION_TEXT, units(text)
        elif kind == "header":
            assert 0 < units(block["text"]["text"]) <= SLACK_HEADER_TEXT
        elif kind == "actions":
            assert 1 <= len(block["elements"]) <= SLACK_ACTIONS_ELEMENTS
        assert units(block.get("block_id", "")) <= SLACK_ID
    for element in walk(blocks):
        if element.get("type") == "button":
            assert 0 < units(element["text"]["text"]) <= SLACK_BUTTON_TEXT
            assert len(element.get("value", "")) <= SLACK_BUTTON_VALUE
        if "action_id" in element:
            assert len(element["action_id"]) <= SLACK_ID
        if "options" in element:
            assert len(element["options"]) <= SLACK_OPTIONS
            assert all(units(o["text"]["text"]) <= SLACK_OPTION_TEXT for o in element["options"])


def check_slack_message(text: str, blocks: list[dict[str, Any]]) -> None:
    """A chat.postMessage (or ephemeral, or response_url) Slack accepts."""
    assert 0 < len(text) <= SLACK_TEXT
    refusal = slack_rules.message_refusal({"text": text, "blocks": blocks})
    assert refusal is None, refusal.answer()
    check_slack_blocks(blocks, most=SLACK_MESSAGE_BLOCKS)


def check_slack_view(view: dict[str, Any]) -> None:
    """A modal or App Home view Slack accepts."""
    View(**view).to_dict()  # the view's own rules: type, title, 1 to 100 blocks
    refusal = slack_rules.view_refusal(view)
    assert refusal is None, refusal.answer()
    check_slack_blocks(view["blocks"], most=SLACK_VIEW_BLOCKS)


def check_teams_message(message: dict[str, Any], *, budget: int = MESSAGE_BUDGET_UTF16) -> None:
    """A message activity within our 40 KB (as Teams counts: UTF-16), its card intact."""
    size = card_utf16_bytes(message)
    assert size <= budget, f"{size:,} bytes as Teams counts them (we keep within {budget:,})"
    assert activity_problems(message) == []
    (attachment,) = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    check_teams_card(attachment["content"])


def check_teams_card(card: dict[str, Any]) -> None:
    """A card whose every element is one the bot builds and reads back."""
    assert card_problems(card) == []
    assert card["type"] == "AdaptiveCard" and card["version"] == CARD_VERSION
    assert card["body"], "an empty card"
    for element in card["body"]:
        kind = element["type"]
        assert kind in TEAMS_TEXT_ELEMENTS | TEAMS_INPUTS | {"ActionSet"}, kind
        if kind == "RichTextBlock":
            assert [run["type"] for run in element["inlines"]] == ["TextRun"]
            assert element["inlines"][0]["text"].strip()
        if kind == "ActionSet":
            assert 1 <= len(element["actions"]) <= TEAMS_ACTIONS_PER_SET
            for action in element["actions"]:
                assert action["type"] == "Action.Execute" and action["title"]
                assert action["verb"] and isinstance(action["data"], dict)


def teams_texts(card: dict[str, Any]) -> list[str]:
    """Every line of words on a card, in order."""
    return [
        "".join(run["text"] for run in element["inlines"])
        for element in card["body"]
        if element["type"] == "RichTextBlock"
    ]


def teams_buttons(card: dict[str, Any]) -> list[dict[str, Any]]:
    """Every button on a card, in order."""
    return [e for e in walk(card["body"]) if e.get("type") == "Action.Execute"]


def slack_texts(blocks: list[dict[str, Any]]) -> str:
    """Every word in the blocks, in order (section and header text)."""
    return "\n".join(b["text"]["text"] for b in blocks if b["type"] in ("section", "header"))


def slack_buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every button in the blocks, in order."""
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
