"""The database itself keeps sign-ups idempotent and times in UTC."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, StatementError

from store.engine import make_engine
from store.memberships import add_membership
from store.models import ChatIdentity, Membership, Person, Project
from store.projects import create_project
from store.roles import Involvement, ProjectStatus, Role

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def _project_and_person(session):
    person = Person(display_name="Ben Okafor", created_at=NOW)
    session.add(person)
    session.flush()
    project = create_project(
        session, name="Falls", lead_id=None, site=None, status=ProjectStatus.ACTIVE, now=NOW
    )
    return project, person


def _join(session, project, person, now=NOW):
    return add_membership(
        session,
        project_id=project.id,
        person_id=person.id,
        role=Role.CARER,
        involvement=Involvement.TEAM_MEMBER,
        consent_by_id=person.id,
        now=now,
    )


def test_two_current_memberships_of_one_person_are_refused(sessions):
    with pytest.raises(IntegrityError), sessions.begin() as session:
        project, person = _project_and_person(session)
        _join(session, project, person)
        _join(session, project, person)


def test_rejoining_after_leaving_keeps_history(sessions):
    with sessions.begin() as session:
        project, person = _project_and_person(session)
        first = _join(session, project, person)
        first.left_at = NOW + timedelta(days=1)
        session.flush()
        _join(session, project, person, now=NOW + timedelta(days=2))
    with sessions() as session:
        rows = session.scalars(select(Membership).order_by(Membership.joined_at)).all()
        assert [(m.left_at is None) for m in rows] == [False, True]


def test_chat_identity_is_unique_per_platform_workspace_user(sessions):
    with pytest.raises(IntegrityError), sessions.begin() as session:
        for name in ("A", "B"):
            person = Person(display_name=name, created_at=NOW)
            person.identities.append(ChatIdentity(platform="slack", workspace="T1", user_id="U1"))
            session.add(person)
            session.flush()


def test_times_come_back_as_the_same_instant_in_utc(sessions):
    london_summer = datetime(2026, 7, 1, 14, 0, tzinfo=timezone(timedelta(hours=1)))
    with sessions.begin() as session:
        session.add(Person(display_name="Asha", created_at=london_summer))
    with sessions() as session:
        stored = session.scalar(select(Person.created_at))
    assert stored == london_summer
    assert stored.tzinfo is not None and stored.utcoffset() == timedelta(0)
    assert stored.hour == 13


def test_naive_datetimes_are_refused(sessions):
    with pytest.raises(StatementError, match="naive datetime"), sessions.begin() as session:
        session.add(Person(display_name="Asha", created_at=datetime(2026, 1, 1)))
        session.flush()


def test_foreign_keys_are_enforced(sessions):
    with pytest.raises(IntegrityError), sessions.begin() as session:
        session.add(ChatIdentity(person_id=999_999, platform="slack", workspace="T", user_id="U"))
        session.flush()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(fresh_database_url):
    engine = make_engine(fresh_database_url)  # the default parameter is a SQLite file
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 5000
        assert connection.execute(text("SELECT lower('ÉLODIE')")).scalar() == "élodie"
    engine.dispose()


def test_the_planner_can_answer_the_headline_question_from_its_partial_index(sessions):
    """If the index's WHERE drifts from lived_experience_exists(), no database can use it."""
    from sqlalchemy import func
    from sqlalchemy.dialects import postgresql, sqlite

    from store.projects import lived_experience_exists

    query = select(func.count()).select_from(Project).where(lived_experience_exists())
    with sessions() as session:
        dialect = session.bind.dialect.name
        compiled = query.compile(
            dialect=postgresql.dialect() if dialect == "postgresql" else sqlite.dialect(),
            compile_kwargs={"literal_binds": True},
        )
        if dialect == "postgresql":
            session.execute(text("SET LOCAL enable_seqscan = off"))
            plan = session.execute(text(f"EXPLAIN {compiled}")).scalars().all()
        else:
            plan = [row[-1] for row in session.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))]
    assert any("ix_memberships_lived_experience" in line for line in plan), plan
