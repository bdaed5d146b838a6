"""Work that must not delay Slack's acknowledgement: follow-up posts, modals, notices."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait

log = logging.getLogger(__name__)


class AfterAck:
    """A small thread pool for the Web API calls that follow an acknowledged request."""

    def __init__(self, workers: int = 4, *, name: str = "slack-after-ack") -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._pending: set[Future[object]] = set()
        self._lock = threading.Lock()

    def submit(self, what: str, call: Callable[[], object]) -> Future[object]:
        """Run `call` soon; failures are logged with `what`, never raised into a request."""

        def run() -> object:
            try:
                return call()
            except Exception:
                log.exception("after-ack work failed: %s", what)
                return None

        future = self._pool.submit(run)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._forget)
        return future

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
