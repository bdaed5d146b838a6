"""Adaptive Cards built from replies and forms, and invoke values read back, without any Teams."""

import base64
import io
import json
import os
from datetime import date, timedelta

import pytest
from microsoft_teams.api.activities.message import MessageActivityInput
from microsoft_teams.api.models import AdaptiveCardInvokeValue
from microsoft_teams.api.models.adaptive_card.adaptive_card_action_response import (
    AdaptiveCardActionCardResponse,
)
from microsoft_teams.cards import core as sdk
from PIL import Image as PILImage

from bot.teams.cards import (
    ACTIONS_PER_SET,
    CARD_BUDGET_UTF16,
    CARD_CONTENT_TYPE,
    CHOICES_BEFORE_FILTER,
    IMAGE_CARD_MAX_BYTES,
    TEXT_INPUT_MAX,
    TRUNCATED_NOTE,
    ButtonPress,
    FormSubmission,
    build_command_reply,
    build_form_card,
    build_image_card,
    build_image_words_card,
    build_invoke_response,
    build_reply_card,
    card_bytes,
    card_utf16_bytes,
    fallback_text,
    read_card_action,
)
from handlers.core import ids
from handlers.core.reply import (
    Button,
    Choice,
    Form,
    FormField,
    Image,
    Reply,
    Section,
    png_size,
    refuse,
    say,
)
from handlers.evidence.charts import run_chart
from handlers.evidence.run_chart import analyse
from tests.bot.message_limits import check_teams_message
from tests.fakes.teams_rules import card_problems

NASTY = "*Falls* _prevention_ [x](http://evil) <at>Everyone</at> # heading"

# The SDK's own models for every element type we emit. They accept unknown types and unknown
# properties (extra="allow"), so the tests also check both explicitly.
MODELS = {
    "AdaptiveCard": sdk.AdaptiveCard,
    "RichTextBlock": sdk.RichTextBlock,
    "TextRun": sdk.TextRun,
    "ActionSet": sdk.ActionSet,
    "Action.Execute": sdk.ExecuteAction,
    "Input.ChoiceSet": sdk.ChoiceSetInput,
    "Input.Text": sdk.TextInput,
    "Image": sdk.Image,
}


def elements(node):
    """Every typed object in a card, depth first, in order."""
    if isinstance(node, dict):
        if "type" in node:
            yield node
        for value in node.values():
            yield from elements(value)
    elif isinstance(node, list):
        for item in node:
            yield from elements(item)


def check(card):
    """The card meets Microsoft's schema and the SDK's models, with nothing they don't know."""
    assert card["version"] == "1.5"
    assert card_problems(card) == []
    for element in elements(card):
        model = MODELS.get(element["type"])
        assert model is not None, f"unexpected element type {element['type']}"
        parsed = model.model_validate(element)
        unknown = set(parsed.model_extra or {}) - (
            {"$schema"} if model is sdk.AdaptiveCard else set()
        )
        assert unknown == set(), f"{element['type']} has unknown properties {unknown}"
        if element["type"] == "Input.ChoiceSet":
            for choice in element["choices"]:
                assert sdk.Choice.model_validate(choice).model_extra == {}
        if element["type"] == "Image":
            assert sdk.TeamsImageProperties.model_validate(element["msteams"]).model_extra == {}
    return card


def types(card):
    return [e["type"] for e in card["body"]]


def runs(card):
    return [e["text"] for e in elements(card) if e["type"] == "TextRun"]


def actions(card):
    return [e for e in elements(card) if e["type"] == "Action.Execute"]


def invoke(action, **inputs):
    """The invoke value Teams sends for a pressed Action.Execute: inputs merged into data."""
    return {
        "action": {
            "type": "Action.Execute",
            "verb": action["verb"],
            "data": {**action["data"], **inputs},
        },
        "trigger": "manual",
    }


def png(width, height, *, noise=False):
    if noise:
        picture = PILImage.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    else:
        picture = PILImage.new("RGB", (width, height), "white")
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


NUDGE = Reply(
    sections=(
        Section(
            heading="Falls prevention: your weekly QI nudge",
            text="Last week: 12 falls.\nThe week before: 15.",
            buttons=(
                Button("Add this week's figure", ids.OPEN_SNOOZE, "7", primary=True),
                Button("Ask the forum", ids.ASK_FORUM, "7"),
                Button("Stop these reminders", ids.MUTE_NUDGES, "off"),
            ),
        ),
    )
)

