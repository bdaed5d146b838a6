"""Work that must not delay Slack's acknowledgement: follow-up posts, modals, notices."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait

log = logging.getLogger(__name__)

# Tasks waiting or running, at most. Each is a Web API call or two (a chart upload is three):
# 64 is several seconds of work for 4 threads, more than a person would wait for a follow-up.
MAX_PENDING = 64
# Above that, room kept for what a person is owed: the answer to their click or form, and a
# word that their chart was dropped. So a flood of charts can't cost anyone their answer.
ESSENTIAL_ROOM = 16


class AfterAck:
    """A small thread pool for the Web API calls that follow an acknowledged request.

    Bounded: at most `limit` tasks pending, plus `essential_room` for essential ones. When it
    is full, new work is dropped with a logged warning, never queued without end and never
    waited for: with process_before_response the listener's return *is* the ack, so waiting
    here would make everyone's answer late (and Slack retries after 3 seconds, adding more).
    Work that can be dropped says what to do instead (`if_dropped`, e.g. tell the person
    kindly), which is then queued as essential.
    """

    def __init__(
        self,
        workers: int = 4,
        *,
        name: str = "slack-after-ack",
        limit: int = MAX_PENDING,
        essential_room: int = ESSENTIAL_ROOM,
    ) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._name = name
        self.limit = limit
        self.bound = limit + essential_room
        self._pending: set[Future[object]] = set()
        self._lock = threading.Lock()
        self.dropped = 0  # since start: how often the bound was met (tests, logs)

    def submit(
        self,
        what: str,
        call: Callable[[], object],
        *,
        essential: bool = False,
        if_dropped: Callable[[], object] | None = None,
    ) -> Future[object] | None:
        """Run `call` soon; None if dropped because full. Failures are logged, never raised."""

        def run() -> object:
            try:
                return call()
            except Exception:
                log.exception("after-ack work failed: %s", what)
                return None

        future: Future[object] | None = None
        with self._lock:
            room = self.bound if essential else self.limit
            if len(self._pending) < room:
                future = self._pool.submit(run)
                self._pending.add(future)
            else:
                self.dropped += 1
                waiting = len(self._pending)
        if future is None:
            log.warning("%s: %d tasks waiting; dropped: %s", self._name, waiting, what)
            if if_dropped is not None:
                self.submit(f"{what} (dropped notice)", if_dropped, essential=True)
            return None
        future.add_done_callback(self._forget)
        return future

    def pending(self) -> int:
        """Tasks waiting or running now."""
        with self._lock:
            return len(self._pending)

    def _forget(self, future: Future[object]) -> None:
        with self._lock:
            self._pending.discard(future)

    def drain(self, timeout: float = 30.0) -> None:
        """Wait for the work queued so far (tests, shutdown); new work may still be queued."""
        with self._lock:
            pending = list(self._pending)
        wait(pending, timeout=timeout)

    def close(self) -> None:
        """Finish queued work and stop the threads."""
        self._pool.shutdown(wait=True)
