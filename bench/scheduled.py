"""The weekly sweep at scale, and its messages through Slack's rate limits.

(a) The weekly run: seeds a trust of --projects projects (100,000) with ten memberships each
(a million) with set-based bulk inserts: most projects active, 2,000 leads, about a quarter of
active projects without a service user or carer on the team (some with one only consulted, or
who left), some snoozed, some already nudged or passed to the organisers, some leads muted.
Times handlers.nudges.weekly.plan_sweep (choosing only) and run_sweep (tidying, choosing, then
offers, outbox messages and project states written in short transactions, with real commits:
what the sweep changed is put back before each run, so every run is the week's first). Against a
reference run interleaved with it: the same rows written set-based in one transaction (the tidy
as one UPDATE, the project states as one INSERT ... SELECT deciding in SQL, the messages and
offers as one executemany each), and prints the ratio, with and without the run's pauses for
waiting writers (store.engine.let_others_write, 0.1 s each on SQLite). Also: the statements of
one run, Python CPU per row written, tracemalloc's peak and RSS growth during a run, and Slack
acks while the run works: `qi-nudge serve`'s Slack app in its own process on the same database,
one client sending signed /qi-join commands (new sign-ups by known leads) back to back, first
for 3 s with no run, then during one (median, p99, max, and any error answers). On SQLite and
PostgreSQL.

(b) Sending: plans one nudge DM for each of N leads with run_sweep, then sends the outbox as
`qi-nudge serve` does (a bot.runtime.delivery.DeliveryLoop woken after the sweep, over a
Deliverer with the default DeliveryPolicy pacing and bot.slack.sender.SlackSender on
build_sending_client) into tests.fakes.FakeSlack enforcing Slack's rate limits: 1 post a second
per channel (burst 3), --workspace-per-minute posts across the workspace (burst
--workspace-burst), and conversations.open 50 a minute (burst 5). The floor is the least time
those limits allow (RateLimits.floor_seconds): from full buckets, a limit of r calls a second
with burst b lets n calls through in no less than max(0, n - b) / r seconds, so

    floor = max( (N - workspace burst) / (workspace per minute / 60),
                 (DM opens - 5) / (50 / 60),
                 max over channels (messages to it - 3) / 1 )

Each lead gets one DM, so the per-channel term is 0. Two cases: DM channel ids already stored
(the steady state: no opens) and the first week (none stored: one conversations.open per lead).
The steady case also gets --holds (2) injected 429s with a Retry-After of --retry-after (30) s,
spread evenly, as when something else in the workspace used up Slack's limit: nothing may be
posted during a hold, and each refills the workspace bucket, so its floor is
h * hold + max(0, N - (h + 1) * burst) / rate. Elapsed runs to the last post's answer. The
statements the sender sent on the outbox show any claim/put-back churn. On a loaded machine
the CPU of each send adds to the elapsed time: bench/fanout.py runs the same on a simulated
clock, which shows the sending logic's own waiting only.

How long it runs. Slack documents no figure for its workspace-wide posting limit, only
"several hundred a minute"; at the default 600 a minute, 2,000 messages have a floor of 3.3
minutes on their own (6.6 at --workspace-per-minute 300), and the first week of 2,000 leads
one of 40 minutes (conversations.open). So the defaults send --messages 500 and
--first-week-messages 50, to keep a whole run near 5 minutes; `--messages 2000` runs the full
steady-state case (at least 3.3 minutes more, times however far the sender is above the floor,
which the output shows). --workspace-interval and --loop-interval override the sender's pacing
and its loop's idle time, to show where time goes; the output says when they are not defaults.

Run: `.venv/bin/python bench/scheduled.py [--projects 100000] [--repeat 3] [--messages 2000]
[--workspace-per-minute 600]
[--first-week-messages 50] [--send-backend postgresql|sqlite|both] [--skip-sweep|--skip-send]`.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from slack_sdk import WebClient
from sqlalchemy import Engine, event, insert, text
from sqlalchemy.orm import sessionmaker

from bot.runtime.delivery import Deliverer, DeliveryLoop, DeliveryPolicy
from bot.slack.sender import SlackSender, build_sending_client
from handlers.core.context import Context
from handlers.core.weeks import week_before, week_of
from handlers.nudges.weekly import NudgePolicy, plan_sweep, run_sweep
from store import outbox
from store.engine import make_engine, make_sessions
from store.migrate import upgrade
from store.models import (
    AdminGrant,
    ChatIdentity,
    Forum,
    ForumMember,
    MatchOffer,
    Membership,
    Person,
    Project,
    ProjectNudge,
)
from store.names import name_key
from store.roles import Involvement, ProjectStatus, Role

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday, when the sweep runs
POLICY = NudgePolicy()
TEAM = "T0001"  # tests.fakes.slack_api.TEAM_ID
MEMBERS_PER_PROJECT = 10
FULL_SEND = 2_000  # leads to message in the case the issue asks about
STATUSES = [ProjectStatus.ACTIVE] * 82 + [ProjectStatus.ON_HOLD] * 6
STATUSES += [ProjectStatus.COMPLETED] * 9 + [ProjectStatus.STOPPED] * 3
OTHER_ROLES = [Role.STAFF] * 6 + [Role.PEER_SUPPORTER, Role.OTHER, Role.SERVICE_USER, Role.CARER]
LIVED = (Role.SERVICE_USER, Role.CARER)
FORUM_MEMBERS = 1_000  # of whom a third would like a project (matchmaking)
PAST_OFFERS = 3_000  # introductions made in earlier weeks, answered or lapsed


# -- databases ----------------------------------------------------------------------------------


@contextmanager
def database(backend: str) -> Iterator[Engine | None]:
    """A migrated, empty database (a SQLite file, or a throw-away PostgreSQL schema); None if
    PostgreSQL does not answer."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            engine = make_engine(f"sqlite:///{folder}/bench.db")
            upgrade(engine)
            try:
                yield engine
            finally:
                engine.dispose()
        return
    schema = f"qi_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as error:  # the bench reports what it could measure
        print(f"\nPostgreSQL skipped: {type(error).__name__}: {error}")
        admin.dispose()
        yield None
        return
    engine = make_engine(f"{POSTGRES_URL}?options=-csearch_path%3D{schema}")
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def postgres_answers() -> bool:
    """Whether the PostgreSQL test server is there."""
    engine = make_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:
        return False
    finally:
        engine.dispose()
    return True


