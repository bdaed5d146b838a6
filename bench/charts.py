"""Run charts and /qi-stats: drawing cost against bare matplotlib, the cache, /qi-stats' answer.

Three parts, each reported as a ratio against a reference measured in the same run:

1. Drawing: a year's run chart (52 weeks, signals, two notes, the legend) drawn by
   handlers.evidence.chart_drawing, against a bare matplotlib figure of the same size and resolution
   (a Figure with one line through the same 52 points, savefig to PNG). CPU time per drawing,
   interleaved rounds, medians. Aim: at most 1.3x.
2. The cache: how many drawings for repeated, changed and simultaneous requests (counts, not
   times: these do not depend on the machine's load).
3. /qi-stats over HTTP: `qi-nudge serve`'s app (SQLite, 52 weeks of figures, a fake Slack that
   the charts are uploaded to) against a bare Bolt app behind the same Starlette adapter and
   one uvicorn worker, whose listener runs one aggregate SELECT on the same database and acks
   text. Median at 1 client and throughput at 20, from wrk (Debian package `wrk`). Aim: median
   within 3x.

Run: `.venv/bin/python bench/charts.py [--rounds 15] [--skip-http]`.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wrk_load import run_wrk  # noqa: E402 - bench/ is on the path when run as a script

SECRET = "bench-signing-secret"
WEEKS = 52
START = date(2025, 3, 3)  # a Monday
TITLE = "Share of active projects with a service user or carer on the team"
NOTES = [(date(2025, 6, 2), "Forum relaunched"), (date(2025, 10, 6), "New carer lead")]


def year_of_weeks(seed: int = 0) -> tuple[list[tuple[date, float]], list[float]]:
    """52 weekly shares rising slowly with noise (shifts and trends appear, as in real data)."""
    import random

    rng = random.Random(seed)
    values = [min(1.0, max(0.0, 0.3 + 0.01 * i + rng.uniform(-0.1, 0.1))) for i in range(WEEKS)]
    return [(START + timedelta(weeks=i), v) for i, v in enumerate(values)], values


# --- 1. drawing --------------------------------------------------------------------------


def measure_drawing(rounds: int) -> float:
    """Print ours against bare matplotlib; return the ratio of medians."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from handlers.evidence import chart_drawing
    from handlers.evidence.chart_spec import DPI, FIGURE_SIZE
    from handlers.evidence.run_chart import analyse

    points, values = year_of_weeks()
    analysis = analyse(values, unit="week")
    dates = [when for when, _ in points]

    def ours() -> bytes:
        figure = chart_drawing.build_run_chart_figure(
            points, analysis, title=TITLE, y_label="Share of active projects", notes=NOTES
        )
        return chart_drawing.render_png(figure)

    def bare() -> bytes:
        figure = Figure(figsize=FIGURE_SIZE, dpi=DPI)
        FigureCanvasAgg(figure)
        figure.add_subplot().plot(dates, values)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()

    started = time.process_time()
    first = ours()
    first_ms = (time.process_time() - started) * 1000
    bare()
    times: dict[str, list[float]] = {"ours": [], "bare": []}
    for _ in range(rounds):
        for name, draw in (("ours", ours), ("bare", bare)):
            started = time.process_time()
            draw()
            times[name].append((time.process_time() - started) * 1000)
    ours_ms, bare_ms = (statistics.median(times[k]) for k in ("ours", "bare"))
    ratio = ours_ms / bare_ms
    print(f"1. Drawing a year's run chart, {rounds} interleaved rounds, CPU ms (median, min):")
    print(f"   bare matplotlib figure, same size:  {bare_ms:6.1f}  {min(times['bare']):6.1f}")
    print(f"   qi-nudge run chart:                 {ours_ms:6.1f}  {min(times['ours']):6.1f}")
    print(
        f"   ratio {ratio:.2f}x (aim: at most 1.3x); the process's first chart: {first_ms:.0f} ms"
    )
    print(f"   PNG: {len(first) / 1000:.0f} kB, bare figure's {len(bare()) / 1000:.0f} kB")
    return ratio


# --- 2. the cache ------------------------------------------------------------------------


