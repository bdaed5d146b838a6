"""Suggested names as buttons: each runs the command as typed, with the suggested name in it."""

import json

import pytest

from handlers.core import ids
from handlers.core.errors import NotFound
from handlers.core.reply import BUTTON_VALUE_MAX
from handlers.core.suggestions import read_suggestion, suggestion_buttons

FALLS = "Reducing falls on Ward 7"


def missing(typed, *names):
    return NotFound("not found", typed=typed, suggestions=names or (FALLS,))


def completed(command, text, typed, *names):
    """What each button would run: (command, text)."""
    buttons = suggestion_buttons(command, text, missing(typed, *names))
    assert all(b.action_id == ids.RUN_SUGGESTED for b in buttons)
    return [read_suggestion(b.value) for b in buttons]


@pytest.mark.parametrize(
    ("command", "text", "typed", "runs"),
    [
        ("qi-join", "Falls prevention as carer", "Falls prevention", f'"{FALLS}" as carer'),
        ("qi-join", '"Falls prevention" as carer', "Falls prevention", f'"{FALLS}" as carer'),
        ("qi-join", "falls", "falls", f'"{FALLS}"'),
        ("qi-leave", "Falls   prevention", "Falls prevention", f'"{FALLS}"'),
        ("qi-project", "show falls", "falls", f'show "{FALLS}"'),
        ("qi-project", "falls", "falls", f'"{FALLS}"'),  # "show" understood
        ("qi-project", "show show", "show", f'show "{FALLS}"'),  # the name after the verb
        (
            "qi-project",
            'add-member "falls" "Sam Jones" as carer --consent',
            "falls",
            f'add-member "{FALLS}" "Sam Jones" as carer --consent',
        ),
        (
            "qi-project",
            'add-member "falls" "falls" as carer --consent --since 2026-03-02',
            "falls",
            f'add-member "{FALLS}" falls as carer --consent --since 2026-03-02',
        ),
        ("qi-project", "status falls prev on hold", "falls prev", f'status "{FALLS}" on hold'),
        ("qi-forum", 'slot "falls" "Our idea"', "falls", f'slot "{FALLS}" "Our idea"'),
        ("qi-join", "x as x", "x", f'"{FALLS}" as x'),  # the name before "as", not the role
    ],
)
def test_a_button_runs_the_same_command_with_the_suggested_name(command, text, typed, runs):
    assert completed(command, text, typed) == [(command, runs)]


def test_one_button_per_suggestion_labelled_with_the_name():
    names = ("Falls audit", FALLS, "Falls prevention 2026")

    buttons = suggestion_buttons("qi-join", "fall as carer", missing("fall", *names))

    assert [b.label for b in buttons] == list(names)
    assert [read_suggestion(b.value)[1] for b in buttons] == [f'"{n}" as carer' for n in names]


@pytest.mark.parametrize(
    ("name", "typed_again"),
    [
        ('The "Big I" project', '"The Big I project"'),  # quote marks fold to spaces
        ("“Kind words”", '"Kind words"'),
        ("--help desk", '"help desk"'),
        ("O'Brien ward", '"O\'Brien ward"'),
    ],
)
def test_a_name_that_would_read_differently_is_typed_so_it_is_found_exactly(name, typed_again):
    assert completed("qi-join", "big", "big", name) == [("qi-join", typed_again)]


def test_no_buttons_when_the_typed_name_is_not_in_the_command_as_typed():
    # A flag in the middle of the name: the words are not together, so no guess is made.
    assert completed("qi-project", "show falls --x prevention", "falls prevention") == []
    assert completed("qi-join", '"unbalanced', "unbalanced") == []


def test_a_button_value_at_the_limit_is_offered_and_one_over_is_left_to_the_text():
    def values(topic):
        text = f'slot falls "{topic}"'
        buttons = suggestion_buttons("qi-forum", text, missing("falls", FALLS, "Falls audit"))
        return {b.label: len(b.value) for b in buttons}

    room = BUTTON_VALUE_MAX - values("x")["Falls audit"] + 1
    # "Falls audit" is shorter than FALLS: at the limit with it, one over with the other.
    short_by = len(FALLS) - len("Falls audit")

    assert values("x" * room) == {"Falls audit": BUTTON_VALUE_MAX}
    assert values("x" * (room - short_by)) == {
        FALLS: BUTTON_VALUE_MAX,
        "Falls audit": BUTTON_VALUE_MAX - short_by,
    }
    assert values("x" * (room + 1)) == {}  # both listed in the text, neither as a button


@pytest.mark.parametrize(
    "value", ["", "-", "[]", '["qi-join"]', '["qi-join", 7]', "{}", "null", '[1, "x"]', "[" * 999]
)
def test_a_value_that_is_not_a_suggestion_reads_as_none(value):
    assert read_suggestion(value) is None


def test_a_suggestion_value_round_trips():
    assert read_suggestion(json.dumps(["qi-join", '"A" as carer'])) == ("qi-join", '"A" as carer')
