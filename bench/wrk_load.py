"""Load from wrk, each request its own pre-built body and headers (signed ones, for Slack).

A bot that refuses replays must never see the same signed request twice, so the requests are
written to a file and a Lua script gives each wrk thread its own slice, sent in order. A run
that outlasts its slice starts it again: `WrkResult.repeated` counts those, and the caller
decides.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = "wrk is not installed: on Debian or Ubuntu, `sudo apt-get install wrk`"

LUA = r"""
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  threads[#threads + 1] = thread
end
local requests = {}
sent, slice = 0, 0  -- globals: done() reads them from each thread
function init(args)
  local lines = {}
  for line in io.lines(args[1]) do lines[#lines + 1] = line end
  local per = math.floor(#lines / tonumber(args[2]))
  for k = tid * per + 1, (tid + 1) * per do
    local fields = {}
    for field in (lines[k] .. "\t"):gmatch("([^\t]*)\t") do fields[#fields + 1] = field end
    local headers = {}
    for i = 2, #fields - 1, 2 do headers[fields[i]] = fields[i + 1] end
    requests[#requests + 1] = wrk.format("POST", nil, headers, fields[1])
  end
  slice = #requests
end
function request()
  sent = sent + 1
  return requests[(sent - 1) % slice + 1]
end
function done(summary, latency, requests)
  local repeated = 0
  for _, thread in ipairs(threads) do
    local over = thread:get("sent") - thread:get("slice")
    if over > 0 then repeated = repeated + over end
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %f, "median_us": %d, "p99_us": %d, "errors": %d, '
    .. '"repeated": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout, repeated))
end
"""


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run measured."""

    median_ms: float
    p99_ms: float
    rps: float
    requests: int  # answered
    errors: int  # refused connections, timeouts, HTTP 4xx/5xx
    repeated: int  # requests sent a second time (a thread outlasted its slice)


def wrk_version() -> str:
    """wrk's version line ("wrk 4.1.0 [epoll]"), or raise SystemExit saying how to install it."""
    if shutil.which("wrk") is None:
        raise SystemExit(INSTALL_HINT)
    # wrk prints its version with its usage and exits 1 when given no URL.
    out = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout
    found = re.search(r"wrk (\S+)[^\n]*?(\[\w+\])", out)
    return f"wrk {found.group(1)} {found.group(2)}" if found else "wrk (version unknown)"


def threads_for(clients: int) -> int:
    """wrk threads: one per client up to one per core."""
    return min(clients, os.cpu_count() or 1)


def run_wrk(
    url: str,
    requests: Sequence[tuple[bytes, dict[str, str]]],
    *,
    clients: int,
    seconds: int,
    timeout: int = 10,
) -> WrkResult:
    """Send `requests` (body, headers) over `clients` connections for `seconds`."""
    threads = threads_for(clients)
    with tempfile.TemporaryDirectory() as folder:
        script, lines = Path(folder, "load.lua"), Path(folder, "requests.tsv")
        script.write_text(LUA)
        with lines.open("w") as out:
            for body, headers in requests:
                text = body.decode()
                assert "\t" not in text and "\n" not in text, "bodies are form-encoded"
                fields = [text] + [item for pair in headers.items() for item in pair]
                out.write("\t".join(fields) + "\n")
        result = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{clients}",
                f"-d{seconds}s",
                f"--timeout={timeout}s",
                "-s",
                str(script),
                url,
                "--",
                str(lines),
                str(threads),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return WrkResult(
        median_ms=report["median_us"] / 1000,
        p99_ms=report["p99_us"] / 1000,
        rps=report["requests"] / report["seconds"],
        requests=report["requests"],
        errors=report["errors"],
        repeated=report["repeated"],
    )