def settle(engine: Engine) -> None:
    """After bulk inserts with explicit ids: move PostgreSQL's sequences on, gather statistics."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            for table in ("people", "projects", "chat_identities"):
                connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
        connection.execute(text("ANALYZE"))  # as autovacuum would have, in a live database


class StatementCounter:
    """Counts the statements an engine sends, by first word (SELECT, INSERT, SAVEPOINT...),
    and times the slowest."""

    def __init__(self, engine: Engine) -> None:
        self.seen: Counter[str] = Counter()
        self.slowest = (0.0, "")
        self.on = False
        self._started = 0.0
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if self.on:
            self.seen[statement.lstrip().split(None, 1)[0].upper()] += 1
            self._started = time.perf_counter()

    def _after(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        elapsed = (time.perf_counter() - self._started) * 1000
        if self.on and elapsed > self.slowest[0]:
            self.slowest = (elapsed, " ".join(statement.split()[:3]))

    @contextmanager
    def counting(self) -> Iterator[Counter[str]]:
        self.seen = Counter()
        self.slowest = (0.0, "")
        self.on = True
        try:
            yield self.seen
        finally:
            self.on = False


QUERIES = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")


def describe(seen: Counter[str]) -> str:
    """'4 SQL (1 INSERT, 2 SELECT, 1 UPDATE) + 3 BEGIN/SAVEPOINT/RELEASE'."""
    queries = {word: n for word, n in seen.items() if word in QUERIES}
    control = sum(n for word, n in seen.items() if word not in QUERIES)
    parts = ", ".join(f"{n} {word}" for word, n in sorted(queries.items()))
    return f"{sum(queries.values())} SQL ({parts}) + {control} BEGIN/SAVEPOINT/RELEASE"


# -- (a) choosing recipients ----------------------------------------------------------------------


@dataclass(frozen=True)
class Trust:
    projects: int
    leads: int
    others: int
    seed: int = 48


def seed_trust(sessions: sessionmaker, trust: Trust) -> dict[str, int]:
    """Bulk-insert a realistic trust; what it holds, counted."""
    rng = random.Random(trust.seed)
    stats: Counter[str] = Counter()
    previous = week_before(week_of(NOW, Context(sessions=sessions)))
    people = []
    for i in range(1, trust.leads + trust.others + 1):
        muted = i <= trust.leads and rng.random() < 0.05
        stats["muted leads"] += muted
        people.append(
            {
                "id": i,
                "display_name": f"{'Lead' if i <= trust.leads else 'Member'} {i}",
                "created_at": NOW - timedelta(days=400),
                "nudges_muted_at": NOW - timedelta(days=30) if muted else None,
            }
        )
    identities = [
        {
            "id": i,
            "person_id": i,
            "platform": "slack",
            "workspace": TEAM,
            "user_id": f"U{i:06d}",
            "dm_channel": f"DU{i:06d}",
        }
        for i in range(1, trust.leads + trust.others // 3 + 1)  # leads and a third of the rest
    ]
    projects, memberships, states = [], [], []
    others = range(trust.leads + 1, trust.leads + trust.others + 1)
    for p in range(1, trust.projects + 1):
        status = rng.choice(STATUSES)
        lead = rng.randint(1, trust.leads) if rng.random() > 0.02 else None
        without = rng.random() < 0.25
        active = status == ProjectStatus.ACTIVE
        stats["active projects"] += active
        stats["active projects without lived experience"] += active and without
        projects.append(
            {
                "id": p,
                "name": f"Project {p}",
                "name_key": name_key(f"Project {p}"),
                "site": f"Site {p % 40}",
                "site_key": f"site {p % 40}",
                "status": status,
                "lead_person_id": lead,
                "created_at": NOW - timedelta(days=200),
                "updated_at": NOW - timedelta(days=10),
            }
        )
        team = rng.sample(others, MEMBERS_PER_PROJECT - (lead is not None))
        roles = [rng.choice(OTHER_ROLES) for _ in team]
        if not without:
            roles[0] = rng.choice(LIVED)  # at least one service user or carer, current, Big I
        for k, person in enumerate(team):
            if k == 0 and not without:
                left = consulted = False
            else:
                left = rng.random() < 0.05
                # Near misses where nobody is on the team: a carer consulted now and then, or
                # one who left, is not "Big I".
                consulted = roles[k] in LIVED and ((without and not left) or rng.random() < 0.3)
            memberships.append(membership(p, person, roles[k], consulted=consulted, left=left))
        if lead is not None:
            memberships.append(membership(p, lead, Role.STAFF, consulted=False, left=False))
        state = nudge_state(rng, p, waiting=active and without, previous=previous)
        if state is not None:
            states.append(state)
            stats["snoozed"] += state["snoozed_until"] is not None and state["snoozed_until"] > NOW
            stats["escalated"] += state["escalated_at"] is not None
    # The forum: members from the people on chat; a third would like to join a project.
    on_chat = range(trust.leads + 1, trust.leads + trust.others // 3 + 1)
    forum_members = [
        {
            "forum_id": 1,
            "person_id": person,
            "role": rng.choice((*LIVED, Role.STAFF, Role.PEER_SUPPORTER)),
            "wants_match": rng.random() < 0.33,
            "joined_at": NOW - timedelta(days=rng.randint(1, 300)),
            "left_at": None,
        }
        for person in rng.sample(on_chat, min(FORUM_MEMBERS, len(on_chat)))
    ]
    stats["forum members who would like a project"] = sum(
        m["wants_match"] and m["role"] in LIVED for m in forum_members
    )
    past = {
        (rng.randint(1, trust.projects), member["person_id"])
        for member in rng.choices(forum_members, k=PAST_OFFERS)
    }
    offers = [
        {
            "project_id": project,
            "person_id": person,
            "role": Role.CARER,
            "status": rng.choice(["expired", "lead_declined", "person_declined", "joined"]),
            "week": previous,
            "created_at": NOW - timedelta(days=30),
            "updated_at": NOW - timedelta(days=20),
        }
        for project, person in past
    ]
    with sessions.begin() as session:
        session.execute(insert(Person), people)
        session.execute(insert(ChatIdentity), identities)
        session.execute(insert(Project), projects)
        session.execute(insert(Membership), memberships)
        session.execute(insert(ProjectNudge), states)
        session.add(Forum(id=1, name="QI Forum", name_key="qi forum", created_at=NOW))
        session.flush()
        session.execute(insert(ForumMember), forum_members)
        session.execute(insert(MatchOffer), offers)
        for person_id in (trust.leads + 1, trust.leads + 2, trust.leads + 3):
            session.add(AdminGrant(person_id=person_id, granted_at=NOW - timedelta(days=90)))
    stats["people"] = len(people)
    stats["memberships"] = len(memberships)
    return dict(stats)


def membership(project: int, person: int, role: Role, *, consulted: bool, left: bool) -> dict:
    joined = NOW - timedelta(days=150)
    return {
        "project_id": project,
        "person_id": person,
        "role": role,
        "involvement": Involvement.CONSULTED if consulted else Involvement.TEAM_MEMBER,
        "consent_recorded_at": joined,
        "joined_at": joined,
        "left_at": NOW - timedelta(days=20) if left else None,
    }


def nudge_state(rng: random.Random, project: int, *, waiting: bool, previous: str) -> dict | None:
    """Where a project stands with the reminder: snoozed, nudged before, escalated, or new."""
    roll = rng.random()
    state = {
        "project_id": project,
        "snoozed_until": None,
        "snooze_reason": None,
        "weeks_in_a_row": 0,
        "last_week": None,
        "escalated_at": None,
    }
    if roll < 0.06:
        state["snoozed_until"] = NOW + timedelta(weeks=rng.randint(2, 12))
        state["snooze_reason"] = rng.choice(["recruiting", "not_appropriate", "other"])
    elif roll < 0.08:
        state["snoozed_until"] = NOW - timedelta(days=3)  # a snooze that has run out
        state["snooze_reason"] = "recruiting"
    elif waiting and roll < 0.12:
        state.update(weeks_in_a_row=4, last_week=previous, escalated_at=NOW - timedelta(days=7))
    elif waiting and roll < 0.5:
        state.update(weeks_in_a_row=rng.randint(1, 3), last_week=previous)
    elif not waiting and roll < 0.2:
        state.update(weeks_in_a_row=2, last_week=previous)  # settled since: forget_settled
    else:
        return None
    return state


def median_ms(call: Any, repeat: int) -> tuple[float, float, Any]:
    """(median ms, slowest ms, the last result) of `repeat` calls."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), max(times), result


