"""Forgiving name matching: pure functions, no database."""

import pytest

from handlers.matching import MAX_SUGGESTIONS, Named, match_name

PROJECTS = [
    "Falls prevention",
    "Falls audit",
    "Reducing falls on ward 7",
    "Sepsis screening",
    "St John's ward discharge",
    "<!channel>",
]


def options(names=PROJECTS):
    return [Named(name, name) for name in names]


@pytest.mark.parametrize(
    ("typed", "found"),
    [
        ("Falls prevention", "Falls prevention"),
        ("falls PREVENTION", "Falls prevention"),
        ("  falls   prevention ", "Falls prevention"),
        ("falls-prevention", "Falls prevention"),
        ("falls p", "Falls prevention"),  # a unique beginning
        ("sep", "Sepsis screening"),
        ("ward 7", "Reducing falls on ward 7"),  # words in the middle
        ("7 reducing", "Reducing falls on ward 7"),  # words in any order
        ("St John’s", "St John's ward discharge"),  # punctuation does not count
        ("st john's", "St John's ward discharge"),
        ("discharge", "St John's ward discharge"),
        ("channel", "<!channel>"),
        ("<!CHANNEL>", "<!channel>"),
    ],
)
def test_finds_the_one_project_meant(typed, found):
    match = match_name(typed, options())

    assert match.found == found
    if found:
        assert match.candidates == () and not match.ambiguous


def test_an_exact_name_wins_over_a_longer_one_that_starts_the_same():
    match = match_name("falls", options(["Falls", "Falls prevention"]))

    assert match.found == "Falls"


def test_a_shared_beginning_is_ambiguous_and_lists_both():
    match = match_name("falls", options())

    assert match.found is None and match.ambiguous
    assert match.candidates == ("Falls prevention", "Falls audit")


def test_shared_words_in_the_middle_are_ambiguous():
    match = match_name("ward", options())

    assert match.found is None and match.ambiguous
    assert set(match.candidates) == {"Reducing falls on ward 7", "St John's ward discharge"}


def test_a_typo_suggests_close_names_but_finds_nothing():
    match = match_name("Sepsis screenign", options())

    assert match.found is None and not match.ambiguous
    assert match.candidates == ("Sepsis screening",)


def test_a_dropped_or_curly_apostrophe_still_finds_the_name():
    assert match_name("St Johns ward discharge", options()).found == "St John's ward discharge"
    assert match_name("st john’s ward", options()).found == "St John's ward discharge"


def test_nothing_close_suggests_nothing():
    match = match_name("quantum teleportation", options())

    assert match == type(match)(found=None)


@pytest.mark.parametrize("typed", ["", "   ", "!!!", "\x00"])
def test_an_empty_name_matches_nothing(typed):
    assert match_name(typed, options()).found is None
    assert match_name(typed, options()).candidates == ()


def test_suggestions_are_limited():
    many = [f"Falls project {n}" for n in range(MAX_SUGGESTIONS + 4)]

    match = match_name("falls", options(many))

    assert match.ambiguous and len(match.candidates) == MAX_SUGGESTIONS


def test_two_options_with_the_same_folded_name_are_ambiguous():
    match = match_name("falls prevention", options(["Falls prevention", "FALLS-prevention"]))

    assert match.found is None and match.ambiguous


def test_matching_returns_the_item_not_the_name():
    match = match_name("sepsis", [Named("Sepsis screening", 42), Named("Falls", 7)])

    assert match.found == 42


def test_no_options_finds_nothing():
    assert match_name("falls", []).found is None
