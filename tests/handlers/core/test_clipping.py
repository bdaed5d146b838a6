"""Cutting text to a limit: at words, and never inside a character as people see it."""

import pytest

from handlers.core.clipping import ELLIPSIS, clip, within
from handlers.core.long_lists import text_units

WELSH_FLAG = "\U0001f3f4\U000e0067\U000e0062\U000e0077\U000e006c\U000e0073\U000e007f"
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"
E_ACUTE = "e\u0301"  # "é" written as "e" and a combining accent
WAVE_MEDIUM = "\U0001f44b\U0001f3fd"  # a waving hand with a skin tone
HEART = "\u2764\ufe0f"  # a heart drawn as an emoji, by its variation selector
UK_FLAG = "\U0001f1ec\U0001f1e7"  # two regional indicators
KEYCAP_ONE = "1\ufe0f\u20e3"

CHARACTERS = [WELSH_FLAG, FAMILY, E_ACUTE, WAVE_MEDIUM, HEART, UK_FLAG, KEYCAP_ONE]


def whole_characters(characters, limit):
    """The most leading characters, each kept whole, within `limit` UTF-16 units."""
    kept = ""
    for character in characters:
        if text_units(kept + character) > limit:
            break
        kept += character
    return kept


@pytest.mark.parametrize("character", CHARACTERS, ids=lambda c: " ".join(f"{ord(x):X}" for x in c))
def test_a_cut_never_splits_a_character(character):
    characters = ["a", character, character, "b", character]
    text = "".join(characters)

    for limit in range(text_units(characters[0]), text_units(text) + 1):
        assert within(text, limit) == whole_characters(characters, limit), limit


def test_names_in_many_scripts_are_cut_between_characters():
    characters = ["C", "a", "f", E_ACUTE, " ", WELSH_FLAG, " ", FAMILY, UK_FLAG, UK_FLAG, HEART]
    text = "".join(characters)

    for limit in range(1, text_units(text) + 1):
        assert within(text, limit) == whole_characters(characters, limit), limit


def test_a_long_name_of_emoji_is_clipped_with_an_ellipsis_after_whole_ones():
    flags = WELSH_FLAG * 20  # 14 units each

    clipped = clip(flags, 150)

    assert clipped == WELSH_FLAG * 10 + ELLIPSIS  # 140 units and the ellipsis: 141


def test_clipping_ends_at_a_word():
    assert clip("Reducing falls on the wards at night", 20) == "Reducing falls on…"
    assert clip("Short enough", 20) == "Short enough"


def test_a_single_character_longer_than_the_room_is_still_cut():
    # A letter under 40 accents cannot be kept whole in 10 units; a piece of it must still come
    # out, or whoever splits a long text into pieces would never move on.
    zalgo = "a" + "\u0301" * 40 + " b"

    assert within(zalgo, 10) == zalgo[:10]