class Snapshot:
    """What a sweep changes, saved once and put back before each measured run, so that every
    run (and every reference write) is the week's first, with real commits."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS bench_nudges_saved"))
            connection.execute(
                text("CREATE TABLE bench_nudges_saved AS SELECT * FROM project_nudges")
            )
            self.deliveries = connection.scalar(text("SELECT coalesce(max(id), 0) FROM deliveries"))
            self.offers = connection.scalar(text("SELECT coalesce(max(id), 0) FROM match_offers"))
            self.offer_status = connection.execute(
                text("SELECT id, status, updated_at FROM match_offers")
            ).all()

    def restore(self) -> None:
        with self.engine.begin() as connection:
            connection.execute(text(f"DELETE FROM deliveries WHERE id > {self.deliveries}"))
            connection.execute(text(f"DELETE FROM match_offers WHERE id > {self.offers}"))
            connection.execute(text("DELETE FROM project_nudges"))
            connection.execute(text("INSERT INTO project_nudges SELECT * FROM bench_nudges_saved"))
        with self.engine.connect() as connection:
            changed = connection.scalar(
                text(
                    "SELECT count(*) FROM match_offers WHERE status NOT IN "
                    "('expired', 'lead_declined', 'person_declined', 'joined')"
                )
            )
        assert not changed, "the seeded offers are all closed: the sweep leaves them as they are"


def reference_rows_only(engine: Engine, week: str, plan: Any, states: list[dict]) -> None:
    """The rows alone, already known (no deciding, no reading): one executemany per table."""
    from store.models import Delivery
    from store.upsert import insert_for

    sessions = make_sessions(engine)
    with sessions.begin() as session:
        upsert = insert_for(session, ProjectNudge.__table__)
        session.connection().execute(
            upsert.on_conflict_do_update(
                index_elements=["project_id"],
                set_={
                    "weeks_in_a_row": upsert.excluded.weeks_in_a_row,
                    "last_week": upsert.excluded.last_week,
                    "escalated_at": upsert.excluded.escalated_at,
                },
            ),
            states,
        )
        session.connection().execute(
            insert_for(session, Delivery.__table__).on_conflict_do_nothing(),
            _delivery_rows(plan, NOW),
        )
        if plan.offers:
            session.connection().execute(
                insert(MatchOffer),
                [
                    {
                        "project_id": project,
                        "person_id": person,
                        "role": role.value,
                        "status": "offered",
                        "week": week,
                        "created_at": NOW,
                        "updated_at": NOW,
                    }
                    for project, person, role in plan.offers
                ],
            )


def reference_write(engine: Engine, ctx: Context, week: str, plan: Any) -> int:
    """The same rows the sweep writes, set-based, in one transaction: the tidy as one UPDATE,
    the project states as one INSERT ... SELECT (the decision in SQL), the messages and
    introductions as one executemany each. The rows written (states, messages, offers)."""
    from sqlalchemy import and_, case, exists, func, literal, or_, select

    from store.models import Delivery
    from store.nudges import forget_settled
    from store.projects import lived_experience_exists
    from store.upsert import insert_for

    now, before = NOW, week_before(week)
    weeks = func.coalesce(ProjectNudge.weeks_in_a_row, 0)
    count = case(
        (ProjectNudge.last_week == week, weeks),
        (ProjectNudge.last_week == before, weeks + 1),
        else_=1,
    )
    admins = exists().where(AdminGrant.revoked_at.is_(None))
    escalate = and_(count > POLICY.escalate_after, admins)
    chosen = (
        select(
            Project.id,
            count,
            literal(week),
            case((escalate, literal(now, type_=ProjectNudge.escalated_at.type)), else_=None),
        )
        .outerjoin(Person, Person.id == Project.lead_person_id)
        .outerjoin(ProjectNudge, ProjectNudge.project_id == Project.id)
        .where(
            Project.status == ProjectStatus.ACTIVE,
            ~lived_experience_exists(),
            Project.lead_person_id.is_not(None),
            Person.nudges_muted_at.is_(None),
            or_(ProjectNudge.snoozed_until.is_(None), ProjectNudge.snoozed_until <= now),
            ProjectNudge.escalated_at.is_(None),
        )
    )
    sessions = make_sessions(engine)
    with sessions.begin() as session:
        forget_settled(session)
        upsert = insert_for(session, ProjectNudge.__table__)
        states = session.execute(
            upsert.from_select(
                ["project_id", "weeks_in_a_row", "last_week", "escalated_at"], chosen
            ).on_conflict_do_update(
                index_elements=["project_id"],
                set_={
                    "weeks_in_a_row": upsert.excluded.weeks_in_a_row,
                    "last_week": upsert.excluded.last_week,
                    "escalated_at": upsert.excluded.escalated_at,
                },
            )
        ).rowcount
        session.execute(
            insert_for(session, Delivery.__table__).on_conflict_do_nothing(),
            _delivery_rows(plan, now),
        )
        if plan.offers:
            session.execute(
                insert(MatchOffer),
                [
                    {
                        "project_id": project,
                        "person_id": person,
                        "role": role.value,
                        "status": "offered",
                        "week": week,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for project, person, role in plan.offers
                ],
            )
    return states + len(plan.deliveries) + len(plan.offers)


ACK_SECRET = "bench-signing-secret"
ACK_SERVER = r"""
import os, sys, socket
sys.path.insert(0, os.environ["QI_ROOT"])
import uvicorn
from tests.fakes import FakeSlack
fake = FakeSlack().start()
fake.add_token(os.environ["SLACK_BOT_TOKEN"])
for i in range(1, int(os.environ["BENCH_USERS"]) + 1):
    fake.add_user(f"U{i:06d}", f"Lead {i}")
