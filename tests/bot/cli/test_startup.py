"""What `qi-nudge` loads to start: --help needs argparse only; serve loads what it uses.

Each check is a fresh interpreter (this test process has imported everything already), which
prints the modules it ended up with.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli.main import LazyCommand, build_parser
from store.engine import make_engine
from store.migrate import at_head, upgrade
from tests.fakes import FakeSlack

ROOT = Path(__file__).resolve().parents[3]
# Loaded only by the commands that use them: schema changes, the scheduler, typo matching,
# charts, Teams (the SDK, or the older Bot Framework one), Socket Mode.
HEAVY = {"alembic", "apscheduler", "rapidfuzz", "matplotlib", "microsoft_teams", "botbuilder"}
# Nor does --help need the database, Slack or the web server.
NOT_FOR_HELP = HEAVY | {"sqlalchemy", "slack_bolt", "slack_sdk", "starlette", "uvicorn", "httpx"}

REPORT_MODULES = "print(json.dumps(sorted(sys.modules)), file=sys.stderr)"


def loaded_by(script: str, env: dict[str, str] | None = None) -> set[str]:
    """The modules a fresh interpreter has after running `script` (which ends by reporting)."""
    result = subprocess.run(
        [sys.executable, "-c", f"import json, sys\n{script}\n{REPORT_MODULES}"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        check=False,
    )
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("["), result.stderr
    return set(json.loads(last))


def packages(modules: set[str]) -> set[str]:
    """The top-level packages of `modules`."""
    return {name.split(".")[0] for name in modules}


@pytest.mark.parametrize("argv", [["--help"], ["serve", "--help"], ["person", "--help"]])
def test_help_loads_nothing_heavy(argv):
    modules = loaded_by(
        "import bot.cli.main\n"
        f"try:\n    bot.cli.main.main({argv!r})\nexcept SystemExit:\n    pass"  # argparse exits
    )

    assert packages(modules) & NOT_FOR_HELP == set()
    assert sorted(m for m in modules if m.split(".")[0] in ("bot", "handlers", "store")) == [
        "bot",
        "bot.cli",
        "bot.cli.main",
    ]


def subcommands(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every subcommand's parser, at any depth (argparse keeps them in its actions)."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += [sub, *subcommands(sub)]
    return found


def test_every_subcommand_names_a_function_that_exists():
    lazy = []
    for sub in subcommands(build_parser()):
        lazy += [sub._defaults.get("handler"), *sub._defaults.get("handler_by_action", {}).values()]
    lazy = [command for command in lazy if command is not None]

    assert len(lazy) == 24  # forum add-member, members, remove-member, import-members made it 24
    for command in lazy:
        assert isinstance(command, LazyCommand)
        assert callable(getattr(importlib.import_module(command.module), command.name)), command


# `qi-nudge serve` as deployed, up to where uvicorn would listen: there it reports instead.
SERVE_UNTIL_LISTENING = """
import bot.runtime.serve
def report_instead(server):
    print(json.dumps(sorted(sys.modules)), file=sys.stderr)
bot.runtime.serve.serve_until_stopped = report_instead
from bot.cli.main import main
main(["serve"])
"""


@pytest.fixture
def fake_slack():
    with FakeSlack() as fake:
        fake.add_token("xoxb-startup")
        yield fake


def serve_env(fake: FakeSlack, database_url: str) -> dict[str, str]:
    """`serve` configured for Slack over HTTP, against the fake, on `database_url`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TEAMS_"))}
    return {
        **env,
        "SLACK_BOT_TOKEN": "xoxb-startup",
        "SLACK_SIGNING_SECRET": "startup-secret",
        "SLACK_API_URL": fake.base_url,
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "WARNING",
    }


@pytest.mark.slow
def test_serve_on_a_database_at_the_latest_revision_loads_no_heavy_library(fake_slack, tmp_path):
    url = f"sqlite:///{tmp_path / 'qi.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()

    modules = loaded_by(SERVE_UNTIL_LISTENING, serve_env(fake_slack, url))

    assert "bot.runtime.scheduler" in modules and "bot.runtime.delivery" in modules  # it did start
    assert packages(modules) & HEAVY == {"apscheduler"}  # the scheduler runs: nothing else
    assert "slack_bolt.adapter.socket_mode" not in modules  # no SLACK_APP_TOKEN


@pytest.mark.slow
def test_serve_on_an_empty_database_migrates_it_first(fake_slack, tmp_path):
    url = f"sqlite:///{tmp_path / 'qi.db'}"

    modules = loaded_by(SERVE_UNTIL_LISTENING, serve_env(fake_slack, url))

    assert "alembic" in modules  # the check above passes because the schema was up to date
    engine = make_engine(url)
    assert at_head(engine)
    engine.dispose()
