"""`qi-nudge projects list` and `export projects`: what the register import loaded, at a glance."""

import csv
import io

import pytest
from sqlalchemy import event

from bot.cli.main import build_parser
from handlers.core.errors import Refusal
from handlers.projects.register_import import import_projects

REGISTER = (
    "Project name,Lead,Lead email,Site,Status,Start date\n"
    "Falls prevention,Asha Patel,asha.patel@nhs.net,Riverside Hospital,In progress,12/01/2026\n"
    "Discharge letters,Tom Baker,,Hillside,On hold,03/02/2026\n"
    "=Sepsis screening,Carla Jones,,Riverside Hospital,Completed,\n"
)


def run(ctx, *argv):
    """A `qi-nudge` subcommand as the command line reads it, on the test database."""
    args = build_parser().parse_args(list(argv))
    return args.handler(ctx, args)


@pytest.fixture
def register(ctx):
    """The trust's register, imported as an admin would."""
    report = import_projects(ctx, io.StringIO(REGISTER, newline=""))
    assert report.created == 3, report.problems


def test_projects_list_shows_each_project_its_lead_and_whether_someone_is_on_the_team(
    ctx, chat, ben, register, capsys
):
    chat.say(ben, "/qi-join falls as carer")

    assert run(ctx, "projects", "list") == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        '"Discharge letters" (Hillside), on hold, lead: Tom Baker, started 2026-02-03, '
        "service user or carer on the team: no",
        '"Falls prevention" (Riverside Hospital), active, lead: Asha Patel '
        "<asha.patel@nhs.net>, started 2026-01-12, service user or carer on the team: yes",
        '"=Sepsis screening" (Riverside Hospital), completed, lead: Carla Jones, started '
        "2026-11-23, service user or carer on the team: no",
        "3 projects, 1 with a service user or carer on the team.",
    ]


def test_projects_list_filters_by_site_and_status_as_people_type_them(ctx, register, capsys):
    assert run(ctx, "projects", "list", "--site", "riverside hospital", "--status", "active") == 0
    out = capsys.readouterr().out
    assert "Falls prevention" in out and "Sepsis" not in out and "Discharge" not in out
    assert out.endswith("1 project, 0 with a service user or carer on the team.\n")

    assert run(ctx, "projects", "list", "--status", "on hold", "--site", "Riverside Hospital") == 0
    assert capsys.readouterr().out == (
        "No on hold projects at Riverside Hospital. Type qi-nudge projects list to see them all.\n"
    )


def test_projects_list_finds_a_site_as_stats_and_chat_do(ctx, register, capsys):
    # A word of the site's name is enough, as for /qi-projects and stats --site.
    assert run(ctx, "projects", "list", "--site", "riverside") == 0
    out = capsys.readouterr().out
    assert "Falls prevention" in out and "Sepsis" in out and "Discharge" not in out

    with pytest.raises(Refusal) as unknown:
        run(ctx, "projects", "list", "--site", "Nowhere General")
    assert 'I don\'t know a site called "Nowhere General"' in unknown.value.reply.text
    with pytest.raises(Refusal) as empty:
        run(ctx, "projects", "list", "--site", " ")
    assert "Please name the site" in empty.value.reply.text


def test_projects_list_refuses_an_unknown_status_and_says_which_there_are(ctx, register):
    with pytest.raises(Refusal) as refused:
        run(ctx, "projects", "list", "--status", "finished-ish")
    assert '"finished-ish" is not a project status' in refused.value.reply.text
    assert '"on hold"' in refused.value.reply.text


def test_projects_list_of_an_empty_database_says_how_to_load_the_register(ctx, capsys):
    assert run(ctx, "projects", "list") == 0
    assert "qi-nudge import-projects FILE" in capsys.readouterr().out


def test_export_projects_writes_the_register_as_loaded_with_formulas_neutralised(
    ctx, chat, ben, register, tmp_path, capsys
):
    chat.say(ben, "/qi-join falls as carer")
    out = tmp_path / "projects.csv"

    assert run(ctx, "export", "projects", "--out", str(out)) == 0

    assert capsys.readouterr().out == f"Wrote 3 rows to {out}.\n"
    with out.open(newline="") as file:
        rows = list(csv.reader(file))
    assert rows == [
        [
            "Project",
            "Site",
            "Status",
            "Lead",
            "Lead's e-mail",
            "Started",
            "Service user or carer on the team now",
        ],
        ["Discharge letters", "Hillside", "on hold", "Tom Baker", "", "2026-02-03", "no"],
        [
            "Falls prevention",
            "Riverside Hospital",
            "active",
            "Asha Patel",
            "asha.patel@nhs.net",
            "2026-01-12",
            "yes",
        ],
        ["'=Sepsis screening", "Riverside Hospital", "completed", "Carla Jones", "", "2026-11-23", "no"],  # noqa: E501
    ]  # fmt: skip


def test_projects_list_and_export_are_one_query_however_many_projects(
    ctx, register, sessions, capsys
):
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    connection = sessions.kw["bind"]
    event.listen(connection, "before_cursor_execute", count)
    try:
        run(ctx, "projects", "list")
        run(ctx, "export", "projects")
    finally:
        event.remove(connection, "before_cursor_execute", count)
    assert len(statements) == 2
