"""Plain-English pieces: greeting people by a name that is theirs, never by a title."""

import pytest

from handlers.core.wording import first_name


@pytest.mark.parametrize(
    ("display_name", "greeted"),
    [
        ("Asha Patel", "Asha"),
        ("  Ben  Okafor ", "Ben"),
        ("Priya", "Priya"),
        ("", ""),
        # A title before a first name and a surname: the first name.
        ("Dr Asha Patel", "Asha"),
        ("Dr. Asha Patel", "Asha"),
        ("DR ASHA PATEL", "ASHA"),
        ("Prof Dame Sue Black", "Sue"),
        ("Mx Sam Jones", "Sam"),
        ("(Rev) Mary Smith", "Mary"),
        # A title and one name, or only an initial: the name as they give it, never "Dr.".
        ("Dr Patel", "Dr Patel"),
        ("Dr.", "Dr."),
        ("Mrs. Jones", "Mrs. Jones"),
        ("Sister Mary", "Sister Mary"),
        ("Nurse Okafor", "Nurse Okafor"),
        ("Sir", "Sir"),
        ("J. Smith", "J. Smith"),
        ("Dr J Smith", "Dr J Smith"),
        # Names that only start like a title are names.
        ("Drew Barrymore", "Drew"),
        ("Misty Jones", "Misty"),
        ("Lordes Garcia", "Lordes"),
    ],
)
def test_a_greeting_uses_a_first_name_that_is_not_a_title(display_name, greeted):
    assert first_name(display_name) == greeted


@pytest.mark.parametrize(
    "title", ["Dr", "Mr", "Mrs", "Ms", "Miss", "Mx", "Prof", "Sister", "Rev", "Sir", "Dame",
              "Lord", "Lady", "Nurse", "Professor", "Revd", "Cllr"]
)  # fmt: skip
def test_no_title_is_ever_taken_for_a_first_name(title):
    assert first_name(f"{title} Patel") == f"{title} Patel"
    assert first_name(f"{title}. Asha Patel") == "Asha"
