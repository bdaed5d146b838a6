"""Joining project teams: /qi-join."""

import pytest
from sqlalchemy import delete as sql_delete
from sqlalchemy import func, select

from handlers.core import ids
from handlers.core.wording import as_role
from store.models import Delivery, ForumMember, Membership, Person
from store.projects import find_by_key
from store.roles import Involvement, Role
from tests.conftest import person
from tests.handlers import given
from tests.handlers.sweeps import send_all


def test_join_project_as_carer_then_again_is_idempotent(chat, asha, ben, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')

    first = chat.say(ben, "/qi-join falls prevention as carer")
    again = chat.say(ben, "/qi-join Falls Prevention as carer")

    assert first.ok and 'Welcome to the "Falls prevention" team as a carer' in first.text
    assert "Asha Patel leads it" in first.text
    assert "already on the" in again.text
    with sessions() as session:
        rows = session.execute(select(Membership.role, func.count()).group_by(Membership.role))
        assert dict(rows.all()) == {Role.CARER: 1}


def test_joining_stores_a_current_team_membership_with_the_persons_own_consent(
    chat, asha, ben, sessions, clock
):
    chat.say(asha, '/qi-project new "Falls prevention"')

    reply = chat.say(ben, "/qi-join Falls prevention as carer")

    assert reply.ok
    assert given.team_rows(sessions, "Falls prevention") == [
        ("Ben Okafor", Role.CARER, Involvement.TEAM_MEMBER, None)
    ]
    with sessions() as session:
        membership = session.scalars(select(Membership)).one()
        assert membership.consent_recorded_by_id == membership.person_id
        assert membership.joined_at == clock()
    assert given.labels(reply) == ["Leave this team"]


@pytest.mark.parametrize(
    ("typed", "role"),
    [
        ("Service-User", Role.SERVICE_USER),
        ("service user", Role.SERVICE_USER),
        ("SERVICE USER", Role.SERVICE_USER),
        ("carer", Role.CARER),
        ("Carer", Role.CARER),
        ("peer supporter", Role.PEER_SUPPORTER),
        ("staff", Role.STAFF),
        ("other", Role.OTHER),
        # As people say them: with "a", in the plural, in everyday words.
        ("a carer", Role.CARER),
        ("carers", Role.CARER),
        ("family carer", Role.CARER),
        ("a service user", Role.SERVICE_USER),
        ("patient", Role.SERVICE_USER),
        ("an expert by experience", Role.SERVICE_USER),
        ("a peer supporter", Role.PEER_SUPPORTER),
        ("staff member", Role.STAFF),
        ("a member of staff", Role.STAFF),
    ],
)
def test_roles_are_read_forgivingly(chat, asha, ben, sessions, typed, role):
    chat.say(asha, '/qi-project new "Falls prevention"')

    reply = chat.say(ben, f"/qi-join Falls prevention as {typed}")

    assert reply.ok, reply.text
    assert f"team {as_role(role)}." in reply.text
    assert [r[1] for r in given.team_rows(sessions, "Falls prevention")] == [role]


def test_lived_experience_roles_are_thanked_and_staff_are_simply_welcomed(chat, asha, ben, chloe):
    chat.say(asha, '/qi-project new "Falls prevention"')

    carer = chat.say(ben, "/qi-join Falls prevention as carer")
    staff = chat.say(chloe, "/qi-join Falls prevention as staff")

    assert "lived experience on the team" in carer.text
    assert staff.ok and "lived experience" not in staff.text


def test_the_lead_joining_their_own_team_is_not_told_who_leads_it(chat, asha):
    chat.say(asha, '/qi-project new "Falls prevention"')

    reply = chat.say(asha, "/qi-join Falls prevention as staff")

    assert reply.ok and "leads it" not in reply.text


def test_joining_again_in_a_new_role_changes_the_role_on_the_same_row(chat, asha, ben, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(ben, "/qi-join Falls prevention as peer supporter")

    reply = chat.say(ben, "/qi-join Falls prevention as carer")

    assert reply.ok
    assert "already on" in reply.text
    assert "changed your role from peer supporter to carer" in reply.text
    assert given.team_rows(sessions, "Falls prevention") == [
        ("Ben Okafor", Role.CARER, Involvement.TEAM_MEMBER, None)
    ]


def test_naming_a_project_but_no_role_offers_a_button_for_each_role(chat, asha, ben, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')

    question = chat.say(ben, "/qi-join Falls prevention")

    assert question.ok
    assert 'How will you be part of the "Falls prevention" team?' in question.text
    assert given.labels(question) == ["Staff", "Service user", "Carer", "Peer supporter", "Other"]
    assert given.team_rows(sessions, "Falls prevention") == []

    joined = chat.press(ben, question, "Service user")

    assert joined.ok and "as a service user" in joined.text
    assert [r[1] for r in given.team_rows(sessions, "Falls prevention")] == [Role.SERVICE_USER]


def test_a_role_button_for_a_project_that_has_since_closed_is_refused(chat, asha, ben, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    question = chat.say(ben, "/qi-join Falls prevention")
    chat.say(asha, '/qi-project status "Falls prevention" completed')
    before = given.row_counts(sessions)

    reply = chat.press(ben, question, "Carer")

    assert not reply.ok and "not taking new members" in reply.text
    assert given.row_counts(sessions) == before


def test_with_no_words_the_bot_offers_a_form_of_projects_and_roles(chat, asha, ben, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(asha, '/qi-project new "Sepsis screening"')
    chat.say(asha, '/qi-project new "Old audit"')
    chat.say(asha, '/qi-project status "Old audit" completed')

    reply = chat.say(ben, "/qi-join")

    assert reply.ok and reply.form is not None
    assert reply.form.form_id == ids.JOIN_FORM
    target, role = reply.form.fields
    # No forum is set up, so none is offered; finished projects are not offered either.
    assert [c.label for c in target.choices] == [
        "Falls prevention",
        "Sepsis screening",
    ]
    assert [c.label for c in role.choices] == [
        "Staff",
        "Service user",
        "Carer",
        "Peer supporter",
        "Other",
    ]


def test_submitting_the_form_for_a_project_joins_it(chat, asha, ben, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    form = chat.say(ben, "/qi-join")
    choice = next(c for c in form.form.fields[0].choices if c.label == "Falls prevention")

    reply = chat.submit(ben, form, target=choice.value, role="carer")

    assert reply.ok and 'Welcome to the "Falls prevention" team as a carer' in reply.text
    assert [r[:2] for r in given.team_rows(sessions, "Falls prevention")] == [
        ("Ben Okafor", Role.CARER)
    ]


def test_submitting_the_form_for_the_forum_signs_up_with_the_chosen_role(
    chat, ben, sessions, clock
):
    given.forum(sessions, clock())
    form = chat.say(ben, "/qi-join")

    reply = chat.submit(ben, form, target=ids.FORUM_TARGET, role="service_user")

    assert reply.ok and 'Welcome to "QI Forum"' in reply.text
    with sessions() as session:
        member = session.scalars(select(ForumMember)).one()
        assert member.role == Role.SERVICE_USER
        assert member.left_at is None


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"target": "", "role": "carer"}, "Please choose a project or the QI forum."),
        ({"role": "carer"}, "Please choose a project or the QI forum."),
        ({"target": "PROJECT", "role": ""}, "Please choose how you will take part."),
        ({"target": "PROJECT", "role": "astronaut"}, "Please choose how you will take part."),
    ],
)
def test_an_incomplete_form_is_refused_and_nothing_is_stored(
    chat, asha, ben, sessions, values, says
):
    chat.say(asha, '/qi-project new "Falls prevention"')
    form = chat.say(ben, "/qi-join")
    pid = str(given.project_id(sessions, "Falls prevention"))
    before = given.row_counts(sessions)

    reply = chat.submit(ben, form, **{k: pid if v == "PROJECT" else v for k, v in values.items()})

    assert not reply.ok and says in reply.text
    assert given.row_counts(sessions) == before


def test_the_form_for_a_project_that_has_since_closed_is_refused(chat, asha, ben, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    form = chat.say(ben, "/qi-join")
    pid = str(given.project_id(sessions, "Falls prevention"))
    chat.say(asha, '/qi-project status "Falls prevention" stopped')
    before = given.row_counts(sessions)

    reply = chat.submit(ben, form, target=pid, role="carer")

    assert not reply.ok and "is stopped, so it is not taking new members" in reply.text
    assert given.row_counts(sessions) == before


@pytest.mark.parametrize("target", ["x" * 5000, "<!channel>", "\x00", "999999"])
def test_odd_form_answers_get_a_kind_answer(chat, asha, ben, sessions, target):
    chat.say(asha, '/qi-project new "Falls prevention"')
    form = chat.say(ben, "/qi-join")
    before = given.row_counts(sessions)

    reply = chat.submit(ben, form, target=target, role="carer")

    assert not reply.ok and "Sorry" not in reply.text
    assert given.row_counts(sessions) == before


def test_join_the_forum_in_one_line_asks_how_you_come(chat, ben, sessions, clock):
    given.forum(sessions, clock())

    reply = chat.say(ben, "/qi-join forum")

    assert reply.ok
    assert 'Welcome to "QI Forum"' in reply.text
    assert "How do you come to the forum?" in reply.text
    assert "Would you like us to put you in touch with one?" not in reply.text
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(ForumMember)) == 1


def test_join_the_forum_with_a_role_in_one_line(chat, ben, sessions, clock):
    given.forum(sessions, clock())

    reply = chat.say(ben, "/qi-join forum as Carer")

    assert reply.ok
    with sessions() as session:
        assert session.scalars(select(ForumMember.role)).one() == Role.CARER


def test_a_role_with_no_project_is_refused_with_an_example(chat, ben, sessions):
    before = given.row_counts(sessions)

    reply = chat.say(ben, "/qi-join as carer")

    assert not reply.ok
    assert "Which project would you like to join?" in reply.text
    assert "/qi-join Falls prevention as carer" in reply.text
    assert given.row_counts(sessions) == before


@pytest.mark.parametrize("role", ["astronaut", ""])
def test_an_unknown_or_missing_role_is_refused_listing_the_roles(chat, asha, ben, sessions, role):
    chat.say(asha, '/qi-project new "Falls prevention"')
    before = given.row_counts(sessions)

    reply = chat.say(ben, f"/qi-join Falls prevention as {role}")

    assert not reply.ok
    assert "The roles are: staff, service user, carer, peer supporter, other" in reply.text
    assert (f'I don\'t know the role "{role}"' in reply.text) == bool(role)
    assert given.row_counts(sessions) == before


def test_a_project_whose_name_has_as_in_it_is_joined_by_its_exact_name(chat, asha, ben, sessions):
    chat.say(asha, '/qi-project new "Care as usual"')

    asked = chat.say(ben, "/qi-join Care as usual")
    joined = chat.say(ben, "/qi-join Care as usual as a carer")

    assert asked.ok and asked.text == 'How will you be part of the "Care as usual" team?'
    assert joined.ok and 'Welcome to the "Care as usual" team as a carer' in joined.text
    assert [r[1] for r in given.team_rows(sessions, "Care as usual")] == [Role.CARER]


def test_a_name_with_as_that_is_no_project_still_explains_the_roles(chat, asha, ben, sessions):
    chat.say(asha, '/qi-project new "Care"')
    before = given.row_counts(sessions)

    reply = chat.say(ben, "/qi-join Care as usual")

    assert not reply.ok and 'I don\'t know the role "usual"' in reply.text
    assert "The roles are: staff, service user, carer, peer supporter, other" in reply.text
    assert given.row_counts(sessions) == before


def test_a_completed_project_takes_no_new_members(chat, asha, ben, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(asha, '/qi-project status "Falls prevention" completed')
    before = given.row_counts(sessions)

    reply = chat.say(ben, "/qi-join Falls prevention as carer")

    assert not reply.ok
    assert '"Falls prevention" is completed, so it is not taking new members' in reply.text
    assert given.row_counts(sessions) == before


def test_a_project_on_hold_still_takes_members(chat, asha, ben, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(asha, '/qi-project status "Falls prevention" on hold')

    reply = chat.say(ben, "/qi-join Falls prevention as carer")

    assert reply.ok
    assert len(given.team_rows(sessions, "Falls prevention")) == 1


# Names are matched forgivingly.


@pytest.mark.parametrize(
    "typed",
    [
        "reducing falls on ward 7",  # case
        "  Reducing   falls on Ward 7 ",  # spacing
        "Reducing falls",  # a unique beginning
        "ward 7",  # words in the middle
        "falls ward",  # words in any order
        "“Reducing falls on ward 7”",  # curly quotes from a phone
    ],
)
def test_project_names_are_matched_forgivingly(chat, asha, ben, sessions, typed):
    chat.say(asha, '/qi-project new "Reducing falls on ward 7"')
    chat.say(asha, '/qi-project new "Sepsis screening"')

    reply = chat.say(ben, f"/qi-join {typed} as carer")

    assert reply.ok, reply.text
    assert len(given.team_rows(sessions, "Reducing falls on ward 7")) == 1


def test_an_ambiguous_name_lists_the_matches_and_joins_nothing(chat, asha, ben, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(asha, '/qi-project new "Falls audit"')
    before = given.row_counts(sessions)

    reply = chat.say(ben, "/qi-join falls as carer")

    assert not reply.ok
    assert 'More than one project matches "falls".' in reply.text
    assert 'Did you mean "Falls audit" or "Falls prevention"?' in reply.text
    assert given.row_counts(sessions) == before


def test_a_misspelt_name_suggests_the_closest_project(chat, asha, ben, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(asha, '/qi-project new "Sepsis screening"')
    before = given.row_counts(sessions)

    reply = chat.say(ben, "/qi-join Fals prevension as carer")

    assert not reply.ok
    assert 'I couldn\'t find a project called "Fals prevension".' in reply.text
    assert 'Did you mean "Falls prevention"?' in reply.text
    assert "Sepsis" not in reply.text
    assert given.row_counts(sessions) == before


def test_an_unknown_name_with_nothing_close_points_to_the_list(chat, asha, ben, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')

    reply = chat.say(ben, "/qi-join Quantum teleportation as carer")

    assert not reply.ok
    assert "Did you mean" not in reply.text
    assert "Type /qi-projects to see them all." in reply.text


# Hostile and awkward input: a kind answer, nothing lost, never an exception.


def test_a_name_with_an_apostrophe_joins_whether_typed_straight_or_curly(chat, asha, ben, sessions):
    chat.say(asha, "/qi-project new St John's ward")

    reply = chat.say(ben, "/qi-join St John’s ward as carer")

    assert reply.ok, reply.text
    assert 'Welcome to the "St John\'s ward" team' in reply.text
    assert len(given.team_rows(sessions, "St John's ward")) == 1


def test_a_name_that_looks_like_chat_markup_is_kept_as_typed(chat, asha, ben, sessions):
    chat.say(asha, "/qi-project new <!channel>")

    reply = chat.say(ben, "/qi-join <!channel> as carer")

    assert reply.ok, reply.text
    assert '"<!channel>" team' in reply.text
    assert len(given.team_rows(sessions, "<!channel>")) == 1


def test_an_unbalanced_quote_is_explained_and_nothing_is_stored(chat, asha, ben, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    before = given.row_counts(sessions)

    reply = chat.say(ben, '/qi-join "Falls prevention as carer')

    assert not reply.ok
    assert "quote mark is missing" in reply.text
    assert given.row_counts(sessions) == before


def test_five_thousand_characters_get_a_kind_answer(chat, asha, ben, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    before = given.row_counts(sessions)

    reply = chat.say(ben, "/qi-join " + "Falls prevention " * 300 + "as carer")

    assert not reply.ok
    assert "Please keep it shorter" in reply.text
    assert given.row_counts(sessions) == before


def test_first_contact_creates_the_person_once_with_their_chat_name(chat, asha, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    renamed = person("Asha Patel-Smith", user_id=asha.user_id)

    chat.say(renamed, "/qi-join Falls prevention as staff")

    with sessions() as session:
        assert session.scalars(select(Person.display_name)).all() == ["Asha Patel-Smith"]


def test_forum_found_by_part_of_its_name(chat, ben, sessions, clock):

    given.forum(sessions, clock(), "South QI Forum")
    given.forum(sessions, clock(), "North QI Forum")

    reply = chat.say(ben, "/qi-join forum south as carer")

    assert reply.ok, reply.text
    assert 'Welcome to "South QI Forum"' in reply.text


def test_a_finished_project_does_not_make_a_name_ambiguous(chat, asha, ben):
    chat.say(asha, '/qi-project new "Falls audit 2024"')
    chat.say(asha, '/qi-project status "Falls audit 2024" completed')
    chat.say(asha, '/qi-project new "Falls prevention"')

    reply = chat.say(ben, "/qi-join falls as carer")

    assert reply.ok, reply.text
    assert '"Falls prevention" team as a carer' in reply.text


def test_only_a_finished_project_by_that_name_is_explained(chat, asha, ben):
    chat.say(asha, '/qi-project new "Falls audit 2024"')
    chat.say(asha, '/qi-project status "Falls audit 2024" completed')

    reply = chat.say(ben, "/qi-join falls audit as carer")

    assert not reply.ok
    assert "is completed, so it is not taking new members" in reply.text


def test_join_form_offers_each_forum_and_joins_the_one_chosen(chat, ben, sessions, clock):
    given.forum(sessions, clock(), "North QI Forum")
    given.forum(sessions, clock(), "South QI Forum")
    form = chat.say(ben, "/qi-join")
    south = next(c for c in form.form.fields[0].choices if c.label == "South QI Forum")

    reply = chat.submit(ben, form, target=south.value, role="carer")

    assert reply.ok and 'Welcome to "South QI Forum"' in reply.text


def test_join_form_asks_for_a_typed_name_when_there_are_too_many_to_list(chat, asha, ben):
    from handlers.projects.join import FORM_CHOICE_LIMIT

    for number in range(FORM_CHOICE_LIMIT + 1):
        chat.say(asha, f'/qi-project new "Project {number:03d}"')
    form = chat.say(ben, "/qi-join")
    target = form.form.fields[0]

    assert target.choices == () and "Type the project" in (target.hint or "")
    reply = chat.submit(ben, form, target="project 042", role="carer")
    assert reply.ok and '"Project 042" team as a carer' in reply.text


def after_the_hour(ctx):
    """The clock (10:00 on a Monday) moved past the hour's end, when the lead's news goes."""
    ctx.clock.advance(hours=1, minutes=1)


def test_the_lead_is_told_once_who_joined_and_as_what(chat, ctx, dm, asha, ben):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(ben, "/qi-join Falls prevention as carer")
    chat.say(ben, "/qi-join Falls prevention as carer")  # again: nothing new to tell
    after_the_hour(ctx)

    news = [(recipient, reply.text) for _kind, recipient, reply in send_all(ctx)]

    assert news == [
        (
            dm(asha),
            'Ben Okafor has joined your project "Falls prevention" as a carer. That means a '
            "service user or carer is on the team. Do say hello!",
        ),
    ]
    assert send_all(ctx) == []  # sent once


def test_several_joins_in_one_hour_reach_the_lead_as_one_message_after_the_hour(
    chat, ctx, dm, asha, ben, chloe, sessions
):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(ben, "/qi-join Falls prevention as carer")
    ctx.clock.advance(minutes=40)
    chat.say(chloe, "/qi-join Falls prevention as staff")
    chat.say(person("Dan Smith"), "/qi-join Falls prevention as service user")

    assert send_all(ctx) == []  # the hour is not over: more may join
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 1
    after_the_hour(ctx)
    news = [(recipient, reply.text) for _kind, recipient, reply in send_all(ctx)]

    assert news == [
        (
            dm(asha),
            '3 people joined your project "Falls prevention":\n'
            "• Ben Okafor as a carer\n"
            "• Chloe Evans as staff\n"
            "• Dan Smith as a service user\n"
            "That means a service user or carer is on the team. Do say hello!",
        )
    ]
    assert send_all(ctx) == []


def test_joins_to_two_teams_in_one_hour_are_one_message_naming_each_team(
    chat, ctx, dm, asha, ben, chloe
):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(asha, '/qi-project new "Sepsis screening"')
    chat.say(ben, "/qi-join Sepsis screening as staff")
    chat.say(chloe, "/qi-join Falls prevention as staff")
    after_the_hour(ctx)

    (news,) = [reply.text for _kind, _recipient, reply in send_all(ctx)]

    assert news == (
        "2 people joined your project teams:\n"
        '• Chloe Evans joined "Falls prevention" as staff\n'
        '• Ben Okafor joined "Sepsis screening" as staff'
    )


def test_a_join_in_the_next_hour_is_in_the_next_hours_message(chat, ctx, dm, asha, ben, chloe):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(ben, "/qi-join Falls prevention as staff")
    ctx.clock.advance(hours=1)  # 11:00: Ben's news is due at 11:01
    chat.say(chloe, "/qi-join Falls prevention as staff")
    ctx.clock.advance(minutes=1)

    first = [reply.text for _kind, _recipient, reply in send_all(ctx)]
    after_the_hour(ctx)
    second = [reply.text for _kind, _recipient, reply in send_all(ctx)]

    assert first == ['Ben Okafor has joined your project "Falls prevention" as staff.']
    assert second == ['Chloe Evans has joined your project "Falls prevention" as staff.']


def test_nobody_is_told_when_the_lead_joins_their_own_team(chat, ctx, asha):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(asha, "/qi-join Falls prevention as staff")
    after_the_hour(ctx)

    assert send_all(ctx) == []


def test_someone_the_lead_added_is_not_news_to_them_in_the_hours_message(
    chat, ctx, asha, ben, chloe
):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(asha, '/qi-project add-member "Falls prevention" "Sam Jones" as carer --consent')
    chat.say(ben, "/qi-join Falls prevention as staff")
    after_the_hour(ctx)

    (news,) = [reply.text for _kind, _recipient, reply in send_all(ctx)]

    assert news == 'Ben Okafor has joined your project "Falls prevention" as staff.'


def test_news_of_someone_who_has_left_again_by_sending_time_is_withdrawn(chat, ctx, asha, ben):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(ben, "/qi-join Falls prevention as carer")
    chat.say(ben, "/qi-leave Falls prevention")
    after_the_hour(ctx)

    assert [(kind, reply) for kind, _recipient, reply in send_all(ctx)] == [
        ("member_joined", None)  # withdrawn, not sent
    ]


def test_someone_who_left_again_is_left_out_of_the_hours_news(chat, ctx, asha, ben, chloe):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(ben, "/qi-join Falls prevention as carer")
    chat.say(chloe, "/qi-join Falls prevention as staff")
    chat.say(ben, "/qi-leave Falls prevention")
    after_the_hour(ctx)

    (news,) = [reply.text for _kind, _recipient, reply in send_all(ctx)]

    assert news == 'Chloe Evans has joined your project "Falls prevention" as staff.'


def test_news_planned_one_per_join_before_batching_is_still_sent(ctx, dm, asha, ben, chat):
    from store import outbox

    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(ben, "/qi-join Falls prevention as carer")
    with ctx.sessions.begin() as session:
        session.execute(sql_delete(Delivery))
        membership = session.scalar(select(Membership.id))
        outbox.plan_message_to(
            session,
            given.person_id(ctx.sessions, asha, ctx.now()),
            "member_joined",
            f"membership:{membership}",
            {"membership": membership},
            now=ctx.now(),
        )

    (news,) = [reply.text for _kind, _recipient, reply in send_all(ctx)]

    assert news.startswith('Ben Okafor has joined your project "Falls prevention" as a carer.')


@pytest.mark.parametrize(
    ("role", "says"),
    [
        ("staff", "team as staff."),
        ("peer supporter", "team as a peer supporter."),
        ("other", "team in another role."),
    ],
)
def test_the_welcome_reads_as_people_say_it(chat, asha, ben, role, says):
    chat.say(asha, '/qi-project new "Falls prevention"')

    reply = chat.say(ben, f"/qi-join Falls prevention as {role}")

    assert reply.ok and f'Welcome to the "Falls prevention" {says}' in reply.text


# A name that fits no project: the closest offered as buttons that finish the command.


def buttons_of(reply):
    return [(b.label, b.action_id) for b in reply.buttons]


def test_the_readmes_example_is_offered_the_falls_project_and_its_button_joins(
    chat, asha, ben, sessions
):
    chat.say(asha, '/qi-project new "Reducing falls on Ward 7"')
    chat.say(asha, '/qi-project new "Kinder waiting rooms"')
    before = given.row_counts(sessions)

    reply = chat.say(ben, "/qi-join Falls prevention as carer")

    assert not reply.ok
    assert 'I couldn\'t find a project called "Falls prevention".' in reply.text
    assert 'Did you mean "Reducing falls on Ward 7"?' in reply.text
    assert buttons_of(reply) == [("Reducing falls on Ward 7", ids.RUN_SUGGESTED)]
    assert given.row_counts(sessions) == before

    joined = chat.press(ben, reply, "Reducing falls on Ward 7")

    assert joined.ok
    assert 'Welcome to the "Reducing falls on Ward 7" team as a carer.' in joined.text
    assert given.team_rows(sessions, "Reducing falls on Ward 7")[0][:2] == (
        "Ben Okafor",
        Role.CARER,
    )


def test_each_of_several_matches_is_a_button(chat, asha, ben, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(asha, '/qi-project new "Falls audit"')

    reply = chat.say(ben, "/qi-join falls as staff")
    chosen = chat.press(ben, reply, "Falls prevention")

    assert buttons_of(reply) == [
        ("Falls audit", ids.RUN_SUGGESTED),
        ("Falls prevention", ids.RUN_SUGGESTED),
    ]
    assert 'Welcome to the "Falls prevention" team as staff.' in chosen.text
    assert given.team_rows(sessions, "Falls audit") == []


def test_a_suggestion_without_a_role_asks_for_the_role_as_the_command_would(chat, asha, ben):
    chat.say(asha, '/qi-project new "Falls prevention"')

    reply = chat.say(ben, "/qi-join fals prevension")
    asked = chat.press(ben, reply, "Falls prevention")

    assert asked.ok and 'How will you be part of the "Falls prevention" team?' in asked.text
    assert [b.label for b in asked.buttons][:3] == ["Staff", "Service user", "Carer"]


def test_joining_offers_projects_taking_members_not_finished_ones(chat, asha, ben):
    chat.say(asha, '/qi-project new "Falls audit 2019"')
    chat.say(asha, '/qi-project status "Falls audit 2019" completed')
    chat.say(asha, '/qi-project new "Reducing falls on Ward 7"')

    reply = chat.say(ben, "/qi-join Falls prevention as carer")

    assert [b.label for b in reply.buttons] == ["Reducing falls on Ward 7"]


def test_a_suggestion_for_a_project_renamed_since_offers_again(chat, asha, ben, sessions):
    chat.say(asha, '/qi-project new "Falls prevention"')
    reply = chat.say(ben, "/qi-join fals prevension as carer")
    with sessions.begin() as session:  # renamed by its lead meanwhile
        project = find_by_key(session, "falls prevention")
        project.name, project.name_key = "Preventing falls at night", "preventing falls at night"

    again = chat.press(ben, reply, "Falls prevention")

    assert not again.ok
    assert 'Did you mean "Preventing falls at night"?' in again.text
    joined = chat.press(ben, again, "Preventing falls at night")
    assert 'Welcome to the "Preventing falls at night" team as a carer.' in joined.text


@pytest.mark.parametrize(
    "value",
    [
        "",
        "not json",
        '["qi-nonsense", "x"]',
        '["qi-join"]',
        '["qi-join", 7]',
        "[" * 5000,
        '["qi-join", "' + "x" * 20_000 + '"]',
    ],
)
def test_an_altered_suggestion_button_gets_a_kind_answer_and_stores_nothing(
    chat, ben, sessions, value
):
    before = given.row_counts(sessions)

    reply = chat.bot.action(ben, ids.RUN_SUGGESTED, value)

    assert not reply.ok
    assert "Sorry, that button didn't work. Please type the command again." in reply.text
    assert given.row_counts(sessions) == before
