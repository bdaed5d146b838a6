"""Slack acks: the real `qi-nudge serve` against a bare Bolt app doing the same minimal work.

Issue 15's table, side by side in one run. For each request kind and load, on SQLite and on
PostgreSQL, three servers take the same signed requests from wrk, one uvicorn worker each:

* the reference (bench/slack_reference.py): a sync `slack_bolt.App(process_before_response=True)`
  behind Bolt's Starlette adapter whose listener does one statement on a raw driver connection
  in autocommit and acks (/qi-join and the join_as button: one INSERT; /qi-projects: one indexed
  SELECT of a page of 40; /qi-stats: one aggregate SELECT);
* qi-nudge: the `qi-nudge serve` console command itself, configured by environment variables
  only, with its scheduler, delivery loop and after-ack work running as in production, talking
  to the project's fake Slack (tests/fakes), which this process hosts;
* verify-only: an endpoint that checks the signature and answers (a second, lower line).

The databases are seeded once, with the project's store functions after `qi-nudge db upgrade`:
USERS Slack users, PROJECTS projects of a few members each (a third with lived experience on the
team, none with a lead, so a join plans no message) and half a year of weekly figures (so
/qi-stats draws its run chart). Each round starts every server afresh on a copy (a SQLite file;
a PostgreSQL database of its own, so the scheduler's advisory lock is its own too; all dropped
at the end). Every request wrk sends is distinct and correctly signed (the bot acknowledges a
replay without acting); after each write run the bench checks that every answered request was
acted on. After each run the bench waits until every server is idle, so work queued after the
acks (chart uploads, answers through response_url, the delivery loop) is not counted against
the next run; how long that took is reported ("busy N s after", and backlog_s in the JSON).

Rows report the median of rounds: at 1 client the median latency, at 20 clients throughput, as
a ratio to the reference against the issue's aim (join and button: median within 2x, at least
0.5x the throughput; /qi-projects and /qi-stats: within 3x either way).

Needs wrk (`sudo apt-get install wrk`) and, for the PostgreSQL rows, a server that lets the
--postgres user create databases. Run from the repository root:
  .venv/bin/python bench/slack_ack.py [--rounds 3] [--seconds 3] [--quick] [--json FILE]
`--quick` is one round of 2-second runs (about 2 minutes).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from wrk_load import WrkResult, run_wrk, threads_for, wrk_version

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from handlers.core import ids  # noqa: E402 - the repository root is on the path only now
from tests.fakes import FakeSlack, block_actions_body, slack_headers, slash_command_body  # noqa: E402

SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench"
TEAM = "T0001"  # the fake's workspace
CHANNEL = "C0BENCH"  # where the commands are typed: the bot is in it, so charts post there
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
USERS = 200  # Slack users who send the measured requests (none on any team at the start)
MEMBERS = 50  # people already on teams, a few per project
PROJECTS = 1000  # join rows aim at the first half, button rows at the second
MEMBERS_PER_PROJECT = 3
WEEKS = 26  # weekly figures for the run chart
# Distinct requests written per second of run: more than any server here answers, so no run
# repeats one (wrk_load reports it if one did). Pairs (user, project) per kind: 200 x 500.
REQUESTS_PER_SECOND = {1: 5_000, 20: 10_000}
QUIET_CPU = 0.1  # a server is idle when it uses less than this share of a core...
QUIET_FOR = 0.3  # ...over this many seconds (the kernel counts CPU time in 10 ms ticks)
QUIET_WAIT = 60.0  # seconds to wait for a backlog to drain before measuring anyway
# One client for the few requests sent from here: httpx.post() builds a TLS context each time,
# tens of milliseconds of CPU that would stretch the warm-up for nothing.
CLIENT = httpx.Client(limits=httpx.Limits(max_connections=16))


@dataclass(frozen=True)
class Row:
    """One line of the issue's table: a request kind at a number of clients."""

    label: str
    kind: str  # join, button, projects, stats
    clients: int
    aim: float  # median within aim x the reference; throughput at least 1/aim of it

    @property
    def key(self) -> str:
        return f"{self.kind}@{self.clients}"