def measure_cache() -> None:
    """Count drawings: the same chart asked for repeatedly, changed, and by 8 threads at once."""
    from handlers.evidence import chart_drawing
    from handlers.evidence.chart_cache import drawn_charts
    from handlers.evidence.charts import run_chart
    from handlers.evidence.run_chart import analyse

    drawn: list[int] = []
    real = chart_drawing.render_png

    def counted(figure, *, scale: float = 1.0) -> bytes:
        drawn.append(1)
        return real(figure, scale=scale)

    chart_drawing.render_png = counted  # type: ignore[assignment]
    try:
        drawn_charts.clear()
        points, values = year_of_weeks()
        analysis = analyse(values, unit="week")

        def ask(pts=points, result=analysis) -> bytes:
            return run_chart(pts, result, title=TITLE, y_label="Share", notes=NOTES).png

        for _ in range(10):
            ask()
        repeated = len(drawn)
        changed_points = [*points[:-1], (points[-1][0], 0.99)]
        ask(changed_points, analyse([v for _, v in changed_points], unit="week"))
        changed = len(drawn) - repeated
        drawn_charts.clear()
        drawn.clear()
        threads = [threading.Thread(target=ask) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        together = len(drawn)
    finally:
        chart_drawing.render_png = real  # type: ignore[assignment]
        drawn_charts.clear()
    print("2. Drawings (aim: once per change of the data):")
    print(f"   10 requests, same data: {repeated}; then changed data: {changed} more;")
    print(f"   8 requests at once, not yet drawn: {together}")


# --- 3. /qi-stats over HTTP --------------------------------------------------------------

SERVER = r"""
import os, sys, socket, sqlite3
sys.path.insert(0, os.environ["QI_ROOT"])
import uvicorn
mode, db = sys.argv[1], sys.argv[2]
sock = socket.socket(); sock.bind(("127.0.0.1", 0)); port = sock.getsockname()[1]
if mode == "bare":
    # The reference: a sync Bolt app behind the Starlette adapter whose /qi-stats runs one
    # aggregate SELECT (a raw driver connection per thread) and acks text.
    import threading
    from slack_bolt import App
    from slack_bolt.adapter.starlette import SlackRequestHandler
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.routing import Route
    from slack_sdk import WebClient
    from tests.fakes import FakeSlack
    fake = FakeSlack().start()  # Bolt asks auth.test once, as ours does
    token = os.environ.pop("SLACK_BOT_TOKEN")  # else Bolt warns that the client's wins
    fake.add_token(token)
    bolt = App(signing_secret=os.environ["SLACK_SIGNING_SECRET"],
               client=WebClient(token=token, base_url=fake.base_url),
               process_before_response=True)
    local = threading.local()
    @bolt.command("/qi-stats")
    def stats(ack):
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = sqlite3.connect(db)
        (active,) = conn.execute(
            "SELECT count(*) FROM projects WHERE status = 'active'").fetchone()
        ack(text=f"{active} active projects")
    handler = SlackRequestHandler(bolt)
    async def events(request: Request):
        return await handler.handle(request)
    app = Starlette(routes=[Route("/slack/events", events, methods=["POST"])])
else:
    from tests.fakes import FakeSlack
    fake = FakeSlack().start()
    fake.add_token(os.environ["SLACK_BOT_TOKEN"])
    fake.add_user("U1", "Asha Patel")
    fake.add_channel("C1", "qi-team", bot_member=True)
    os.environ["SLACK_API_URL"] = fake.base_url
    os.environ["DATABASE_URL"] = f"sqlite:///{db}"
    from bot.runtime.settings import load_settings
    from bot.runtime.startup import build_context, open_database
    from bot.runtime.serve import build_service
    settings = load_settings(env_file=None)
    engine = open_database(settings)
    app = build_service(settings, engine, build_context(settings, engine)).asgi
print(port, flush=True)
sock.close()
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
"""

DISTINCT_REQUESTS = 40_000  # more than any server here answers in the time given


def stats_body(number: int = 0) -> bytes:
    """/qi-stats as Slack sends it, from a known user in a channel the bot is in."""
    return urlencode(
        {
            "command": "/qi-stats",
            "text": "",
            "user_id": "U1",
            "user_name": "asha",
            "team_id": "T0001",
            "channel_id": "C1",
            "response_url": "http://127.0.0.1:9/none",
            "trigger_id": f"t{number}",  # each request its own, as from Slack
        }
    ).encode()


def signed(body: bytes) -> tuple[str, str]:
    """(timestamp, signature) as Slack signs a request."""
    ts = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
    return ts, "v0=" + digest.hexdigest()


def seed(db: str, projects: int) -> None:
    """A migrated SQLite database: projects, a year of weekly figures, two notes."""
    from datetime import UTC, datetime

    from sqlalchemy import insert

    from store.engine import make_engine
    from store.migrate import upgrade
    from store.models import ChartNote, ParticipationSnapshot, Project
    from store.names import name_key

    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    now = datetime.now(UTC)
    points, _ = year_of_weeks()
    with engine.begin() as connection:
        connection.execute(
            insert(Project),
            [
                {
                    "name": f"Project {i}",
                    "name_key": name_key(f"Project {i}"),
                    "site": f"Site {i % 5}",
                    "site_key": f"site {i % 5}",
                    "status": "active",
                    "lead_person_id": None,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(projects)
            ],
        )
        connection.execute(
            insert(ParticipationSnapshot),
            [
                {
                    "week": f"{when.isocalendar()[0]}-W{when.isocalendar()[1]:02d}",
                    "week_start": when,
                    "scope": "overall",
                    "active_projects": projects,
                    "involved_projects": round(share * projects),
                    "attendance": None,
                    "taken_at": now,
                    "backfilled": True,
                }
                for when, share in points
            ],
        )
        connection.execute(
            insert(ChartNote),
            [{"on_date": on, "text": text, "created_at": now} for on, text in NOTES],
        )
    engine.dispose()


def serve(mode: str, db: str) -> tuple[subprocess.Popen[str], str]:
    """Start a server process; its URL once it answers."""
    import httpx

    env = {
        **os.environ,
        "QI_ROOT": str(ROOT),
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_BOT_TOKEN": "xoxb-bench",
        "LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, mode, db], env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    url = f"http://127.0.0.1:{proc.stdout.readline().strip()}/slack/events"
    body = stats_body()
    for _ in range(200):  # up, and the user known (their first request asks users.info)
        try:
            ts, sig = signed(body)
            headers = {
                "X-Slack-Request-Timestamp": ts,
                "X-Slack-Signature": sig,
                "Content-Type": "application/x-www-form-urlencoded",
            }
            if httpx.post(url, content=body, headers=headers, timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    return proc, url


def wrk(url: str, clients: int, seconds: int, offset: int) -> tuple[float, float]:
    """(median ms, requests/s) for signed, distinct /qi-stats requests."""
    requests = []
    for number in range(offset, offset + DISTINCT_REQUESTS):  # signed now: a 5-minute window
        body = stats_body(number)
        ts, sig = signed(body)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sig,
        }
        requests.append((body, headers))
    result = run_wrk(url, requests, clients=clients, seconds=seconds)
    if result.errors:
        print(f"   ({result.errors} of {result.requests} requests failed or timed out)")
    return result.median_ms, result.rps


def measure_stats(rounds: int, projects: int) -> None:
    """Print /qi-stats against the bare Bolt reference, medians of interleaved rounds."""
    if not shutil.which("wrk"):
        print("3. /qi-stats over HTTP: skipped, wrk is not installed (apt-get install wrk)")
        return
    results: dict[str, list[tuple[float, float]]] = {"bare": [], "qi": []}
    with tempfile.TemporaryDirectory() as folder:
        db = str(Path(folder, "bench.db"))
        seed(db, projects)
        for _ in range(rounds):
            for mode in ("bare", "qi"):
                proc, url = serve(mode, db)
                try:
                    wrk(url, 1, 2, offset=1)  # warm: the chart is drawn once, here
                    one, _ = wrk(url, 1, 4, offset=1 + DISTINCT_REQUESTS)
                    _, many = wrk(url, 20, 5, offset=1 + 2 * DISTINCT_REQUESTS)
                finally:
                    proc.terminate()
                    proc.wait(timeout=10)
                results[mode].append((one, many))
    bare = [statistics.median(r[i] for r in results["bare"]) for i in (0, 1)]
    qi = [statistics.median(r[i] for r in results["qi"]) for i in (0, 1)]
    print(f"3. /qi-stats over HTTP, SQLite, {projects} projects, {WEEKS} weeks, wrk, ", end="")
    print(f"medians of {rounds} interleaved rounds:")
    print(f"   bare Bolt + 1 aggregate SELECT: {bare[0]:6.2f} ms at 1 client, {bare[1]:6.0f} req/s")
    print(f"   qi-nudge serve:                 {qi[0]:6.2f} ms at 1 client, {qi[1]:6.0f} req/s")
    print(
        f"   ratio: median {qi[0] / bare[0]:.1f}x (aim: within 3x), "
        f"throughput {qi[1] / bare[1]:.2f}x at 20 clients"
    )


def main() -> None:
    """Each part, one after the other, in one run."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15, help="drawing rounds")
    parser.add_argument("--http-rounds", type=int, default=3)
    parser.add_argument("--projects", type=int, default=400)
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--only-http", action="store_true", help="e.g. run from an older tree")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; shared machines are noisy: ratios, medians of rounds")
    if not args.only_http:
        measure_drawing(args.rounds)
        measure_cache()
    if not args.skip_http:
        measure_stats(args.http_rounds, args.projects)


if __name__ == "__main__":
    main()
