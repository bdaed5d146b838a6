"""Slack ack latency and throughput: qi-nudge serve against the floor, side by side.

The floor is an endpoint that only verifies Slack's signature and answers. Ours is the app
`qi-nudge serve` hosts, writing a real sign-up per request (a /qi-join by a known user to a
project they are not on yet) on SQLite and on PostgreSQL. A second floor shows what PostgreSQL
costs by itself: verify, then one INSERT in its own transaction over a raw psycopg connection.
Each server runs in its own process under one uvicorn worker.

The load comes from wrk when it is installed (Debian: `apt-get install wrk`), else from Python
threads in this process. The choice moves the floor a lot: the Python client spends about
1 ms of CPU per request on the same two cores, so it caps the floor near 1,000 req/s, where wrk
lets it reach 15,000. Ratios are only comparable between runs made with the same load.

Run: `.venv/bin/python bench/slack_ack.py [--load auto|wrk|python] [--rounds 3]`. Prints
medians, throughput and the ratios the issue sets targets for (median at 1 client within 3x
the floor; throughput at 20 clients at least half the floor's), against both floors.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import httpx

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-signing-secret"
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
USERS = 200
PROJECTS = 400
# Distinct sign-ups handed to wrk: more than any server here answers in the time given.
WRK_ONE_CLIENT = 10_000
WRK_MANY = 30_000

SERVER = r"""
import os, sys, socket, threading
sys.path.insert(0, os.environ["QI_ROOT"])
import uvicorn
mode = sys.argv[1]
sock = socket.socket(); sock.bind(("127.0.0.1", 0)); port = sock.getsockname()[1]
if mode == "floor":
    from slack_sdk.signature import SignatureVerifier
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route
    verifier = SignatureVerifier(os.environ["SLACK_SIGNING_SECRET"])
    async def events(request):
        body = await request.body()
        if not verifier.is_valid_request(body, dict(request.headers)):
            return Response(status_code=401)
        return Response('{"text": "ok"}', media_type="application/json")
    app = Starlette(routes=[Route("/slack/events", events, methods=["POST"])])
elif mode == "pg-floor":
    # The least any bot can do on PostgreSQL: verify, then one INSERT in its own transaction
    # over a raw psycopg connection per thread (no ORM, no pool), answered from a worker thread.
    import anyio, psycopg
    from slack_sdk.signature import SignatureVerifier
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route
    verifier = SignatureVerifier(os.environ["SLACK_SIGNING_SECRET"])
    dsn = os.environ["DATABASE_URL"]
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("CREATE TABLE IF NOT EXISTS floor_signups (id serial primary key, body text)")
    local = threading.local()
    limiter = anyio.CapacityLimiter(8)
    def write(body):
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = psycopg.connect(dsn)
        with conn.transaction():
            conn.execute("INSERT INTO floor_signups (body) VALUES (%s)", (body[:40],))
    async def events(request):
        body = await request.body()
        if not verifier.is_valid_request(body, dict(request.headers)):
            return Response(status_code=401)
        await anyio.to_thread.run_sync(write, body.decode(), limiter=limiter)
        return Response('{"text": "ok"}', media_type="application/json")
    app = Starlette(routes=[Route("/slack/events", events, methods=["POST"])])
else:
    from tests.fakes import FakeSlack
    fake = FakeSlack().start()
    fake.add_token(os.environ["SLACK_BOT_TOKEN"])  # the fake knows only tokens it was given
    for i in range(int(os.environ["BENCH_USERS"])):
        fake.add_user(f"U{i}", f"User {i}")
    os.environ["SLACK_API_URL"] = fake.base_url
    from bot.settings import load_settings
    from bot.runtime import build_context, open_database
    from bot.serve import build_service
    settings = load_settings(env_file=None)
    engine = open_database(settings)
    from sqlalchemy import insert
    from store.models import Project
    from store.names import name_key
    from datetime import datetime, UTC
    now = datetime.now(UTC)
    with engine.begin() as c:
        c.execute(insert(Project), [{"name": f"Project {i}", "name_key": name_key(f"Project {i}"),
            "site": None, "status": "active", "lead_person_id": None, "created_at": now,
            "updated_at": now} for i in range(int(os.environ["BENCH_PROJECTS"]))])
    app = build_service(settings, engine, build_context(settings, engine)).asgi