JOIN_FORM = Form(
    form_id=ids.JOIN_FORM,
    title="Join a QI team",
    context="42",
    fields=(
        FormField("target", "Which team?", choices=(Choice("Falls", "1"), Choice("Forum", "f:1"))),
        FormField("name", "Your name as you like it", optional=True, hint="e.g. Sam"),
    ),
    submit_label="Join",
)


def test_a_nudge_renders_headings_text_and_buttons_as_execute_actions():
    card = check(build_reply_card(NUDGE))

    assert card["type"] == "AdaptiveCard"
    assert types(card) == ["RichTextBlock", "RichTextBlock", "RichTextBlock", "ActionSet"]
    heading = card["body"][0]["inlines"][0]
    assert heading == {
        "type": "TextRun",
        "text": "Falls prevention: your weekly QI nudge",
        "weight": "Bolder",
        "size": "Medium",
    }
    assert runs(card)[1:] == ["Last week: 12 falls.", "The week before: 15."]
    assert card["body"][2]["spacing"] == "None"  # one paragraph, two lines

    buttons = actions(card)
    assert [b["verb"] for b in buttons] == [ids.OPEN_SNOOZE, ids.ASK_FORUM, ids.MUTE_NUDGES]
    assert [b["data"] for b in buttons] == [
        {"action": ids.OPEN_SNOOZE, "value": "7"},
        {"action": ids.ASK_FORUM, "value": "7"},
        {"action": ids.MUTE_NUDGES, "value": "off"},
    ]
    assert [b.get("style") for b in buttons] == ["positive", None, None]
    assert {b["associatedInputs"] for b in buttons} == {"none"}
    assert card["fallbackText"].startswith("Falls prevention: your weekly QI nudge Last week")


def test_people_s_words_are_never_markdown_links_or_mentions():
    name = NASTY + " {{DATE(2017-02-14T06:08:39Z, SHORT)}}"
    reply = Reply(
        sections=(Section(heading=name, text=f"{name} joined.", buttons=(Button(name, "rsvp"),)),),
        form=Form(
            "add_member_form",
            title=name,
            fields=(FormField("who", name, choices=(Choice(name, "1"),), hint=name),),
        ),
    )
    card = check(build_reply_card(reply))

    # No TextBlock anywhere: all text is in TextRuns, which Teams never reads as Markdown.
    assert "TextBlock" not in {e["type"] for e in elements(card)}
    shown = [text.replace("\u200b", "") for text in runs(card)]
    assert shown == [name, f"{name} joined.", name]
    # The date function can't fire: its braces are kept apart by a zero-width space.
    assert all("{{" not in text for text in runs(card))
    # Nobody is pinged: mentions need msteams.entities, which our cards never carry.
    assert "msteams" not in card and "entities" not in json.dumps(card)
    # Everywhere else the words are plain-text properties, unchanged.
    assert actions(card)[0]["title"] == name
    field = next(e for e in elements(card) if e["type"] == "Input.ChoiceSet")
    assert (field["label"], field["placeholder"], field["choices"][0]["title"]) == (name,) * 3
    assert fallback_text(reply).startswith(name)


def test_commands_are_shown_as_typed_on_teams_without_the_slash():
    reply = say(
        "Type /qi-join Falls prevention as carer, or see /qi-help. "
        "Links keep theirs: https://example.org/qi-join and /tmp/qi-join and a/qi-x."
    )
    card = check(build_reply_card(reply))

    expected = (
        "Type qi-join Falls prevention as carer, or see qi-help. "
        "Links keep theirs: https://example.org/qi-join and /tmp/qi-join and a/qi-x."
    )
    assert runs(card) == [expected]
    assert fallback_text(reply) == expected


def test_long_rows_of_buttons_are_split_into_action_sets_teams_shows_in_full():
    buttons = tuple(Button(f"B{i}", ids.RSVP, f"7:{i}") for i in range(ACTIONS_PER_SET * 2 + 1))
    card = check(build_reply_card(Reply(sections=(Section(text="Pick", buttons=buttons),))))

    sets = [e for e in card["body"] if e["type"] == "ActionSet"]
    assert [len(s["actions"]) for s in sets] == [ACTIONS_PER_SET, ACTIONS_PER_SET, 1]
    assert [a["data"]["value"] for a in actions(card)] == [b.value for b in buttons]


