"""A limit on how often one network address may use the sign-up page."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class PerAddressLimit:
    """At most `most` uses per `seconds` from each address, kept in this process's memory.

    Enough to slow a script filling the form in a loop; each address's confirmation message
    is limited to one a day by the outbox anyway.
    """

    def __init__(
        self, most: int, seconds: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.most = most
        self.seconds = seconds
        self._clock = clock
        self._uses: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, address: str) -> bool:
        """Count one use from the address; False if it has used up its share."""
        now = self._clock()
        with self._lock:
            if len(self._uses) > 10_000:  # forget the quiet ones rather than grow without end
                self._uses = {
                    k: v for k, v in self._uses.items() if v and v[-1] > now - self.seconds
                }
            uses = self._uses.setdefault(address, deque())
            while uses and uses[0] <= now - self.seconds:
                uses.popleft()
            if len(uses) >= self.most:
                return False
            uses.append(now)
            return True
