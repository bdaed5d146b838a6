"""Drawn charts kept by what they were drawn from: each drawn once, by one request at a time."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future

KEPT_CHARTS = 32  # about 90 kB each: under 3 MB, and a trust has a few charts, not dozens


class DrawnCharts:
    """A small LRU of PNGs by key; a chart being drawn is waited for, not drawn again.

    Ten people asking /qi-stats at once get the one drawing: the first draws, the others wait
    for its picture (or its failure, and the next request tries again).
    """

    def __init__(self, kept: int = KEPT_CHARTS) -> None:
        self._kept = kept
        self._done: OrderedDict[Hashable, bytes] = OrderedDict()
        self._drawing: dict[Hashable, Future[bytes]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, draw: Callable[[], bytes]) -> bytes:
        """The picture kept for `key`, else the one being drawn for it, else `draw()` now."""
        with self._lock:
            png = self._done.get(key)
            if png is not None:
                self._done.move_to_end(key)
                return png
            pending = self._drawing.get(key)
            mine = pending is None
            if pending is None:
                pending = self._drawing[key] = Future()
        if not mine:
            return pending.result()
        try:
            png = draw()
        except BaseException as error:
            with self._lock:
                del self._drawing[key]
            pending.set_exception(error)
            raise
        with self._lock:
            del self._drawing[key]
            self._done[key] = png
            while len(self._done) > self._kept:
                self._done.popitem(last=False)
        pending.set_result(png)
        return png

    def __len__(self) -> int:
        with self._lock:
            return len(self._done)

    def clear(self) -> None:
        """Forget every kept picture (tests)."""
        with self._lock:
            self._done.clear()


# One per process: every request's Image draws through it.
drawn_charts = DrawnCharts()