def test_a_form_renders_labelled_inputs_and_one_submit_carrying_form_and_context():
    card = check(build_reply_card(Reply(sections=(Section(text="Pick a team"),), form=JOIN_FORM)))

    assert types(card) == [
        "RichTextBlock",
        "RichTextBlock",
        "Input.ChoiceSet",
        "Input.Text",
        "ActionSet",
    ]
    assert runs(card) == ["Pick a team", "Join a QI team"]
    choice, text = card["body"][2], card["body"][3]
    assert choice == {
        "type": "Input.ChoiceSet",
        "id": "field:target",
        "choices": [{"title": "Falls", "value": "1"}, {"title": "Forum", "value": "f:1"}],
        "style": "compact",
        "isMultiSelect": False,
        "label": "Which team?",
        "isRequired": True,
        "errorMessage": "Please answer this question.",
    }
    assert text == {
        "type": "Input.Text",
        "id": "field:name",
        "maxLength": TEXT_INPUT_MAX,
        "label": "Your name as you like it",
        "placeholder": "e.g. Sam",
    }
    (submit,) = actions(card)
    assert submit == {
        "type": "Action.Execute",
        "title": "Join",
        "verb": "form:join_form",
        "data": {"form": "join_form", "context": "42"},
        "associatedInputs": "auto",
        "style": "positive",
    }


def test_a_single_choice_such_as_consent_is_never_preselected():
    form = Form(
        "add_member_form",
        title="Record",
        fields=(FormField("consent", "Agreed?", choices=(Choice("Yes, they agreed", "yes"),)),),
    )
    field = next(e for e in elements(build_form_card(form)) if e["type"] == "Input.ChoiceSet")
    assert "value" not in field and field["isRequired"] is True


def test_a_long_choice_list_can_be_searched_by_typing():
    choices = tuple(Choice(f"Project {i}", str(i)) for i in range(CHOICES_BEFORE_FILTER + 1))
    form = Form("join_form", title="Join", fields=(FormField("target", "Which?", choices=choices),))
    field = next(
        e for e in elements(check(build_form_card(form))) if e["type"] == "Input.ChoiceSet"
    )
    assert field["style"] == "filtered" and len(field["choices"]) == CHOICES_BEFORE_FILTER + 1


def test_the_form_again_under_a_refusal():
    card = check(build_form_card(JOIN_FORM, intro=refuse("Please choose a team.")))
    assert runs(card)[:2] == ["Please choose a team.", "Join a QI team"]
    assert build_form_card(JOIN_FORM)["fallbackText"] == "Join a QI team"
    assert [a["verb"] for a in actions(card)] == ["form:join_form"]


def test_buttons_next_to_a_form_neither_send_nor_validate_its_inputs():
    reply = Reply(sections=(Section(text="Or", buttons=(Button("Cancel", "leave", "x"),)),))
    card = check(build_reply_card(reply, form=JOIN_FORM))
    button, submit = actions(card)
    assert button["associatedInputs"] == "none" and submit["associatedInputs"] == "auto"


def test_button_presses_round_trip_through_the_invoke_value():
    for action, button in zip(actions(build_reply_card(NUDGE)), NUDGE.buttons, strict=True):
        value = invoke(action)
        expected = ButtonPress(button.action_id, button.value)
        assert read_card_action(value) == expected
        # The SDK parses the invoke into its own model first; that works too.
        assert read_card_action(AdaptiveCardInvokeValue.model_validate(value)) == expected
    action_id, value = read_card_action(invoke(actions(build_reply_card(NUDGE))[0]))
    assert (action_id, value) == (ids.OPEN_SNOOZE, "7")


def test_form_submissions_round_trip_with_their_answers_and_context():
    (submit,) = actions(build_form_card(JOIN_FORM))
    value = invoke(submit, **{"field:target": "f:1", "field:name": "Sam"})
    expected = FormSubmission("join_form", {"target": "f:1", "name": "Sam"}, "42")
    assert read_card_action(value) == expected
    assert read_card_action(AdaptiveCardInvokeValue.model_validate(value)) == expected

    # An optional field left empty may be missing altogether.
    form_id, values, context = read_card_action(invoke(submit, **{"field:target": "1"}))
    assert (form_id, values, context) == ("join_form", {"target": "1"}, "42")


