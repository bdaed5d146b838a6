"""One person, however they arrive: an imported lead, or the same verified address elsewhere."""

import hashlib
import io
from datetime import UTC, date, datetime

from sqlalchemy import event, func, select

from handlers.core.reply import Actor
from handlers.projects.register_import import import_projects
from store.models import AuditEvent, ChatIdentity, Membership, Person, Project
from tests.conftest import person
from tests.handlers import given

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


# --- One person on Slack and Teams: the platform-verified address links them ---------------

NHSMAIL = "Ben.Okafor@nhs.net"


def on_slack(workspace="T1", user_id="U1", name="Ben O", email=NHSMAIL):
    return Actor("slack", workspace, user_id, name, verified_email=email)


def on_teams(user_id="29:1ben", name="Ben Okafor", email=" ben.okafor@NHS.net "):
    return Actor("teams", "tenant-1", user_id, name, verified_email=email)


def memberships_of_falls(sessions):
    with sessions() as session:
        return session.scalar(
            select(func.count()).select_from(Membership).join(Project).where(Project.name == FALLS)
        )


FALLS = "Falls prevention"


def identities(sessions):
    with sessions() as session:
        return {
            (i.platform, i.person_id, i.email_sha256, i.last_active_on)
            for i in session.scalars(select(ChatIdentity))
        }


def test_the_same_nhsmail_on_slack_then_teams_is_one_person_with_one_membership(
    chat, asha, sessions
):
    chat.say(asha, f'/qi-project new "{FALLS}"')
    assert chat.say(on_slack(), "/qi-join falls as carer").ok
    people_before = count_people(sessions)

    # On Teams, before doing anything there, Ben already sees the team he joined on Slack ...
    assert FALLS in chat.say(on_teams(), "/qi-projects mine").text
    assert count_people(sessions) == people_before  # ... and looking stored nothing
    # ... and joining again from Teams is the same person: nothing is doubled.
    again = chat.say(on_teams(), "/qi-join falls as carer")

    assert "already on the" in again.text
    assert count_people(sessions) == people_before
    assert memberships_of_falls(sessions) == 1  # Ben, once
    assert FALLS in chat.say(on_teams(), "/qi-projects mine").text
    digest = hashlib.sha256(b"ben.okafor@nhs.net").hexdigest()
    (slack_row,) = [row for row in identities(sessions) if row[0] == "slack"]
    (teams_row,) = [row for row in identities(sessions) if row[0] == "teams"]
    assert slack_row[1] == teams_row[1]  # one person
    assert slack_row[2] == teams_row[2] == digest
    with sessions() as session:
        linked = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "person.identity_linked")
        ).all()
        assert [(e.subject_id, e.detail) for e in linked] == [
            (teams_row[1], {"platform": "teams", "via": "email"})
        ]


def test_two_people_with_the_address_are_not_guessed_between(chat, asha, sessions, clock):
    chat.say(asha, f'/qi-project new "{FALLS}"')
    given.forum(sessions, clock())
    # Two Slack workspaces, two records that (somehow) share one address.
    chat.say(on_slack("T1", "U1"), "/qi-join falls as carer")
    chat.say(on_slack("T2", "U9"), "/qi-join forum")
    before = count_people(sessions)

    reply = chat.say(on_teams(), "/qi-projects mine")
    chat.say(on_teams(), "/qi-join forum")

    assert "not on any active project" in reply.text
    assert count_people(sessions) == before + 1  # a new person: nobody's projects handed over


def test_another_account_on_the_same_platform_is_not_linked(chat, asha, sessions, clock):
    chat.say(asha, f'/qi-project new "{FALLS}"')
    given.forum(sessions, clock())
    chat.say(on_slack("T1", "U1"), "/qi-join falls as carer")
    before = count_people(sessions)

    reply = chat.say(on_slack("T2", "U2"), "/qi-projects mine")
    chat.say(on_slack("T2", "U2"), "/qi-join forum")

    assert "not on any active project" in reply.text
    assert count_people(sessions) == before + 1


def test_a_display_name_on_teams_links_nobody(chat, asha, sessions, clock):
    chat.say(asha, f'/qi-project new "{FALLS}"')
    given.forum(sessions, clock())
    chat.say(on_slack(name="Ben Okafor"), "/qi-join falls as carer")
    before = count_people(sessions)

    chat.say(on_teams(name="Ben Okafor", email=None), "/qi-join forum")

    assert count_people(sessions) == before + 1
    assert FALLS not in chat.say(on_teams(email=None), "/qi-projects mine").text


def test_the_identity_is_written_once_a_day_and_when_the_verified_address_changes(
    chat, sessions, clock
):
    given.forum(sessions, clock())
    slack = on_slack()
    chat.say(slack, "/qi-join forum")
    updates = []
    connection = sessions.kw["bind"]

    def seen(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("UPDATE CHAT_IDENTITIES"):
            updates.append(statement)

    event.listen(connection, "before_cursor_execute", seen)
    try:
        chat.say(slack, "/qi-leave forum")
        chat.say(slack, "/qi-join forum")
        same_day = len(updates)
        clock.advance(days=1)
        chat.say(slack, "/qi-leave forum")
        chat.say(slack, "/qi-join forum")
        next_day = len(updates) - same_day
        chat.say(on_slack(email="ben.okafor@nhs.uk"), "/qi-leave forum")
    finally:
        event.remove(connection, "before_cursor_execute", seen)

    assert (same_day, next_day) == (0, 1)
    (row,) = identities(sessions)
    assert row[2] == hashlib.sha256(b"ben.okafor@nhs.uk").hexdigest()


def test_the_day_last_active_is_the_trusts_day_and_written_once_a_day(chat, sessions, clock):
    clock.current = datetime(2026, 6, 1, 23, 30, tzinfo=UTC)  # already 2 June in London
    given.forum(sessions, clock())
    slack = on_slack()
    chat.say(slack, "/qi-join forum")
    assert {row[3] for row in identities(sessions)} == {date(2026, 6, 2)}

    clock.advance(days=1)
    chat.say(slack, "/qi-leave forum")

    assert {row[3] for row in identities(sessions)} == {date(2026, 6, 3)}