# The order they run in each round: /qi-stats last, as each leaves a chart to draw and upload
# after its ack (a long queue at 20 clients), which the bench waits out before the next run.
ROWS = (
    Row("/qi-projects", "projects", 1, 3.0),
    Row("/qi-join", "join", 1, 2.0),
    Row("/qi-join", "join", 20, 2.0),
    Row("button (join_as)", "button", 1, 2.0),
    Row("button (join_as)", "button", 20, 2.0),
    Row("/qi-stats", "stats", 1, 3.0),
    Row("/qi-stats", "stats", 20, 3.0),
)
DATABASES = ("SQLite", "PostgreSQL")


# --- the requests ---------------------------------------------------------------------------


@dataclass
class Requests:
    """Distinct signed requests of each kind; the join and button pairs never repeat in a round."""

    fake: FakeSlack
    projects: list[tuple[int, str]]  # (id, name), as seeded
    round_no: int
    _pairs: dict[str, Iterator[tuple[int, int]]] = field(default_factory=dict)
    _serial: Iterator[int] = field(default_factory=itertools.count)

    def make(self, kind: str, count: int) -> list[tuple[bytes, dict[str, str]]]:
        """`count` requests of `kind`, signed now (Slack's window is five minutes)."""
        half = len(self.projects) // 2
        targets = {"join": self.projects[:half], "button": self.projects[half:]}
        made = []
        for _ in range(count):
            serial = next(self._serial)
            trigger = f"bench.{self.round_no}.{serial}"  # no two bodies alike
            if kind in targets:
                pairs = self._pairs.setdefault(
                    kind, itertools.product(range(len(targets[kind])), range(USERS))
                )
                project, user = next(pairs)
                body = self._write(kind, targets[kind][project], user, trigger)
            else:  # /qi-projects, /qi-stats: the first page, the overall chart
                body = command(f"/qi-{kind}", "", serial % USERS, trigger)
            made.append((body, slack_headers(body, SECRET)))
        return made

    def _write(self, kind: str, project: tuple[int, str], user: int, trigger: str) -> bytes:
        project_id, name = project
        if kind == "join":
            return command("/qi-join", f"{name} as carer", user, trigger)
        return block_actions_body(
            ids.JOIN_AS,
            f"{project_id}:carer",
            user_id=f"U{user}",
            user_name=f"user{user}",
            team_id=TEAM,
            channel_id=CHANNEL,
            # A response_url the fake issued: the bot answers the click through it after the ack.
            response_url=self.fake.response_url(trigger),
            trigger_id=trigger,
        )


def command(name: str, text: str, user: int, trigger: str) -> bytes:
    """A slash command typed by user U<user> in the bench channel."""
    return slash_command_body(
        name,
        text,
        user_id=f"U{user}",
        user_name=f"user{user}",
        team_id=TEAM,
        channel_id=CHANNEL,
        response_url="https://hooks.slack.com/commands/T0001/1/bench",
        trigger_id=trigger,
    )


# --- databases -------------------------------------------------------------------------------