@pytest.mark.parametrize(
    "value",
    [
        None,
        "nonsense",
        {},
        {"action": "x"},
        {"action": {"type": "Action.Submit", "data": {"action": "rsvp", "value": "1"}}},
        {"action": {"type": "Action.Execute", "verb": "rsvp", "data": "rsvp"}},
        {"action": {"type": "Action.Execute", "verb": "rsvp", "data": {"other": 1}}},
        # The verb and the data disagree: not a card we built.
        {"action": {"type": "Action.Execute", "verb": "leave", "data": {"action": "rsvp"}}},
        {"action": {"type": "Action.Execute", "verb": "form:x", "data": {"form": "y"}}},
        {"action": {"type": "Action.Execute", "verb": "form:", "data": {"form": 3}}},
    ],
)
def test_invoke_values_that_are_not_ours_are_ignored(value):
    assert read_card_action(value) is None


def test_odd_values_in_an_invoke_are_made_text_or_dropped():
    data = {
        "form": "snooze_form",
        "context": 7,
        "field:weeks": 2,
        "field:sure": True,
        "field:bad": {"x": 1},
        "stray": "ignored",
    }
    value = {"action": {"type": "Action.Execute", "verb": "form:snooze_form", "data": data}}
    assert read_card_action(value) == FormSubmission(
        "snooze_form", {"weeks": "2", "sure": "true"}, "7"
    )
    press = {
        "action": {"type": "Action.Execute", "verb": "show_forum", "data": {"action": "show_forum"}}
    }
    assert read_card_action(press) == ButtonPress("show_forum", "")


def test_text_too_long_for_one_teams_message_is_cut_with_a_note_and_buttons_kept():
    text = "\n".join(f"• Project {i}: led by someone with a long name" for i in range(2000))
    reply = Reply(
        sections=(
            Section(heading="All projects", text=text, buttons=(Button("More", "show_forum"),)),
        )
    )
    card = check(build_reply_card(reply))

    assert card_utf16_bytes(card) <= CARD_BUDGET_UTF16
    shown = runs(card)
    assert shown[0] == "All projects" and shown[1] == "• Project 0: led by someone with a long name"
    assert shown[-1] == TRUNCATED_NOTE
    assert "Project 1999" not in json.dumps(card)
    assert [a["verb"] for a in actions(card)] == ["show_forum"]


def many_projects(count: int) -> Reply:
    """A reply far bigger than a Teams message: a project with three buttons each, a way out."""
    projects = [
        Section(
            text=f"Project {n} " + "🏥" * 200,
            buttons=tuple(Button(label, "ask_forum", str(n)) for label in ("Ask", "Add", "Snooze")),
        )
        for n in range(count)
    ]
    last = Section(
        text="Rather not?", buttons=(Button("Turn reminders off", "mute_nudges", "off"),)
    )
    return Reply(sections=(Section(heading="Who is on your team?", text="Hello."), *projects, last))


def test_a_card_too_big_keeps_whole_sections_in_order_then_a_note_and_its_way_out():
    message = build_command_reply(many_projects(100))

    check_teams_message(message)
    card = check(message["attachments"][0]["content"])
    shown = runs(card)
    kept = [text for text in shown if text.startswith("Project ")]
    assert 0 < len(kept) < 100
    assert shown[:3] == ["Who is on your team?", "Hello.", kept[0]]
    assert shown[-2:] == [TRUNCATED_NOTE, "Rather not?"]
    # Every project shown has its three buttons; the ones left out have none.
    values = [a["data"]["value"] for a in actions(card)]
    assert values == [str(n) for n in range(len(kept)) for _ in range(3)] + ["off"]


def test_a_form_always_stays_on_a_card_too_big():
    form = Form("snooze_form", "Snooze", fields=(FormField("why", "Why?"),), context="7")

    message = build_command_reply(many_projects(100), form=form)

    check_teams_message(message)
    card = message["attachments"][0]["content"]
    assert card["body"][-1]["actions"][0]["verb"] == "form:snooze_form"
    assert TRUNCATED_NOTE in runs(card)


def test_short_text_is_not_cut():
    text = "\n".join(f"• Project {i}" for i in range(100))
    card = build_reply_card(Reply(sections=(Section(text=text),)))
    assert TRUNCATED_NOTE not in runs(card) and len(runs(card)) == 100


