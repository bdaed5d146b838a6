"""Requests already acted on, shared by every replica: a replayed copy is answered, not run.

A signed Slack request stays valid for five minutes and a Teams token for about an hour: anyone
who captures one (a logging proxy, a leaked trace) could send it again in that time and have it
run again. Platforms also redeliver on their own (Slack retries an event it thinks we missed).
Each accepted request leaves a key in the database until no copy of it could pass the platform's
checks any more; a request whose key is already there is acknowledged without acting.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from store.seen_requests import Sighting, forget_expired, note_first_sighting

log = logging.getLogger(__name__)

PRUNE_EVERY = 60.0  # seconds between clearing out expired keys, per process
MIN_KEEP = timedelta(minutes=1)  # however soon a request's window closes, keep its key this long


def request_key(*parts: str) -> str:
    """The key for a request: a digest, so no id or signature is stored as it came."""
    digest = hashlib.sha256()
    for part in parts:
        # Length-prefixed, so ("ab", "c") and ("a", "bc") cannot give the same key.
        encoded = part.encode("utf-8", "surrogatepass")
        digest.update(b"%d:" % len(encoded) + encoded)
    return digest.hexdigest()


class SeenRequests:
    """The database's list of requests acted on; asks it once per request, in one statement."""

    def __init__(
        self, sessions: sessionmaker[Session], *, prune_every: float = PRUNE_EVERY
    ) -> None:
        self.sessions = sessions
        self._prune_every = prune_every
        self._lock = threading.Lock()
        self._pruned_at = time.monotonic()

    def first_time(self, key: str, until: datetime) -> bool:
        """True if no request with `key` was acted on lately (and keep it until `until`).

        Wall-clock time, not the bot's clock: the platforms' windows are real time.
        """
        now = datetime.now(UTC)
        until = max(until, now + MIN_KEEP)
        with self.sessions.begin() as session:
            new = note_first_sighting(session, key, until, now)
            if new and self._prune_due():
                # An indexed delete of a few rows, once a minute: the table stays small
                # without a job of its own, and no request waits for more than this.
                forget_expired(session, now)
        return new

    def sighting(self, key: str, until: datetime) -> Sighting:
        """`key` to note with the request's own work (store.seen_requests.Sighting), until `until`.

        Its noting clears out the expired keys too, when that is due.
        """
        now = datetime.now(UTC)
        return Sighting(
            key=key, expires_at=max(until, now + MIN_KEEP), now=now, prune=self._prune_due()
        )

    def _prune_due(self) -> bool:
        with self._lock:
            if time.monotonic() - self._pruned_at < self._prune_every:
                return False
            self._pruned_at = time.monotonic()
            return True
