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

    assert reply.ok and 'sam jones is already on the "Falls prevention" team' in reply.text
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
    assert given.labels(reply) == []


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
    assert given.labels(lead_view) == ["Record someone already involved"]
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
