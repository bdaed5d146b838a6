"""The references bench/slack_ack.py measures qi-nudge against, each run in its own process.

`bolt`: a bare Bolt app doing the least a bot can do for each request, the honest floor for "a
Bolt app that records a sign-up": a sync `slack_bolt.App(process_before_response=True)` behind
Bolt's own Starlette adapter, one uvicorn worker, listeners on a raw driver connection in
autocommit (sqlite3 with qi-nudge's WAL and synchronous=NORMAL, or psycopg):
  /qi-join and the join_as button: one INSERT, then ack;
  /qi-projects: one indexed SELECT of a page of projects, acked as text;
  /qi-stats: one aggregate SELECT over the projects, acked as text.
`verify`: an endpoint that only checks Slack's signature and answers (no Bolt, no database).

Run: `python bench/slack_reference.py bolt|verify --port N [--database URL --slack-api URL]`.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

PAGE = 40  # rows a /qi-projects page shows (handlers.projects.listing.LIST_LIMIT)
# {id} is each database's own auto-numbered key, as the bot's tables have.
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS bench_ref_projects ({id}, name TEXT NOT NULL,"
    " name_key TEXT NOT NULL UNIQUE, involved INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS bench_ref_signups ({id}, user_id TEXT NOT NULL,"
    " target TEXT NOT NULL)",
)


class Database:
    """One raw driver connection in autocommit: every statement is its own transaction."""

    def __init__(self, url: str) -> None:
        self.sqlite = url.startswith("sqlite:")
        if self.sqlite:
            self.connection: Any = sqlite3.connect(
                url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False
            )
            # The durability qi-nudge's engine gives SQLite (store.engine): same fsync policy.
            self.connection.execute("PRAGMA journal_mode=WAL")
            self.connection.execute("PRAGMA synchronous=NORMAL")
        else:
            import psycopg

            self.connection = psycopg.connect(url, autocommit=True)

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; its rows (none for a write)."""
        if not self.sqlite:
            sql = sql.replace("?", "%s")
        cursor = self.connection.execute(sql, params)
        return cursor.fetchall() if cursor.description else []

    def seed(self, projects: int) -> None:
        """The projects a page lists and the aggregate counts (as many as qi-nudge's seed)."""
        key = "id INTEGER PRIMARY KEY" if self.sqlite else "id serial PRIMARY KEY"
        for statement in SCHEMA:
            self.execute(statement.format(id=key))
        if self.execute("SELECT count(*) FROM bench_ref_projects")[0][0]:
            return
        rows = [(f"Project {i:04d}", f"project {i:04d}", i % 3 == 0) for i in range(projects)]
        insert = "INSERT INTO bench_ref_projects (name, name_key, involved) VALUES (?, ?, ?)"
        if self.sqlite:
            self.connection.executemany(insert, [(n, k, int(v)) for n, k, v in rows])
        else:
            with self.connection.cursor() as cursor:
                cursor.executemany(insert.replace("?", "%s"), [(n, k, int(v)) for n, k, v in rows])
        self.execute("ANALYZE")


def bolt_app(database: Database, token: str, secret: str, api_url: str) -> Starlette:
    """The bare Bolt app: one listener per request kind, each doing its one statement."""
    from slack_bolt import Ack, App
    from slack_bolt.adapter.starlette import SlackRequestHandler
    from slack_sdk import WebClient

    app = App(
        client=WebClient(token=token, base_url=api_url),
        signing_secret=secret,
        process_before_response=True,
    )

    def join(ack: Ack, body: dict[str, Any]) -> None:
        database.execute(
            "INSERT INTO bench_ref_signups (user_id, target) VALUES (?, ?)",
            (body["user_id"], body.get("text", "")),
        )
        ack(text="Welcome to the team.")

    def join_as(ack: Ack, body: dict[str, Any]) -> None:
        action = body["actions"][0]
        database.execute(
            "INSERT INTO bench_ref_signups (user_id, target) VALUES (?, ?)",
            (body["user"]["id"], action.get("value", "")),
        )
        ack()

    def projects(ack: Ack) -> None:
        rows = database.execute(
            "SELECT name FROM bench_ref_projects WHERE name_key > ? ORDER BY name_key LIMIT ?",
            ("", PAGE),
        )
        ack(text="\n".join(name for (name,) in rows))

    def stats(ack: Ack) -> None:
        total, involved = database.execute(
            "SELECT count(*), sum(involved) FROM bench_ref_projects"
        )[0]
        ack(text=f"{involved} of {total} active projects have a service user or carer.")

    app.command("/qi-join")(join)
    app.action("join_as")(join_as)
    app.command("/qi-projects")(projects)
    app.command("/qi-stats")(stats)
    handler = SlackRequestHandler(app)

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    return Starlette(routes=[Route("/slack/events", events, methods=["POST"])])


def verify_app(secret: str) -> Starlette:
    """Check the signature and answer: no Bolt, no database."""
    from slack_sdk.signature import SignatureVerifier

    verifier = SignatureVerifier(secret)

    async def events(request: Request) -> Response:
        body = await request.body()
        if not verifier.is_valid_request(body, dict(request.headers)):
            return Response(status_code=401)
        return Response('{"text": "ok"}', media_type="application/json")

    return Starlette(routes=[Route("/slack/events", events, methods=["POST"])])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("bolt", "verify"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database", help="sqlite:///FILE or postgresql://... (bolt)")
    parser.add_argument("--slack-api", help="the fake Slack's Web API URL (bolt)")
    parser.add_argument("--projects", type=int, default=1000)
    args = parser.parse_args()
    secret = os.environ["SLACK_SIGNING_SECRET"]
    if args.mode == "bolt":
        database = Database(args.database)
        database.seed(args.projects)
        app = bolt_app(database, os.environ["SLACK_BOT_TOKEN"], secret, args.slack_api)
    else:
        app = verify_app(secret)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
