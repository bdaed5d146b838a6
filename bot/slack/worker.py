"""Work that must not delay Slack's acknowledgement: follow-up posts, modals, notices."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

log = logging.getLogger(__name__)


class AfterAck:
    """A small thread pool for the Web API calls that follow an acknowledged request."""

    def __init__(self, workers: int = 4) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="slack-after-ack")

    def submit(self, what: str, call: Callable[[], object]) -> Future[object]:
        """Run `call` soon; failures are logged with `what`, never raised into a request."""

        def run() -> object:
            try:
                return call()
            except Exception:
                log.exception("after-ack work failed: %s", what)
                return None

        return self._pool.submit(run)

    def drain(self) -> None:
        """Finish queued work (on shutdown, and in tests)."""
        self._pool.shutdown(wait=True, cancel_futures=False)
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="slack-after-ack")
