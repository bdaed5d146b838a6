"""Listing projects: /qi-projects, and whether each has a service user or carer on the team."""

import pytest

from handlers.projects import LIST_LIMIT
from tests.handlers import given

YES = "has a service user or carer on the team"
NO = "no service user or carer on the team yet"


def line_for(reply, name):
    """The reply's line about one project."""
    lines = [line for line in reply.text.splitlines() if line.startswith(f"• {name}")]
    assert len(lines) == 1, reply.text
    return lines[0]


def test_lists_active_projects_with_lead_and_lived_experience(chat, asha, ben, chloe):
    chat.say(asha, '/qi-project new "Falls prevention" --site "Ward 7"')
    chat.say(chloe, '/qi-project new "Sepsis screening"')
    chat.say(ben, "/qi-join Falls prevention as carer")

    reply = chat.say(ben, "/qi-projects")

    assert reply.ok
    assert reply.sections[0].heading == "Active QI projects"
    assert line_for(reply, "Falls prevention") == (
        f"• Falls prevention (Ward 7): led by Asha Patel; {YES}"
    )
    assert line_for(reply, "Sepsis screening") == f"• Sepsis screening: led by Chloe Evans; {NO}"


def test_only_active_projects_are_listed(chat, asha):
    for name, status in [
        ("Active one", None),
        ("Paused one", "on hold"),
        ("Done one", "completed"),
        ("Dropped one", "stopped"),
    ]:
        chat.say(asha, f'/qi-project new "{name}"')
        if status:
            chat.say(asha, f'/qi-project status "{name}" {status}')

    reply = chat.say(asha, "/qi-projects")

    assert "• Active one" in reply.text
    for hidden in ("Paused one", "Done one", "Dropped one"):
        assert hidden not in reply.text
    assert "0 of 1 active project has" in reply.text


@pytest.mark.parametrize(
    ("command", "counts"),
    [
        ("/qi-join Falls prevention as carer", True),
        ("/qi-join Falls prevention as service user", True),
        ("/qi-join Falls prevention as peer supporter", False),
        ("/qi-join Falls prevention as staff", False),
        ("/qi-join Falls prevention as other", False),
        ('/qi-project add-member "Falls prevention" "Sam Jones" as carer --consent', True),
        (
            '/qi-project add-member "Falls prevention" "Sam Jones" as carer --consent --consulted',
            False,
        ),
    ],
)
def test_only_service_users_and_carers_on_the_team_count(chat, asha, ben, chloe, command, counts):
    chat.say(asha, '/qi-project new "Falls prevention"')
    done = chat.say(asha if "add-member" in command else ben, command)
    assert done.ok, done.text

    reply = chat.say(chloe, "/qi-projects")

    assert line_for(reply, "Falls prevention").endswith(YES if counts else NO)


def test_a_carer_who_has_left_no_longer_counts(chat, asha, ben):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(ben, "/qi-join Falls prevention as carer")
    assert line_for(chat.say(asha, "/qi-projects"), "Falls prevention").endswith(YES)

    chat.say(ben, "/qi-leave Falls prevention")

    assert line_for(chat.say(asha, "/qi-projects"), "Falls prevention").endswith(NO)


def test_a_carer_who_changes_to_staff_no_longer_counts(chat, asha, ben):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(ben, "/qi-join Falls prevention as carer")

    chat.say(ben, "/qi-join Falls prevention as staff")

    assert line_for(chat.say(asha, "/qi-projects"), "Falls prevention").endswith(NO)


@pytest.mark.parametrize(
    ("with_carers", "total", "headline"),
    [
        (0, 1, "0 of 1 active project has a service user or carer on the team."),
        (1, 1, "1 of 1 active project has a service user or carer on the team."),
        (0, 3, "0 of 3 active projects have a service user or carer on the team."),
        (1, 3, "1 of 3 active projects has a service user or carer on the team."),
        (2, 3, "2 of 3 active projects have a service user or carer on the team."),
    ],
)
def test_the_headline_counts_projects_with_lived_experience(
    chat, asha, ben, with_carers, total, headline
):
    for number in range(total):
        chat.say(asha, f'/qi-project new "Project {number}"')
    for number in range(with_carers):
        chat.say(ben, f'/qi-join "Project {number}" as carer')

    reply = chat.say(asha, "/qi-projects")

    assert reply.sections[0].text == headline


def test_mine_lists_projects_i_lead_or_have_joined(chat, asha, ben, chloe):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(chloe, '/qi-project new "Sepsis screening"')
    chat.say(chloe, '/qi-project new "Hand hygiene"')
    chat.say(asha, "/qi-join Sepsis screening as staff")
    chat.say(asha, "/qi-join Hand hygiene as staff")
    chat.say(asha, "/qi-leave Hand hygiene")

    reply = chat.say(asha, "/qi-projects mine")

    assert reply.sections[0].heading == "Your active projects"
    assert "• Falls prevention" in reply.text
    assert "• Sepsis screening" in reply.text
    assert "Hand hygiene" not in reply.text
    assert "0 of 2 active projects have" in reply.text


def test_a_project_i_both_lead_and_joined_is_listed_once(chat, asha):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(asha, "/qi-join Falls prevention as staff")

    reply = chat.say(asha, "/qi-projects MINE")

    assert reply.text.count("• Falls prevention") == 1