def seed(url: str) -> list[tuple[int, str]]:
    """Migrate with the CLI, then seed with the store's own functions; the projects made."""
    run_cli(["db", "upgrade"], {"DATABASE_URL": url})
    from sqlalchemy import text

    from store.engine import make_engine, make_sessions
    from store.memberships import insert_membership_if_absent
    from store.people import ensure_person_for_identity
    from store.projects import create_project
    from store.roles import Involvement, ProjectStatus, Role
    from store.stats import OVERALL, save_snapshots

    engine = make_engine(url)
    now = datetime.now(UTC)
    lived = (Role.SERVICE_USER, Role.CARER, Role.PEER_SUPPORTER)
    try:
        with make_sessions(engine).begin() as session:
            for i in range(USERS):
                ensure_person_for_identity(
                    session,
                    platform="slack",
                    workspace=TEAM,
                    user_id=f"U{i}",
                    display_name=f"User {i}",
                    now=now,
                    active_on=now.date(),
                )
            members = [
                ensure_person_for_identity(
                    session,
                    platform="slack",
                    workspace=TEAM,
                    user_id=f"M{i}",
                    display_name=f"Member {i}",
                    now=now,
                ).id
                for i in range(MEMBERS)
            ]
            made = [
                create_project(
                    session,
                    name=f"Project {i:04d}",
                    lead_id=None,
                    site=f"Site {i % 10}",
                    status=ProjectStatus.ACTIVE,
                    now=now,
                )
                for i in range(PROJECTS)
            ]
            projects = [(project.id, project.name) for project in made]
            for n, (project_id, _) in enumerate(projects):
                for k in range(MEMBERS_PER_PROJECT):
                    person = members[(n * MEMBERS_PER_PROJECT + k) % MEMBERS]
                    # A third of the projects have someone with lived experience on the team.
                    role = lived[n % len(lived)] if n % 3 == 0 and k == 0 else Role.STAFF
                    insert_membership_if_absent(
                        session,
                        project_id=project_id,
                        person_id=person,
                        role=role,
                        involvement=Involvement.TEAM_MEMBER,
                        consent_by_id=person,
                        now=now,
                    )
            monday = now.date() - timedelta(days=now.weekday())
            weeks = [monday - timedelta(weeks=WEEKS - k) for k in range(WEEKS)]
            save_snapshots(
                session,
                [
                    {
                        "week": f"{day.isocalendar().year}-W{day.isocalendar().week:02d}",
                        "week_start": day,
                        "scope": OVERALL,
                        "active_projects": PROJECTS,
                        "involved_projects": PROJECTS // 3 + 5 * k,
                        "attendance": None,
                        "taken_at": now,
                        "backfilled": False,
                    }
                    for k, day in enumerate(weeks)
                ],
                replace=True,
            )
        with engine.connect() as connection:
            # As autovacuum would have by now in a live database (and so it leaves the copy
            # alone: a database being vacuumed cannot be a template).
            analyze = "ANALYZE" if url.startswith("sqlite") else "VACUUM ANALYZE"
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(text(analyze))
        return projects
    finally:
        engine.dispose()


def count_rows(url: str, table: str) -> int:
    """Rows in `table` now, over a raw driver connection."""
    query = f"SELECT count(*) FROM {table}"  # our own table names only
    if url.startswith("sqlite:"):
        import sqlite3

        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as connection:
            return connection.execute(query).fetchone()[0]
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        return connection.execute(query).fetchone()[0]


@contextlib.contextmanager
def postgres_database(admin_url: str, template: str | None = None) -> Iterator[str | None]:
    """A new PostgreSQL database (a copy of `template`), dropped after; None if none can be."""
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"qi_bench_{uuid.uuid4().hex[:10]}"
    admin = make_url(admin_url)
    statement = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
    for _attempt in range(20):
        try:
            with psycopg.connect(admin_url, autocommit=True) as connection:
                connection.execute(statement)
            break
        except psycopg.errors.ObjectInUse:  # autovacuum visiting the template: wait for it
            time.sleep(0.5)
        except psycopg.Error as error:
            print(f"  PostgreSQL rows skipped: {str(error).strip()}")
            yield None
            return
    else:
        raise SystemExit(f"could not copy the database {template}: it stays in use")
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(frozen=True)
class Seeded:
    """The seeded databases each round starts from a copy of, and the projects in them."""

    sqlite_file: Path
    postgres_name: str | None
    projects: list[tuple[int, str]]


def seed_both(folder: Path, postgres_url: str | None) -> Seeded:
    """Seed the SQLite file and the PostgreSQL database at once (one mostly waits on the other)."""
    from sqlalchemy.engine import make_url

    sqlite_file = folder / "seed.db"
    urls = [f"sqlite:///{sqlite_file}"] + ([postgres_url] if postgres_url else [])
    with ThreadPoolExecutor(len(urls)) as pool:
        made = list(pool.map(seed, urls))
    assert all(projects == made[0] for projects in made), "the seeds differ"
    name = make_url(postgres_url).database if postgres_url else None
    return Seeded(sqlite_file, name, made[0])


def copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database, whatever its write-ahead log holds."""
    import sqlite3

    with (
        contextlib.closing(sqlite3.connect(source)) as src,
        contextlib.closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)


# --- servers ---------------------------------------------------------------------------------


@dataclass
class Server:
    """A server under test in its own process: where to send requests, and how to count."""

    name: str
    process: subprocess.Popen
    url: str
    log: Path
    database_url: str | None = None
    table: str | None = None  # where its sign-ups land


def stop_all(servers: list[Server], grace: float = 15.0) -> None:
    """SIGTERM to all (serve finishes its queued work), then SIGKILL to any still running."""
    for server in servers:
        if server.process.poll() is None:
            server.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for server in servers:
        try:
            server.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def qi_nudge() -> str:
    """The `qi-nudge` console command installed beside this Python."""
    path = Path(sys.executable).parent / "qi-nudge"
    if not path.exists():
        raise SystemExit(f"{path} is missing: run `make .venv/.installed` first")
    return str(path)


def base_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without any qi-nudge settings, plus `extra`."""
    skip = ("SLACK_", "TEAMS_", "DATABASE_URL", "NUDGE_", "QI_", "PORT", "HOST")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    return {**env, "LOG_LEVEL": "WARNING", **extra}