os.environ["SLACK_API_URL"] = fake.base_url
from bot.runtime.settings import load_settings
from bot.runtime.startup import build_context, open_database
from bot.runtime.serve import build_service
settings = load_settings(env_file=None)
engine = open_database(settings, migrate=False)
app = build_service(settings, engine, build_context(settings, engine)).asgi
sock = socket.socket(); sock.bind(("127.0.0.1", 0)); port = sock.getsockname()[1]
print(port, flush=True)
sock.close()
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
"""
ACK_USERS = 200  # leads U000001.. in the seeded trust, on chat


@contextmanager
def serving(database_url: str) -> Iterator[str]:
    """`qi-nudge serve`'s Slack app on this database, in its own process; its events URL."""
    import os
    import subprocess

    import httpx

    env = {
        **os.environ,
        "QI_ROOT": str(ROOT),
        "DATABASE_URL": database_url,
        "SLACK_SIGNING_SECRET": ACK_SECRET,
        "SLACK_BOT_TOKEN": "xoxb-bench",
        "LOG_LEVEL": "WARNING",
        "BENCH_USERS": str(ACK_USERS),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", ACK_SERVER], env=env, stdout=subprocess.PIPE, cwd=ROOT, text=True
    )
    try:
        url = f"http://127.0.0.1:{proc.stdout.readline().strip()}/slack/events"
        for _ in range(400):
            try:
                httpx.post(url, content=b"", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@dataclass
class Acks:
    latencies_ms: list[float]
    errors: list[str]

    def line(self) -> str:
        if not self.latencies_ms:
            return "no requests answered"
        ordered = sorted(self.latencies_ms)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return (
            f"{len(ordered)} /qi-join acks: median {statistics.median(ordered):.1f} ms, "
            f"p99 {p99:.1f} ms, max {ordered[-1]:.1f} ms; {len(self.errors)} error answers"
            + (f" ({self.errors[0]!r})" if self.errors else "")
        )


def acks_during(url: str, work: Any, *, offset: int) -> tuple[Any, Acks]:
    """Run `work()` while one client sends signed /qi-join requests (each a new sign-up by a
    known lead) one after another; what work returned, and the acks seen meanwhile."""
    import threading

    import httpx

    from handlers.dispatch import SORRY
    from tests.fakes.slack_signing import slack_headers, slash_command_body

    done = threading.Event()
    acks = Acks([], [])

    def client() -> None:
        with httpx.Client(timeout=30) as http:
            i = offset
            while not done.is_set():
                i += 1
                user = 1 + i % ACK_USERS
                body = slash_command_body(
                    "/qi-join",
                    f"Project {1 + i % 90_000} as staff",
                    user_id=f"U{user:06d}",
                    user_name=f"lead{user}",
                )
                started = time.perf_counter()
                answer = http.post(url, content=body, headers=slack_headers(body, ACK_SECRET))
                acks.latencies_ms.append((time.perf_counter() - started) * 1000)
                said = answer.text
                if answer.status_code != 200 or "Sorry" in said or SORRY[:30] in said:
                    acks.errors.append(f"{answer.status_code} {said[:120]}")
                time.sleep(0.01)

    thread = threading.Thread(target=client)
    thread.start()
    time.sleep(0.3)  # the client is under way before the run starts
    try:
        result = work()
    finally:
        done.set()
        thread.join()
    return result, acks


def rss_mib() -> float:
    """This process's resident memory now, MiB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def bench_sweep(label: str, engine: Engine, trust: Trust, repeat: int, database_url: str) -> None:
    import tracemalloc

    from store.engine import let_others_write

    sessions = make_sessions(engine)
    started = time.perf_counter()
    stats = seed_trust(sessions, trust)
    settle(engine)
    seeded = time.perf_counter() - started
    snapshot = Snapshot(engine)
    counter = StatementCounter(engine)
    ctx = Context(sessions=sessions, clock=lambda: NOW)
    week = week_of(NOW, ctx)
    pauses = [0]

    def pause() -> None:
        pauses[0] += 1
        let_others_write(sessions)

    def choose() -> Any:
        with sessions() as session:
            return plan_sweep(session, ctx, week=week, policy=POLICY)

    def sweep() -> Any:
        return run_sweep(ctx, week=week, policy=POLICY, between=pause)

    choose()  # warm caches and the connection pool
    plan_median, plan_max, plan = median_ms(choose, repeat)
    run_ms, ref_ms, rows_ms, run_cpu, ref_cpu = [], [], [], [], []
    ran, written, paused_runs = None, 0, []
    states = [dict(state) for state in plan.states]
    for _ in range(repeat):  # interleaved, so that load on the machine falls on both alike
        for which in ("reference", "rows only", "run"):
            snapshot.restore()
            cpu, wall = time.process_time(), time.perf_counter()
            if which == "run":
                pauses[0] = 0
                ran = sweep()
                run_ms.append((time.perf_counter() - wall) * 1000)
                run_cpu.append((time.process_time() - cpu) * 1000)
                paused_runs.append(pauses[0])
            elif which == "rows only":
                reference_rows_only(engine, week, plan, states)
                rows_ms.append((time.perf_counter() - wall) * 1000)
            else:
                written = reference_write(engine, ctx, week, plan)
                ref_ms.append((time.perf_counter() - wall) * 1000)
                ref_cpu.append((time.process_time() - cpu) * 1000)
    snapshot.restore()
    import gc

    gc.collect()
    before = rss_mib()
    sweep()
    rss_growth = rss_mib() - before
    snapshot.restore()
    with counter.counting() as plan_sql:
        choose()
    plan_slowest = counter.slowest
    with counter.counting() as run_sql:
        sweep()
    run_slowest = counter.slowest
    snapshot.restore()
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    sweep()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    actions = Counter(decision.action for decision in plan.decisions)
    print(
        f"\n{label}: {trust.projects} projects ({stats['active projects']} active, "
        f"{stats['active projects without lived experience']} of them without a service user "
        f"or carer), {stats['memberships']} memberships, {stats['people']} people, "
        f"{trust.leads} leads ({stats['muted leads']} muted), {stats['snoozed']} snoozed, "
        f"{stats['escalated']} escalated, "
        f"{stats['forum members who would like a project']} forum members who would like a "
        f"project; seeded in {seeded:.1f} s"
    )
    rows = len(ran.states) + len(ran.deliveries) + len(ran.offers)
    print(
        f"  the sweep chose: {actions['nudge']} projects to nudge, {actions['escalate']} to "
        f"escalate, {actions['skip']} skipped, {len(plan.offers)} introductions offered; "
        f"{len(plan.deliveries)} messages "
        f"({ran.planned_new} new outbox rows), {len(ran.states)} project states saved: {rows} "
        f"rows (the reference wrote {written})"
    )
    print(f"  {'':34s} {'median':>9s} {'slowest':>9s}   statements sent (one run)")
    for name, median, slowest, seen, statement in (
        ("plan_sweep (choosing only)", plan_median, plan_max, plan_sql, plan_slowest),
        (
            "run_sweep (choose, save, outbox)",
            statistics.median(run_ms),
            max(run_ms),
            run_sql,
            run_slowest,
        ),
    ):
        print(
            f"  {name:34s} {median:6.1f} ms {slowest:6.1f} ms   {describe(seen)};"
            f" slowest execute {statement[0]:.0f} ms: {statement[1]}"
        )
    run, ref, only = (statistics.median(t) for t in (run_ms, ref_ms, rows_ms))
    per_pause = 100 if engine.dialect.name == "sqlite" else 0  # let_others_write's 0.1 s
    paused = statistics.median(paused_runs) * per_pause
    print(
        f"  reference: the same rows set-based in one transaction, deciding in SQL "
        f"{ref:6.1f} ms (CPU here {statistics.median(ref_cpu):.0f} ms); the rows alone, one "
        f"executemany per table {only:.1f} ms"
    )
    print(
        f"  run_sweep {run:.1f} ms (CPU here {statistics.median(run_cpu):.0f} ms), of which "
        f"{statistics.median(paused_runs):.0f} pauses for waiting writers ({paused:.0f} ms)"
    )
    print(
        f"  weekly run / set-based reference: {run / ref:.2f}x ({(run - paused) / ref:.2f}x "
        f"without the pauses; aim: within 3x); / the rows alone: {run / only:.2f}x; Python "
        f"CPU per row written {statistics.median(run_cpu) * 1000 / max(rows, 1):.0f} µs"
    )
    print(
        f"  memory during one run: tracemalloc peak {(peak - base) / 2**20:.1f} MiB, RSS growth "
        f"{rss_growth:.1f} MiB (a run without tracemalloc; aim: under 20 MiB)"
    )
    snapshot.restore()
    with serving(database_url) as url:
        _, idle = acks_during(url, lambda: time.sleep(3), offset=0)
        snapshot.restore()
        _, busy = acks_during(url, sweep, offset=100_000)
    print(f"  acks with no run (3 s):      {idle.line()}")
    print(f"  acks during the weekly run:  {busy.line()}")
    if engine.dialect.name == "sqlite":
        print("  (SQLite computes a SELECT's rows as they are fetched: its time is not in execute)")


# -- (b) sending through the rate limits ----------------------------------------------------------


class TimedSender(SlackSender):
    """SlackSender, timing destination() (a DM channel from the database, or opened), and
    noting when the last post was answered."""

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self.destination_ms: list[float] = []
        self.last_post = 0.0  # time.perf_counter() when the last post was answered

    def post(self, channel: str, reply: Any, key: str) -> str | None:
        try:
            return super().post(channel, reply, key)
        finally:
            self.last_post = time.perf_counter()

    def destination(self, sessions: Any, recipient: str) -> str | None:
        started = time.perf_counter()
        try:
            return super().destination(sessions, recipient)
        finally:
            self.destination_ms.append((time.perf_counter() - started) * 1000)


def seed_leads(sessions: sessionmaker, count: int, *, dm_stored: bool) -> list[str]:
    """`count` leads on Slack, each leading one active project with nobody with lived
    experience on it; their Slack user ids."""
    now = datetime.now(UTC)
    ids = range(1, count + 1)
    users = [f"U{i:06d}" for i in ids]
    with sessions.begin() as session:
        session.execute(
            insert(Person),
            [{"id": i, "display_name": f"Lead {i}", "created_at": now} for i in ids],
        )
        session.execute(
            insert(ChatIdentity),
            [
                {
                    "id": i,
                    "person_id": i,
                    "platform": "slack",
                    "workspace": TEAM,
                    "user_id": users[i - 1],
                    "dm_channel": f"D{users[i - 1]}" if dm_stored else None,
                }
                for i in ids
            ],
        )
        session.execute(
            insert(Project),
            [
                {
                    "id": i,
                    "name": f"Project {i}",
                    "name_key": name_key(f"Project {i}"),
                    "site": None,
                    "status": ProjectStatus.ACTIVE,
                    "lead_person_id": i,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in ids
            ],
        )
        session.execute(
            insert(Membership),
            [membership(i, i, Role.STAFF, consulted=False, left=False) for i in ids],
        )
    return users


@dataclass
class SendResult:
    case: str
    messages: int
    floor: float
    elapsed: float
    posts_429: int
    opens_429: int
    per_recipient: Counter[int]
    failed: int
    outcomes: Counter[str]
    plan_ms: float
    destination_ms: list[float]
    holds: int = 0  # injected 429s with a long Retry-After
    outbox_sql: Counter[str] | None = None  # statements on the deliveries table, by first word


class CountingDeliverer(Deliverer):
    """The Deliverer, keeping count of what happened to each delivery it took."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outcomes: Counter[str] = Counter()

    def run_once(self) -> Counter[str]:
        outcomes = super().run_once()
        self.outcomes.update(outcomes)
        return outcomes


def bench_send(
    engine: Engine,
    case: str,
    count: int,
    *,
    dm_stored: bool,
    limits: Any,
    loop_interval: float | None,
    policy: DeliveryPolicy,
    holds: int = 0,
    retry_after: int = 30,
    timeout: float = 3600,
) -> SendResult:
    from tests.fakes.slack_api import FakeSlack  # main() put the repository on sys.path

    sessions = make_sessions(engine)
    users = seed_leads(sessions, count, dm_stored=dm_stored)
    settle(engine)
    ctx = Context(sessions=sessions)  # the real clock: retries are due in real time
    started = time.perf_counter()
    plan = run_sweep(ctx, week=week_of(ctx.now(), ctx), policy=POLICY)
    plan_ms = (time.perf_counter() - started) * 1000
    assert plan.planned_new == count, (plan.planned_new, count)
    outbox_sql: Counter[str] = Counter()

    def count_outbox_sql(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # The sender's own (the loop's thread), not this bench's looking to see if it is done.
        if "deliveries" in statement and threading.current_thread().name == "qi-delivery":
            outbox_sql[statement.lstrip().split(None, 1)[0].upper()] += 1

    with FakeSlack() as fake:
        fake.add_token("xoxb-bench")  # the fake answers invalid_auth to tokens it does not know
        fake.enforce_rate_limits(limits)
        client = build_sending_client(WebClient(base_url=fake.base_url, token="xoxb-bench"))
        sender = TimedSender(client)
        deliverer = CountingDeliverer(ctx, sender, policy)
        # As `qi-nudge serve` sends: a DeliveryLoop, woken when the sweep has planned.
        loop = (
            DeliveryLoop(deliverer)
            if loop_interval is None
            else DeliveryLoop(deliverer, interval=loop_interval)
        )
        injector = HoldInjector(fake, count, holds, retry_after)
        event.listen(engine, "before_cursor_execute", count_outbox_sql)
        started = time.perf_counter()
        loop.start()
        loop.wake()
        while time.perf_counter() - started < timeout:
            time.sleep(0.25)
            injector.check()
            with sessions() as session:
                statuses = outbox.counts_by_status(session)
            if not statuses.get(outbox.PENDING) and not statuses.get(outbox.SENDING):
                break
        # Until the last post was answered: not the bench's own look (every 0.25 s) at the end.
        elapsed = (sender.last_post or time.perf_counter()) - started
        loop.stop()
        event.remove(engine, "before_cursor_execute", count_outbox_sql)
        outcomes = deliverer.outcomes
        per_recipient = Counter(len(fake.messages(user)) for user in users)
        posts_429 = fake.rate_limited["chat.postMessage"]
        opens_429 = fake.rate_limited["conversations.open"]
    with sessions() as session:
        failed = outbox.counts_by_status(session).get(outbox.FAILED, 0)
    return SendResult(
        case=case,
        messages=count,
        floor=floor_with_holds(
            limits,
            count,
            opens=0 if dm_stored else count,
            holds=injector.injected,
            hold=retry_after,
        ),
        elapsed=elapsed,
        posts_429=posts_429,
        opens_429=opens_429,
        per_recipient=per_recipient,
        failed=failed,
        outcomes=outcomes,
        plan_ms=plan_ms,
        destination_ms=sender.destination_ms,
        holds=injector.injected,
        outbox_sql=outbox_sql,
    )


class HoldInjector:
    """Answers one chat.postMessage with 429 and a long Retry-After at each of `holds` points,
    evenly spread over the `count` messages (as Slack does when something else in the
    workspace used up its limit)."""

    def __init__(self, fake: Any, count: int, holds: int, retry_after: int) -> None:
        self.fake = fake
        self.retry_after = retry_after
        self.thresholds = [count * (k + 1) // (holds + 1) for k in range(holds)]
        self.injected = 0

    def check(self) -> None:
        if self.injected >= len(self.thresholds):
            return
        posted = len(self.fake.calls_to("chat.postMessage"))
        if posted >= self.thresholds[self.injected]:
            self.fake.fail("chat.postMessage", 429, retry_after=self.retry_after)
            self.injected += 1


def floor_with_holds(limits: Any, count: int, *, opens: int, holds: int, hold: float) -> float:
    """The least time the limits allow, with `holds` injected Retry-Afters of `hold` seconds.

    Nothing may be posted during a hold, and a hold of at least burst / rate seconds refills the
    workspace bucket: each of the h + 1 stretches between holds starts with a full burst, so
    the workspace term is h * hold + max(0, N - (h + 1) * burst) / rate (each stretch is
    longer than a burst here). conversations.open is not held (the 429 is chat.postMessage's).
    """
    plain = limits.floor_seconds([1] * count, opens=opens)
    if not holds or limits.workspace_posts_per_minute is None:
        return plain + holds * hold
    rate = limits.workspace_posts_per_minute / 60
    assert hold >= limits.workspace_burst / rate and count // (holds + 1) >= limits.workspace_burst
    workspace = holds * hold + max(0, count - (holds + 1) * limits.workspace_burst) / rate
    return max(plain, workspace)


def print_send_table(label: str, results: list[SendResult]) -> None:
    print(
        f"\n  {label}\n  {'case':26s} {'msgs':>5s} {'holds':>5s} {'floor':>8s} {'elapsed':>8s}"
        f" {'msg/s':>6s} {'x floor':>7s} {'429 post':>8s} {'429 open':>8s} {'per recipient':>14s}"
        f" {'failed':>6s}  outbox outcomes"
    )
    for r in results:
        spread = ", ".join(f"{n}:{k}" for n, k in sorted(r.per_recipient.items()))
        print(
            f"  {r.case:26s} {r.messages:5d} {r.holds:5d} {r.floor:7.1f}s {r.elapsed:7.1f}s"
            f" {r.messages / r.elapsed:6.2f} {r.elapsed / r.floor if r.floor else 0:7.2f}"
            f" {r.posts_429:8d} {r.opens_429:8d} {spread:>14s} {r.failed:6d}"
            f"  {dict(r.outcomes)}"
        )
    for r in results:
        hold = sorted(r.destination_ms)
        print(
            f"  {r.case}: run_sweep planned {r.messages} nudges in {r.plan_ms:.0f} ms; "
            f"destination() (inside the Deliverer's transaction) median "
            f"{statistics.median(hold):.1f} ms, slowest {hold[-1]:.0f} ms"
        )
        if r.outbox_sql is not None:
            sql = ", ".join(f"{n} {word}" for word, n in sorted(r.outbox_sql.items()))
            print(f"  {r.case}: statements on the outbox while sending: {sql}")
    print("  (per recipient: messages posted:number of leads; must be 1:all)")
    print(
        "  (429 post/open: answered by the fake's rate limiter, not the injected holds; "
        "the injected 429s show as outbox retries)"
    )


def _delivery_rows(plan: Any, at: datetime) -> list[dict[str, Any]]:
    """The outbox rows the sweep's plan asks for, pending from `at` (both references write them)."""
    return [
        {
            "kind": p.kind,
            "occurrence": p.occurrence,
            "recipient": p.recipient,
            "payload": p.payload,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": at,
            "created_at": at,
        }
        for p in plan.deliveries
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=100_000, help="projects for (a)")
    parser.add_argument("--leads", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3, help="sweep runs to take the median of")
    parser.add_argument(
        "--messages", type=int, default=500, help="steady-state messages (2000: the full case)"
    )
    parser.add_argument(
        "--first-week-messages",
        type=int,
        default=50,
        help="first-week messages (each needs conversations.open at 50 a minute)",
    )
    parser.add_argument("--workspace-per-minute", type=float, default=600.0)
    parser.add_argument("--workspace-burst", type=int, default=10)
    parser.add_argument(
        "--send-backend",
        choices=["postgresql", "sqlite", "both"],
        default="postgresql",
        help="database for (b); SQLite when PostgreSQL does not answer",
    )
    parser.add_argument(
        "--loop-interval",
        type=float,
        default=None,
        help="seconds the DeliveryLoop idles between passes (default: DeliveryLoop's own)",
    )
    parser.add_argument(
        "--workspace-interval",
        type=float,
        default=None,
        help="pace sends this many seconds apart instead of DeliveryPolicy()'s default",
    )
    parser.add_argument(
        "--holds",
        type=int,
        default=2,
        help="429s with a long Retry-After injected into the steady case (evenly spread)",
    )
    parser.add_argument(
        "--retry-after", type=int, default=30, help="seconds of each injected Retry-After"
    )
    parser.add_argument("--skip-sweep", action="store_true", help="only (b)")
    parser.add_argument("--skip-send", action="store_true", help="only (a)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))  # tests.fakes is not installed with the package
    logging.basicConfig(level=logging.ERROR)  # the deliverer warns of every retry it plans
    from tests.fakes.slack_api import RateLimits

    if not args.skip_sweep:
        trust = Trust(
            projects=args.projects,
            leads=args.leads,
            others=max(args.projects * 3, args.leads + MEMBERS_PER_PROJECT),
        )
        print(f"(a) Choosing this week's recipients: median of {args.repeat} runs")
        for backend, label in (("sqlite", "SQLite"), ("postgresql", "PostgreSQL")):
            with database(backend) as engine:
                if engine is not None:
                    url = engine.url.render_as_string(hide_password=False)
                    bench_sweep(label, engine, trust, args.repeat, url)
    if args.skip_send:
        return
    limits = RateLimits(
        workspace_posts_per_minute=args.workspace_per_minute,
        workspace_burst=args.workspace_burst,
    )
    policy = DeliveryPolicy()
    if args.workspace_interval is not None:
        policy = replace(policy, workspace_interval=args.workspace_interval)
    pacing = "DeliveryPolicy()" if policy == DeliveryPolicy() else "OVERRIDDEN (not the default)"
    if args.loop_interval is None:
        default = inspect.signature(DeliveryLoop).parameters["interval"].default
        idles = f"its default {default:g} s"
    else:
        idles = f"{args.loop_interval:g} s, OVERRIDDEN (not the default)"
    handlers = build_sending_client(WebClient(token="xoxb-bench")).retry_handlers
    print(
        f"\n(b) Sending nudge DMs through fake Slack with Slack's limits: "
        f"{limits.post_per_channel_per_second:g} post/s per channel (burst {limits.post_burst}), "
        f"{limits.workspace_posts_per_minute:g} posts/min per workspace (burst "
        f"{limits.workspace_burst}), conversations.open {limits.open_per_minute:g}/min (burst "
        f"{limits.open_burst}).\n    Sender as `serve` runs it: DeliveryLoop (idles {idles} "
        f"between passes) over Deliverer with {pacing} pacing, "
        f"{policy.channel_interval:g} s per channel and {policy.workspace_interval:g} s between "
        f"any two ({60 / policy.workspace_interval:.0f}/min) in bursts of "
        f"{getattr(policy, 'workspace_burst', 1)}, batches of {policy.batch}; "
        f"build_sending_client retry handlers: {[type(h).__name__ for h in handlers]}."
    )
    print(
        "    floor = max((N - workspace burst) / workspace rate, (opens - open burst) / open "
        "rate, per channel (n - 3) / 1) seconds"
    )
    steady = limits.floor_seconds([1] * FULL_SEND) / 60
    first_week = limits.floor_seconds([1] * FULL_SEND, opens=FULL_SEND) / 60
    print(
        f"    For {FULL_SEND} leads these limits allow no less than {steady:.1f} minutes with DM "
        f"ids stored and {first_week:.1f} minutes in the first week; this run sends "
        f"{args.messages} (--messages) and {args.first_week_messages} in the first week "
        f"(--first-week-messages)."
    )
    backends = ["postgresql", "sqlite"] if args.send_backend == "both" else [args.send_backend]
    if "postgresql" in backends and not postgres_answers():
        print("    PostgreSQL does not answer: sending on SQLite instead.")
        backends = ["sqlite"]
    cases = [
        ("steady (DM ids stored)", args.messages, True, args.holds),
        ("first week (opens DMs)", args.first_week_messages, False, 0),
    ]
    if args.holds:
        print(
            f"    The steady case also gets {args.holds} injected 429s with Retry-After "
            f"{args.retry_after} s (--holds, --retry-after); its floor adds them: "
            "h * hold + (N - (h + 1) * burst) / rate."
        )
    for backend in backends:
        results = []
        for case, count, stored, holds in cases:
            if count <= 0:
                continue
            with database(backend) as engine:
                if engine is None:
                    break
                results.append(
                    bench_send(
                        engine,
                        case,
                        count,
                        dm_stored=stored,
                        limits=limits,
                        loop_interval=args.loop_interval,
                        policy=policy,
                        holds=holds,
                        retry_after=args.retry_after,
                    )
                )
        if results:
            print_send_table(f"on {'PostgreSQL' if backend == 'postgresql' else 'SQLite'}", results)


if __name__ == "__main__":
    main()
