"""Start-up time and idle memory: `qi-nudge` against a bare Bolt app, side by side in one run.

Import time: `qi-nudge --help` against `python -c "import slack_bolt,
slack_bolt.adapter.starlette, uvicorn"` (what a bare Bolt app behind Starlette and uvicorn
imports), run alternately, each `--runs` times. Prints the medians of wall-clock time and of CPU
time (user + system of the child: less moved by other processes on a shared machine than wall
time) and the ratios; the issue's aim is within 2x.

Idle memory: `qi-nudge serve` with Slack configured, against the fake Slack of tests/fakes, on a
SQLite file already at the latest schema (a restart, the usual start), scheduler and sender
running; against a bare Bolt app: a sync `App(process_before_response=True)` whose /qi-join
listener does one INSERT and acks, behind the Starlette adapter under one uvicorn worker. Each is
left idle for `--idle` seconds once it answers HTTP, then its VmRSS is read from /proc. Also
shown: `serve` on a fresh database (it migrates first). The issue's aim is within 1.5x.

Run: `.venv/bin/python bench/startup.py [--runs 10] [--idle 3] [--rounds 3]`.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes import FakeSlack  # noqa: E402  (after the path: run as a script)

SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench"
BOLT_IMPORTS = "import slack_bolt, slack_bolt.adapter.starlette, uvicorn"

# The reference app: Bolt's documented sync set-up with the Starlette adapter, one uvicorn
# worker, and a listener doing the minimal equivalent of a sign-up (one INSERT, autocommit).
BARE_BOLT = r"""
import os, sqlite3, sys
import uvicorn
from slack_bolt import App
from slack_bolt.adapter.starlette import SlackRequestHandler
from slack_sdk import WebClient
from starlette.applications import Starlette
from starlette.routing import Route

for extra in filter(None, os.environ.get("BARE_ALSO_IMPORTS", "").split(",")):
    __import__(extra)  # a variant: the bare app with a library loaded that it does not use

db = sqlite3.connect(os.environ["BARE_DB"], isolation_level=None, check_same_thread=False)
db.execute("CREATE TABLE IF NOT EXISTS signups (id INTEGER PRIMARY KEY, who TEXT, what TEXT)")
app = App(
    client=WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"]),
    signing_secret=os.environ["SLACK_SIGNING_SECRET"],
    process_before_response=True,
)

@app.command("/qi-join")
def join(ack, command):
    row = (command["user_id"], command["text"])
    db.execute("INSERT INTO signups (who, what) VALUES (?, ?)", row)
    ack("ok")

handler = SlackRequestHandler(app)

async def events(request):
    return await handler.handle(request)

async def healthz(request):
    from starlette.responses import PlainTextResponse
    return PlainTextResponse("ok")

routes = [Route("/slack/events", events, methods=["POST"]), Route("/healthz", healthz)]
api = Starlette(routes=routes)
uvicorn.run(api, host="127.0.0.1", port=int(os.environ["PORT"]), log_level="warning")
"""


def qi_nudge() -> list[str]:
    """The installed `qi-nudge` command (its console script), else `python -m bot.cli`."""
    script = Path(sys.executable).parent / "qi-nudge"
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]


def import_ms(argv: list[str]) -> float:
    """The sum of `python -X importtime`'s self times for one run of `argv`, in ms."""
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}  # -X importtime, through a script too
    result = subprocess.run(
        argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
    )
    lines = [line for line in result.stderr.splitlines() if line.startswith("import time:")]
    return sum(int(line.split(":")[1].split("|")[0]) for line in lines[1:]) / 1000


