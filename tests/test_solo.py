"""The lock that keeps timed tests alone when the suite runs on several workers."""

from __future__ import annotations

import threading
import uuid

import pytest

from tests.solo import running_alone_if

HELD = 5.0  # seconds: far longer than a free lock takes to take


@pytest.fixture(autouse=True)
def as_a_worker(monkeypatch):
    """Pretend to be an xdist worker of a run of our own (the lock is per run)."""
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    monkeypatch.setenv("PYTEST_XDIST_TESTRUNUID", uuid.uuid4().hex)


def hold(solo: bool, entered: threading.Event, leave: threading.Event) -> threading.Thread:
    """A test in another worker: enters the lock, says so, and stays until told to leave."""

    def run() -> None:
        with running_alone_if(solo):
            entered.set()
            leave.wait(HELD)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def events(n: int) -> list[threading.Event]:
    """Fresh events, one per thing to watch for."""
    return [threading.Event() for _ in range(n)]


def test_ordinary_tests_run_side_by_side():
    (a_in, a_out, b_in, b_out) = events(4)
    hold(False, a_in, a_out)
    assert a_in.wait(HELD)
    hold(False, b_in, b_out)
    assert b_in.wait(HELD)  # both inside at once
    a_out.set()
    b_out.set()


def test_a_solo_test_waits_for_the_running_test_and_then_runs_alone():
    (a_in, a_out, solo_in, solo_out, c_in, c_out) = events(6)
    hold(False, a_in, a_out)
    assert a_in.wait(HELD)
    hold(True, solo_in, solo_out)
    assert not solo_in.wait(0.3)  # the other worker's test is still running
    hold(False, c_in, c_out)  # that worker's next test queues behind the solo one
    assert not c_in.wait(0.3)

    a_out.set()
    assert solo_in.wait(HELD)
    assert not c_in.wait(0.3)  # nothing runs beside the solo test
    solo_out.set()
    assert c_in.wait(HELD)
    c_out.set()


def test_one_process_takes_no_lock(monkeypatch):
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    (a_in, a_out, solo_in, solo_out) = events(4)
    hold(True, a_in, a_out)
    assert a_in.wait(HELD)
    hold(True, solo_in, solo_out)
    assert solo_in.wait(HELD)
    a_out.set()
    solo_out.set()
