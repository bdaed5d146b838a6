"""Starting a project and looking after its team: /qi-project."""

import pytest
from sqlalchemy import select

from handlers.core import ids
from store.models import NAME_MAX, AuditEvent, ChatIdentity, Membership, Person, Project
from store.roles import Involvement, ProjectStatus, Role
from tests.conftest import person
from tests.handlers import given

ADD_SAM = '/qi-project add-member "Falls prevention" "Sam Jones" as carer --consent'


def stored_project(sessions, name):
    with sessions() as session:
        project = session.scalar(select(Project).where(Project.name == name))
        assert project is not None, f"no project {name!r}"
        return project


def project_count(sessions):
    with sessions() as session:
        return len(session.scalars(select(Project.id)).all())


# new


def test_new_project_makes_you_the_lead_and_asks_about_lived_experience(
    chat, asha, sessions, clock
):
    reply = chat.say(asha, '/qi-project new "Falls prevention"')

    assert reply.ok
    assert reply.sections[0].heading == "Project registered"
    assert 'You\'re the lead of "Falls prevention".' in reply.text
    assert "Who with lived experience will be on your team?" in reply.text
    assert "/qi-join Falls prevention as service user" in reply.text
    assert '/qi-project add-member "Falls prevention" "Their name" as carer --consent' in (
        reply.text
    )
    assert "/qi-forum" in reply.text
    assert given.labels(reply) == ["Record someone already involved", "See the next forum meeting"]
    project = stored_project(sessions, "Falls prevention")
    assert project.lead_person_id == given.person_id(sessions, asha, clock())
    assert project.status == ProjectStatus.ACTIVE
    assert project.created_at == clock()


def test_new_project_records_the_site(chat, asha, sessions):
    chat.say(asha, '/qi-project new "Falls prevention" --site "Ward 7"')

    assert stored_project(sessions, "Falls prevention").site == "Ward 7"


def test_a_known_site_typed_another_way_keeps_its_spelling(chat, asha, sessions):
    chat.say(asha, '/qi-project new "Falls prevention" --site "Riverside Hospital"')

    reply = chat.say(asha, '/qi-project new "Sepsis screening" --site " riverside  HOSPITAL."')

    assert reply.ok
    assert stored_project(sessions, "Sepsis screening").site == "Riverside Hospital"
    assert stored_project(sessions, "Sepsis screening").site_key == "riverside hospital"


def test_a_site_with_no_letters_is_refused_saying_what_to_type(chat, asha, sessions):
    before = given.row_counts(sessions)

    reply = chat.say(asha, '/qi-project new "Falls prevention" --site "--"')

    assert not reply.ok
    assert reply.text == (
        'Please give the site a name, for example: /qi-project new "Falls prevention on Ward 7" '
        '--site "Riverside Hospital"'
    )
    assert given.row_counts(sessions) == before


def test_the_help_says_how_to_give_a_projects_site(chat, asha):
    reply = chat.say(asha, "/qi-help project")

    assert '--site "Riverside Hospital" for the hospital or service it is based at' in reply.text
    assert "a ward or team goes in the project's name" in reply.text


def test_new_project_is_audited(chat, asha, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')

    with sessions() as session:
        event = session.scalars(select(AuditEvent)).one()
    assert event.action == "project.created"
    assert event.subject_id == stored_project(sessions, "Falls prevention").id


@pytest.mark.parametrize(
    "again",
    [
        '"Falls prevention"',
        '"falls PREVENTION"',
        '"  Falls    prevention  "',
        "Falls-prevention",
        "“Falls prevention”",
    ],
)
def test_a_duplicate_name_is_refused_kindly(chat, asha, chloe, sessions, again):
    chat.say(asha, '/qi-project new "Falls prevention"')
    before = given.row_counts(sessions)

    reply = chat.say(chloe, f"/qi-project new {again}")

    assert not reply.ok
    assert 'There is already a project called "Falls prevention" (led by Asha Patel)' in reply.text
    assert "/qi-join Falls prevention as staff" in reply.text
    assert given.row_counts(sessions) == before


@pytest.mark.parametrize("name", ["", '""', "!!!", "   "])
def test_a_project_needs_a_name(chat, asha, sessions, name):
    before = given.row_counts(sessions)

    reply = chat.say(asha, f"/qi-project new {name}")

    assert not reply.ok and "Please give the project a name" in reply.text
    assert given.row_counts(sessions) == before


def test_a_name_over_the_limit_is_refused(chat, asha, sessions):
    before = given.row_counts(sessions)

    reply = chat.say(asha, f'/qi-project new "{"a" * (NAME_MAX + 1)}"')

    assert not reply.ok and "That name is too long" in reply.text
    assert given.row_counts(sessions) == before


def test_a_name_at_the_limit_is_kept_whole(chat, asha, sessions):
    name = "b" * NAME_MAX

    reply = chat.say(asha, f"/qi-project new {name}")

    assert reply.ok
    assert stored_project(sessions, name).name == name


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("St John's ward", "St John's ward"),
        ('"St John\'s ward"', "St John's ward"),
        ("St John’s ward", "St John's ward"),
        ("“Falls prevention”", "Falls prevention"),
        ("<!channel>", "<!channel>"),
        ("<@U123> & <b>bold</b>", "<@U123> & <b>bold</b>"),
        ("Falls\tprevention\u200b", "Falls prevention"),
    ],
)
def test_awkward_names_are_kept_as_typed(chat, asha, sessions, typed, stored):
    reply = chat.say(asha, f"/qi-project new {typed}")

    assert reply.ok, reply.text
    assert f'You\'re the lead of "{stored}".' in reply.text
    assert stored_project(sessions, stored).name == stored


def test_an_unbalanced_quote_is_explained_and_nothing_is_stored(chat, asha, sessions):
    before = given.row_counts(sessions)

    reply = chat.say(asha, '/qi-project new "Falls prevention')

    assert not reply.ok and "quote mark is missing" in reply.text
    assert given.row_counts(sessions) == before


def test_five_thousand_characters_are_refused_kindly(chat, asha, sessions):
    before = given.row_counts(sessions)

    reply = chat.say(asha, "/qi-project new " + "x" * 5000)

    assert not reply.ok and "keep it shorter" in reply.text
    assert given.row_counts(sessions) == before


def test_an_over_long_site_is_refused_kindly(chat, asha, sessions):
    before = given.row_counts(sessions)

    reply = chat.say(asha, f'/qi-project new "Falls prevention" --site "{"w" * (NAME_MAX + 1)}"')

    assert not reply.ok and "too long" in reply.text
    assert given.row_counts(sessions) == before


def test_the_record_button_on_the_welcome_opens_the_add_member_form(chat, asha, sessions):
    welcome = chat.say(asha, '/qi-project new "Falls prevention"')

    reply = chat.press(asha, welcome, "Record someone already involved")

    assert reply.ok and reply.form is not None
    assert reply.form.form_id == ids.ADD_MEMBER_FORM
    assert reply.form.context == str(given.project_id(sessions, "Falls prevention"))
    assert [f.name for f in reply.form.fields] == ["name", "role", "involvement", "consent"]


