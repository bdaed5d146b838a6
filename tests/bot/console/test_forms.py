"""Each answer to a console form, checked as it is typed."""

import pytest

from bot.console.forms import NotAnAnswer, check_answer, shown_answer
from handlers.core.reply import Choice, FormField

ROLE = FormField(
    "role", "Their role", choices=(Choice("Staff", "staff"), Choice("Service user", "service_user"))
)
CONSENT = FormField("consent", "Agreed?", choices=(Choice("Yes, they have agreed", "yes"),))
NAME = FormField("name", "Their name")
NOTE = FormField("note", "Anything else?", optional=True)


@pytest.mark.parametrize(
    ("typed", "value"),
    [("1", "staff"), (" 2 ", "service_user"), ("SERVICE  user", "service_user")],
)
def test_a_choice_is_taken_by_number_or_by_its_words(typed, value):
    assert check_answer(ROLE, typed) == value


@pytest.mark.parametrize("typed", ["0", "3", "²", "99999999999999999999", "carer", ""])
def test_anything_else_asks_for_a_number_in_range(typed):
    with pytest.raises(NotAnAnswer, match=r"^Please type a number from 1 to 2, or :cancel"):
        check_answer(ROLE, typed)


def test_a_single_choice_names_itself():
    with pytest.raises(NotAnAnswer, match='Please type 1 for "Yes, they have agreed"'):
        check_answer(CONSENT, "no")


def test_free_text_is_needed_and_kept_within_the_forms_box():
    assert check_answer(NAME, "  Sam Jones ") == "Sam Jones"
    assert check_answer(NAME, "x" * 200) == "x" * 200
    with pytest.raises(NotAnAnswer, match="Please type an answer"):
        check_answer(NAME, "   ")
    with pytest.raises(NotAnAnswer, match=r"200 characters \(that was 1,000\)"):
        check_answer(NAME, "x" * 1000)


def test_enter_skips_an_optional_question_and_keeps_an_earlier_answer():
    assert check_answer(NOTE, "") == ""
    assert check_answer(ROLE, "", kept="service_user") == "service_user"
    assert check_answer(ROLE, "1", kept="service_user") == "staff"
    assert shown_answer(ROLE, "service_user") == "Service user"
    assert shown_answer(NAME, "Sam Jones") == "Sam Jones"
