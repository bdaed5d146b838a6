"""Project lookups at trust scale: index lookups, bounded rows, on SQLite and PostgreSQL."""

import re

import pytest
from sqlalchemy import delete, func, select

from handlers.projects.listing import LIST_LIMIT
from store.models import Membership, Project, ProjectWord
from store.projects import project_page
from store.roles import Involvement, ProjectStatus, Role
from tests.conftest import person
from tests.handlers import given
from tests.query_watch import watching

SITES = ["Riverside Hospital", "Northgate Hospital", None]


def seqscan_off(connection):
    """PostgreSQL plans a seq scan of a small table whatever indexes it has: ask it not to."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")


def reads_every_project(plan):
    """Whether a plan reads the projects table from end to end."""
    lines = plan.splitlines()
    return any(line.startswith("SCAN projects") or "Seq Scan on projects" in line for line in lines)


def many_projects_with_members(sessions, clock, count, member_id):
    ids = given.many_projects(sessions, given.realistic_names(count), clock(), lead_id=None)
    with sessions.begin() as session:
        session.add_all(
            Membership(
                project_id=project_id,
                person_id=member_id,
                role=Role.STAFF,
                involvement=Involvement.TEAM_MEMBER,
                consent_recorded_at=clock(),
                joined_at=clock(),
            )
            for project_id in ids[::50]
        )
    return ids


def test_mine_asks_the_indexes_not_every_project(sessions, clock):
    asha = given.person_id(sessions, person("Asha Patel"), clock())
    ids = many_projects_with_members(sessions, clock, 400, asha)
    given.many_projects(sessions, ["Asha's own project"], clock(), lead_id=asha)

    with sessions() as session:
        connection = session.connection()
        seqscan_off(connection)
        with watching(connection) as watched:
            page = project_page(session, after=None, limit=LIST_LIMIT, involving_id=asha)
        plans = watched.plans()

    assert page.total == len(ids[::50]) + 1
    assert "Asha's own project" in [row.name for row in page.rows]
    assert plans and not [plan for plan in plans if reads_every_project(plan)]
    everything = "\n".join(plans)
    assert "ix_projects_lead_person_id" in everything
    assert "ix_memberships_current_person" in everything
    assert watched.rows == page.total  # the page, the counts riding on its rows


def test_a_search_asks_the_word_index_and_fetches_one_page(sessions, clock, chat, asha):
    given.many_projects(sessions, given.realistic_names(400), clock(), lead_id=None)
    connection = sessions.kw["bind"]
    seqscan_off(connection)

    with watching(connection) as watched:
        reply = chat.say(asha, "/qi-projects falls ward")
    plans = watched.plans()

    assert "(1 to 40 of 80)" in reply.sections[0].heading
    assert not [plan for plan in plans if reads_every_project(plan)]
    assert "pk_project_words" in "\n".join(plans) or "sqlite_autoindex_project_words_1" in (
        "\n".join(plans)
    )
    assert watched.rows <= LIST_LIMIT + 10  # one page, the counts, who is asking


def test_search_words_match_the_start_of_a_word_of_the_name_or_site(sessions, clock, chat, asha):
    given.many_projects(sessions, ["Reducing falls at night"], clock(), lead_id=None)
    given.many_projects(
        sessions, ["Sepsis screening"], clock(), lead_id=None, site="St John's Ward"
    )

    def found(words):
        reply = chat.say(asha, f"/qi-projects {words}")
        return sorted(
            line[2:].split(" (")[0].split(":")[0]
            for line in reply.text.splitlines()
            if line.startswith("• ")
        )

    assert found("FALL") == ["Reducing falls at night"]
    assert found("night reduc") == ["Reducing falls at night"]
    assert found("st johns") == found("St John’s") == ["Sepsis screening"]
    assert found("sepsis ward") == ["Sepsis screening"]
    assert found("alls") == []  # the middle of a word is not where anyone starts typing


def test_a_renamed_or_moved_project_is_found_by_its_new_words(chat, asha, sessions):
    chat.say(asha, '/qi-project new "Falls prevention" --site "Ward 7"')
    with sessions.begin() as session:
        project = session.scalar(select(Project))
        project.name, project.name_key, project.site = "Mouth care", "mouth care", "Oak ward"

    assert "Mouth care" in chat.say(asha, "/qi-projects mouth oak").text
    assert "No active project" in chat.say(asha, "/qi-projects falls").text
    assert "No active project" in chat.say(asha, "/qi-projects 7").text


@pytest.mark.parametrize("status", [ProjectStatus.COMPLETED])
def test_words_go_with_a_deleted_project(sessions, clock, status):
    given.many_projects(sessions, ["Falls prevention"], clock(), lead_id=None, status=status)
    with sessions.begin() as session:
        session.execute(delete(Project))
        assert session.scalar(select(func.count()).select_from(ProjectWord)) == 0


def test_the_lived_experience_question_is_answered_by_its_partial_index(sessions, clock):
    given.many_projects(sessions, given.realistic_names(50), clock(), lead_id=None)

    with sessions() as session:
        connection = session.connection()
        seqscan_off(connection)
        with watching(connection) as watched:
            page = project_page(session, after=None, limit=LIST_LIMIT)
        plans = "\n".join(watched.plans())

    assert page.total == 50 and page.involved == 0
    assert "ix_memberships_lived_experience" in plans


def analyse(connection):
    """As after an import: the planner knows every table the list reads, whatever it saw before."""
    for table in ("projects", "memberships", "project_words"):
        connection.exec_driver_sql(f"ANALYZE {table}")


def sorts_the_list(plan):
    """Whether a plan sorts the projects it read, rather than reading them in name order.

    An incremental sort on rows read in name_key order (PostgreSQL, when it costs an index on
    name_key alone as cheaper) only orders ties, and names are unique: that is reading in
    name order.
    """
    if "TEMP B-TREE FOR ORDER BY" in plan:
        return True
    return any(
        re.match(r"\s*(->\s*)?Sort\s+\(", line) for line in plan.splitlines()
    )  # a full Sort node; "Incremental Sort" lines do not match


def test_the_plan_check_tells_a_sort_from_reading_in_name_order():
    node = "  ->  {}  (cost=9.46..1769.74 rows=200 width=939)\n        Sort Key: name_key, id\n"
    assert sorts_the_list(node.format("Sort"))
    assert sorts_the_list("SCAN projects\nUSE TEMP B-TREE FOR ORDER BY")
    assert not sorts_the_list(node.format("Incremental Sort") + "        Presorted Key: name_key\n")
    assert not sorts_the_list("Index Scan using ix_projects_listed on projects")


@pytest.mark.parametrize("count", [20, 200])
def test_a_page_is_one_statement_reading_the_list_in_name_order(sessions, clock, chat, asha, count):
    given.many_projects(sessions, given.realistic_names(count), clock(), lead_id=None)
    connection = sessions.kw["bind"]
    analyse(connection)
    seqscan_off(connection)

    pages = []
    with watching(connection) as watched:
        pages.append(chat.say(asha, "/qi-projects"))
        if count > LIST_LIMIT:
            pages.append(chat.press(asha, pages[0], "Show more projects"))
    listing = [(s, p) for s, p in watched.statements if "FROM projects" in s]
    plans = watched.plans()
    shown = sum(line.startswith("•") for page in pages for line in page.text.splitlines())

    assert shown == min(count, 2 * LIST_LIMIT)
    # Each page, with the counts of the whole list: one statement, however many projects.
    assert len(listing) == len(pages)
    # Its rows read from an index in name order, not every active project sorted per page
    # (a list of one page may be sorted: that is sorting the page).
    if count > LIST_LIMIT:
        assert not [plan for plan in plans if sorts_the_list(plan)], "\n\n".join(plans)
    # The rows fetched: the projects shown, and no more (the counts ride on them).
    assert watched.rows == shown


NAME_ORDER_INDEXES = ("ix_projects_site", "ix_projects_listed", "uq_projects_name_key")


def test_a_sites_list_and_figures_read_its_own_projects_from_the_index(sessions, clock, chat, asha):
    names = given.realistic_names(400)
    given.many_projects(sessions, names[:200], clock(), lead_id=None, site="Riverside Hospital")
    given.many_projects(sessions, names[200:], clock(), lead_id=None, site="Northgate Hospital")
    connection = sessions.kw["bind"]
    analyse(connection)
    seqscan_off(connection)

    with watching(connection) as watched:
        first = chat.say(asha, "/qi-projects riverside")
        chat.press(asha, first, "Show more projects")
        stats = chat.say(asha, "/qi-stats riverside")
        several = chat.say(asha, "/qi-stats hospital")  # by the words of every site's name
    plans = watched.plans()
    pages = [
        plan
        for (statement, _), plan in zip(watched.statements, plans, strict=True)
        if "ORDER BY projects.name_key" in statement
    ]

    assert first.sections[0].heading == "Active QI projects at Riverside Hospital (1 to 40 of 200)"
    assert "0 of 200 active projects have a service user or carer" in stats.text
    assert several.text.startswith('More than one site matches "hospital".')
    assert not [plan for plan in plans if reads_every_project(plan)], "\n\n".join(plans)
    # Each page read in name order from an index (the site's own entries in ix_projects_site,
    # or the active list's, or every name's when the site has most of them, as the planner
    # sees fit), not sorted.
    assert len(pages) == 2 and all(
        any(
            index in plan
            for index in ("ix_projects_site", "ix_projects_listed", "uq_projects_name")
        )
        for plan in pages
    ), "\n\n".join(pages)
    assert not [plan for plan in pages if sorts_the_list(plan)], "\n\n".join(pages)


def test_a_project_moved_to_another_site_is_counted_there(chat, asha, sessions):
    chat.say(asha, '/qi-project new "Falls prevention" --site "Oak Lodge"')
    with sessions.begin() as session:
        session.scalar(select(Project)).site = "Riverside Hospital"

    assert "0 of 1 active project has" in chat.say(asha, "/qi-stats riverside hospital").text
    assert "Falls prevention" in chat.say(asha, "/qi-projects riverside hospital").text
    assert not chat.say(asha, "/qi-stats oak lodge").ok  # no project there now