def test_the_forum_button_on_the_welcome_shows_the_forum(chat, asha, sessions, clock):
    given.forum(sessions, clock())
    welcome = chat.say(asha, '/qi-project new "Falls prevention"')

    reply = chat.press(asha, welcome, "See the next forum meeting")

    assert reply.ok and reply.sections[0].heading == "QI Forum"


# add-member


@pytest.mark.parametrize(
    ("typed", "role"),
    [
        ("as a carer", Role.CARER),
        ("as carers", Role.CARER),
        ("as family carer", Role.CARER),
        ("as a service user", Role.SERVICE_USER),
        ("as patient", Role.SERVICE_USER),
        ("as an expert by experience", Role.SERVICE_USER),
        ("as a peer supporter", Role.PEER_SUPPORTER),
        ("as a staff member", Role.STAFF),
    ],
)
def test_roles_as_people_say_them_record_a_member_and_a_lead(chat, asha, sessions, typed, role):
    started = chat.say(asha, f'/qi-project new "Falls prevention" {typed}')
    added = chat.say(
        asha, f'/qi-project add-member "Falls prevention" "Sam Jones" {typed} --consent'
    )

    assert started.ok and added.ok, (started.text, added.text)
    assert sorted(r[1] for r in given.team_rows(sessions, "Falls prevention")) == [role, role]


def test_add_member_with_consent_records_someone_not_on_chat(chat, asha, sessions, clock):
    chat.say(asha, '/qi-project new "Falls prevention"')

    reply = chat.say(asha, ADD_SAM)

    assert reply.ok
    assert 'Sam Jones is now recorded on the "Falls prevention" team as a carer' in reply.text
    assert "you checked they agreed" in reply.text
    assert '"Falls prevention" now has a service user or carer on the team' in reply.text
    assert given.team_rows(sessions, "Falls prevention") == [
        ("Sam Jones", Role.CARER, Involvement.TEAM_MEMBER, None)
    ]
    with sessions() as session:
        sam = session.scalars(select(Person).where(Person.display_name == "Sam Jones")).one()
        identities = session.scalars(select(ChatIdentity).where(ChatIdentity.person_id == sam.id))
        assert identities.all() == []
        membership = session.scalars(select(Membership)).one()
    assert membership.consent_recorded_by_id == given.person_id(sessions, asha, clock())
    assert membership.consent_recorded_at == clock()