print(port, flush=True)
sock.close()
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
"""


def signed(body: bytes) -> dict[str, str]:
    ts = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": "v0=" + digest.hexdigest(),
        "Content-Type": "application/x-www-form-urlencoded",
    }


def join_body(i: int) -> bytes:
    user, project = i % USERS, i // USERS  # a new membership every time
    return urlencode(
        {
            "command": "/qi-join",
            "text": f"Project {project} as carer",
            "user_id": f"U{user}",
            "user_name": f"user{user}",
            "team_id": "T0001",
            "channel_id": "C1",
            "response_url": "http://127.0.0.1:9/none",
            "trigger_id": "t",
        }
    ).encode()


def start(mode: str, database_url: str | None) -> tuple[subprocess.Popen, str]:
    env = {
        **os.environ,
        "QI_ROOT": str(ROOT),
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_BOT_TOKEN": "xoxb-bench",
        "LOG_LEVEL": "WARNING",
        "BENCH_USERS": str(USERS),
        "BENCH_PROJECTS": str(PROJECTS),
    }
    if database_url:
        env["DATABASE_URL"] = database_url
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, mode], env=env, stdout=subprocess.PIPE, cwd=ROOT, text=True
    )
    port = proc.stdout.readline().strip()
    url = f"http://127.0.0.1:{port}/slack/events"
    for _ in range(200):
        try:
            httpx.post(url, content=b"", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.05)
    return proc, url


def run_python(url: str, clients: int, requests: int, offset: int) -> tuple[float, float]:
    """(median ms, requests/s) from Python threads sending `requests` requests."""
    latencies: list[float] = []
    lock = threading.Lock()
    local = threading.local()

    def one(i: int) -> None:
        client = getattr(local, "client", None) or httpx.Client(timeout=10)
        local.client = client
        body = join_body(offset + i)
        started = time.perf_counter()
        response = client.post(url, content=body, headers=signed(body))
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, response.text
        with lock:
            latencies.append(elapsed)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(requests)))
    return statistics.median(latencies), requests / (time.perf_counter() - started)


# wrk's script: each thread reads its own slice of the pre-signed requests (so no sign-up is
# sent twice unless a run outlasts its slice) and cycles through it; done() reports as JSON.
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
  for k = tid * per + 1, (tid + 1) * per do
    local body, ts, sig = lines[k]:match("([^\t]*)\t([^\t]*)\t([^\t]*)")
    requests[#requests + 1] = wrk.format("POST", nil, {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["X-Slack-Request-Timestamp"] = ts,
      ["X-Slack-Signature"] = sig,
    }, body)
  end
end
function request()
  next_one = next_one % #requests + 1
  return requests[next_one]
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %f, "median_us": %d, "errors": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def run_wrk(url: str, clients: int, seconds: int, offset: int, count: int) -> tuple[float, float]:
    """(median ms, requests/s) from wrk sending pre-signed requests for `seconds`."""
    threads = min(clients, os.cpu_count() or 1)
    with tempfile.TemporaryDirectory() as folder:
        script, bodies = Path(folder, "load.lua"), Path(folder, "requests.tsv")
        script.write_text(WRK_SCRIPT)
        with bodies.open("w") as out:  # signed now: Slack's window is five minutes
            for i in range(offset, offset + count):
                body = join_body(i)
                headers = signed(body)
                ts, sig = headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
                out.write(f"{body.decode()}\t{ts}\t{sig}\n")
        result = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{clients}",
                f"-d{seconds}s",
                "-s",
                str(script),
                url,
                "--",
                str(bodies),
                str(threads),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["errors"] == 0, f"{report['errors']} requests failed: {result.stdout}"
    return report["median_us"] / 1000, report["requests"] / report["seconds"]


def measure(
    label: str, mode: str, database_url: str | None, requests: int, load: str
) -> dict[str, float]:
    proc, url = start(mode, database_url)
    try:
        # Warm up with a command that records each person (users.info, first contact), so the
        # measured requests are what a regular user sends.
        for i in range(USERS):
            body = urlencode(
                {
                    "command": "/qi-project",
                    "text": f'new "Warm-up {i}"',
                    "user_id": f"U{i}",
                    "user_name": f"u{i}",
                    "team_id": "T0001",
                    "channel_id": "C1",
                    "response_url": "http://127.0.0.1:9/none",
                    "trigger_id": "t",
                }
            ).encode()
            httpx.post(url, content=body, headers=signed(body), timeout=10)
        if load == "wrk":
            one_median, _ = run_wrk(url, 1, seconds=4, offset=0, count=WRK_ONE_CLIENT)
            _, throughput = run_wrk(url, 20, seconds=5, offset=WRK_ONE_CLIENT, count=WRK_MANY)
        else:
            one_median, _ = run_python(url, 1, requests // 3, offset=0)
            _, throughput = run_python(url, 20, requests, offset=requests)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    line = f"  {label:28s} 1 client: median {one_median:6.2f} ms"
    print(f"{line}    20 clients: {throughput:7.0f} req/s")
    return {"median": one_median, "rps": throughput}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--load", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--requests", type=int, default=900, help="per phase, Python load only")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    assert args.requests * 2 < USERS * PROJECTS, "not enough distinct sign-ups"
    assert WRK_ONE_CLIENT + WRK_MANY <= USERS * PROJECTS, "not enough distinct sign-ups"
    load = args.load
    if load == "auto":
        load = "wrk" if shutil.which("wrk") else "python"
    print(
        f"Signed /qi-join requests, one uvicorn worker, {os.cpu_count()} cores, load from "
        f"{load}, {args.rounds} interleaved rounds (shared machines are noisy: medians of rounds)"
    )
    if load == "python":
        print("  (Python load: its own CPU caps the floor; install wrk for a truer floor)")
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import text

    from store.engine import make_engine

    admin = make_engine(POSTGRES_URL)
    runs: dict[str, list[dict[str, float]]] = {
        "floor": [],
        "SQLite": [],
        "PostgreSQL": [],
        "PG floor": [],
    }
    for _ in range(args.rounds):
        runs["floor"].append(
            measure("floor (verify and answer)", "floor", None, args.requests, load)
        )
        with tempfile.TemporaryDirectory() as folder:
            sqlite_url = f"sqlite:///{folder}/b.db"
            runs["SQLite"].append(
                measure("qi-nudge, SQLite", "qi", sqlite_url, args.requests, load)
            )
        schema = f"qi_bench_{uuid.uuid4().hex[:8]}"
        try:
            with admin.begin() as connection:
                connection.execute(text(f'CREATE SCHEMA "{schema}"'))
            url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
            runs["PostgreSQL"].append(
                measure("qi-nudge, PostgreSQL", "qi", url, args.requests, load)
            )
            runs["PG floor"].append(
                measure("verify + 1 INSERT, PostgreSQL", "pg-floor", url, args.requests, load)
            )
        except Exception as error:  # the bench reports what it could measure
            print(f"  PostgreSQL skipped: {error}")
        finally:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    summary = {
        name: {key: statistics.median(r[key] for r in results) for key in ("median", "rps")}
        for name, results in runs.items()
        if results
    }
    floor = summary.pop("floor")
    print(f"\nMedians of rounds: floor {floor['median']:.2f} ms, {floor['rps']:.0f} req/s")
    print("Ratios (targets: median <= 3.0x floor; throughput >= 0.5x floor)")
    for name, result in summary.items():
        print(f"  {name:11s} {ratios(result, floor)} floor")
    if "PostgreSQL" in summary and "PG floor" in summary:
        # What the bot adds on PostgreSQL, beyond what any bot's one write there costs.
        print(f"  PostgreSQL  {ratios(summary['PostgreSQL'], summary['PG floor'])} PG floor")


def ratios(result: dict[str, float], floor: dict[str, float]) -> str:
    """ "4.20 ms = 3.1x;  300 req/s = 0.45x" against the given floor."""
    return (
        f"{result['median']:5.2f} ms = {result['median'] / floor['median']:4.1f}x;  "
        f"{result['rps']:5.0f} req/s = {result['rps'] / floor['rps']:4.2f}x"
    )


if __name__ == "__main__":
    main()