def test_blank_lines_start_new_paragraphs():
    card = build_reply_card(Reply(sections=(Section(text="One\nTwo\n\nThree"),)))
    assert [b.get("spacing") for b in card["body"]] == [None, "None", None]


def test_a_small_chart_is_embedded_as_a_data_url_with_alt_text():
    picture = png(1000, 500)
    card = check(build_image_card(Image(picture, title="Falls", alt_text="Falls fell by 3.")))

    assert types(card) == ["RichTextBlock", "Image"]
    image = card["body"][1]
    assert image["url"].startswith("data:image/png;base64,")
    assert base64.b64decode(image["url"].split(",", 1)[1]) == picture
    assert image["altText"] == "Falls fell by 3."
    assert card_bytes(card) <= IMAGE_CARD_MAX_BYTES


def test_a_chart_too_big_for_a_teams_message_is_described_in_words():
    picture = png(200, 200, noise=True)  # ~120 KB: the card would be far over the cap
    assert len(base64.b64encode(picture)) > IMAGE_CARD_MAX_BYTES
    card = check(build_image_card(Image(picture, title="Falls", alt_text="Falls fell by 3.")))

    assert "Image" not in types(card)
    words = "\n".join(runs(card))
    assert "Falls fell by 3." in words
    assert "qi-nudge stats --chart FILE.png" in words
    assert card_bytes(card) < 2000


def test_a_picture_wider_than_teams_shows_that_cannot_be_redrawn_is_described_in_words():
    card = build_image_card(Image(png(1200, 600), title="Falls", alt_text="Falls fell by 3."))
    assert "Image" not in types(card)


def test_a_chart_wider_than_teams_shows_is_redrawn_smaller_and_shown():
    scales = []

    def draw(scale=1.0):
        scales.append(scale)
        return png(round(1200 * scale), round(600 * scale))

    card = check(build_image_card(Image(draw=draw, title="Falls", alt_text="Falls fell by 3.")))

    assert types(card) == ["RichTextBlock", "Image"]
    shown = base64.b64decode(card["body"][1]["url"].split(",", 1)[1])
    assert png_size(shown) == (1024, 512)
    assert scales == [1.0, 1024 / 1200]


def test_a_real_run_chart_fits_a_teams_card_as_a_picture():
    points = [(date(2026, 1, 5) + timedelta(weeks=i), (i % 5) / 10 + 0.1) for i in range(30)]
    chart = run_chart(points, analyse([v for _, v in points]), title="Falls", y_label="Projects")

    card = check(build_image_card(chart))

    assert types(card) == ["RichTextBlock", "Image"]
    width, height = png_size(base64.b64decode(card["body"][1]["url"].split(",", 1)[1]))
    assert max(width, height) <= 1024 and width >= 1000
    assert card_bytes(card) <= IMAGE_CARD_MAX_BYTES


def test_words_for_a_chart_never_draw_it():
    def draw():
        raise AssertionError("drawn")

    card = check(build_image_words_card(Image(draw=draw, title="T", alt_text="Flat.")))
    assert "Flat." in "\n".join(runs(card))


def test_a_command_reply_is_one_card_message_and_never_draws_the_chart():
    drawn = []
    image = Image(draw=lambda: drawn.append(1) or png(10, 10), title="T", alt_text="Flat.")
    reply = Reply(sections=NUDGE.sections, image=image)
    message = build_command_reply(reply)

    assert drawn == []
    assert "text" not in message  # Teams would show it above the card, as Markdown
    assert message["summary"] == fallback_text(reply)
    (attachment,) = message["attachments"]
    assert attachment["contentType"] == CARD_CONTENT_TYPE
    check(attachment["content"])
    parsed = MessageActivityInput.model_validate(message)
    assert parsed.summary == message["summary"] and len(parsed.attachments) == 1


def test_an_invoke_response_replaces_the_card_with_the_reply():
    response = build_invoke_response(NUDGE)
    assert response["statusCode"] == 200 and response["type"] == CARD_CONTENT_TYPE
    check(response["value"])
    AdaptiveCardActionCardResponse.model_validate(response)


def test_fallback_text_is_plain_short_and_never_empty():
    assert fallback_text(Reply(sections=())) == " "
    assert fallback_text(Reply(sections=(Section(text="a\n\n b", heading="H"),))) == "H a b"
    assert len(fallback_text(Reply(sections=(Section(text="x" * 5000),)))) == 500