def test_mine_with_nothing_suggests_joining_or_starting(chat, asha, ben):
    chat.say(asha, '/qi-project new "Falls prevention"')

    reply = chat.say(ben, "/qi-projects mine")

    assert reply.ok
    assert "You're not on any active project yet" in reply.text
    assert "Falls prevention" not in reply.text


def test_search_words_narrow_the_list_by_name_or_site(chat, asha):
    chat.say(asha, '/qi-project new "Falls prevention" --site "Ward 7"')
    chat.say(asha, '/qi-project new "Reducing falls at night"')
    chat.say(asha, '/qi-project new "Sepsis screening" --site "Ward 9"')
    chat.say(asha, '/qi-project new "Hand hygiene"')

    falls = chat.say(asha, "/qi-projects FALLS")
    ward = chat.say(asha, "/qi-projects ward 9")

    assert falls.sections[0].heading == 'Active QI projects matching "FALLS"'
    assert "• Falls prevention" in falls.text and "• Reducing falls at night" in falls.text
    assert "Sepsis" not in falls.text and "Hand hygiene" not in falls.text
    assert "0 of 2 active projects have" in falls.text
    assert [line for line in ward.text.splitlines() if line.startswith("•")] == [
        f"• Sepsis screening (Ward 9): led by Asha Patel; {NO}"
    ]


def test_a_search_that_finds_nothing_says_so(chat, asha):
    chat.say(asha, '/qi-project new "Falls prevention"')

    reply = chat.say(asha, "/qi-projects dermatology")

    assert reply.ok
    assert "No active project has those words in its name or place." in reply.text
    assert "Falls prevention" not in reply.text


def test_with_no_projects_at_all_it_suggests_starting_one(chat, asha):
    reply = chat.say(asha, "/qi-projects")

    assert reply.ok and '/qi-project new "Name"' in reply.text


def test_a_long_list_shows_a_page_and_a_button_for_the_rest(chat, asha):
    for number in range(LIST_LIMIT + 3):
        chat.say(asha, f'/qi-project new "Project {number:02d}"')

    reply = chat.say(asha, "/qi-projects")
    rest = chat.press(asha, reply, "Show more projects")

    assert len([line for line in reply.text.splitlines() if line.startswith("•")]) == LIST_LIMIT
    assert reply.sections[0].heading == f"Active QI projects (1 to 40 of {LIST_LIMIT + 3})"
    assert "…and 3 more." in reply.text
    assert f"0 of {LIST_LIMIT + 3} active projects have" in reply.text
    assert rest.sections[0].heading == f"Active QI projects (41 to 43 of {LIST_LIMIT + 3})"
    assert [line for line in rest.text.splitlines() if line.startswith("•")] == [
        f"• Project {n}: led by Asha Patel; no service user or carer on the team yet"
        for n in (40, 41, 42)
    ]
    assert rest.buttons == ()


def test_my_projects_page_on_from_the_button_too(chat, asha, ben):
    for number in range(LIST_LIMIT + 1):
        chat.say(asha, f'/qi-project new "Project {number:02d}"')
    chat.say(ben, '/qi-project new "Not Asha\'s"')

    first = chat.say(asha, "/qi-projects mine")
    rest = chat.press(asha, first, "Show more projects")

    assert first.sections[0].heading == f"Your active projects (1 to 40 of {LIST_LIMIT + 1})"
    assert "…and 1 more." in first.text and "add a word" not in first.text
    assert rest.sections[0].heading == f"Your active projects (41 to 41 of {LIST_LIMIT + 1})"
    assert "• Project 40:" in rest.text and "Not Asha" not in rest.text


def test_a_stale_more_button_says_the_list_has_ended(chat, asha):
    chat.say(asha, '/qi-project new "Falls prevention"')

    reply = chat.bot.action(asha, "more_projects", "40:")

    assert (
        reply.ok
        and reply.text
        == "That's the end of the list. Type /qi-projects to see it again from the start."
    )


def test_projects_are_listed_by_name_ignoring_case(chat, asha):
    for name in ["sepsis screening", "Falls prevention", "audit of notes"]:
        chat.say(asha, f'/qi-project new "{name}"')

    reply = chat.say(asha, "/qi-projects")

    names = [line[2:].split(":")[0] for line in reply.text.splitlines() if line.startswith("•")]
    assert names == ["audit of notes", "Falls prevention", "sepsis screening"]


def test_hostile_search_words_get_a_kind_answer(chat, asha, sessions):
    chat.say(asha, "/qi-project new <!channel>")
    before = given.row_counts(sessions)

    markup = chat.say(asha, "/qi-projects <!channel>")
    unbalanced = chat.say(asha, '/qi-projects "falls')
    long = chat.say(asha, "/qi-projects " + "x" * 5000)

    assert "• <!channel>: led by Asha Patel" in markup.text
    assert not unbalanced.ok and "quote mark is missing" in unbalanced.text
    assert not long.ok and "keep it shorter" in long.text
    assert given.row_counts(sessions) == before


def test_search_words_may_come_in_any_order(chat, asha):
    chat.say(asha, '/qi-project new "Falls prevention" --site "Ward 7"')
    chat.say(asha, '/qi-project new "Sepsis screening" --site "Ward 9"')

    reply = chat.say(asha, "/qi-projects ward falls")

    assert "Falls prevention" in reply.text
    assert "Sepsis screening" not in reply.text
