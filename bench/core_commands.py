"""How long the core commands take in the handlers, on SQLite and PostgreSQL.

Seeds a large trust (PROJECTS projects, about ten members each) into a throw-away database, then
times each command through the dispatcher, as a transport would call it. Prints the median and
95th percentile per command. Run: `.venv/bin/python bench/core_commands.py [--projects N]`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, text

from handlers.context import Context
from handlers.dispatch import Dispatcher
from handlers.reply import Actor
from store.engine import make_engine, make_sessions
from store.forums import create_forum
from store.migrate import upgrade
from store.models import Meeting, Membership, Person, Project
from store.names import name_key
from store.roles import Involvement, ProjectStatus, Role

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
ROLES = [Role.STAFF] * 7 + [Role.SERVICE_USER, Role.CARER, Role.PEER_SUPPORTER]


def seed(sessions, projects: int) -> None:
    """Bulk-insert a trust: people, projects, memberships, a forum and a meeting."""
    with sessions.begin() as session:
        session.execute(
            insert(Person),
            [{"display_name": f"Person {i}", "created_at": NOW} for i in range(projects * 5)],
        )
        session.execute(
            insert(Project),
            [
                {
                    "name": f"Project {i}",
                    "name_key": name_key(f"Project {i}"),
                    "site": f"Site {i % 40}",
                    "status": ProjectStatus.ACTIVE,
                    "lead_person_id": (i % (projects * 5)) + 1,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for i in range(projects)
            ],
        )
        session.execute(
            insert(Membership),
            [
                {
                    "project_id": p + 1,
                    "person_id": ((p * 10 + k) % (projects * 5)) + 1,
                    "role": ROLES[(p + k) % len(ROLES)] if p % 3 else Role.STAFF,
                    "involvement": Involvement.TEAM_MEMBER,
                    "consent_recorded_at": NOW,
                    "joined_at": NOW,
                }
                for p in range(projects)
                for k in range(10)
            ],
        )
        forum = create_forum(session, name="QI Forum", channel=None, now=NOW)
        session.add(Meeting(forum_id=forum.id, starts_at=NOW + timedelta(days=10), created_at=NOW))


def timed(call, repeat: int) -> list[float]:
    """Milliseconds per call."""
    times = []
    for i in range(repeat):
        start = time.perf_counter()
        call(i)
        times.append((time.perf_counter() - start) * 1000)
    return times


def bench(label: str, url: str, projects: int, repeat: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    sessions = make_sessions(engine)
    seed(sessions, projects)
    with engine.begin() as connection:
        connection.execute(text("ANALYZE"))  # as autovacuum would have, in a live database
    bot = Dispatcher(Context(sessions=sessions, clock=lambda: NOW))
    half = projects // 2
    cases = {
        "/qi-join <exact name> as carer": lambda i: bot.command(
            Actor("bench", "T", f"U{i}", f"User {i}"), "/qi-join", f"Project {i % half} as carer"
        ),
        "/qi-join <prefix> as staff": lambda i: bot.command(
            Actor("bench", "T", f"V{i}", f"User {i}"), "/qi-join", f"project {half + i} as staff"
        ),
        "/qi-join <typo> (no match)": lambda i: bot.command(
            Actor("bench", "T", "Y", "Y"), "/qi-join", f"projcet {i} falls as staff"
        ),
        "/qi-join forum": lambda i: bot.command(
            Actor("bench", "T", f"W{i}", f"User {i}"), "/qi-join", "forum"
        ),
        "/qi-forum": lambda i: bot.command(Actor("bench", "T", "X", "X"), "/qi-forum", ""),
        "/qi-projects mine": lambda i: bot.command(
            Actor("bench", "T", f"U{i}", f"User {i}"), "/qi-projects", "mine"
        ),
        f"/qi-projects (all {projects})": lambda i: bot.command(
            Actor("bench", "T", "X", "X"), "/qi-projects", ""
        ),
    }
    print(f"\n{label}: {projects} projects, {projects * 10} memberships")
    for name, call in cases.items():
        times = timed(call, repeat)
        p95 = statistics.quantiles(times, n=20)[-1]
        print(f"  {name:34s} median {statistics.median(times):6.2f} ms   p95 {p95:6.2f} ms")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        bench("SQLite", f"sqlite:///{folder}/bench.db", args.projects, args.repeat)
    schema = f"qi_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(POSTGRES_URL)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as error:
        print(f"\nPostgreSQL skipped: {error}")
        return
    try:
        bench(
            "PostgreSQL",
            f"{POSTGRES_URL}?options=-csearch_path%3D{schema}",
            args.projects,
            args.repeat,
        )
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


if __name__ == "__main__":
    main()
