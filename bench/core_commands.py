"""How long the core commands take in the handlers, on SQLite and PostgreSQL.

Seeds a large trust (PROJECTS projects with realistic names such as "Reducing falls on Willow
ward 2024", about ten members each, five times as many people) into a throw-away database,
then times each command through the dispatcher, as a transport would call it. Prints the median
and 95th percentile per command, and for the three lookups issue 15 aims at (`/qi-projects mine`,
`/qi-projects <word>`, a `/qi-join` typo) the ratio to the aim of 20 ms, the statements each ran
and the rows they brought into Python. `--explain` prints the query plan of each of their
statements.

Run: `.venv/bin/python bench/core_commands.py [--projects 100000] [--explain]`.
"""

from __future__ import annotations

import argparse
import bisect
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, event, insert, inspect, text

from handlers.core.context import Context
from handlers.core.reply import Actor
from handlers.dispatch import Dispatcher
from store.engine import make_engine, make_sessions
from store.forums import create_forum
from store.migrate import upgrade
from store.models import Meeting, Membership, Person, Project
from store.names import name_key
from store.roles import Involvement, ProjectStatus, Role

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
ROLES = [Role.STAFF] * 7 + [Role.SERVICE_USER, Role.CARER, Role.PEER_SUPPORTER]
AIM_MS = 20.0
SLICE = 50_000  # rows per INSERT while seeding
AIMED = ("/qi-projects mine", "/qi-projects <word>", "/qi-join <typo>")

AIMS = [
    "Reducing", "Improving", "Preventing", "Increasing", "Speeding up", "Standardising",
    "Safer", "Earlier", "Better", "Fewer delays in",
]  # fmt: skip
TOPICS = [
    "falls", "pressure ulcers", "sepsis screening", "discharge planning", "medicines "
    "reconciliation", "handover", "hand hygiene", "delirium screening", "nutrition", "hydration",
    "pain assessment", "catheter care", "insulin safety", "VTE assessment", "early warning "
    "scores", "smoking cessation", "waiting times", "missed appointments", "patient experience",
    "carer involvement", "restrictive practice", "physical health checks", "lithium monitoring",
    "clozapine monitoring", "care planning", "crisis plans", "safeguarding referrals",
    "self-harm follow-up", "mouth care", "night-time noise", "St John's transfers",
    "Ökotherapie groups",
]  # fmt: skip
WARDS = [
    "Willow", "Cedar", "Oak", "Maple", "Rowan", "Birch", "Hazel", "Ash", "Elm", "Holly",
    "Juniper", "Larch", "Poplar", "Alder", "Yew", "Beech", "Cherry", "Linden", "Aspen", "Fir",
]  # fmt: skip
PLACES = (
    [f"on {w} ward" for w in WARDS]
    + [f"on ward {n}" for n in range(1, 61)]
    + [f"in the {t} team" for t in ("north", "south", "east", "west", "crisis", "memory")]
    + ["in A&E", "in outpatients", "in theatres", "in maternity", "in the community"]
)
SITES = [f"{s} Hospital" for s in ("Northgate", "Riverside", "St Anne's", "Hillside")] + [
    f"{s} Centre" for s in ("Moorlands", "Brookfield", "Ashby", "Llanfair")
]


def realistic_names(count: int, rng: random.Random) -> list[str]:
    """`count` different project names of the kind a trust's register holds."""
    names: dict[str, str] = {}
    while len(names) < count:
        name = f"{rng.choice(AIMS)} {rng.choice(TOPICS)} {rng.choice(PLACES)}"
        if rng.random() < 0.8:
            name += f" {rng.randint(2015, 2026)}"
        names.setdefault(name_key(name), name)
    return list(names.values())


def typo(name: str, rng: random.Random) -> str:
    """The name as someone might mistype it: one letter wrong, missing, extra or swapped in
    one word, or a word left out; in any case."""
    words = name.split()
    long_words = [i for i, w in enumerate(words) if len(w) >= 4] or [0]
    i = rng.choice(long_words)
    word = words[i]
    spot = rng.randrange(1, len(word) - 1) if len(word) > 2 else 0
    kind = rng.choice(("wrong", "missing", "extra", "swapped", "word"))
    if kind == "wrong":
        word = word[:spot] + rng.choice("aeiourstn") + word[spot + 1 :]
    elif kind == "missing":
        word = word[:spot] + word[spot + 1 :]
    elif kind == "extra":
        word = word[:spot] + word[spot] + word[spot:]
    elif kind == "swapped" and len(word) > 2:
        word = word[:spot] + word[spot + 1] + word[spot] + word[spot + 2 :]
    words[i] = word
    if kind == "word" and len(words) > 2:
        del words[rng.randrange(1, len(words))]
    typed = " ".join(words)
    return typed.lower() if rng.random() < 0.5 else typed


