"""Teams answer latency and throughput: the real `qi-nudge serve` against the SDK's own floor.

The floor is the Teams SDK (microsoft-teams-apps) with a message handler that does nothing,
hosted as the SDK's own FastAPI adapter hosts it but on bare Starlette (parse the JSON, call the
SDK's route, answer), one uvicorn worker: it checks the Bot Framework token, parses the activity
and runs the SDK's turn, the least any bot on this SDK does. None of qi-nudge's code is in it.

Ours is the real CLI, `python -m bot.cli serve`, with Teams configured against the fake Bot
Connector and fake token issuer of tests/fakes (in this process), on SQLite and on PostgreSQL.
Each request is a "qi-join Bench project <p> as carer" from a known person (everyone wrote
once before the clock starts: no first-contact lookups), a new membership every time; the bot
writes it and posts the answer card to the fake Connector before Teams gets its 200 (as the
SDK's `ctx.send` does). Every activity has its own id: the bot refuses a replayed one.

Like Teams, one Bot Framework token signs every activity (Teams reuses a token for about an
hour). Load comes from wrk when installed (a Lua script feeds pre-built, distinct activities,
one slice per wrk thread), else from Python threads (whose own CPU caps the floor; ratios are
only comparable between runs with the same load). Medians of interleaved rounds (floor, SQLite,
PostgreSQL, floor, ...): the machine may be shared.

Run: `.venv/bin/python bench/teams_ack.py [--quick] [--rounds 3] [--load auto|wrk|python]
[--no-postgres] [--json FILE]`. Prints each run, the medians, and the ratios against the aim
(median at 1 client within 2.5x the floor's), PASS or MISS; throughput at 20 clients is shown
as a ratio too, and so is the server's CPU time per request at 1 client (read from /proc), which
a crowded machine sways far less than wall-clock time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.teams_connector import FakeTeams  # noqa: E402
from tests.fakes.teams_signing import APP_ID, APP_PASSWORD, TENANT_ID, TeamsUser  # noqa: E402

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
AIM = 2.5  # median at 1 client within this many times the floor's
PEOPLE = 200
PROJECTS = 150  # PEOPLE * PROJECTS distinct sign-ups in all

# The floor: the SDK and a handler that does nothing, on bare Starlette under one uvicorn.
FLOOR = r"""
import asyncio, os, socket, sys
import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from microsoft_teams.api.auth.cloud_environment import PUBLIC, with_overrides
from microsoft_teams.apps import App

class Routes:
    # What the SDK's FastAPIAdapter does, on Starlette (as qi-nudge hosts the SDK).
    def __init__(self):
        self.routes = []
    def register_route(self, method, path, handler):
        async def endpoint(request):
            result = await handler({"body": await request.json(), "headers": dict(request.headers)})
            body = result.get("body")
            if body is None:
                return Response(status_code=result["status"])
            return JSONResponse(body, status_code=result["status"])
        self.routes.append(Route(path, endpoint, methods=[method]))
    def serve_static(self, path, directory):
        raise NotImplementedError
    async def start(self, port):
        raise NotImplementedError
    async def stop(self):
        pass

routes = Routes()
app = App(
    client_id=os.environ["TEAMS_APP_ID"],
    tenant_id=os.environ["TEAMS_TENANT_ID"],
    client_secret=os.environ["TEAMS_APP_PASSWORD"],  # never used: a no-op sends nothing
    cloud=with_overrides(PUBLIC, openid_metadata_url=os.environ["TEAMS_OPENID_METADATA_URL"]),
    http_server_adapter=routes,
)

@app.on_message
async def nothing(ctx):
    return None

asyncio.run(app.initialize())
sock = socket.socket(); sock.bind(("127.0.0.1", int(os.environ["PORT"])))
uvicorn.run(Starlette(routes=routes.routes), fd=sock.fileno(), log_level="warning",
            access_log=False)
"""

# wrk: each thread cycles through its own slice of the pre-built activities (one per line),
# all with the same token; done() reports JSON on the last line.
WRK_SCRIPT = r"""
local threads_made = 0
function setup(thread)
  thread:set("tid", threads_made)
  threads_made = threads_made + 1
