"""What Teams accepts from a bot: message size, Adaptive Card schemas, SDK models, app manifest.

The fake Bot Connector (tests/fakes/teams_connector.py) applies these to every activity it is
sent; tests apply them to what never goes through the Connector: the card a bot answers an
``adaptiveCard/action`` invoke with (`invoke_response_problems`) and the app manifest
(`manifest_problems`). Each ``*_problems`` function answers a list of plain-English problems,
empty when Teams would take the thing.

Size. Microsoft's "Format your bot messages" (learn.microsoft.com/microsoftteams/platform/bots/
how-to/format-your-bot-messages): "The bot message size limit is 100 KB", counting the message
"encoded as UTF-16"; over it the bot gets 413 with the code MessageSizeTooBig (the page also
advises staying within 80 KB, and said 40 KB until 2025). The limit is approximate (the page does
not say whether a KB is 1,000 or 1,024 bytes, nor what else Teams adds), so the stricter reading
is taken: the JSON text as sent, encoded as UTF-16, may be at most 100,000 bytes. The same page
says base64 images are not counted; nobody here has tried that against real Teams, so they are
counted: nothing is exempt. The limit applies to activities and to invoke answers alike.

Cards. Every Adaptive Card is validated against Microsoft's published JSON schema for the
version it declares (tests/data/schemas/adaptive-card-<version>.json; where it comes from is in
the README there), with the validator for the JSON Schema draft the file declares. A card
without a version, or with one that has no schema there, is refused. Where the published schema
is known to be wrong, `_SCHEMA_CORRECTIONS` says so, with the upstream reference: that is the
one place to add another. Answering 400 BadArgument for a card that fails the schema is a guard
for tests, not what Teams always does: Teams sometimes answers 400 (microsoft/AdaptiveCards#3357)
but often takes the message and shows "We're sorry, this card couldn't be displayed"
(MicrosoftDocs/msteams-docs#8105), which is worse, as the person sees nothing useful.

SDK models. The activity must also parse as one of the Teams SDK's outgoing activity models
(`microsoft_teams.api.ActivityParams`: a message, reaction or typing activity), which checks its
type and the types of its fields. The SDK's card model (`microsoft_teams.cards.AdaptiveCard`)
is not used on cards: it types only the card's top level, and reads every body element as a
bare `CardElement` that allows anything, so it catches nothing the schema does not. Invoke
answers are parsed with the SDK's `AdaptiveCardActionResponse`, which checks their envelope
(statusCode, type, value) before the card in them is checked against the schema and the answer
against the size limit.
"""

from __future__ import annotations

import copy
import functools
import json
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema
from jsonschema.exceptions import ValidationError
from pydantic import TypeAdapter
from pydantic import ValidationError as ModelError

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "data" / "schemas"
MAX_MESSAGE_BYTES = 100_000  # bytes of UTF-16, the stricter reading of "100 KB": see above
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
_MESSAGE_MAX = 300  # characters of one problem; schema messages quote whole elements
Schema = dict[str, Any]


def message_bytes(text: str) -> int:
    """The size of an activity's JSON text as Teams counts it: UTF-16, in bytes."""
    return len(text.encode("utf-16-le"))


# -- corrections to the published Adaptive Card schema -------------------------------------------


def _choice_set_filtered(schema: Schema) -> None:
    # Input.ChoiceSet `"style": "filtered"` (typeahead) is Adaptive Cards 1.5: the renderers
    # shipped it for 1.5 (microsoft/AdaptiveCards#5994, sample samples/v1.5/Elements/
    # Input.ChoiceSet.Filtered.json) and the schema source marks it "version": "1.5"
    # (schemas/src/enums/ChoiceInputStyle.json, microsoft/AdaptiveCards#6550 fixing #6549), but
    # the generated schemas/1.5.0/adaptive-card.json was never regenerated and lacks it; the
    # 1.6.0 file has it. Only the lower-case spelling is added (the file's case-insensitive
    # pattern is left as published).
    enum = schema["definitions"]["ChoiceInputStyle"]["anyOf"][0]["enum"]
    if "filtered" not in enum:
        enum.append("filtered")