def seed(sessions, projects: int) -> list[str]:
    """Bulk-insert a trust: people, projects, memberships, a forum and a meeting; the names."""
    rng = random.Random(15)
    names = realistic_names(projects, rng)
    people = projects * 5
    with sessions.begin() as session:
        session.execute(
            insert(Person),
            [{"display_name": f"Person {i}", "created_at": NOW} for i in range(people)],
        )
        rows = [
            {
                "name": name,
                "name_key": name_key(name),
                "site": (site := rng.choice(SITES)),
                "site_key": name_key(site),
                "status": ProjectStatus.ACTIVE if i % 10 else ProjectStatus.COMPLETED,
                "lead_person_id": (i * 7 % people) + 1,
                "created_at": NOW,
                "updated_at": NOW,
            }
            for i, name in enumerate(names)
        ]
        session.execute(insert(Project), rows)
        if "project_words" in inspect(session.connection()).get_table_names():
            from store.project_words import words_of  # absent before issue 15

            words = [
                {**word, "project_id": i + 1}
                for i, row in enumerate(rows)
                for word in words_of(row["name_key"], row["site"])
            ]
            for start in range(0, len(words), SLICE):
                session.execute(
                    text(
                        "INSERT INTO project_words (word, in_site, project_id) "
                        "VALUES (:word, :in_site, :project_id)"
                    ),
                    words[start : start + SLICE],
                )
        memberships = [
            {
                "project_id": p + 1,
                "person_id": person + 1,
                "role": ROLES[(p + k) % len(ROLES)] if p % 3 else Role.STAFF,
                "involvement": Involvement.TEAM_MEMBER,
                "consent_recorded_at": NOW,
                "joined_at": NOW,
            }
            for p in range(projects)
            for k, person in enumerate(rng.sample(range(people), 10))
        ]
        # In slices: a million rows in one pipelined executemany lost its PostgreSQL connection.
        for start in range(0, len(memberships), SLICE):
            session.execute(insert(Membership), memberships[start : start + SLICE])
        forum = create_forum(session, name="QI Forum", channel=None, now=NOW)
        session.add(Meeting(forum_id=forum.id, starts_at=NOW + timedelta(days=10), created_at=NOW))
    return names


def unique_prefixes(names: list[str], wanted: int) -> list[str]:
    """Beginnings (a letter short of the whole name) that only one project's name starts with."""
    keys = sorted(name_key(n) for n in names)
    found = []
    for name in names:
        prefix = name_key(name)[:-1]
        at = bisect.bisect_left(keys, prefix)
        if at + 1 >= len(keys) or not keys[at + 1].startswith(prefix):
            found.append(prefix)
            if len(found) == wanted:
                break
    return found


class StatementCounter:
    """Counts the statements run and the rows the driver hands to Python, keeping the statements.

    Rows are counted by the driver's row factory (sqlite3's and psycopg's), so every row
    fetched counts, however SQLAlchemy fetches it.
    """

    def __init__(self, engine: Engine) -> None:
        self.statements: list[tuple[str, Any]] = []
        self.rows = 0
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine.pool, "checkout", self._count_rows_of)

    def _before(self, _conn, _cursor, statement, parameters, _context, _many) -> None:
        self.statements.append((statement, parameters))

    def _count_rows_of(self, dbapi_connection, _record, _proxy) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):

            def counted_row(_cursor: Any, row: tuple[Any, ...]) -> tuple[Any, ...]:
                self.rows += 1
                return row

            dbapi_connection.row_factory = counted_row
            return
        from psycopg.rows import tuple_row  # PostgreSQL only

        def counted_rows(cursor: Any) -> Callable[[Any], Any]:
            make = tuple_row(cursor)

            def one(values: Any) -> Any:
                self.rows += 1
                return make(values)

            return one

        dbapi_connection.row_factory = counted_rows

    def reset(self) -> None:
        self.statements.clear()
        self.rows = 0


def timed(call: Callable[[int], object], repeat: int) -> tuple[list[float], list[float]]:
    """Milliseconds per call: wall clock, and this process's CPU time (less swayed by others'
    load on a shared machine; it leaves out the PostgreSQL server's own work)."""
    wall, cpu = [], []
    for i in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        call(i)
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return wall, cpu


