"""A token bucket: how Slack counts its rate limits, so that the sender can keep within them."""

from __future__ import annotations

# A bucket this close to a whole token counts as having it: float sums of refills drift.
EPSILON = 1e-9


class TokenBucket:
    """`burst` calls at once, then one every `interval` seconds on average.

    Slack (and tests.fakes.FakeSlack) count a limit this way: pacing with the same kind of
    bucket, never fuller than Slack's, sends at the full rate and never earns a 429. An
    `interval` of 0 means no limit. The caller keeps it thread-safe (and gives the time).
    """

    def __init__(self, interval: float, burst: int) -> None:
        self.interval = interval
        self.burst = max(1, burst)
        self._tokens = float(self.burst)
        self._updated: float | None = None  # full until first used

    def ready_at(self, now: float) -> float:
        """The earliest moment (on the caller's clock) a call may go: `now` if one may."""
        if self.interval <= 0:
            return now
        self._refill(now)
        if self._tokens >= 1 - EPSILON:
            return now
        return now + (1 - self._tokens) * self.interval

    def take(self, now: float) -> None:
        """Count one call made at `now` (after `ready_at` said it may go)."""
        if self.interval <= 0:
            return
        self._refill(now)
        self._tokens = max(0.0, self._tokens - 1)

    def _refill(self, now: float) -> None:
        if self._updated is not None and now > self._updated:
            self._tokens = min(
                float(self.burst), self._tokens + (now - self._updated) / self.interval
            )
        if self._updated is None or now > self._updated:
            self._updated = now
