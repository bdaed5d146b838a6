"""Which platform events were handled already: platforms redeliver ones they think were lost."""

from __future__ import annotations

import threading
from collections import OrderedDict


class SeenEvents:
    """Event ids already handled: Slack redelivers an event it thinks we missed."""

    def __init__(self, remember: int = 10_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._remember = remember
        self._lock = threading.Lock()

    def seen(self, event_id: str) -> bool:
        """True if this event was handled before; otherwise remember it and say False."""
        if not event_id:
            return False
        with self._lock:
            if event_id in self._ids:
                return True
            self._ids[event_id] = None
            if len(self._ids) > self._remember:
                self._ids.popitem(last=False)
        return False
