"""Teams answer latency and throughput: qi-nudge serve against the SDK's own floor.

The floor is the Teams SDK hosted as qi-nudge hosts it (our Starlette app, one uvicorn worker)
with a handler that does nothing: it checks the Bot Framework token and parses the activity,
the least any bot on this SDK does. Ours answers "qi-join <project> as carer" from known
people: a real sign-up written, and the answer card posted back to the (fake) Bot Connector
before Teams gets its 200, as the SDK does it. Each server runs in its own process; the fake
Teams and the load run in this one, over loopback.

Run: `.venv/bin/python bench/teams_ack.py [--requests 600] [--postgres]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.teams_connector import FakeTeams  # noqa: E402
from tests.fakes.teams_signing import (  # noqa: E402
    APP_ID,
    APP_PASSWORD,
    TENANT_ID,
    TeamsUser,
)

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
PEOPLE = 100

SERVER = r"""
import asyncio, os, socket, sys
sys.path.insert(0, os.environ["QI_ROOT"])
import uvicorn
from starlette.applications import Starlette
from bot.runtime import build_context, open_database
from bot.settings import load_settings
mode = sys.argv[1]
sock = socket.socket(); sock.bind(("127.0.0.1", 0)); port = sock.getsockname()[1]
settings = load_settings(env_file=None)
if mode == "floor":
    from microsoft_teams.api.auth.cloud_environment import PUBLIC, with_overrides
    from microsoft_teams.apps import App
    from bot.teams.app import StarletteRoutes
    from bot.teams.auth import BotConnectorToken
    routes = StarletteRoutes()
    app = App(
        client_id=settings.teams_app_id, tenant_id=settings.teams_tenant_id,
        token=BotConnectorToken(settings.teams_login_url, settings.teams_tenant_id,
                                settings.teams_app_id, settings.teams_app_password.reveal()),
        cloud=with_overrides(PUBLIC, openid_metadata_url=settings.teams_openid_metadata_url),
        http_server_adapter=routes, dangerously_allow_unauthenticated_requests=False,
    )
    @app.on_message
    async def nothing(ctx):
        return None
    asyncio.run(app.initialize())
    asgi = Starlette(routes=routes.routes)
else:
    from bot.serve import build_service
    engine = open_database(settings)
    service = build_service(settings, engine, build_context(settings, engine))
    asgi = service.asgi
print(port, flush=True)
uvicorn.run(asgi, fd=sock.fileno(), log_level="warning", access_log=False)
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


def start(mode: str, fake: FakeTeams, database_url: str) -> tuple[subprocess.Popen[str], str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "TEAMS_", "CLIENT_", "TENANT_"))
    }
    env.update(
        QI_ROOT=str(ROOT),
        DATABASE_URL=database_url,
        TEAMS_APP_ID=APP_ID,
        TEAMS_APP_PASSWORD=APP_PASSWORD,
        TEAMS_TENANT_ID=TENANT_ID,
        TEAMS_LOGIN_URL=fake.login_url,
        TEAMS_OPENID_METADATA_URL=fake.openid_metadata_url,
        TEAMS_SERVICE_URL=fake.service_url,
        LOG_LEVEL="WARNING",
    )
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, mode], env=env, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    port = int(process.stdout.readline())
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.post(f"{base}/api/messages", json={}, timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    return process, base


def seed(database_url: str, projects: int) -> None:
    from bot.runtime import build_context, open_database
    from bot.settings import load_settings
    from store.projects import create_project
    from store.roles import ProjectStatus

    settings = load_settings({"DATABASE_URL": database_url}, env_file=None)
    engine = open_database(settings)
    ctx = build_context(settings, engine)
    with ctx.sessions.begin() as session:
        for i in range(projects):
            create_project(
                session,
                name=f"Bench project {i}",
                site=None,
                status=ProjectStatus.ACTIVE,
                lead_id=None,
                now=ctx.now(),
            )
    engine.dispose()


def run(fake: FakeTeams, base: str, users: list[TeamsUser], texts: list[str], clients: int):
    """(median ms, p95 ms, requests/s) for posting each text as the next user."""
    bodies = [
        (fake.activity("personal", text, user=users[i % len(users)]), fake.headers())
        for i, text in enumerate(texts)
    ]
    times: list[float] = []

    def one(item) -> None:
        activity, headers = item
        started = time.perf_counter()
        answer = client.post(f"{base}/api/messages", json=activity, headers=headers)
        times.append(time.perf_counter() - started)
        assert answer.status_code == 200, answer.text

    with httpx.Client(timeout=30, limits=httpx.Limits(max_connections=clients)) as client:
        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(one, bodies))
        elapsed = time.perf_counter() - started
    ordered = sorted(times)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return statistics.median(times) * 1000, p95 * 1000, len(texts) / elapsed


def measure(label: str, mode: str, database_url: str, requests: int) -> dict[str, float]:
    users = people()
    with FakeTeams() as fake:
        for user in users:
            fake.add_user(user)
        process, base = start(mode, fake, database_url)
        try:
            run(fake, base, users, ["qi-help"] * PEOPLE, 4)  # everyone met once: no first contact
            joins = [f"qi-join Bench project {i} as carer" for i in range(requests * 2)]
            one = run(fake, base, users, joins[:requests], 1)
            twenty = run(fake, base, users, joins[requests:], 20)
        finally:
            process.terminate()
            process.wait(10)
    print(
        f"{label:<26} 1 client: median {one[0]:6.2f} ms, p95 {one[1]:6.2f} ms | "
        f"20 clients: {twenty[2]:6.0f} req/s (median {twenty[0]:6.1f} ms)"
    )
    return {"median": one[0], "throughput": twenty[2]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        floor_url = f"sqlite:///{folder}/floor.db"
        seed(floor_url, 0)
        floor = measure("floor (SDK, no-op)", "floor", floor_url, args.requests)
        sqlite_url = f"sqlite:///{folder}/qi.db"
        seed(sqlite_url, args.requests * 2)
        results = {"SQLite": measure("qi-nudge on SQLite", "serve", sqlite_url, args.requests)}
        if args.postgres:
            from sqlalchemy import create_engine, text

            admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(text("DROP SCHEMA IF EXISTS bench_teams CASCADE"))
                connection.execute(text("CREATE SCHEMA bench_teams"))
            pg_url = POSTGRES_URL + "?options=-csearch_path%3Dbench_teams"
            seed(pg_url, args.requests * 2)
            label = "qi-nudge on PostgreSQL"
            results["PostgreSQL"] = measure(label, "serve", pg_url, args.requests)
    for name, result in results.items():
        print(
            f"{name}: median {result['median'] / floor['median']:.1f}x the floor's, "
            f"throughput {result['throughput'] / floor['throughput']:.2f}x"
        )


if __name__ == "__main__":
    main()
