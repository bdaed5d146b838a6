"""Acting once per Teams activity: the replay check, made in the listener's own worker thread.

The middleware that knows the activity's key (bot/teams/app.py) arms the check; the listener
makes it first thing in the thread that does its database work (bot/teams/transport.py). A
request then hops to a worker thread once, not twice: each hop costs two hand-overs of the
GIL between the event loop and a worker, which under load cost more than the check itself.
A listener that acts without a worker thread acts on nothing stored, so needs no check.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextvars import ContextVar

log = logging.getLogger(__name__)

NOT_AGAIN = "a Teams activity already acted on came again; not acted on"


class Once:
    """One activity's replay check, made at most once however many threads ask."""

    def __init__(self, check: Callable[[], bool]) -> None:
        self._check = check
        self._lock = threading.Lock()
        self._answer: bool | None = None

    def first_time(self) -> bool:
        """Whether to act: the check's answer (made now, or remembered from before)."""
        with self._lock:
            if self._answer is None:
                self._answer = self._check()
                if not self._answer:
                    log.warning(NOT_AGAIN)
            return self._answer


# A holder, not the answer itself: a worker thread runs in a copy of the request's context,
# so it can read the variable but not set it; it records the answer in the holder.
_current: ContextVar[Once | None] = ContextVar("teams_once", default=None)


def arm(check: Callable[[], bool]) -> None:
    """Set the check for the activity this request carries (call from the middleware)."""
    _current.set(Once(check))


def first_time() -> bool:
    """Whether to act on the activity being handled (call in the listener's worker thread).

    True when nothing was armed: an activity kind that is never acted on twice, or a
    transport used without the middleware.
    """
    once = _current.get()
    return True if once is None else once.first_time()