def timed(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of `argv`, its output thrown away."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def import_times(runs: int) -> None:
    """Median wall and CPU time of `qi-nudge --help` and bare Bolt's imports, alternately."""
    ours_argv = [*qi_nudge(), "--help"]
    bolt_argv = [sys.executable, "-c", BOLT_IMPORTS]
    for argv in (ours_argv, bolt_argv):  # warm the file cache and the .pyc files first
        timed(argv)
    ours: list[tuple[float, float, float]] = []
    bolt: list[tuple[float, float, float]] = []
    for _ in range(runs):
        ours.append((*timed(ours_argv), import_ms(ours_argv)))
        bolt.append((*timed(bolt_argv), import_ms(bolt_argv)))
    print(f"Start-up, medians of {runs} alternating runs:")
    print(f"{'':34} {'wall ms':>9} {'CPU ms':>9} {'imports ms':>11}")
    rows = (("qi-nudge --help", ours), ("bare Bolt imports (reference)", bolt))
    medians = []
    for name, times in rows:
        wall, cpu = (statistics.median(t[i] for t in times) * 1000 for i in (0, 1))
        imports = statistics.median(t[2] for t in times)
        medians.append((wall, cpu, imports))
        print(f"{name:34} {wall:9.1f} {cpu:9.1f} {imports:11.1f}")
    wall, cpu, imports = (ours / bolt for ours, bolt in zip(*medians, strict=True))
    print(f"{'ratio (aim: within 2x)':34} {wall:8.2f}x {cpu:8.2f}x {imports:10.2f}x\n")


def free_port() -> int:
    """A port nothing listens on just now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def vm_rss_kib(pid: int) -> int:
    """The process's resident set size, in KiB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def idle_rss(argv: list[str], env: dict[str, str], folder: Path, idle: float) -> int:
    """Start `argv`, wait until it answers /healthz, leave it idle, and read its RSS (KiB)."""
    port = free_port()
    env = {**env, "PORT": str(port)}
    log = (folder / "server.log").open("ab")
    proc = subprocess.Popen(argv, env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{argv} exited: see {folder / 'server.log'}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{argv} did not answer within 60 s")
            time.sleep(0.05)
        time.sleep(idle)
        return vm_rss_kib(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def memory(idle: float, rounds: int) -> None:
    """Idle RSS of `qi-nudge serve` and of the bare Bolt app, medians of `rounds`."""
    with FakeSlack() as fake, tempfile.TemporaryDirectory() as tmp:
        fake.add_token(TOKEN)
        folder = Path(tmp)
        base = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("SLACK_", "TEAMS_", "DATABASE_URL", "QI_", "MALLOC_"))
        }
        base.update(
            SLACK_BOT_TOKEN=TOKEN,
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL=fake.base_url,
            HOST="127.0.0.1",
            LOG_LEVEL="WARNING",
            PYTHONPATH=str(ROOT),
        )
        at_head = f"sqlite:///{folder / 'qi.db'}"
        subprocess.run(
            [*qi_nudge(), "db", "upgrade"],
            env={**base, "DATABASE_URL": at_head},
            cwd=folder,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        bare_env = {**base, "BARE_DB": str(folder / "bare.db")}
        # What SQLAlchemy's ORM and our models cost by themselves: the floor for this design.
        floor_env = {**bare_env, "BARE_ALSO_IMPORTS": "sqlalchemy.orm,store.models"}
        results: dict[str, list[int]] = {"serve": [], "serve, fresh": [], "bolt": [], "floor": []}
        for n in range(rounds):
            fresh = f"sqlite:///{folder / f'fresh{n}.db'}"
            results["serve"].append(
                idle_rss([*qi_nudge(), "serve"], {**base, "DATABASE_URL": at_head}, folder, idle)
            )
            results["bolt"].append(
                idle_rss([sys.executable, "-c", BARE_BOLT], bare_env, folder, idle)
            )
            results["floor"].append(
                idle_rss([sys.executable, "-c", BARE_BOLT], floor_env, folder, idle)
            )
            results["serve, fresh"].append(
                idle_rss([*qi_nudge(), "serve"], {**base, "DATABASE_URL": fresh}, folder, idle)
            )
    mib = {name: statistics.median(values) / 1024 for name, values in results.items()}
    print(f"Idle RSS after {idle:g} s, medians of {rounds} rounds:")
    print(f"{'qi-nudge serve (SQLite at head)':34} {mib['serve']:8.1f} MiB")
    print(f"{'qi-nudge serve (fresh SQLite)':34} {mib['serve, fresh']:8.1f} MiB")
    print(f"{'bare Bolt app (reference)':34} {mib['bolt']:8.1f} MiB")
    print(f"{'bare Bolt + SQLAlchemy ORM + models':34} {mib['floor']:8.1f} MiB")
    print(f"{'ratio at head (aim: within 1.5x)':34} {mib['serve'] / mib['bolt']:8.2f}x")
    print(f"{'ratio fresh':34} {mib['serve, fresh'] / mib['bolt']:8.2f}x")
    print(f"{'ratio of that floor':34} {mib['floor'] / mib['bolt']:8.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="runs of each import timing")
    parser.add_argument("--idle", type=float, default=3.0, help="seconds idle before RSS")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the RSS measurement")
    parser.add_argument("--skip-memory", action="store_true", help="only the import timing")
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cores, {' '.join(qi_nudge())}")
    import_times(args.runs)
    if not args.skip_memory:
        memory(args.idle, args.rounds)


if __name__ == "__main__":
    main()
