"""Leads imported from a project register become the same person when they start using chat."""

import io

from sqlalchemy import func, select

from handlers.project_import import import_projects
from handlers.reply import Actor
from store.models import ChatIdentity, Person
from tests.conftest import person

REGISTER = "Project name,Lead,Site,Status\n{rows}"


def load(ctx, rows):
    return import_projects(ctx, io.StringIO(REGISTER.format(rows=rows)))


def count_people(sessions):
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Person))


def test_console_lead_is_linked_by_name_and_can_manage_the_project(ctx, chat, sessions):
    load(ctx, "Falls prevention,Tom Hughes,Ward 7,Active\n")
    tom = person("Tom Hughes")

    reply = chat.say(tom, '/qi-project add-member "Falls" "Sam Jones" as carer --consent')

    assert reply.ok, reply.text
    assert "Falls prevention" in chat.say(tom, "/qi-projects mine").text
    assert count_people(sessions) == 2  # Tom (now on chat) and Sam; no second Tom


def test_a_chosen_display_name_on_slack_does_not_take_over_a_lead(ctx, chat, sessions):
    load(ctx, "Falls prevention,Tom Hughes,Ward 7,Active\n")
    impostor = Actor("slack", "T1", "U999", "Tom Hughes")

    reply = chat.say(impostor, '/qi-project add-member "Falls" "Sam Jones" as carer --consent')

    assert not reply.ok and "Only the lead" in reply.text
    with sessions() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(ChatIdentity)
                .where(ChatIdentity.platform == "slack")
            )
            == 0
        )  # the impostor only looked and was refused: nothing stored about them either


def test_a_platform_verified_email_links_the_imported_lead(ctx, chat, sessions):
    load(ctx, "Falls prevention,tom.hughes@nhs.net,Ward 7,Active\n")
    tom = Actor("slack", "T1", "U123", "Tommy H", verified_email="Tom.Hughes@nhs.net")

    reply = chat.say(tom, '/qi-project status "Falls" on hold')

    assert reply.ok, reply.text
    with sessions() as session:
        linked = session.scalar(
            select(Person).join(ChatIdentity).where(ChatIdentity.user_id == "U123")
        )
        assert linked.email == "tom.hughes@nhs.net"
    assert count_people(sessions) == 1


def test_two_imported_leads_of_one_name_are_not_guessed_between(ctx, chat, sessions):
    load(ctx, "Falls prevention,sam.jones@a.nhs.net,Ward 7,Active\n")
    load(ctx, "Sepsis screening,sam.jones@b.nhs.net,Ward 9,Active\n")
    before = count_people(sessions)

    chat.say(person("Sam Jones"), "/qi-join falls as staff")

    assert count_people(sessions) == before + 1
