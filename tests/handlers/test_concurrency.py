"""Simultaneous identical requests (double clicks, platform retries) give one row, no errors."""

import threading

import pytest
from sqlalchemy import func, select

from handlers.core.context import Context
from handlers.core.reply import Actor
from handlers.dispatch import SORRY, Dispatcher
from store.engine import make_engine, make_sessions
from store.forums import create_forum
from store.migrate import upgrade
from store.models import AuditEvent, ChatIdentity, ForumMember, Membership, Person
from store.projects import create_project
from store.roles import ProjectStatus
from tests.conftest import person

THREADS = 8
ROUNDS = 5


def _race(bot, actor, line, threads=THREADS):
    """Send the same command from `threads` threads released at the same instant."""
    barrier = threading.Barrier(threads)
    replies = []
    name, _, rest = line.partition(" ")

    def send():
        barrier.wait()
        replies.append(bot.command(actor, name, rest))

    workers = [threading.Thread(target=send) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    return replies


@pytest.mark.parametrize("fresh_database_url", ["sqlite", "postgresql"], indirect=True)
def test_simultaneous_first_contact_and_join_make_one_person_and_one_membership(
    fresh_database_url, clock
):
    engine = make_engine(fresh_database_url, pool_size=THREADS, max_overflow=0)
    upgrade(engine)
    sessions = make_sessions(engine)
    bot = Dispatcher(Context(sessions=sessions, clock=clock))
    with sessions.begin() as session:
        create_project(
            session,
            name="Falls prevention",
            lead_id=None,
            site=None,
            status=ProjectStatus.ACTIVE,
            now=clock(),
        )
        create_forum(session, name="QI Forum", channel=None, now=clock())

    for round_ in range(ROUNDS):
        newcomer = person(f"New Person {round_}")
        joins = _race(bot, newcomer, "/qi-join falls prevention as carer")
        forum = _race(bot, newcomer, "/qi-join forum")
        assert all(r.ok and r.text != SORRY for r in joins + forum), [r.text for r in joins + forum]

    with sessions() as session:
        count = lambda model: session.scalar(select(func.count()).select_from(model))  # noqa: E731
        assert count(Person) == ROUNDS
        assert count(ChatIdentity) == ROUNDS
        assert count(Membership) == ROUNDS
        assert count(ForumMember) == ROUNDS
    engine.dispose()


@pytest.mark.parametrize("fresh_database_url", ["sqlite", "postgresql"], indirect=True)
def test_simultaneous_first_contact_from_teams_links_once_to_the_slack_person(
    fresh_database_url, clock
):
    engine = make_engine(fresh_database_url, pool_size=THREADS, max_overflow=0)
    upgrade(engine)
    sessions = make_sessions(engine)
    bot = Dispatcher(Context(sessions=sessions, clock=clock))
    with sessions.begin() as session:
        create_forum(session, name="QI Forum", channel=None, now=clock())
    slack = Actor("slack", "T1", "U1", "Ben O", verified_email="ben.okafor@nhs.net")
    teams = Actor("teams", "tenant-1", "29:1ben", "Ben Okafor", verified_email="ben.okafor@nhs.net")
    assert bot.command(slack, "/qi-join", "forum").ok

    joins = _race(bot, teams, "/qi-join forum")

    assert all(r.ok and r.text != SORRY for r in joins), [r.text for r in joins]
    with sessions() as session:
        count = lambda model: session.scalar(select(func.count()).select_from(model))  # noqa: E731
        assert count(Person) == 1
        assert count(ChatIdentity) == 2
        assert count(ForumMember) == 1
        linked = select(func.count()).where(AuditEvent.action == "person.identity_linked")
        assert session.scalar(linked) == 1  # the winner's link, recorded once
    engine.dispose()