end
local requests = {}
local next_one = 0
function init(args)
  local lines = {}
  for line in io.lines(args[1]) do lines[#lines + 1] = line end
  local per = math.floor(#lines / tonumber(args[2]))
  local headers = {["Content-Type"] = "application/json", ["Authorization"] = args[3]}
  for k = tid * per + 1, (tid + 1) * per do
    requests[#requests + 1] = wrk.format("POST", nil, headers, lines[k])
  end
end
function request()
  next_one = next_one % #requests + 1
  return requests[next_one]
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %f, "median_us": %d, "p99_us": %d, "errors": %d, ' ..
    '"timeouts": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status, e.timeout))
end
"""


def people() -> list[TeamsUser]:
    return [
        TeamsUser(
            user_id=f"29:bench-user-{i}",
            name=f"Bench Person {i}",
            aad_object_id=f"00000000-0000-4000-9000-{i:012d}",
            email=f"bench.{i}@nhs.net",
        )
        for i in range(PEOPLE)
    ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(mode: str, fake: FakeTeams, database_url: str, folder: str) -> subprocess.Popen[bytes]:
    """The floor, or the real `qi-nudge serve`, on a free port; returns once it answers."""
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "TEAMS_", "CLIENT_", "TENANT_", "NUDGE_", "DELIVERY_"))
        and k not in ("DATABASE_URL", "HOST", "PORT", "LOG_LEVEL")
    }
    env.update(
        DATABASE_URL=database_url,
        HOST="127.0.0.1",
        PORT=str(port),
        TEAMS_APP_ID=APP_ID,
        TEAMS_APP_PASSWORD=APP_PASSWORD,
        TEAMS_TENANT_ID=TENANT_ID,
        TEAMS_LOGIN_URL=fake.login_url,
        TEAMS_OPENID_METADATA_URL=fake.openid_metadata_url,
        TEAMS_SERVICE_URL=fake.service_url,
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    if mode == "floor":
        command = [sys.executable, "-c", FLOOR]
    else:
        command = [sys.executable, "-m", "bot.cli", "serve"]
    log = open(Path(folder, f"{mode}-{port}.log"), "wb")  # noqa: SIM115 (kept for the process)
    process = subprocess.Popen(command, env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT)
    process.bench_url = f"http://127.0.0.1:{port}/api/messages"  # type: ignore[attr-defined]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{mode} exited:\n{Path(log.name).read_text()}")
        try:
            httpx.post(process.bench_url, json={}, timeout=1)  # type: ignore[attr-defined]
            return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"{mode} did not start:\n{Path(log.name).read_text()}")


def cpu_seconds(process: subprocess.Popen[bytes]) -> float:
    """CPU time the server has used so far, all threads (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def seed(database_url: str) -> None:
    """Migrate and add the projects people join."""
    from bot.runtime.settings import load_settings
    from bot.runtime.startup import build_context, open_database
    from store.projects import create_project
    from store.roles import ProjectStatus

    settings = load_settings({"DATABASE_URL": database_url}, env_file=None)
    engine = open_database(settings)
    ctx = build_context(settings, engine)
    with ctx.sessions.begin() as session:
        for p in range(PROJECTS):
            create_project(
                session,
                name=f"Bench project {p}",
                site=None,
                status=ProjectStatus.ACTIVE,
                lead_id=None,
                now=ctx.now(),
            )
    engine.dispose()


def joins(fake: FakeTeams, users: list[TeamsUser], first: int, count: int) -> list[str]:
    """`count` sign-ups as activity JSON lines, each a new (person, project), each its own id."""
    assert first + count <= PEOPLE * PROJECTS, "not enough distinct sign-ups"
    lines = []
    for i in range(first, first + count):
        user, project = users[i % PEOPLE], i // PEOPLE
        text = f"qi-join Bench project {project} as carer"
        lines.append(json.dumps(fake.activity("personal", text, user=user)))
    return lines


def run_wrk(url: str, bodies: list[str], token: str, clients: int, seconds: float) -> dict:
    """wrk feeding `bodies` (split between its threads) for `seconds`."""
    threads = min(clients, os.cpu_count() or 1)
    with tempfile.TemporaryDirectory() as folder:
        script, lines = Path(folder, "load.lua"), Path(folder, "activities.jsonl")
        script.write_text(WRK_SCRIPT)
        lines.write_text("\n".join(bodies) + "\n")
        # A long timeout: on a crowded machine a slow answer is a slow answer, not a failure.
        load = [f"-t{threads}", f"-c{clients}", f"-d{max(1, round(seconds))}s", "--timeout", "30s"]
        done = subprocess.run(
            ["wrk", *load, "-s", str(script), url, "--", str(lines), str(threads), token],
            capture_output=True,
            text=True,
            check=True,
        )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["errors"] == 0, f"{report['errors']} requests failed:\n{done.stdout}"
    if report["timeouts"]:
        print(f"    ({report['timeouts']} requests got no answer within 30 s)")
    return {
        "median_ms": report["median_us"] / 1000,
        "p99_ms": report["p99_us"] / 1000,
        "rps": report["requests"] / report["seconds"],
        "requests": report["requests"],
    }


def run_python(url: str, bodies: list[str], token: str, clients: int, seconds: float) -> dict:
    """Python threads posting `bodies` in turn for up to `seconds`."""
    headers = {"Content-Type": "application/json", "Authorization": token}
    latencies: list[float] = []
    lock = threading.Lock()
    local = threading.local()
    ends = time.perf_counter() + seconds

    def one(body: str) -> None:
        if time.perf_counter() > ends:
            return
        client = getattr(local, "client", None) or httpx.Client(timeout=30)
        local.client = client
        started = time.perf_counter()
        answer = client.post(url, content=body, headers=headers)
        elapsed = (time.perf_counter() - started) * 1000
        assert answer.status_code == 200, answer.text
        with lock:
            latencies.append(elapsed)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, bodies))
    took = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "median_ms": statistics.median(ordered),
        "p99_ms": ordered[max(0, int(len(ordered) * 0.99) - 1)],
        "rps": len(ordered) / took,
        "requests": len(ordered),
    }


def measure(label: str, mode: str, database_url: str, load: str, seconds: float) -> dict:
    """One server: warm up, then 1 client and 20 clients; what the fake Connector received."""
    users = people()
    # Enough distinct activities that no run wraps round to ids already used (a replay is
    # answered without acting, which would flatter the result).
    one_count, many_count = 1500 * round(seconds), 4000 * round(seconds)
    with FakeTeams() as fake, tempfile.TemporaryDirectory() as folder:
        for user in users:
            fake.add_user(user)
        token = fake.headers()["Authorization"]
        process = start(mode, fake, database_url, folder)
        url = process.bench_url  # type: ignore[attr-defined]
        try:
            # Everyone has used the bot once (a project of their own, as the Slack bench does):
            # the measured requests are a regular person's, with no first contact.
            with httpx.Client(timeout=30) as client:
                for number, user in enumerate(users):
                    words = f'qi-project new "Warm-up {number}"'
                    hello = fake.activity("personal", words, user=user)
                    answer = client.post(url, json=hello, headers={"Authorization": token})
                    assert answer.status_code == 200, answer.text
            sent_before = len(fake.calls)
            runner = run_wrk if load == "wrk" else run_python
            bodies = joins(fake, users, 0, one_count)
            used = cpu_seconds(process)
            one = runner(url, bodies, token, 1, seconds)
            used = cpu_seconds(process) - used
            bodies = joins(fake, users, one_count, many_count)
            many = runner(url, bodies, token, 20, seconds)
            posted = len(fake.calls) - sent_before
        finally:
            stop(process)
    wrapped = one["requests"] > one_count or many["requests"] > many_count
    result = {
        "median_ms": one["median_ms"],
        "p99_ms": one["p99_ms"],
        "rps": many["rps"],
        "median_20_ms": many["median_ms"],
        "requests": one["requests"] + many["requests"],
        "connector_calls": posted,
        # Server CPU per request at 1 client: less swayed by other load than wall-clock time.
        "cpu_ms": 1000 * used / max(1, one["requests"]),
    }
    note = "  (RAN OUT of distinct activities)" if wrapped else ""
    calls = "" if mode == "floor" else f" | Connector posts {posted}/{result['requests']}"
    print(
        f"  {label:24s} 1 client: median {one['median_ms']:6.2f} ms (p99 {one['p99_ms']:6.2f})"
        f", CPU {result['cpu_ms']:5.2f} ms/req"
        f" | 20 clients: {many['rps']:6.0f} req/s, median {many['median_ms']:6.1f} ms"
        f"{calls}{note}",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round of 2 s runs")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0, help="per run")
    parser.add_argument("--load", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON here")
    args = parser.parse_args()
    rounds, seconds = (1, 2.0) if args.quick else (args.rounds, args.seconds)
    load = args.load
    if load == "auto":
        load = "wrk" if shutil.which("wrk") else "python"
    print(
        f"Teams 'qi-join <project> as carer', one uvicorn worker, {os.cpu_count()} cores, "
        f"load from {load}, {rounds} interleaved round(s) of {seconds:g} s runs"
    )
    if load == "python":
        print("  (Python load: its own CPU caps the floor; install wrk for a truer floor)")

    from sqlalchemy import text

    from store.engine import make_engine

    runs: dict[str, list[dict]] = {"floor": [], "SQLite": []}
    admin = None
    if not args.no_postgres:
        runs["PostgreSQL"] = []
        admin = make_engine(POSTGRES_URL)
    for number in range(rounds):
        print(f"round {number + 1}")
        with tempfile.TemporaryDirectory() as folder:
            floor_url = f"sqlite:///{folder}/floor.db"  # unused by the floor; settings want one
            runs["floor"].append(measure("floor (SDK, no-op)", "floor", floor_url, load, seconds))
            sqlite_url = f"sqlite:///{folder}/qi.db"
            seed(sqlite_url)
            runs["SQLite"].append(
                measure("qi-nudge serve, SQLite", "serve", sqlite_url, load, seconds)
            )
        if admin is not None:
            schema = f"bench_teams_{uuid.uuid4().hex[:8]}"
            try:
                with admin.begin() as connection:
                    connection.execute(text(f'CREATE SCHEMA "{schema}"'))
                pg_url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
                seed(pg_url)
                runs["PostgreSQL"].append(
                    measure("qi-nudge serve, PostgreSQL", "serve", pg_url, load, seconds)
                )
            finally:
                with admin.begin() as connection:
                    connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    summary = {
        name: {key: statistics.median(r[key] for r in results) for key in results[0]}
        for name, results in runs.items()
        if results
    }
    floor = summary["floor"]
    print(
        f"\nMedians of rounds: floor {floor['median_ms']:.2f} ms at 1 client, "
        f"{floor['rps']:.0f} req/s at 20 clients, {floor['cpu_ms']:.2f} ms of CPU per request"
    )
    print(f"Aim: median at 1 client within {AIM}x the floor's (throughput shown against it too)")
    verdicts: dict[str, Any] = {}
    for name, result in summary.items():
        if name == "floor":
            continue
        ratio = result["median_ms"] / floor["median_ms"]
        share = result["rps"] / floor["rps"]
        verdict = "PASS" if ratio <= AIM else "MISS"
        verdicts[name] = {
            "median_ratio": ratio,
            "throughput_ratio": share,
            "cpu_ratio": result["cpu_ms"] / floor["cpu_ms"],
            "verdict": verdict,
        }
        print(
            f"  {name:11s} {result['median_ms']:5.2f} ms = {ratio:4.2f}x (aim {AIM}x) {verdict};"
            f"  {result['rps']:5.0f} req/s = {share:4.2f}x the floor's throughput;"
            f"  CPU {result['cpu_ms'] / floor['cpu_ms']:4.2f}x the floor's"
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "load": load,
                    "rounds": rounds,
                    "seconds": seconds,
                    "cores": os.cpu_count(),
                    "aim": AIM,
                    "runs": runs,
                    "medians": summary,
                    "ratios": verdicts,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
