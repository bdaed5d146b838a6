"""Slack ack latency and throughput: qi-nudge serve against the floor, side by side.

The floor is an endpoint that only verifies Slack's signature and answers. Ours is the app
`qi-nudge serve` hosts, writing a real sign-up per request (a /qi-join by a known user to a
project they are not on yet) on SQLite and on PostgreSQL. Each server runs in its own process
under one uvicorn worker; the load comes from this process over loopback.

Run: `.venv/bin/python bench/slack_ack.py [--requests 1500]`. Prints medians, throughput and
the ratios the issue sets targets for (median at 1 client within 3x the floor; throughput at
20 clients at least half the floor's).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
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


def run(url: str, clients: int, requests: int, offset: int) -> tuple[float, float]:
    """(median ms per request, requests per second) over `requests` requests."""
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


def measure(label: str, mode: str, database_url: str | None, requests: int) -> dict[str, float]:
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
        one_median, _ = run(url, 1, requests // 3, offset=0)
        _, throughput = run(url, 20, requests, offset=requests)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    line = f"  {label:28s} 1 client: median {one_median:6.2f} ms"
    print(f"{line}    20 clients: {throughput:7.0f} req/s")
    return {"median": one_median, "rps": throughput}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=900)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    assert args.requests * 2 < USERS * PROJECTS, "not enough distinct sign-ups"
    print(
        f"Signed /qi-join requests, one uvicorn worker, {os.cpu_count()} cores, "
        f"{args.rounds} interleaved rounds (shared machines are noisy: medians of rounds)"
    )
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
        runs["floor"].append(measure("floor (verify and answer)", "floor", None, args.requests))
        with tempfile.TemporaryDirectory() as folder:
            runs["SQLite"].append(
                measure("qi-nudge, SQLite", "qi", f"sqlite:///{folder}/b.db", args.requests)
            )
        schema = f"qi_bench_{uuid.uuid4().hex[:8]}"
        try:
            with admin.begin() as connection:
                connection.execute(text(f'CREATE SCHEMA "{schema}"'))
            url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
            runs["PostgreSQL"].append(measure("qi-nudge, PostgreSQL", "qi", url, args.requests))
            runs["PG floor"].append(
                measure("verify + 1 INSERT, PostgreSQL", "pg-floor", url, args.requests)
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
        print(
            f"  {name:11s} {result['median']:5.2f} ms = {result['median'] / floor['median']:4.1f}x"
            f" floor;  {result['rps']:4.0f} req/s = {result['rps'] / floor['rps']:4.2f}x floor"
        )


if __name__ == "__main__":
    main()
