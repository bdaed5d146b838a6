"""Listing projects: /qi-projects, and whether each has a service user or carer on the team."""

import pytest
from sqlalchemy import update

from handlers.core.long_lists import text_units
from handlers.core.reply import HEADING_MAX
from handlers.projects.listing import BUTTON_BROKE, END_OF_LIST, LIST_LIMIT, SEARCH_TOO_LONG
from store.models import Project
from store.roles import ProjectStatus
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


def numbered(count):
    return [f"Project {n:03d}" for n in range(count)]


def listed(reply):
    return [line[2:].split(":")[0] for line in reply.text.splitlines() if line.startswith("• ")]


def close(ctx, project):
    with ctx.sessions.begin() as session:
        session.execute(
            update(Project).where(Project.id == project).values(status=ProjectStatus.COMPLETED)
        )


FORMS = {"all": "", "mine": "mine", "a search": "project"}


@pytest.mark.parametrize("asked", FORMS.values(), ids=FORMS.keys())
def test_a_project_closed_before_the_next_page_makes_it_skip_none(chat, ctx, asha, asked):
    lead = given.person_id(ctx.sessions, asha, ctx.now())
    ids = given.many_projects(ctx.sessions, numbered(LIST_LIMIT + 1), ctx.now(), lead_id=lead)
    first = chat.say(asha, f"/qi-projects {asked}")
    assert listed(first)[-1] == "Project 039"

    close(ctx, ids[0])  # one already seen
    rest = chat.press(asha, first, "Show more projects")

    assert listed(rest) == ["Project 040"]
    # Counted as the list stands now: 39 still active before it, 40 in all.
    assert rest.sections[0].heading.endswith("(40 to 40 of 40)")


@pytest.mark.parametrize("asked", FORMS.values(), ids=FORMS.keys())
def test_a_project_started_before_the_next_page_makes_it_repeat_none(chat, ctx, asha, asked):
    lead = given.person_id(ctx.sessions, asha, ctx.now())
    given.many_projects(ctx.sessions, numbered(LIST_LIMIT + 1), ctx.now(), lead_id=lead)
    first = chat.say(asha, f"/qi-projects {asked}")

    # First by name, so before the page; and one after it, which the next page shows.
    given.many_projects(ctx.sessions, ["Aardvark project", "Project 999"], ctx.now(), lead_id=lead)
    rest = chat.press(asha, first, "Show more projects")

    assert listed(rest) == ["Project 040", "Project 999"]
    assert rest.sections[0].heading.endswith("(42 to 43 of 43)")


def test_every_project_is_seen_once_while_others_come_and_go(chat, ctx, asha):
    lead = given.person_id(ctx.sessions, asha, ctx.now())
    ids = given.many_projects(ctx.sessions, numbered(3 * LIST_LIMIT), ctx.now(), lead_id=lead)
    seen, reply = [], chat.say(asha, "/qi-projects")
    while True:
        seen += listed(reply)
        if not reply.buttons:
            break
        close(ctx, ids[len(seen) - 1])  # the last two shown end, and one starts before them
        close(ctx, ids[len(seen) - 2])
        given.many_projects(ctx.sessions, [f"Aardvark {len(seen)}"], ctx.now(), lead_id=lead)
        reply = chat.press(asha, reply, "Show more projects")

    assert seen == numbered(3 * LIST_LIMIT)


def test_a_more_button_for_a_list_that_has_since_ended_says_so(chat, ctx, asha):
    lead = given.person_id(ctx.sessions, asha, ctx.now())
    ids = given.many_projects(ctx.sessions, numbered(LIST_LIMIT + 1), ctx.now(), lead_id=lead)
    first = chat.say(asha, "/qi-projects")
    close(ctx, ids[-1])

    reply = chat.press(asha, first, "Show more projects")

    assert (reply.ok, reply.text) == (True, END_OF_LIST)


@pytest.mark.parametrize(
    "value",
    [
        "40:",  # a button from before paging went by name
        "40:falls",
        "",
        "not json",
        "[]",
        '["project 039", "12", ""]',
        '["project 039", true, ""]',
        '["project 039", -1, ""]',
        '["project 039", 99999999999999999999999, ""]',
        '[null, 12, ""]',
        '{"a": 1, "b": 2, "c": 3}',
        "[" * 1900,
    ],
)
def test_a_more_button_with_a_value_not_ours_gets_a_kind_answer(chat, ctx, asha, value):
    given.many_projects(ctx.sessions, numbered(3), ctx.now(), lead_id=None)
    before = given.row_counts(ctx.sessions)

    reply = chat.bot.action(asha, "more_projects", value)

    assert (reply.ok, reply.text) == (False, BUTTON_BROKE)
    assert given.row_counts(ctx.sessions) == before


def test_a_search_page_says_to_add_a_word_to_the_search(chat, ctx, asha):
    given.many_projects(ctx.sessions, numbered(LIST_LIMIT + 1), ctx.now(), lead_id=None)

    everything = chat.say(asha, "/qi-projects")
    search = chat.say(asha, "/qi-projects project")

    assert "add a word from its name, for example /qi-projects falls" in everything.text
    assert "To find one, add another word to your search." in search.text
    assert "/qi-projects falls" not in search.text


@pytest.mark.parametrize(
    "word",
    ["ward ", "Cymru\U0001f3f4\U000e0067\U000e0062\U000e0077\U000e006c\U000e0073\U000e007f "],
)
def test_a_long_search_is_shortened_in_the_heading_and_the_page_numbers_kept(chat, ctx, asha, word):
    site = (word * (200 // len(word))).strip()  # as long as a site may be
    given.many_projects(ctx.sessions, numbered(LIST_LIMIT + 1), ctx.now(), lead_id=None, site=site)

    first = chat.say(asha, f'/qi-projects "{site}"')
    rest = chat.press(asha, first, "Show more projects")

    shown = len(listed(first))
    for page, numbers in ((first, f"(1 to {shown} of 41)"), (rest, f"({shown + 1} to ")):
        heading = page.sections[0].heading
        assert heading.startswith("Active QI projects at " + site[:20])  # the site, named
        assert f"… {numbers}" in heading
        assert text_units(heading) <= HEADING_MAX
    assert rest.sections[0].heading.endswith(" of 41)")


def test_a_search_too_long_for_a_button_says_how_to_see_the_rest(chat, ctx, asha):
    given.many_projects(ctx.sessions, numbered(LIST_LIMIT + 1), ctx.now(), lead_id=None)

    reply = chat.say(asha, "/qi-projects " + "proj " * 399)  # 1,995 characters

    assert reply.ok and len(listed(reply)) == LIST_LIMIT
    assert reply.buttons == ()
    assert SEARCH_TOO_LONG in reply.text


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
