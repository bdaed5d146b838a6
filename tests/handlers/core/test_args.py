"""Reading command arguments the way people type them: pure functions, no database."""

import pytest

from handlers.core.args import (
    MAX_ARGUMENT_LENGTH,
    ArgumentError,
    parse_arguments,
    split_on_as,
    split_words,
)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Falls prevention as carer", ["Falls", "prevention", "as", "carer"]),
        ('"Falls prevention" as carer', ["Falls prevention", "as", "carer"]),
        ("“Falls prevention” as carer", ["Falls prevention", "as", "carer"]),
        ("„Falls prevention“ as carer", ["Falls prevention", "as", "carer"]),
        ("«Falls prevention» as carer", ["Falls prevention", "as", "carer"]),
        ("St John's ward", ["St", "John's", "ward"]),
        ("St John’s ward", ["St", "John's", "ward"]),
        ('"Pat O\'Brien"', ["Pat O'Brien"]),
        ("  lots   of\tspace \n", ["lots", "of", "space"]),
        ("back\\slash", ["back\\slash"]),
        # \" inside a quoted name is a quote mark, not a backslash and the end of the name.
        ('"The \\"Big I\\" project" as carer', ['The "Big I" project', "as", "carer"]),
        ('"Ward \\"7\\""', ['Ward "7"']),
        ('"C:\\new"', ["C:\\new"]),
        ("<!channel>", ["<!channel>"]),
        ('""', [""]),
        ("", []),
        ("cancel-meeting #5", ["cancel-meeting", "#5"]),
        ('"Ward #3 falls" as carer', ["Ward #3 falls", "as", "carer"]),
    ],
)
def test_split_words(text, words):
    assert split_words(text) == words


@pytest.mark.parametrize("text", ['"Falls prevention', 'Falls prevention"', "“Falls prevention"])
def test_an_unbalanced_quote_is_explained(text):
    with pytest.raises(ArgumentError, match="quote mark is missing"):
        split_words(text)


def test_text_up_to_the_limit_is_read_and_beyond_it_refused():
    assert split_words("x" * MAX_ARGUMENT_LENGTH) == ["x" * MAX_ARGUMENT_LENGTH]
    with pytest.raises(ArgumentError, match="keep it shorter"):
        split_words("x" * (MAX_ARGUMENT_LENGTH + 1))


def test_flags_and_options_are_pulled_out_of_the_words():
    parsed = parse_arguments(
        'add-member "Falls prevention" --CONSENT "Sam" --site "Ward 7" as carer --consulted',
        options=frozenset({"site"}),
    )

    assert parsed.words == ["add-member", "Falls prevention", "Sam", "as", "carer"]
    assert parsed.flags == {"consent", "consulted"}
    assert parsed.options == {"site": "Ward 7"}


def test_an_option_without_a_value_is_explained():
    with pytest.raises(ArgumentError, match="Please add a value after --site"):
        parse_arguments("new Falls --site", options=frozenset({"site"}))


def test_an_option_not_expected_is_a_flag():
    parsed = parse_arguments("new Falls --site Ward")

    assert parsed.flags == {"site"} and parsed.words == ["new", "Falls", "Ward"]


def test_lone_dashes_are_words():
    assert parse_arguments("-- - -x").words == ["--", "-", "-x"]


@pytest.mark.parametrize(
    ("words", "before", "after"),
    [
        (["Falls", "prevention", "as", "carer"], ["Falls", "prevention"], ["carer"]),
        (["Falls", "AS", "service", "user"], ["Falls"], ["service", "user"]),
        (["Care", "as", "usual", "as", "carer"], ["Care", "as", "usual"], ["carer"]),
        (["Falls", "prevention", "as"], ["Falls", "prevention"], []),
        (["Falls", "prevention"], ["Falls", "prevention"], None),
        (["Christmas", "ascent"], ["Christmas", "ascent"], None),
        ([], [], None),
    ],
)
def test_split_on_the_last_standalone_as(words, before, after):
    assert split_on_as(words) == (before, after)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("12", 12), (" 7 ", 7), ("²", None), ("١٢", None), ("9" * 20, None), ("-1", None), ("", None)],
)
def test_parse_id_accepts_only_short_ascii_numbers(text, expected):
    from handlers.core.args import parse_id

    assert parse_id(text) == expected