def test_add_member_without_consent_explains_and_stores_nothing(chat, asha, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    before = given.row_counts(sessions)

    reply = chat.say(asha, '/qi-project add-member "Falls prevention" "Sam Jones" as carer')

    assert not reply.ok
    assert "please check they are happy to be part of the team" in reply.text
    assert ADD_SAM in reply.text
    assert given.row_counts(sessions) == before


def test_add_member_consulted_records_little_i_involvement(chat, asha, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')

    reply = chat.say(asha, ADD_SAM + " --consulted")

    assert reply.ok and "someone the team consults" in reply.text
    assert "now has a service user or carer" not in reply.text
    assert given.team_rows(sessions, "Falls prevention") == [
        ("Sam Jones", Role.CARER, Involvement.CONSULTED, None)
    ]


def test_only_the_lead_may_add_members(chat, asha, ben, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(ben, "/qi-join Falls prevention as carer")
    before = given.row_counts(sessions)

    reply = chat.say(ben, ADD_SAM)

    assert not reply.ok
    assert 'Only the lead of "Falls prevention" or a forum organiser can do that.' in reply.text
    assert given.row_counts(sessions) == before


def test_an_organiser_may_add_members_to_any_project(chat, asha, chloe, sessions, clock):
    chat.say(asha, '/qi-project new "Falls prevention"')
    given.organiser(sessions, chloe, clock())

    reply = chat.say(chloe, ADD_SAM)

    assert reply.ok
    assert [r[0] for r in given.team_rows(sessions, "Falls prevention")] == ["Sam Jones"]


def test_a_revoked_organiser_may_not(chat, asha, chloe, sessions, clock):
    from store import people

    chat.say(asha, '/qi-project new "Falls prevention"')
    chloe_id = given.organiser(sessions, chloe, clock())
    with sessions.begin() as session:
        people.revoke_admin(session, chloe_id, now=clock())

    reply = chat.say(chloe, ADD_SAM)

    assert not reply.ok and given.team_rows(sessions, "Falls prevention") == []


def test_adding_the_same_name_twice_does_not_duplicate(chat, asha, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(asha, ADD_SAM)
    before = given.row_counts(sessions)

    reply = chat.say(
        asha, '/qi-project add-member "Falls prevention" "sam jones" as carer --consent'
    )

    assert reply.ok
    assert 'Sam Jones is already on the "Falls prevention" team as a carer.' in reply.text
    assert given.row_counts(sessions) == before


def test_the_same_name_with_accents_in_another_case_is_not_added_twice(chat, asha, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(asha, '/qi-project add-member "Falls prevention" "Élodie Martin" as carer --consent')

    reply = chat.say(
        asha, '/qi-project add-member "Falls prevention" "ÉLODIE  MARTIN" as carer --consent'
    )

    assert reply.ok and "is already on the" in reply.text
    assert [r[0] for r in given.team_rows(sessions, "Falls prevention")] == ["Élodie Martin"]


def test_a_recorded_member_who_left_can_be_recorded_again(chat, asha, sessions, clock):
    from store.models import Membership

    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(asha, ADD_SAM)
    with sessions.begin() as session:
        session.scalars(select(Membership)).one().left_at = clock()

    reply = chat.say(asha, ADD_SAM)

    assert reply.ok and "is now recorded" in reply.text
    assert [r[3] is None for r in given.team_rows(sessions, "Falls prevention")] == [False, True]


def test_add_member_without_quotes_finds_where_the_project_name_ends(chat, asha, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')

    reply = chat.say(asha, "/qi-project add-member Falls prevention Sam Jones as carer --consent")

    assert reply.ok, reply.text
    assert [r[:2] for r in given.team_rows(sessions, "Falls prevention")] == [
        ("Sam Jones", Role.CARER)
    ]


def test_add_member_matches_the_project_forgivingly(chat, asha, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')

    reply = chat.say(asha, '/qi-project add-member "falls" "Sam Jones" as Service-User --consent')

    assert reply.ok, reply.text
    assert [r[1] for r in given.team_rows(sessions, "Falls prevention")] == [Role.SERVICE_USER]


def test_add_member_with_curly_quotes_from_a_phone(chat, asha, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')

    reply = chat.say(
        asha, "/qi-project add-member “Falls prevention” “Pat O’Brien” as carer --consent"
    )

    assert reply.ok, reply.text
    assert [r[0] for r in given.team_rows(sessions, "Falls prevention")] == ["Pat O'Brien"]


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ('/qi-project add-member "Falls prevention" "Sam Jones" --consent', "The roles are"),
        ('/qi-project add-member "Falls prevention" "Sam Jones" as wizard --consent', "wizard"),
        ('/qi-project add-member "Falls prevention" as carer --consent', "which project and who"),
        ("/qi-project add-member Nonsense words here as carer --consent", "in quotes"),
        ('/qi-project add-member "Falls prevention" "!!!" as carer --consent', "person's name"),
        (
            f'/qi-project add-member "Falls prevention" "{"S" * 101}" as carer --consent',
            "too long",
        ),
    ],
)
def test_add_member_mistakes_are_explained_and_store_nothing(chat, asha, sessions, command, says):
    chat.say(asha, '/qi-project new "Falls prevention"')
    before = given.row_counts(sessions)

    reply = chat.say(asha, command)

    assert not reply.ok and says in reply.text
    assert given.row_counts(sessions) == before


def test_add_member_to_a_finished_project_is_refused(chat, asha, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(asha, '/qi-project status "Falls prevention" completed')
    before = given.row_counts(sessions)

    reply = chat.say(asha, ADD_SAM)

    assert not reply.ok and "not taking new members" in reply.text
    assert given.row_counts(sessions) == before


# The add-member form


def open_form(chat, actor):
    welcome = chat.say(actor, '/qi-project new "Falls prevention"')
    return chat.press(actor, welcome, "Record someone already involved")


def test_the_form_records_a_member_once_they_have_agreed(chat, asha, sessions):
    form = open_form(chat, asha)

    reply = chat.submit(
        asha, form, name="Sam Jones", role="service_user", involvement="team_member", consent="yes"
    )

    assert reply.ok and "Sam Jones is now recorded" in reply.text
    assert given.team_rows(sessions, "Falls prevention") == [
        ("Sam Jones", Role.SERVICE_USER, Involvement.TEAM_MEMBER, None)
    ]


def test_the_form_records_consulted_people(chat, asha, sessions):
    form = open_form(chat, asha)

    chat.submit(asha, form, name="Sam Jones", role="carer", involvement="consulted", consent="yes")

    assert given.team_rows(sessions, "Falls prevention")[0][2] == Involvement.CONSULTED


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"name": "Sam Jones", "role": "carer", "involvement": "team_member"}, "--consent"),
        ({"name": "Sam Jones", "involvement": "team_member", "consent": "yes"}, "their role"),
        (
            {"name": "Sam Jones", "role": "carer", "involvement": "sometimes", "consent": "yes"},
            "how they are involved",
        ),
        ({"name": "  ", "role": "carer", "consent": "yes"}, "person's name"),
    ],
)
def test_an_incomplete_form_is_refused_and_stores_nothing(chat, asha, sessions, values, says):
    form = open_form(chat, asha)
    before = given.row_counts(sessions)

    reply = chat.submit(asha, form, **values)

    assert not reply.ok and says in reply.text
    assert given.row_counts(sessions) == before


def test_an_over_long_or_odd_name_in_the_form_gets_a_kind_answer(chat, asha, sessions):
    form = open_form(chat, asha)
    before = given.row_counts(sessions)

    long = chat.submit(asha, form, name="S" * 5000, role="carer", consent="yes")
    tidied = chat.submit(asha, form, name="<!channel>\x00 Sam", role="carer", consent="yes")

    assert not long.ok and "too long" in long.text
    assert tidied.ok, tidied.text
    assert given.row_counts(sessions)["memberships"] == before["memberships"] + 1
    assert given.team_rows(sessions, "Falls prevention")[0][0] == "<!channel> Sam"


def test_the_form_for_a_project_that_has_gone_is_refused(chat, asha, sessions):
    form = open_form(chat, asha)
    before = given.row_counts(sessions)

    reply = chat.bot.submit(
        asha, ids.ADD_MEMBER_FORM, {"name": "Sam", "role": "carer", "consent": "yes"}, "999999"
    )
    broken = chat.bot.submit(
        asha, ids.ADD_MEMBER_FORM, {"name": "Sam", "role": "carer", "consent": "yes"}, "x"
    )

    assert form.ok
    assert not reply.ok and "no longer exists" in reply.text
    assert not broken.ok and "no longer exists" in broken.text
    assert given.row_counts(sessions) == before


def test_someone_else_cannot_open_or_submit_the_form(chat, asha, ben, sessions):
    form = open_form(chat, asha)
    welcome = chat.say(asha, "/qi-project show Falls prevention")
    before = given.row_counts(sessions)

    opened = chat.press(ben, welcome, "Record someone already involved")
    submitted = chat.submit(
        ben, form, name="Sam Jones", role="carer", involvement="team_member", consent="yes"
    )

    assert not opened.ok and opened.form is None and "Only the lead" in opened.text
    assert not submitted.ok and "Only the lead" in submitted.text
    assert given.row_counts(sessions) == before


# show


def test_show_lists_the_team_for_its_lead(chat, asha, ben, chloe, sessions):
    chat.say(asha, '/qi-project new "Falls prevention" --site "Ward 7"')
    chat.say(ben, "/qi-join Falls prevention as carer")
    chat.say(chloe, "/qi-join Falls prevention as staff")
    chat.say(asha, '/qi-project add-member "Falls prevention" "Sam Jones" as carer --consent')
    chat.say(
        asha,
        '/qi-project add-member "Falls prevention" "Ali Khan" as service user '
        "--consent --consulted",
    )

    reply = chat.say(asha, "/qi-project show falls prevention")

    assert reply.ok
    assert reply.sections[0].heading == "Falls prevention"
    assert "Led by Asha Patel at Ward 7. Status: active." in reply.text
    assert "It has a service user or carer on the team." in reply.text
    assert reply.sections[1].text.splitlines() == [
        "• Ben Okafor: carer",
        "• Sam Jones: carer (not on chat)",
        "• Chloe Evans: staff",
        "• Ali Khan: service user, consulted now and then (not on chat)",
    ]
    assert given.labels(reply) == ["Change or remove someone"]


def test_only_the_lead_and_organisers_see_names(chat, asha, ben, chloe, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(ben, "/qi-join Falls prevention as carer")
    chat.say(asha, ADD_SAM)
    outsider = person("Dev Singh")

    member_view = chat.say(ben, "/qi-project show Falls prevention")
    outsider_view = chat.say(outsider, "/qi-project show Falls prevention")

    # Joining a team must not be a way to read who else is on it (Sam is not on chat).
    assert "Sam Jones" not in member_view.text
    assert "You're on the team as a carer." in member_view.text
    assert "Sam Jones" not in outsider_view.text and "Ben Okafor" not in outsider_view.text
    assert "On the team: 2 carers." in outsider_view.text


def test_looking_around_stores_nothing_about_the_viewer(chat, asha, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    before = given.row_counts(sessions)
    browser = person("Dev Singh")

    chat.say(browser, "/qi-project show Falls prevention")
    chat.say(browser, "/qi-projects")
    chat.say(browser, "/qi-projects mine")

    assert given.row_counts(sessions) == before


def test_consulted_carer_is_not_counted_as_on_the_team(chat, asha):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(asha, '/qi-project add-member "Falls" "Kim Lee" as carer --consent --consulted')

    reply = chat.say(person("Dev Singh"), "/qi-project show Falls prevention")

    assert "It has no service user or carer on the team yet." in reply.text
    assert "Also consulted now and then: 1 carer." in reply.text


def test_an_organiser_sees_names(chat, asha, chloe, sessions, clock):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(asha, ADD_SAM)
    given.organiser(sessions, chloe, clock())

    reply = chat.say(chloe, "/qi-project show Falls prevention")

    assert "Sam Jones" in reply.text


def test_show_nudges_the_lead_when_nobody_with_lived_experience_is_on_the_team(chat, asha, chloe):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(chloe, "/qi-join Falls prevention as staff")

    lead_view = chat.say(asha, "/qi-project show Falls prevention")
    staff_view = chat.say(chloe, "/qi-project show Falls prevention")

    assert "It has no service user or carer on the team yet." in lead_view.text
    assert given.labels(lead_view) == [
        "Record someone already involved",
        "Change or remove someone",
    ]
    assert given.labels(staff_view) == []


def test_show_of_an_empty_team_says_nobody_has_joined(chat, asha):
    chat.say(asha, '/qi-project new "Falls prevention"')

    reply = chat.say(asha, "/qi-project show Falls prevention")

    assert "Nobody has joined the team yet." in reply.text


def test_a_project_name_alone_is_taken_as_show(chat, asha):
    chat.say(asha, '/qi-project new "Falls prevention"')

    bare = chat.say(asha, "/qi-project Falls prevention")
    quoted = chat.say(asha, '/qi-project "falls prevention"')

    assert bare.ok and bare.sections[0].heading == "Falls prevention"
    assert quoted.ok and quoted.sections[0].heading == "Falls prevention"


def test_show_finds_finished_projects_too(chat, asha):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(asha, '/qi-project status "Falls prevention" completed')

    reply = chat.say(asha, "/qi-project show Falls prevention")

    assert reply.ok and "Status: completed." in reply.text


def test_show_of_an_unknown_project_suggests_the_closest(chat, asha):
    chat.say(asha, '/qi-project new "Falls prevention"')

    reply = chat.say(asha, "/qi-project show fals prevention")

    assert not reply.ok and 'Did you mean "Falls prevention"?' in reply.text


def test_with_no_words_it_explains_what_it_can_do(chat, asha, sessions):
    before = given.row_counts(sessions)

    reply = chat.say(asha, "/qi-project")

    assert reply.ok
    for verb in ("new", "add-member", "show", "status"):
        assert f"/qi-project {verb}" in reply.text
    assert given.row_counts(sessions) == before


# status


@pytest.mark.parametrize(
    ("typed", "status"),
    [
        ("completed", ProjectStatus.COMPLETED),
        ("Stopped", ProjectStatus.STOPPED),
        ("on hold", ProjectStatus.ON_HOLD),
        ('"on hold"', ProjectStatus.ON_HOLD),
        ("paused", ProjectStatus.ON_HOLD),
        ("not started", ProjectStatus.ACTIVE),
    ],
)
def test_the_lead_changes_the_status(chat, asha, sessions, typed, status):
    chat.say(asha, '/qi-project new "Sepsis screening"')
    if status == ProjectStatus.ACTIVE:
        chat.say(asha, '/qi-project status "Sepsis screening" stopped')

    reply = chat.say(asha, f'/qi-project status "Sepsis screening" {typed}')

    assert reply.ok, reply.text
    assert f'"Sepsis screening" is now {status.label}' in reply.text
    assert stored_project(sessions, "Sepsis screening").status == status


def test_status_works_without_quotes(chat, asha, sessions):
    chat.say(asha, '/qi-project new "Sepsis screening"')

    reply = chat.say(asha, "/qi-project status Sepsis screening on hold")

    assert reply.ok, reply.text
    assert stored_project(sessions, "Sepsis screening").status == ProjectStatus.ON_HOLD


def test_setting_the_same_status_again_says_so(chat, asha, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    before = given.row_counts(sessions)

    reply = chat.say(asha, '/qi-project status "Falls prevention" active')

    assert reply.ok and '"Falls prevention" is already active.' in reply.text
    assert given.row_counts(sessions) == before


def test_only_the_lead_or_an_organiser_changes_the_status(chat, asha, ben, chloe, sessions, clock):
    chat.say(asha, '/qi-project new "Falls prevention"')
    given.organiser(sessions, chloe, clock())

    refused = chat.say(ben, '/qi-project status "Falls prevention" stopped')
    assert not refused.ok and "Only the lead" in refused.text
    assert stored_project(sessions, "Falls prevention").status == ProjectStatus.ACTIVE

    allowed = chat.say(chloe, '/qi-project status "Falls prevention" stopped')
    assert allowed.ok
    assert stored_project(sessions, "Falls prevention").status == ProjectStatus.STOPPED


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ('/qi-project status "Falls prevention"', "Please say which project and its new status"),
        ("/qi-project status completed", "Please say which project and its new status"),
        ('/qi-project status "Falls prevention" exploded', "active, on hold, completed or stopped"),
    ],
)
def test_a_missing_or_unknown_status_is_explained(chat, asha, sessions, command, says):
    chat.say(asha, '/qi-project new "Falls prevention"')
    before = given.row_counts(sessions)

    reply = chat.say(asha, command)

    assert not reply.ok
    assert says in reply.text
    assert given.row_counts(sessions) == before
    assert stored_project(sessions, "Falls prevention").status == ProjectStatus.ACTIVE


def test_second_carer_is_thanked_without_repeating_the_news(chat, asha):
    chat.say(asha, '/qi-project new "Falls prevention"')
    first = chat.say(asha, '/qi-project add-member "Falls" "Sam Jones" as carer --consent')
    second = chat.say(asha, '/qi-project add-member "Falls" "Kim Lee" as carer --consent')

    assert "now has a service user or carer on the team" in first.text
    assert second.ok and "Kim Lee is now recorded" in second.text
    assert "now has a service user or carer" not in second.text


def test_one_carer_recorded_on_two_projects_is_one_person(chat, asha, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(asha, '/qi-project new "Safer insulin"')
    chat.say(asha, '/qi-project add-member "Falls" "Sam Jones" as carer --consent')
    chat.say(asha, '/qi-project add-member "Safer insulin" "sam jones" as carer --consent')

    with sessions() as session:
        sams = session.scalars(select(Person).where(Person.display_name == "Sam Jones")).all()
        assert len(sams) == 1
        assert (
            len(session.scalars(select(Membership).where(Membership.person_id == sams[0].id)).all())
            == 2
        )


def test_a_chat_user_sharing_the_name_is_someone_else(chat, asha, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(person("Mo Ahmed"), "/qi-join falls as staff")

    reply = chat.say(asha, '/qi-project add-member "Falls" "Mo Ahmed" as carer --consent')

    assert reply.ok and "Mo Ahmed is now recorded" in reply.text
    with sessions() as session:
        assert (
            len(session.scalars(select(Person).where(Person.display_name == "Mo Ahmed")).all()) == 2
        )


@pytest.mark.parametrize("role", ["carer", "service user"])
def test_a_lead_with_lived_experience_is_thanked_not_asked_who_has_it(chat, ben, role):
    reply = chat.say(ben, f'/qi-project new "Carers\' passports" as {role}')

    assert reply.ok
    assert f"You're the lead of \"Carers' passports\", and on its team as a {role}." in (reply.text)
    assert "Who with lived experience will be on your team?" not in reply.text
    assert "someone with lived experience on its team from the start" in reply.text
    assert "/qi-join Carers' passports as staff" in reply.text
    assert given.labels(reply) == ["Record someone already involved", "See the next forum meeting"]


@pytest.mark.parametrize("role", ["staff", "peer supporter", "other"])
def test_a_lead_in_another_role_is_still_asked_who_has_lived_experience(chat, asha, role):
    reply = chat.say(asha, f'/qi-project new "Falls prevention" as {role}')

    assert reply.ok and "Who with lived experience will be on your team?" in reply.text


def test_a_carer_leading_a_project_counts_as_lived_experience_on_the_team(chat, ben):
    reply = chat.say(ben, '/qi-project new "Carers\' passports" as carer')

    assert "You're the lead of \"Carers' passports\", and on its team as a carer." in reply.text
    listing = chat.say(ben, "/qi-projects")
    assert "1 of 1 active project has a service user or carer on the team." in listing.text


def test_a_name_containing_as_stays_whole(chat, asha):
    reply = chat.say(asha, "/qi-project new Care as usual")

    assert reply.ok and 'lead of "Care as usual".' in reply.text


# add-member again, with a new role


def test_recording_someone_again_in_a_new_role_changes_it_and_says_so(chat, asha, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(asha, '/qi-project add-member "Falls" "Sam Jones" as staff --consent')

    reply = chat.say(asha, '/qi-project add-member "Falls" "sam jones" as carer --consent')

    assert reply.ok
    assert (
        'Sam Jones is already on the "Falls prevention" team. I\'ve changed their role from '
        'staff to carer. "Falls prevention" now has a service user or carer on the team.'
        in reply.text
    )
    assert given.team_rows(sessions, "Falls prevention") == [
        ("Sam Jones", Role.CARER, Involvement.TEAM_MEMBER, None)
    ]
    assert audited(sessions, "membership.role_changed") == [{"old": "staff", "new": "carer"}]
    listing = chat.say(asha, "/qi-projects")
    assert "1 of 1 active project has a service user or carer on the team." in listing.text


# remove-member

FALLS = "Falls prevention"


def audited(sessions, action):
    """The details of the audit lines of this action, oldest first, without the project id."""
    with sessions() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
        return [{k: v for k, v in e.detail.items() if k != "project_id"} for e in events]


def headline(chat, actor):
    return chat.say(actor, "/qi-projects").text


def test_the_lead_removes_a_mistyped_member_and_the_history_is_kept(chat, asha, sessions, clock):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(asha, '/qi-project add-member "Falls" "Sam Jnoes" as carer --consent')
    assert "1 of 1 active project has a service user" in headline(chat, asha)
    clock.advance(days=2)

    reply = chat.say(asha, '/qi-project remove-member "Falls prevention" "Sam Jnoes"')

    assert reply.ok, reply.text
    assert 'I\'ve taken Sam Jnoes off the "Falls prevention" team.' in reply.text
    assert '"Falls prevention" now has no service user or carer on the team.' in reply.text
    # How to undo it, with the date they were on the team from.
    assert (
        '/qi-project add-member "Falls prevention" "Sam Jnoes" as carer --consent '
        "--since 2026-11-23" in reply.text
    )
    assert given.team_rows(sessions, FALLS) == [
        ("Sam Jnoes", Role.CARER, Involvement.TEAM_MEMBER, clock())
    ]
    with sessions() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "membership.removed")
        ).one()
    assert event.actor_person_id == given.person_id(sessions, asha, clock())
    assert "0 of 1 active project has a service user" in headline(chat, asha)
    assert "Sam Jnoes" not in chat.say(asha, "/qi-project show Falls prevention").text


@pytest.mark.parametrize(
    "typed",
    [
        '/qi-project remove-member "Falls prevention" y',
        '/qi-project remove-member "Falls prevention" "Priya"',
        '/qi-project edit-member "Falls prevention" y --name "Someone Else"',
    ],
)
def test_part_of_a_name_is_never_taken_off_or_renamed(chat, asha, sessions, typed):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(asha, '/qi-project add-member "Falls" "Sam Jones" as carer --consent')
    chat.say(asha, '/qi-project add-member "Falls" "Priya Patel" as service user --consent')

    reply = chat.say(asha, typed)

    assert not reply.ok
    assert 'Did you mean "Priya Patel"?' in reply.text
    assert "Please give their name in full" in reply.text
    # Both still on the team, under their own names (no one left, no one renamed).
    assert sorted((name, left) for name, _, _, left in given.team_rows(sessions, FALLS)) == [
        ("Priya Patel", None),
        ("Sam Jones", None),
    ]


def test_the_weekly_figure_stops_counting_someone_removed(chat, ctx, asha, clock):
    from handlers.evidence.stats import take_snapshot
    from store import stats as stats_store

    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(asha, '/qi-project add-member "Falls" "Sam Jnoes" as carer --consent')
    take_snapshot(ctx)
    clock.advance(days=1)
    chat.say(asha, "/qi-project remove-member Falls prevention Sam Jnoes")
    clock.advance(days=6)
    take_snapshot(ctx)

    with ctx.sessions() as session:
        weeks = [(w.active_projects, w.involved_projects) for w in stats_store.snapshots(session)]
    assert weeks == [(1, 1), (1, 0)]


def test_the_lead_can_remove_someone_on_chat_who_can_join_again(chat, asha, ben, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(ben, "/qi-join Falls prevention as carer")

    reply = chat.say(asha, '/qi-project remove-member "Falls" "ben okafor"')

    assert reply.ok and "they can join again with /qi-join" in reply.text
    assert given.team_rows(sessions, FALLS)[0][3] is not None
    assert chat.say(ben, "/qi-join Falls prevention as carer").ok
    assert given.team_rows(sessions, FALLS)[1][3] is None


def test_only_the_lead_or_an_organiser_may_remove_someone(chat, asha, ben, chloe, sessions, clock):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(ben, "/qi-join Falls prevention as carer")
    chat.say(asha, ADD_SAM)
    before = given.row_counts(sessions)

    refused = chat.say(ben, '/qi-project remove-member "Falls" "Sam Jones"')

    assert not refused.ok
    assert 'Only the lead of "Falls prevention" or a forum organiser can do that.' in refused.text
    assert given.row_counts(sessions) == before
    given.organiser(sessions, chloe, clock())
    assert chat.say(chloe, '/qi-project remove-member "Falls" "Sam Jones"').ok
    assert [r[3] is None for r in given.team_rows(sessions, FALLS)] == [True, False]


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ('/qi-project remove-member "Falls" "Sam Jonse"', 'Did you mean "Sam Jones"?'),
        ('/qi-project remove-member "Falls" "Nobody Here"', "To see the team"),
        ('/qi-project remove-member "Falls"', "which project and who"),
        ("/qi-project remove-member Nowhere at all Sam", "in quotes"),
    ],
)
def test_remove_member_mistakes_are_explained_and_change_nothing(
    chat, asha, sessions, command, says
):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(asha, ADD_SAM)
    before = given.row_counts(sessions)

    reply = chat.say(asha, command)

    assert not reply.ok and says in reply.text
    assert given.row_counts(sessions) == before
    assert given.team_rows(sessions, FALLS)[0][3] is None


# edit-member


def test_the_lead_corrects_a_recorded_members_name(chat, asha, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(asha, '/qi-project add-member "Falls" "Sam Jnoes" as carer --consent')

    reply = chat.say(asha, '/qi-project edit-member "Falls" "Sam Jnoes" --name "Sam Jones"')

    assert reply.ok, reply.text
    assert (
        'I\'ve changed Sam Jones on the "Falls prevention" team: their name is now Sam Jones.'
        in reply.text
    )
    assert given.team_rows(sessions, FALLS) == [
        ("Sam Jones", Role.CARER, Involvement.TEAM_MEMBER, None)
    ]
    assert audited(sessions, "membership.name_corrected") == [{}]


def test_a_chat_users_name_is_theirs(chat, asha, ben, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(ben, "/qi-join Falls prevention as carer")
    before = given.row_counts(sessions)

    reply = chat.say(
        asha, '/qi-project edit-member "Falls" "Ben Okafor" --name "Benjamin" as staff'
    )

    assert not reply.ok
    assert "Ben Okafor uses chat, so their name is the one they chose there" in reply.text
    assert "You can still change their role" in reply.text
    assert given.row_counts(sessions) == before
    assert given.team_rows(sessions, FALLS) == [
        ("Ben Okafor", Role.CARER, Involvement.TEAM_MEMBER, None)
    ]


def test_the_lead_corrects_a_role_and_the_headline_follows(chat, asha, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(asha, '/qi-project add-member "Falls" "Sam Jones" as staff --consent')

    reply = chat.say(asha, '/qi-project edit-member "Falls" "Sam Jones" as carer')

    assert reply.ok
    assert (
        'I\'ve changed Sam Jones on the "Falls prevention" team: their role from staff to carer. '
        '"Falls prevention" now has a service user or carer on the team.' in reply.text
    )
    assert given.team_rows(sessions, FALLS)[0][1] == Role.CARER
    assert audited(sessions, "membership.role_changed") == [{"old": "staff", "new": "carer"}]
    assert "1 of 1 active project has a service user" in headline(chat, asha)


def test_consulted_and_team_member_can_be_changed_both_ways(chat, asha, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(asha, ADD_SAM)

    consulted = chat.say(asha, '/qi-project edit-member "Falls" "Sam Jones" --consulted')

    assert consulted.ok and "now consulted now and then rather than on the team" in consulted.text
    assert '"Falls prevention" now has no service user or carer on the team.' in consulted.text
    assert given.team_rows(sessions, FALLS)[0][2] == Involvement.CONSULTED
    assert "0 of 1 active project has a service user" in headline(chat, asha)

    back = chat.say(asha, '/qi-project edit-member "Falls" "Sam Jones" --team-member')

    assert back.ok and "now a member of the team" in back.text
    assert given.team_rows(sessions, FALLS)[0][2] == Involvement.TEAM_MEMBER
    assert audited(sessions, "membership.involvement_changed") == [
        {"old": "team_member", "new": "consulted"},
        {"old": "consulted", "new": "team_member"},
    ]


def test_the_lead_changes_since_when_someone_was_on_the_team(chat, ctx, asha, sessions, clock):
    from datetime import UTC, datetime

    clock.current = datetime(2026, 11, 2, 10, tzinfo=UTC)
    chat.say(asha, '/qi-project new "Falls prevention"')
    clock.current = datetime(2026, 11, 23, 10, tzinfo=UTC)
    chat.say(asha, ADD_SAM)

    reply = chat.say(asha, '/qi-project edit-member "Falls" "Sam Jones" --since 2026-11-10')

    assert reply.ok, reply.text
    assert "on the team since Tuesday 10 November 2026" in reply.text
    with sessions() as session:
        joined = session.scalars(select(Membership)).one().joined_at
    assert joined == datetime(2026, 11, 10, tzinfo=UTC)  # midnight in London is 00:00 UTC


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ('/qi-project edit-member "Falls" "Sam Jones"', "What would you like to change?"),
        ('/qi-project edit-member "Falls" "Sam Jones" as wizard', "wizard"),
        ('/qi-project edit-member "Falls" "Sam Jones" --name "!!!"', "their new name"),
        (f'/qi-project edit-member "Falls" "Sam Jones" --name "{"S" * 101}"', "too long"),
        ('/qi-project edit-member "Falls" "Sam Jones" --consulted --team-member', "not both"),
        ('/qi-project edit-member "Falls" "Sam Jones" --since 1999-12-31', "before 2000"),
        ('/qi-project edit-member "Falls" "Sam Jones" --since soon', "not a date I can read"),
        ('/qi-project edit-member "Falls" "Kim Lee" --name "Sam Jones"', "already on the"),
        ('/qi-project edit-member "Falls" as carer', "which project and who"),
    ],
)
def test_edit_member_mistakes_are_explained_and_change_nothing(chat, asha, sessions, command, says):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(asha, ADD_SAM)
    chat.say(asha, '/qi-project add-member "Falls" "Kim Lee" as carer --consent')
    before = given.row_counts(sessions)
    team = given.team_rows(sessions, FALLS)

    reply = chat.say(asha, command)

    assert not reply.ok and says in reply.text
    assert given.row_counts(sessions) == before
    assert given.team_rows(sessions, FALLS) == team


def test_only_the_lead_or_an_organiser_may_edit_someone(chat, asha, ben, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(asha, ADD_SAM)

    reply = chat.say(ben, '/qi-project edit-member "Falls" "Sam Jones" as staff')

    assert not reply.ok and "Only the lead" in reply.text
    assert given.team_rows(sessions, FALLS)[0][1] == Role.CARER


# --since before the project began, or before 2000


def test_since_before_the_project_began_counts_from_when_it_began(chat, asha, sessions, clock):
    from datetime import UTC, datetime

    clock.current = datetime(2026, 11, 2, 10, tzinfo=UTC)
    chat.say(asha, '/qi-project new "Falls prevention"')
    clock.current = datetime(2026, 11, 23, 10, tzinfo=UTC)

    reply = chat.say(asha, ADD_SAM + " --since 2025-03-02")

    assert reply.ok, reply.text
    assert (
        '"Falls prevention" has been counted since Monday 2 November 2026, so I\'ve counted them '
        "on its team from then." in reply.text
    )
    with sessions() as session:
        assert session.scalars(select(Membership)).one().joined_at == clock.current.replace(day=2)


def test_since_before_2000_is_refused(chat, asha, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    before = given.row_counts(sessions)

    reply = chat.say(asha, ADD_SAM + " --since 0026-03-02")

    assert not reply.ok and "is before 2000, which looks like a slip in the year" in reply.text
    assert given.row_counts(sessions) == before


# Words /qi-project does not know


def test_an_unknown_sub_command_lists_what_it_can_do(chat, asha, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    before = given.row_counts(sessions)

    reply = chat.say(asha, '/qi-project remove-membr "Falls prevention" "Sam Jones"')

    assert not reply.ok
    assert (
        '"remove-membr Falls prevention Sam Jones" isn\'t the name of a project, nor something '
        "/qi-project can do." in reply.text
    )
    assert '"/qi-project remove-member"' in reply.text
    for verb in ("new", "add-member", "remove-member", "edit-member", "show", "status"):
        assert f"/qi-project {verb}" in reply.text
    assert given.row_counts(sessions) == before


def test_a_mistyped_project_name_alone_suggests_it_and_what_can_be_done(chat, asha):
    chat.say(asha, '/qi-project new "Falls prevention"')

    reply = chat.say(asha, "/qi-project Falls prevntion")

    assert not reply.ok
    assert 'Did you mean "Falls prevention"?' in reply.text
    assert "/qi-project remove-member" in reply.text


def test_a_project_whose_name_starts_like_a_command_is_still_shown(chat, asha):
    chat.say(asha, '/qi-project new "Remove barriers to discharge"')

    reply = chat.say(asha, "/qi-project Remove barriers to discharge")

    assert reply.ok and reply.sections[0].heading == "Remove barriers to discharge"


# The card's "Change or remove someone" button


def change_form(chat, asha, ben):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(ben, "/qi-join Falls prevention as carer")
    chat.say(asha, ADD_SAM)
    card = chat.say(asha, "/qi-project show Falls prevention")
    return chat.press(asha, card, "Change or remove someone")


def membership_of(sessions, name):
    with sessions() as session:
        return session.scalar(
            select(Membership.id)
            .join(Person, Person.id == Membership.person_id)
            .where(Person.display_name == name, Membership.left_at.is_(None))
        )


def test_the_change_button_opens_a_form_listing_the_team(chat, asha, ben, sessions):
    form = change_form(chat, asha, ben)

    assert form.ok and form.form is not None
    assert form.form.form_id == ids.CHANGE_MEMBER_FORM
    assert [f.name for f in form.form.fields] == [
        "member",
        "action",
        "name",
        "role",
        "involvement",
        "since",
    ]
    assert [(c.label, c.value) for c in form.form.fields[0].choices] == [
        ("Ben Okafor (carer)", str(membership_of(sessions, "Ben Okafor"))),
        ("Sam Jones (carer, not on chat)", str(membership_of(sessions, "Sam Jones"))),
    ]


def test_taking_someone_off_from_the_form_asks_first(chat, asha, ben, sessions, clock):
    form = change_form(chat, asha, ben)
    sam = str(membership_of(sessions, "Sam Jones"))

    confirm = chat.submit(asha, form, member=sam, action="remove")

    assert confirm.ok
    assert 'Take Sam Jones off the "Falls prevention" team?' in confirm.text
    assert given.labels(confirm) == ["Yes, take them off", "No, keep them"]
    assert all(r[3] is None for r in given.team_rows(sessions, FALLS))

    kept = chat.press(asha, confirm, "No, keep them")
    assert kept.ok and "Nothing changed" in kept.text
    assert all(r[3] is None for r in given.team_rows(sessions, FALLS))

    done = chat.press(asha, confirm, "Yes, take them off")
    again = chat.press(asha, confirm, "Yes, take them off")

    assert done.ok and 'I\'ve taken Sam Jones off the "Falls prevention" team.' in done.text
    assert again.ok and "Sam Jones is no longer on the" in again.text
    assert [r[0] for r in given.team_rows(sessions, FALLS) if r[3] is None] == ["Ben Okafor"]
    assert len(audited(sessions, "membership.removed")) == 1


def test_changes_from_the_form_are_made_and_a_chat_users_name_is_kept(chat, asha, ben, sessions):
    form = change_form(chat, asha, ben)

    renamed = chat.submit(
        asha,
        form,
        member=str(membership_of(sessions, "Sam Jones")),
        action="change",
        name="Sam Jonas",
        role="service_user",
        involvement="consulted",
    )
    refused = chat.submit(
        asha, form, member=str(membership_of(sessions, "Ben Okafor")), action="change", name="B"
    )
    ben_role = chat.submit(
        asha, form, member=str(membership_of(sessions, "Ben Okafor")), action="change", role="staff"
    )

    assert renamed.ok, renamed.text
    assert "their name is now Sam Jonas; their role from carer to service user" in renamed.text
    assert not refused.ok and "Ben Okafor uses chat" in refused.text
    assert ben_role.ok and "their role from carer to staff" in ben_role.text
    assert given.team_rows(sessions, FALLS) == [
        ("Ben Okafor", Role.STAFF, Involvement.TEAM_MEMBER, None),
        ("Sam Jonas", Role.SERVICE_USER, Involvement.CONSULTED, None),
    ]


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"action": "remove"}, "choose who"),
        ({"member": "Sam Jones"}, "change their details or take them off"),
        ({"member": "Sam Jones", "action": "change", "role": "wizard"}, "their role"),
        ({"member": "Sam Jones", "action": "change", "involvement": "x"}, "how they are"),
        ({"member": "Sam Jones", "action": "change", "since": "1066-10-14"}, "before 2000"),
        ({"member": "Nobody", "action": "remove"}, "I couldn't find"),
    ],
)
def test_a_wrongly_filled_change_form_changes_nothing(chat, asha, ben, sessions, values, says):
    form = change_form(chat, asha, ben)
    before = given.row_counts(sessions)
    team = given.team_rows(sessions, FALLS)

    reply = chat.submit(asha, form, **values)

    assert not reply.ok and says in reply.text
    assert given.row_counts(sessions) == before
    assert given.team_rows(sessions, FALLS) == team


def test_only_the_lead_sees_and_can_use_the_change_button(chat, asha, ben, sessions):
    form = change_form(chat, asha, ben)
    card = chat.say(asha, "/qi-project show Falls prevention")
    confirm = chat.submit(
        asha, form, member=str(membership_of(sessions, "Sam Jones")), action="remove"
    )
    before = given.row_counts(sessions)

    opened = chat.press(ben, card, "Change or remove someone")
    submitted = chat.submit(ben, form, member="Sam Jones", action="remove")
    pressed = chat.press(ben, confirm, "Yes, take them off")

    assert given.labels(chat.say(ben, "/qi-project show Falls prevention")) == []
    assert not opened.ok and opened.form is None and "Only the lead" in opened.text
    assert not submitted.ok and "Only the lead" in submitted.text
    assert not pressed.ok and "Only the lead" in pressed.text
    assert given.row_counts(sessions) == before


def test_a_name_several_projects_share_still_asks_which(chat, asha):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(asha, '/qi-project new "Falls audit"')

    reply = chat.say(asha, "/qi-project falls")

    assert not reply.ok
    assert 'More than one project matches "falls".' in reply.text
    assert '"Falls audit" or "Falls prevention"' in reply.text
    assert "/qi-project remove-member" in reply.text


def test_an_imported_leads_name_is_the_registers(chat, ctx, asha, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(asha, '/qi-project add-member "Falls" "Sam Jones" as carer --consent')
    with sessions.begin() as session:
        sam = session.scalars(select(Person).where(Person.display_name == "Sam Jones")).one()
        session.add(
            Project(
                name="Carers' voices",
                name_key="carers voices",
                status=ProjectStatus.ACTIVE,
                lead_person_id=sam.id,
                created_at=ctx.now(),
                updated_at=ctx.now(),
            )
        )
    before = given.row_counts(sessions)

    reply = chat.say(asha, '/qi-project edit-member "Falls" "Sam Jones" --name "Sam Jonas"')

    assert not reply.ok and "their name comes from the project register" in reply.text
    assert given.row_counts(sessions) == before
    assert given.team_rows(sessions, FALLS)[0][0] == "Sam Jones"


def test_changing_since_when_works_out_the_weeks_already_recorded_again(chat, ctx, asha, clock):
    from datetime import UTC, datetime

    from handlers.evidence.stats import take_snapshot
    from store import stats as stats_store

    clock.current = datetime(2026, 11, 2, 10, tzinfo=UTC)
    chat.say(asha, '/qi-project new "Falls prevention"')
    for day in (2, 9, 16, 23):  # the weekly figure, taken live each Monday at 10:00
        clock.current = datetime(2026, 11, day, 10, tzinfo=UTC)
        take_snapshot(ctx)
    clock.current = datetime(2026, 11, 24, 12, tzinfo=UTC)
    chat.say(asha, ADD_SAM)

    reply = chat.say(asha, '/qi-project edit-member "Falls" "Sam Jones" --since 2026-11-12')

    assert reply.ok, reply.text
    with ctx.sessions() as session:
        weeks = [(w.week, w.involved_projects) for w in stats_store.snapshots(session)]
    assert weeks == [("2026-W45", 0), ("2026-W46", 0), ("2026-W47", 1), ("2026-W48", 1)]


@pytest.mark.parametrize("value", ["", "x", "999999", "²", "1" * 30])
def test_altered_or_stale_button_values_get_a_kind_answer(chat, asha, ben, sessions, value):
    change_form(chat, asha, ben)
    before = given.row_counts(sessions)

    replies = [
        chat.bot.action(asha, ids.REMOVE_MEMBER, value),
        chat.bot.action(asha, ids.OPEN_CHANGE_MEMBER, value),
        chat.bot.submit(
            asha, ids.CHANGE_MEMBER_FORM, {"member": "Sam Jones", "action": "remove"}, value
        ),
    ]

    for reply in replies:
        assert not reply.ok and "no longer" in reply.text, reply.text
    assert chat.bot.action(asha, ids.KEEP_MEMBER, value).text.startswith("Nothing changed")
    assert given.row_counts(sessions) == before


def test_two_members_with_one_name_are_told_apart_with_the_form(chat, asha, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(person("Mo Ahmed"), "/qi-join falls as staff")
    chat.say(asha, '/qi-project add-member "Falls" "Mo Ahmed" as carer --consent')
    before = given.row_counts(sessions)

    typed = chat.say(asha, '/qi-project remove-member "Falls" "Mo Ahmed"')

    assert not typed.ok and "More than one person" in typed.text
    assert '"Change or remove someone" button' in typed.text
    assert given.row_counts(sessions) == before
    form = chat.press(
        asha, chat.say(asha, "/qi-project show Falls prevention"), "Change or remove someone"
    )
    recorded = next(c for c in form.form.fields[0].choices if "not on chat" in c.label)
    confirm = chat.submit(asha, form, member=recorded.value, action="remove")
    assert chat.press(asha, confirm, "Yes, take them off").ok
    assert [(r[1], r[3] is None) for r in given.team_rows(sessions, FALLS)] == [
        (Role.STAFF, True),
        (Role.CARER, False),
    ]


# A project name that fits nothing: the closest offered as buttons that finish the command.


def test_show_offers_the_closest_projects_and_the_button_shows_it(chat, asha, ben):
    chat.say(asha, '/qi-project new "Reducing falls on Ward 7"')
    chat.say(asha, '/qi-project new "Pressure ulcer prevention"')

    reply = chat.say(ben, '/qi-project show "Falls prevention"')
    shown = chat.press(ben, reply, "Reducing falls on Ward 7")

    assert not reply.ok
    assert [(b.label, b.action_id) for b in reply.buttons] == [
        ("Reducing falls on Ward 7", ids.RUN_SUGGESTED),
        ("Pressure ulcer prevention", ids.RUN_SUGGESTED),
    ]
    assert shown.ok and shown.sections[0].heading == "Reducing falls on Ward 7"


def test_add_member_offers_the_closest_and_the_button_records_the_same_person(chat, asha, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')

    reply = chat.say(
        asha, '/qi-project add-member "Fals prevension" "Sam Jones" as carer --consent'
    )
    before = given.row_counts(sessions)
    added = chat.press(asha, reply, "Falls prevention")

    assert not reply.ok and 'Did you mean "Falls prevention"?' in reply.text
    assert added.ok, added.text
    assert given.team_rows(sessions, "Falls prevention") == [
        ("Sam Jones", Role.CARER, Involvement.TEAM_MEMBER, None)
    ]
    assert given.row_counts(sessions)["memberships"] == before["memberships"] + 1


def test_a_suggestion_button_still_checks_who_may_act(chat, asha, ben, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    reply = chat.say(asha, '/qi-project status "fals prevension" completed')
    before = given.row_counts(sessions)

    pressed_by_ben = chat.press(ben, reply, "Falls prevention")  # the same as Ben typing it

    assert not pressed_by_ben.ok
    assert 'Only the lead of "Falls prevention" or a forum organiser can do that.' in (
        pressed_by_ben.text
    )
    assert stored_project(sessions, "Falls prevention").status == ProjectStatus.ACTIVE
    assert given.row_counts(sessions) == before
