"""Every performance aim of issue 15 in one run: each bench script in turn, one report.

Each script measures qi-nudge beside its own reference in the same run (a bare Bolt app, the
Teams SDK's no-op handler, a set-based write, a bare matplotlib figure, the rate-limit floor,
bare Bolt's imports and memory) and prints the ratio against the aim. This runs them one after
another, so no two compete for the cores, and keeps their output in one file.

Run: `.venv/bin/python bench/all.py [--quick] [--out FILE]`. The full run takes about an hour
(100,000 projects are seeded twice, and 2,000 messages are sent at Slack's real rates);
`--quick` about 15 minutes, at smaller sizes. Needs wrk (`apt-get install wrk`) and, for the
PostgreSQL rows, a server at postgresql://postgres@127.0.0.1:5432/test.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (what it measures, script, arguments for a full run, arguments for --quick)
PARTS: list[tuple[str, str, list[str], list[str]]] = [
    ("Start-up and idle memory", "startup.py", [], ["--runs", "5", "--rounds", "1"]),
    ("Slack acks in real serve", "slack_ack.py", [], ["--quick"]),
    ("Teams answers in real serve", "teams_ack.py", [], ["--quick"]),
    ("Charts", "charts.py", [], ["--rounds", "5", "--http-rounds", "1"]),
    (
        "Lookups at trust scale",
        "core_commands.py",
        ["--projects", "100000", "--repeat", "20", "--explain"],
        ["--projects", "20000", "--repeat", "10"],
    ),
    (
        "The weekly run, and acks during it",
        "scheduled.py",
        ["--projects", "100000"],
        ["--projects", "20000", "--repeat", "1", "--skip-send"],
    ),
    ("Fan-out against Slack's limits (simulated clock)", "fanout.py", [], []),
]


def main() -> None:
    """Run every part, print and keep its output, and say which parts failed to run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, about 15 minutes")
    parser.add_argument("--out", type=Path, default=Path("bench-report.txt"))
    args = parser.parse_args()
    failed: list[str] = []
    with args.out.open("w", encoding="utf-8") as report:

        def say(line: str) -> None:
            print(line, flush=True)
            report.write(line + "\n")
            report.flush()

        say(f"qi-nudge benchmarks, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {_machine()}")
        for title, script, full, quick in PARTS:
            command = [sys.executable, str(HERE / script), *(quick if args.quick else full)]
            say(f"\n=== {title}: {' '.join(command[1:])}")
            started = time.monotonic()
            run = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            assert run.stdout is not None
            for line in run.stdout:
                say(line.rstrip("\n"))
            if run.wait() != 0:
                failed.append(script)
                say(f"!!! {script} exited with {run.returncode}")
            say(f"=== ({time.monotonic() - started:.0f} s)")
        say(f"\nReport kept in {args.out}")
        if failed:
            say(f"These did not finish: {', '.join(failed)}")
    sys.exit(1 if failed else 0)


def _machine() -> str:
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        cpu = "unknown CPU"
    return f"{os.cpu_count()} cores ({cpu})"


if __name__ == "__main__":
    main()
