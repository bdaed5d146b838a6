"""Teams' rules as the fake applies them: the schema files, their corrections, the wording."""

import hashlib
import json
import re

import fastjsonschema
import pytest

from bot.teams.cards import build_reply_card
from handlers.core.reply import Button, say
from tests.fakes.teams_rules import (
    _SCHEMA_CORRECTIONS,
    SCHEMA_DIR,
    _card_validator,
    _fast_card_check,
    _validator,
    card_problems,
    card_versions,
    invoke_response_problems,
    manifest_problems,
    message_bytes,
)

CARD = {"type": "AdaptiveCard", "version": "1.5", "body": []}
FILTERED = {"type": "Input.ChoiceSet", "id": "p", "choices": [], "style": "filtered"}
EXPANDABLE = {"type": "Image", "url": "https://example.org/a.png", "msteams": {"allowExpand": True}}


def published(version: str):
    """Microsoft's schema exactly as published, without our corrections."""
    return _validator(json.loads((SCHEMA_DIR / f"adaptive-card-{version}.json").read_text()))


def test_the_schema_files_are_the_ones_the_readme_names():
    readme = (SCHEMA_DIR / "README.md").read_text()
    listed = dict(
        (name, digest) for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+)$", readme, re.M)
    )
    files = sorted(path.name for path in SCHEMA_DIR.glob("*.json"))

    assert sorted(listed) == files
    for name in files:
        assert hashlib.sha256((SCHEMA_DIR / name).read_bytes()).hexdigest() == listed[name], name
    assert card_versions() == ("1.5",)


@pytest.mark.parametrize("element", [FILTERED, EXPANDABLE], ids=["filtered", "msteams"])
def test_each_correction_is_still_needed_and_still_enough(element):
    card = {**CARD, "body": [element]}

    assert list(published("1.5").iter_errors(card)), "fixed upstream: drop the correction"
    assert card_problems(card) == []
    assert set(_SCHEMA_CORRECTIONS) <= set(card_versions())


def test_problems_name_the_element_and_what_is_wrong():
    card = {
        **CARD,
        "body": [
            {"type": "Container", "items": [{"type": "RichTextBlock", "inlines": [{"x": 1}]}]},
            {"type": "Input.ChoiceSet", "id": "p", "choices": [], "style": "Filtered"},
        ],
    }

    assert card_problems(card) == [
        "$.body[0].items[0].inlines[0]: 'type' is a required property",
        "$.body[0].items[0].inlines[0]: 'text' is a required property",
        "$.body[0].items[0].inlines[0]: Additional properties are not allowed ('x' was unexpected)",
        "$.body[1].style: 'Filtered' is not one of ['compact', 'expanded', 'filtered']",
    ]


def test_invoke_answers_are_checked_for_their_envelope_and_their_card():
    card = {**CARD, "body": [{"type": "RichTextBlock", "inlines": ["Done"]}]}
    good = {"statusCode": 200, "type": "application/vnd.microsoft.card.adaptive", "value": card}

    assert invoke_response_problems(good) == []
    assert invoke_response_problems({**good, "value": {**card, "version": "1.9"}})[-1] == (
        "value: Adaptive Card version '1.9' is not supported (schemas here: 1.5)"
    )
    assert invoke_response_problems({**good, "statusCode": 201}) == [
        "statusCode: Input should be 200"
    ]
    assert invoke_response_problems({**good, "type": "text/plain"})[0].startswith(
        "type: 'text/plain' is not one of"
    )


def invoke_answer(text: str) -> dict:
    run = {"type": "TextRun", "text": text}
    card = {**CARD, "body": [{"type": "RichTextBlock", "inlines": [run]}]}
    return {"statusCode": 200, "type": "application/vnd.microsoft.card.adaptive", "value": card}


def compact(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def test_an_invoke_answer_over_100_000_bytes_of_utf16_is_refused_as_a_message_would_be():
    # ASCII is 2 bytes a character in UTF-16: one character more is 2 bytes over.
    room = (100_000 - message_bytes(compact(invoke_answer("")))) // 2
    fits, over = invoke_answer("x" * room), invoke_answer("x" * (room + 1))
    assert message_bytes(compact(fits)) == 100_000

    assert invoke_response_problems(fits) == []
    assert invoke_response_problems(over) == [
        "100,002 bytes as Teams counts them (UTF-16), over the limit of 100,000 "
        "(413 MessageSizeTooBig)"
    ]
    # Counted as the bot sent it: its spacing counts too.
    assert invoke_response_problems(fits, json.dumps(fits, indent=1)) != []


def test_an_invoke_answer_is_counted_in_utf16_not_utf8():
    # Welsh names are mostly ASCII: 1 byte a character in UTF-8, 2 in UTF-16.
    answer = invoke_answer("Siân Llŷr " * 6_000)
    assert len(compact(answer).encode("utf-8")) < 100_000 < message_bytes(compact(answer))

    assert invoke_response_problems(answer)[0].endswith("(413 MessageSizeTooBig)")


def test_a_manifest_is_checked_against_the_schema_for_its_version():
    manifest = {"manifestVersion": "1.19", "id": "not-a-guid", "unknown": True}

    problems = manifest_problems(manifest)

    assert "$: Additional properties are not allowed ('unknown' was unexpected)" in problems
    assert any(problem.startswith("$.id: 'not-a-guid' does not match") for problem in problems)
    assert "$: 'bots' is a required property" not in problems  # bots are optional
    assert manifest_problems({"manifestVersion": "1.5"}) == [
        f"no Teams manifest schema for manifestVersion '1.5' in {SCHEMA_DIR}"
    ]


def test_the_quick_check_and_the_explaining_one_agree():
    from tests.fakes.test_teams_connector import INVALID_CARDS

    valid = [
        {**CARD, "body": [FILTERED]},
        {**CARD, "body": [EXPANDABLE]},
        build_reply_card(say("Hello " * 200, heading="Hi", buttons=(Button("Go", "go", "1"),))),
    ]
    invalid = [card for card, _ in INVALID_CARDS if isinstance(card, dict) and "version" in card]
    validator = _card_validator("1.5")
    assert validator is not None and invalid

    for card in valid + invalid:
        explained = list(validator.iter_errors(card))
        try:
            _fast_card_check("1.5")(card)
        except fastjsonschema.JsonSchemaException:
            quick = False
        else:
            quick = True
        assert quick == (not explained), (card, explained)
