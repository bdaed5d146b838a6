"""What the console says of its own: typo suggestions, and what :remind did."""

import pytest

from bot.console.words import messages_for_others, suggest_command, unknown_command


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("/qi-joinn", "/qi-join"),
        ("/QI-JION", "/qi-join"),
        ("/join", "/qi-join"),
        ("/qi-stat", "/qi-stats"),
        ("/qi-projets", "/qi-projects"),
        ("qi-help", "/qi-help"),
    ],
)
def test_a_typo_suggests_the_command_meant(typed, meant):
    assert suggest_command(typed) == meant


@pytest.mark.parametrize("typed", ["/", "/hello", "/x", "/" + "z" * 10_000])
def test_nothing_alike_suggests_nothing(typed):
    assert suggest_command(typed) is None


def test_unknown_command_says_what_to_do():
    assert unknown_command("/qi-joinn") == (
        "I don't know the command /qi-joinn. Did you mean /qi-join? "
        "Type /qi-help to see what I can do."
    )


def test_messages_for_others_name_who_to_act_as():
    assert messages_for_others({"Tom Hughes": 1}) == (
        "New message for Tom Hughes: type :as Tom Hughes to see it."
    )
    assert messages_for_others({"Tom Hughes": 2, "Mo Ahmed": 1}) == (
        "New messages for Tom Hughes (2) and Mo Ahmed: type :as and a name to see them, "
        "for example :as Tom Hughes."
    )
