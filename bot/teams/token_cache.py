"""The SDK's check of Teams' inbound tokens, remembered per token for a few minutes.

Teams signs many activities with one Bot Framework token (it keeps one for about an hour), and
the SDK checks each request's token from scratch: an RS256 signature and every claim. A token
that passed stays as good as it was (its expiry aside), so the answer is kept per token and
service URL until the token expires or for KEEP_SECONDS, whichever is sooner. KEEP_SECONDS is
no longer than the SDK itself trusts a signing key it fetched (PyJWKClient keeps keys for five
minutes): a key Microsoft withdraws stops passing tokens here no later than it would have.
A token that fails is never remembered: it is checked again, as before, each time it comes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

KEEP_SECONDS = 240.0  # at most this long per token (the SDK's key cache lasts 300 s)
JWT_LEEWAY_SECONDS = 300  # the SDK accepts a token this long past its expiry (clock skew)
MOST_TOKENS = 1024  # tokens remembered at once; Teams uses a handful per hour


class CachedTokenValidator:
    """Wraps the SDK's InboundActivityTokenValidator; same call, same answers, same errors."""

    def __init__(self, inner: Any, *, clock: Callable[[], float] = time.time) -> None:
        self.inner = inner
        self._clock = clock
        # (token, service URL) -> (remembered until, the token's claims)
        self._passed: dict[tuple[str, str | None], tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    async def validate_token(self, raw_token: str, service_url: str | None = None) -> Any:
        """The token's claims if the SDK would accept it now; raises as the SDK does if not."""
        key = (raw_token, service_url)
        now = self._clock()
        known = self._passed.get(key)  # one dict read: atomic, no lock on the event loop
        if known is not None and now < known[0]:
            return known[1]
        claims = await self.inner.validate_token(raw_token, service_url)
        until = self._until(claims, now)
        if until is not None:
            with self._lock:
                if len(self._passed) >= MOST_TOKENS:
                    self._passed = {k: v for k, v in self._passed.items() if now < v[0]}
                    if len(self._passed) >= MOST_TOKENS:
                        self._passed.clear()  # a flood of distinct valid tokens: start again
                self._passed[key] = (until, claims)
        return claims

    @staticmethod
    def _until(claims: Any, now: float) -> float | None:
        """Until when the answer holds; None if the token says nothing of its expiry."""
        expires = claims.get("exp") if isinstance(claims, dict) else None
        if not isinstance(expires, int | float) or isinstance(expires, bool):
            return None
        return min(now + KEEP_SECONDS, expires + JWT_LEEWAY_SECONDS)


def cache_token_checks(server: Any) -> bool:
    """Put the cache in front of the SDK server's token check; False if the SDK changed."""
    validator = getattr(server, "_token_validator", None)
    if validator is None or not callable(getattr(validator, "validate_token", None)):
        log.warning("the Teams SDK changed: inbound tokens are checked in full every time")
        return False
    if not isinstance(validator, CachedTokenValidator):
        server._token_validator = CachedTokenValidator(validator)
    return True