def _teams_msteams_property(schema: Schema) -> None:
    # Teams' own extension property `msteams`, documented in "Format cards in Microsoft Teams"
    # (learn.microsoft.com/microsoftteams/platform/task-modules-and-cards/cards/cards-format):
    # on the card, {"width": "Full"} and {"entities": [...]} for mentions; on an Image,
    # {"allowExpand": true} (Stageview). The published schema has no `msteams` and forbids
    # unknown properties, so it refuses cards Teams documents: microsoft/AdaptiveCards#8603
    # (open; duplicates #8736 and MicrosoftDocs/msteams-docs#8954). Only the documented keys
    # are allowed.
    definitions = schema["definitions"]
    definitions["AdaptiveCard"]["properties"]["msteams"] = {
        "type": "object",
        "properties": {
            "width": {"enum": ["Full"]},
            "entities": {"type": "array", "items": {"type": "object"}},
        },
        "additionalProperties": False,
    }
    definitions["Image"]["properties"]["msteams"] = {
        "type": "object",
        "properties": {"allowExpand": {"type": "boolean"}},
        "additionalProperties": False,
    }


_SCHEMA_CORRECTIONS: dict[str, tuple[Callable[[Schema], None], ...]] = {
    "1.5": (_choice_set_filtered, _teams_msteams_property),
}
"""Per card version, the fixes applied to Microsoft's published schema as it is loaded."""


# -- validators ----------------------------------------------------------------------------------


def card_versions() -> tuple[str, ...]:
    """The Adaptive Card versions with a published schema in tests/data/schemas."""
    names = sorted(SCHEMA_DIR.glob("adaptive-card-*.json"))
    return tuple(path.stem.removeprefix("adaptive-card-") for path in names)


@functools.cache
def _card_validator(version: str) -> jsonschema.protocols.Validator | None:
    path = SCHEMA_DIR / f"adaptive-card-{version}.json"
    if not path.is_file():
        return None
    schema = json.loads(path.read_text(encoding="utf-8"))
    for correct in _SCHEMA_CORRECTIONS.get(version, ()):
        correct(schema)
    return _validator(schema)


@functools.cache
def _fast_card_check(version: str) -> Callable[[Any], Any]:
    """The same schema compiled to Python (fastjsonschema): 30 times quicker on a valid card.

    Every message the suite sends is checked, so the check's speed is the suite's; the slower,
    explaining validator runs only on a card this one refuses (its messages say what is wrong).
    `test_teams_rules` shows the two agree, on cards Teams takes and cards it refuses.
    """
    validator = _card_validator(version)
    assert validator is not None
    # A copy: compiling rewrites the schema it is given. No defaults: filling them in would
    # change the card the fake keeps (and the test's view of what the bot sent).
    return fastjsonschema.compile(copy.deepcopy(validator.schema), use_default=False)


@functools.cache
def _manifest_validator(version: str) -> jsonschema.protocols.Validator | None:
    path = SCHEMA_DIR / f"teams-manifest-{version}.json"
    if not path.is_file():
        return None
    return _validator(json.loads(path.read_text(encoding="utf-8")))


def _validator(schema: Schema) -> jsonschema.protocols.Validator:
    """A validator for the draft the schema declares, checking the formats it can."""
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


@functools.cache
def _activity_model() -> TypeAdapter[Any]:
    from microsoft_teams.api import ActivityParams

    return TypeAdapter(ActivityParams)


@functools.cache
def _invoke_answer_models() -> dict[str, TypeAdapter[Any]]:
    """The SDK's models of an ``adaptiveCard/action`` answer, by the `type` each carries."""
    from microsoft_teams.api.models.adaptive_card.adaptive_card_action_response import (
        AdaptiveCardActionResponse,
    )

    models = typing.get_args(AdaptiveCardActionResponse)
    return {model.model_fields["type"].default: TypeAdapter(model) for model in models}


# -- the checks ----------------------------------------------------------------------------------


def card_problems(card: Any) -> list[str]:
    """Why Teams would refuse this Adaptive Card (empty if it would take it)."""
    if not isinstance(card, dict):
        return [f"an Adaptive Card must be a JSON object, not {type(card).__name__}"]
    version = card.get("version")
    if version is None:
        return ["the card has no version (required on a top-level card)"]
    validator = _card_validator(str(version)) if isinstance(version, str) else None
    if validator is None:
        known = ", ".join(card_versions())
        return [f"Adaptive Card version {version!r} is not supported (schemas here: {known})"]
    try:
        _fast_card_check(version)(card)
    except fastjsonschema.JsonSchemaException as refused:
        return _schema_problems(validator, card) or [_shorten(str(refused))]
    return []