def run_cli(args: list[str], extra: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as folder:  # no .env from the working directory
        subprocess.run(
            [qi_nudge(), *args], env=base_env(extra), cwd=folder, check=True, capture_output=True
        )


def start_server(name: str, command: list[str], env: dict[str, str], folder: Path) -> Server:
    port = int(env["PORT"])
    log = folder / f"{name.replace(' ', '-')}.log"
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, cwd=folder, stdout=out, stderr=out)
    return Server(name, process, f"http://127.0.0.1:{port}/slack/events", log)


def start_qi_nudge(name: str, database_url: str, fake: FakeSlack, folder: Path) -> Server:
    """`qi-nudge serve`, configured as a deployment would be: by environment variables."""
    env = base_env(
        {
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": fake.base_url,
            "DATABASE_URL": database_url,
            "HOST": "127.0.0.1",
            "PORT": str(free_port()),
        }
    )
    server = start_server(name, [qi_nudge(), "serve"], env, folder)
    server.database_url, server.table = database_url, "memberships"
    return server


def start_reference(
    name: str, mode: str, database_url: str | None, fake: FakeSlack, folder: Path
) -> Server:
    port = free_port()
    command = [sys.executable, str(ROOT / "bench" / "slack_reference.py"), mode, f"--port={port}"]
    if database_url:
        command += [f"--database={database_url}", f"--slack-api={fake.base_url}"]
        command += [f"--projects={PROJECTS}"]
    env = base_env({"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET, "PORT": str(port)})
    server = start_server(name, command, env, folder)
    if database_url:
        server.database_url, server.table = database_url, "bench_ref_signups"
    return server


def wait_ready(servers: list[Server], timeout: float = 60.0) -> None:
    """Until each answers an (unsigned, so refused) request; fail with its log if it died."""
    deadline = time.monotonic() + timeout
    for server in servers:
        while True:
            if server.process.poll() is not None or time.monotonic() > deadline:
                tail = server.log.read_text()[-3000:]
                raise SystemExit(f"{server.name} did not start:\n{tail}")
            try:
                CLIENT.post(server.url, content=b"", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)


def cpu_seconds(pid: int) -> float:
    """CPU time a process has used so far (all its threads); 0 once it is gone."""
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    return 0.0


def wait_quiet(pids: list[int], fake: FakeSlack) -> float:
    """Until every process is idle and Slack hears nothing more (a backlog drained); seconds.

    Each process on its own: on a loaded machine a busy one may get little of a core.
    """
    started = time.monotonic()
    while time.monotonic() - started < QUIET_WAIT:
        before = [cpu_seconds(pid) for pid in pids], len(fake.calls)
        time.sleep(QUIET_FOR)
        after = [cpu_seconds(pid) for pid in pids], len(fake.calls)
        used = max(b - a for a, b in zip(before[0], after[0], strict=True))
        if used < QUIET_CPU * QUIET_FOR and before[1] == after[1]:
            break
    return time.monotonic() - started


def forget_traffic(fake: FakeSlack) -> None:
    """Drop what the fake recorded (uploaded charts add up to gigabytes over a bench)."""
    with fake._lock:
        for name in ("calls", "responses", "_uploads", "_messages", "_ephemerals"):
            recorded = getattr(fake, name, None)
            if isinstance(recorded, list | dict):
                recorded.clear()


def post(url: str, body: bytes) -> httpx.Response:
    """A signed request, answered."""
    return CLIENT.post(url, content=body, headers=slack_headers(body, SECRET), timeout=10)


def warm_up(servers: list[Server], fake: FakeSlack, requests: Requests) -> None:
    """Each user's first request (users.info, first contact), a chart drawn, pools filled."""
    qi = [s for s in servers if s.table == "memberships"]
    with ThreadPoolExecutor(8) as pool:
        for server in qi:
            bodies = [command("/qi-help", "", u, f"warm.{u}") for u in range(USERS)]
            answers = list(pool.map(lambda b, s=server: post(s.url, b), bodies))
            assert all(a.status_code == 200 for a in answers), f"{server.name}: warm-up refused"
    for server in servers:
        if server.table is None:
            continue
        for kind in ("projects", "stats"):
            body, _ = requests.make(kind, 1)[0]
            answer = post(server.url, body)
            # A kind refusal is a 200 too: it must not be what is measured.
            if answer.status_code != 200 or "Sorry" in answer.text:
                raise SystemExit(f"{server.name}: {kind} answered {answer.text[:300]}")
            if kind == "projects" and "Project 0000" not in answer.text:
                raise SystemExit(f"{server.name}: /qi-projects lists {answer.text[:300]}")
    posted = lambda: len(fake.calls_to("files.completeUploadExternal")) >= len(qi)  # noqa: E731
    if qi and not fake.wait_for(posted, timeout=60):
        raise SystemExit("/qi-stats posted no run chart: the seed has no weekly figures?")
    # Every pool and worker thread in use once, before anything is timed.
    for server in servers:
        run_wrk(server.url, requests.make("projects", 2_000), clients=20, seconds=1)


# --- measuring -------------------------------------------------------------------------------


@dataclass
class Measured:
    """One wrk run against one server, and what the bench checked around it."""

    result: WrkResult
    # Seconds the servers took to go idle after the run: work queued after the acks.
    backlog: float
    acted: int | None  # sign-ups recorded during the run (writes only)

    def figures(self) -> dict[str, Any]:
        r = self.result
        return {
            "median_ms": round(r.median_ms, 3),
            "p99_ms": round(r.p99_ms, 3),
            "rps": round(r.rps, 1),
            "requests": r.requests,
            "errors": r.errors,
            "repeated": r.repeated,
            "acted": self.acted,
            "backlog_s": round(self.backlog, 2),
        }


def measure(
    server: Server,
    requests: list[tuple[bytes, dict[str, str]]],
    clients: int,
    seconds: int,
    quiet: Callable[[list[int] | None], float],
    problems: list[str],
) -> Measured:
    quiet(None)  # every server idle: nothing left over from before counts against this run
    known = len(problems)
    first = requests[0][0]
    writes = server.table is not None and (b"qi-join" in first or b"join_as" in first)
    before = count_rows(server.database_url, server.table) if writes else 0
    result = run_wrk(server.url, requests, clients=clients, seconds=seconds)
    what = f"{server.name}, {clients} client{'s' if clients > 1 else ''}"
    if not result.requests and server.table != "memberships":
        raise SystemExit(f"{what} answered nothing:\n{server.log.read_text()[-3000:]}")
    if not result.requests:
        # Not one answer in the run: its latency is at least the run's length.
        problems.append(f"{what}: no answer at all in {seconds} s")
        slowest = seconds * 1000.0
        result = replace(result, median_ms=slowest, p99_ms=slowest)
    # Requests in flight when wrk stopped finish, and the work this server queued after acks.
    backlog = quiet([server.process.pid])
    acted = count_rows(server.database_url, server.table) - before if writes else None
    if result.errors:
        problems.append(f"{what}: {result.errors} requests failed (HTTP errors or timeouts)")
    if result.repeated and server.table == "memberships":  # a replay is answered, not run
        problems.append(f"{what}: {result.repeated} requests sent twice (raise the budget)")
    if acted is not None and not result.requests <= acted <= result.requests + clients:
        # Each answer is one sign-up; requests in flight when wrk stopped may add a few more.
        problems.append(f"{what}: {acted} sign-ups recorded for {result.requests} answers")
    if backlog >= QUIET_WAIT:
        problems.append(f"{what}: still busy {QUIET_WAIT:.0f} s after the run")
    if len(problems) > known:
        # What the server said about it (its log goes with its temporary folder).
        tail = server.log.read_text().strip().splitlines()[-8:]
        print("\n".join(f"    | {line}" for line in [*problems[known:], *tail]), flush=True)
    return Measured(result, backlog, acted)


def run_round(
    round_no: int,
    args: argparse.Namespace,
    fake: FakeSlack,
    seeded: Seeded,
    pg_url: str | None,
    results: dict[str, list],
) -> None:
    """Fresh copies of the databases and fresh servers; every row against every server."""
    problems: list[str] = results.setdefault("problems", [])
    with tempfile.TemporaryDirectory(prefix="qi-bench-") as folder_name:
        folder = Path(folder_name)
        started = time.monotonic()
        copy_sqlite(seeded.sqlite_file, folder / "qi.db")
        urls = {"SQLite": f"sqlite:///{folder}/qi.db"}
        if pg_url:
            urls["PostgreSQL"] = pg_url
        ref_urls = {"SQLite": f"sqlite:///{folder}/reference.db", "PostgreSQL": pg_url}
        servers: dict[tuple[str, str], Server] = {}
        try:
            servers["verify", ""] = start_reference("verify-only", "verify", None, fake, folder)
            for db, url in urls.items():
                servers["reference", db] = start_reference(
                    f"bare Bolt, {db}", "bolt", ref_urls[db], fake, folder
                )
                servers["qi-nudge", db] = start_qi_nudge(f"qi-nudge, {db}", url, fake, folder)
            wait_ready(list(servers.values()))
            ready = time.monotonic()
            requests = Requests(fake, seeded.projects, round_no)
            warm_up(list(servers.values()), fake, requests)
            print(
                f"  (servers started in {ready - started:.0f} s, "
                f"warmed up in {time.monotonic() - ready:.0f} s)",
                flush=True,
            )
            pids = [s.process.pid for s in servers.values()] + [os.getpid()]

            def quiet(some: list[int] | None) -> float:
                return wait_quiet(some or pids, fake)

            for row in rows_chosen(args):
                count = REQUESTS_PER_SECOND[row.clients] * args.seconds
                batch = requests.make(row.kind, count)
                order = [(who, db) for db in urls for who in ("reference", "qi-nudge")]
                if row.kind == "join":
                    order.append(("verify", ""))
                if round_no % 2:
                    order.reverse()
                line = []
                for key in order:
                    server = servers[key]
                    measured = measure(server, batch, row.clients, args.seconds, quiet, problems)
                    forget_traffic(fake)
                    results.setdefault(f"{row.key}|{key[0]}|{key[1]}", []).append(measured)
                    r = measured.result
                    after = (
                        f" (busy {measured.backlog:.0f} s after)" if measured.backlog > 2 else ""
                    )
                    line.append(f"{server.name} {r.median_ms:.2f} ms {r.rps:,.0f}/s{after}")
                print(f"  {row.label} x{row.clients}: " + "; ".join(line), flush=True)
        finally:
            stop_all(list(servers.values()))


def rows_chosen(args: argparse.Namespace) -> list[Row]:
    """The rows to measure: all, or those of the kinds given with --only."""
    kinds = set(args.only.split(",")) if args.only else {row.kind for row in ROWS}
    return [row for row in ROWS if row.kind in kinds]


# --- report ----------------------------------------------------------------------------------


def median_of(runs: list[Measured]) -> dict[str, Any]:
    rounds = [m.figures() for m in runs]
    return {
        "median_ms": round(statistics.median(r["median_ms"] for r in rounds), 3),
        "rps": round(statistics.median(r["rps"] for r in rounds), 1),
        "rounds": rounds,
    }


def report(results: dict[str, list], args: argparse.Namespace, setup: dict[str, Any]) -> dict:
    """The table, printed; and everything as one JSON-ready dict."""
    rows = []
    print("\nMedians of rounds; ratio = qi-nudge / bare Bolt (1 client: latency; 20: throughput)")
    print(
        f"  {'request':18s} {'clients':>7s} {'DB':10s} {'bare Bolt':>16s} {'qi-nudge':>16s}  "
        f"{'ratio':>6s}  aim      verify-only"
    )
    for row in ROWS:
        verify_runs = results.get(f"join@{row.clients}|verify|")
        verify = median_of(verify_runs) if verify_runs else None
        for db in DATABASES:
            ref_runs = results.get(f"{row.key}|reference|{db}")
            qi_runs = results.get(f"{row.key}|qi-nudge|{db}")
            if not ref_runs or not qi_runs:
                continue
            ref, qi = median_of(ref_runs), median_of(qi_runs)
            if row.clients == 1:
                ratio = qi["median_ms"] / ref["median_ms"]
                passed, aim = ratio <= row.aim, f"<={row.aim:.0f}x"
                shown = (f"{ref['median_ms']:.2f} ms", f"{qi['median_ms']:.2f} ms")
                against = verify and qi["median_ms"] / verify["median_ms"]
                verify_text = verify and f"{verify['median_ms']:.2f} ms ({against:.1f}x)"
            else:
                ratio = qi["rps"] / ref["rps"]
                passed, aim = ratio >= 1 / row.aim, f">={1 / row.aim:.2f}x"
                shown = (f"{ref['rps']:,.0f} req/s", f"{qi['rps']:,.0f} req/s")
                against = verify and qi["rps"] / verify["rps"]
                verify_text = verify and f"{verify['rps']:,.0f} req/s ({against:.2f}x)"
            verdict = "PASS" if passed else "MISS"
            print(
                f"  {row.label:18s} {row.clients:7d} {db:10s} {shown[0]:>16s} {shown[1]:>16s}  "
                f"{ratio:5.2f}x  {aim:7s} {verdict}  {verify_text or ''}"
            )
            rows.append(
                {
                    "request": row.label,
                    "kind": row.kind,
                    "clients": row.clients,
                    "database": db,
                    "metric": "median latency" if row.clients == 1 else "throughput",
                    "reference": ref,
                    "qi_nudge": qi,
                    "verify_only": verify,
                    "ratio": round(ratio, 3),
                    "aim": aim,
                    "pass": passed,
                }
            )
    problems = results.get("problems", [])
    if problems:
        print("\nProblems (figures above include them):")
        for problem in problems:
            print(f"  {problem}")
    return {**setup, "rows": rows, "problems": problems}


def describe_machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "system": platform.platform(),
        "python": platform.python_version(),
        "commit": commit,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--seconds", type=int, default=3, help="length of each wrk run")
    parser.add_argument("--quick", action="store_true", help="one round of 2-second runs")
    parser.add_argument("--json", metavar="FILE", help="write every figure here as JSON")
    parser.add_argument("--postgres", default=POSTGRES_URL, help="where to create databases")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite rows only")
    parser.add_argument(
        "--only", metavar="KINDS", help="some kinds only, e.g. join,button (projects, stats)"
    )
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds = 1, 2
    load = wrk_version()
    setup = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": describe_machine(),
        "load": {
            "tool": load,
            "seconds": args.seconds,
            "threads": {str(c): threads_for(c) for c in sorted({r.clients for r in ROWS})},
        },
        "rounds": args.rounds,
        "seed": {"users": USERS, "projects": PROJECTS, "weeks": WEEKS},
    }
    machine = setup["machine"]
    print(
        f"{setup['date']}, {machine['cores']} cores ({machine['cpu']}), commit {machine['commit']}"
        f"\nLoad: {load}, {args.seconds} s per run, threads = min(clients, cores); "
        f"{args.rounds} interleaved round(s), one uvicorn worker per server"
    )
    results: dict[str, list] = {}
    fake = FakeSlack().start()
    try:
        fake.add_token(TOKEN)  # the fake knows only the tokens it was given
        fake.add_channel(CHANNEL, "qi-bench", bot_member=True)
        for i in range(USERS):
            fake.add_user(f"U{i}", f"User {i}")
        # The databases are dropped at the very end: DROP DATABASE waits for a checkpoint,
        # which on a busy server takes long, and once is enough.
        with contextlib.ExitStack() as databases:
            folder = databases.enter_context(tempfile.TemporaryDirectory(prefix="qi-bench-"))
            postgres_url = None
            if not args.no_postgres:
                postgres_url = databases.enter_context(postgres_database(args.postgres))
            started = time.monotonic()
            seeded = seed_both(Path(folder), postgres_url)
            print(f"Seeded in {time.monotonic() - started:.0f} s", flush=True)
            for round_no in range(args.rounds):
                print(f"Round {round_no + 1} of {args.rounds}", flush=True)
                round_url = None
                if seeded.postgres_name:
                    round_url = databases.enter_context(
                        postgres_database(args.postgres, seeded.postgres_name)
                    )
                run_round(round_no, args, fake, seeded, round_url, results)
            print("Dropping the bench's databases", flush=True)
    finally:
        fake.close()
    summary = report(results, args, setup)
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
        print(f"\nFigures written to {args.json}")


if __name__ == "__main__":
    main()
