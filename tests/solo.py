"""Tests marked `solo` run with no other test running, even when the suite runs in parallel.

`make test` spreads the suite over two pytest-xdist workers. A few tests assert how long
something took (an answer within Slack's deadline, a takeover within a lease): with another
worker's test competing for the same two cores they would measure the machine, not the bot.
Every test holds a shared lock on one file for as long as it runs; a `solo` test holds it
exclusively, so it waits for the running test in the other worker to end, and that worker's
next test waits for it. A second lock is a turnstile: a waiting solo test holds it, so the
other worker cannot keep the shared lock forever by starting one test after another.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

MARK = "solo"


def _lock_folder() -> Path:
    """One folder for every worker of a run: xdist's workers share their controller's run id."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", "")
    folder = Path(tempfile.gettempdir()) / f"qi-nudge-tests-{run or os.getpid()}"
    folder.mkdir(exist_ok=True)
    return folder


@contextmanager
def _locked(path: Path, mode: int) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, mode)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def running_alone_if(solo: bool) -> Iterator[None]:
    """Hold the run's lock while a test runs: exclusively for a solo test, else shared."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        yield  # one process runs one test at a time anyway
        return
    folder = _lock_folder()
    turnstile, room = folder / "turnstile", folder / "room"
    if solo:
        with _locked(turnstile, fcntl.LOCK_EX), _locked(room, fcntl.LOCK_EX):
            yield
        return
    with _locked(turnstile, fcntl.LOCK_EX):
        pass  # wait behind a solo test that is waiting
    with _locked(room, fcntl.LOCK_SH):
        yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> object:
    """Run each test, with its fixtures' set-up and tear-down, under the run's lock."""
    with running_alone_if(item.get_closest_marker(MARK) is not None):
        return (yield)