def activity_problems(activity: Any) -> list[str]:
    """Why the Bot Connector would refuse this activity (not counting its size)."""
    if not isinstance(activity, dict) or not activity.get("type"):
        return ["An activity needs a type."]
    problems = _model_problems(_activity_model(), activity)
    attachments = activity.get("attachments")
    for index, attachment in enumerate(attachments if isinstance(attachments, list) else []):
        if isinstance(attachment, dict) and attachment.get("contentType") == CARD_CONTENT_TYPE:
            where = f"attachments[{index}].content"
            problems += [
                f"{where}: {problem}" for problem in card_problems(attachment.get("content"))
            ]
    return problems


def size_problems(text: str) -> list[str]:
    """Why Teams would refuse this JSON text for its size (empty if it fits)."""
    size = message_bytes(text)
    if size <= MAX_MESSAGE_BYTES:
        return []
    return [
        f"{size:,} bytes as Teams counts them (UTF-16), over the limit of "
        f"{MAX_MESSAGE_BYTES:,} (413 MessageSizeTooBig)"
    ]


def invoke_response_problems(body: Any, text: str | None = None) -> list[str]:
    """Why Teams would not show this answer to an ``adaptiveCard/action`` invoke.

    `text` is the answer's JSON as the bot sent it; without it, the body's most compact JSON.
    """
    if not isinstance(body, dict):
        return ["an invoke answer must be a JSON object"]
    if text is None:
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    model = _invoke_answer_models().get(body.get("type"))
    if model is None:
        return [f"type: {body.get('type')!r} is not one of {sorted(_invoke_answer_models())}"]
    problems = size_problems(text) + _model_problems(model, body)
    if body["type"] == CARD_CONTENT_TYPE:
        problems += [f"value: {problem}" for problem in card_problems(body.get("value"))]
    return problems


def manifest_problems(manifest: Any) -> list[str]:
    """Why Teams would refuse this app manifest, by Microsoft's schema for its manifestVersion."""
    if not isinstance(manifest, dict):
        return ["a manifest must be a JSON object"]
    version = manifest.get("manifestVersion")
    validator = _manifest_validator(str(version)) if isinstance(version, str) else None
    if validator is None:
        return [f"no Teams manifest schema for manifestVersion {version!r} in {SCHEMA_DIR}"]
    return _schema_problems(validator, manifest)


# -- wording -------------------------------------------------------------------------------------


def _schema_problems(validator: jsonschema.protocols.Validator, instance: Any) -> list[str]:
    errors = sorted(validator.iter_errors(instance), key=lambda error: list(error.absolute_path))
    return [_shorten(f"{e.json_path}: {e.message}") for error in errors for e in _leaves(error)]


def _leaves(error: ValidationError) -> Iterator[ValidationError]:
    """The errors that say what is wrong, out of the schema's "any of these types" layers.

    Adaptive Card schemas list every element type as a branch of an ``anyOf``; an element
    failing fails every branch. The branch for the element's own ``type`` is the one to explain;
    when no branch has its type, the type itself is the problem.
    """
    if error.validator not in ("anyOf", "oneOf") or not error.context:
        yield error
        return
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(int(sub.relative_schema_path[0]), []).append(sub)
    fitting = [subs for subs in branches.values() if not any(map(_wrong_kind, subs))]
    if fitting:
        for sub in min(fitting, key=len):
            yield from _leaves(sub)
        return
    kinds = sorted(
        {
            str(value)
            for subs in branches.values()
            for sub in subs
            if _wrong_kind(sub) and sub.validator == "enum"
            for value in sub.validator_value
        }
    )
    if isinstance(error.instance, dict) and "type" in error.instance and kinds:
        error.message = f"unknown type {error.instance['type']!r} here; one of: {', '.join(kinds)}"
    yield error


def _wrong_kind(error: ValidationError) -> bool:
    """True when the branch is for another kind of thing (another element type, JSON type)."""
    path = list(error.relative_path)
    if path == ["type"] and error.validator in ("enum", "const"):
        return True
    return not path and error.validator == "type"


def _model_problems(model: TypeAdapter[Any], value: Any) -> list[str]:
    try:
        model.validate_python(value)
    except ModelError as error:
        return [
            _shorten(f"{'.'.join(map(str, detail['loc'])) or '(top)'}: {detail['msg']}")
            for detail in error.errors()
        ]
    return []


def _shorten(text: str) -> str:
    return text if len(text) <= _MESSAGE_MAX else text[: _MESSAGE_MAX - 1] + "…"