def explain(engine: Engine, statement: str, parameters: Any) -> list[str]:
    """The query plan the database picks for one statement, one line per step."""
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as connection:
        cursor = connection.connection.cursor()
        cursor.execute(prefix + statement, parameters)
        rows = cursor.fetchall()
        cursor.close()
    if engine.dialect.name == "sqlite":
        return [f"{'  ' * (row[1] > 0)}{row[3]}" for row in rows]
    return [row[0] for row in rows]


def bench(label: str, url: str, projects: int, repeat: int, show_plans: bool) -> None:
    engine = make_engine(url)
    upgrade(engine)
    sessions = make_sessions(engine)
    started = time.perf_counter()
    names = seed(sessions, projects)
    seeded = time.perf_counter() - started
    with engine.begin() as connection:
        connection.execute(text("ANALYZE"))  # as autovacuum would have, in a live database
    bot = Dispatcher(Context(sessions=sessions, clock=lambda: NOW))
    rng = random.Random(7)
    active = [n for i, n in enumerate(names) if i % 10]
    prefixes = unique_prefixes(active, repeat)
    typos = [typo(rng.choice(names), rng) for _ in range(repeat)]
    searches = ["sepsis", "falls willow", "Hand hygiene ward 12", "crisis", "ökotherapie"]
    people = projects * 5
    cases = {
        "/qi-join <exact name> as carer": lambda i: bot.command(
            Actor("bench", "T", f"U{i}", f"User {i}"),
            "/qi-join",
            f"{active[i % len(active)]} as carer",
        ),
        "/qi-join <prefix> as staff": lambda i: bot.command(
            Actor("bench", "T", f"V{i}", f"User {i}"),
            "/qi-join",
            f"{prefixes[i % len(prefixes)]} as staff",
        ),
        "/qi-join <typo>": lambda i: bot.command(
            Actor("bench", "T", "Y", "Y"), "/qi-join", f"{typos[i % len(typos)]} as staff"
        ),
        "/qi-join forum": lambda i: bot.command(
            Actor("bench", "T", f"W{i}", f"User {i}"), "/qi-join", "forum"
        ),
        "/qi-forum": lambda i: bot.command(Actor("bench", "T", "X", "X"), "/qi-forum", ""),
        "/qi-projects mine": lambda i: bot.command(
            Actor("bench", "T", f"U{i}", f"User {i}"), "/qi-projects", "mine"
        ),
        "/qi-projects <word>": lambda i: bot.command(
            Actor("bench", "T", "X", "X"), "/qi-projects", searches[i % len(searches)]
        ),
        f"/qi-projects (all {projects})": lambda i: bot.command(
            Actor("bench", "T", "X", "X"), "/qi-projects", ""
        ),
    }
    print(
        f"\n{label}: {projects} projects, {people} people, {projects * 10} memberships"
        f" (seeded in {seeded:.0f} s)"
    )
    counter = StatementCounter(engine)
    for name, call in cases.items():
        times, cpu = timed(call, repeat)
        p95 = statistics.quantiles(times, n=20)[-1]
        median = statistics.median(times)
        line = (
            f"  {name:34s} median {median:7.2f} ms   p95 {p95:7.2f} ms"
            f"   cpu {statistics.median(cpu):7.2f} ms"
        )
        if name in AIMED:
            counter.reset()
            call(0)  # once more, counted
            line += (
                f"   {median / AIM_MS:5.2f}x the {AIM_MS:.0f} ms aim"
                f" ({len(counter.statements)} statements, {counter.rows} rows to Python)"
            )
            if show_plans:
                line += "".join(
                    "\n      " + "\n      ".join([statement.split("\n")[0][:90], *plan])
                    for statement, parameters in list(counter.statements)
                    if statement.lstrip().upper().startswith("SELECT")
                    for plan in [explain(engine, statement, parameters)]
                )
        print(line, flush=True)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--explain", action="store_true", help="print the aimed queries' plans")
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    parser.add_argument(
        "--postgres-url",
        default=POSTGRES_URL,
        help="a database of its own keeps a long seed clear of other tests' connection resets",
    )
    args = parser.parse_args()
    if args.only != "postgresql":
        with tempfile.TemporaryDirectory() as folder:
            bench(
                "SQLite",
                f"sqlite:///{folder}/bench.db",
                args.projects,
                args.repeat,
                args.explain,
            )
    if args.only == "sqlite":
        return
    schema = f"qi_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(args.postgres_url)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as error:
        print(f"\nPostgreSQL skipped: {error}")
        return
    try:
        bench(
            "PostgreSQL",
            f"{args.postgres_url}?options=-csearch_path%3D{schema}",
            args.projects,
            args.repeat,
            args.explain,
        )
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


if __name__ == "__main__":
    main()
