"""The bot's own token for the Bot Connector: Entra client credentials, cached until near expiry."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import httpx

log = logging.getLogger(__name__)

# Renew this long before the token runs out, so no call goes out with a token expiring in flight.
EARLY_RENEWAL = 300.0  # seconds
TOKEN_TIMEOUT = 10.0  # seconds for the token endpoint to answer


BOT_FRAMEWORK_SCOPE = "https://api.botframework.com/.default"


class TokenError(Exception):
    """Entra refused (wrong secret, unknown app) or could not be reached; says which, no secret.

    `status` is Entra's HTTP status (None: not reached) and `code` its error, e.g.
    "invalid_client", so that start-up and `qi-nudge check` can name the setting at fault.
    """

    def __init__(self, message: str, *, status: int | None = None, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class BotConnectorToken:
    """A client-credentials token provider for the Teams SDK (its `token=` option).

    Not MSAL: MSAL cannot be pointed at a test server (it refuses http:// authorities and first
    asks login.microsoftonline.com about any other host), and this is the same one POST either
    way. The SDK calls it with (scope, tenant id) and wants the JWT back.
    """

    def __init__(self, login_url: str, tenant_id: str, app_id: str, password: str) -> None:
        self._url = f"{login_url.rstrip('/')}/{tenant_id}/oauth2/v2.0/token"
        self._app_id = app_id
        self._password = password
        self._cache: dict[str, tuple[str, float]] = {}  # scope -> (token, renew after)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"BotConnectorToken(app_id={self._app_id!r}, url={self._url!r})"  # no secret

    async def __call__(self, scope: str | list[str], tenant_id: str | None = None) -> str:
        """The token for `scope`: from the cache at once, else fetched in a worker thread.

        The SDK asks before every Connector call: the common case must not cost a thread hop.
        """
        scope = scope if isinstance(scope, str) else scope[0]
        # No lock here, on the event loop: while another thread renews the token (holding the
        # lock for Entra's answer), the loop must not wait. Reading one dict entry is atomic.
        known = self._cache.get(scope)
        if known is not None and time.monotonic() < known[1]:
            return known[0]
        return await asyncio.to_thread(self.fetch, scope)

    def fetch(self, scope: str) -> str:
        """A valid token for `scope`, from the cache or from Entra."""
        with self._lock:
            known = self._cache.get(scope)
            if known is not None and time.monotonic() < known[1]:
                return known[0]
            token, lifetime = self._request(scope)
            self._cache[scope] = (token, time.monotonic() + max(0.0, lifetime - EARLY_RENEWAL))
            return token

    def _request(self, scope: str) -> tuple[str, float]:
        try:
            answer = httpx.post(
                self._url,
                data={
                    "grant_type": "client_credentials",
                    "client_id": self._app_id,
                    "client_secret": self._password,
                    "scope": scope,
                },
                timeout=TOKEN_TIMEOUT,
            )
        except httpx.HTTPError as error:
            name = type(error).__name__
            raise TokenError(f"could not reach the Entra token endpoint ({name})") from None
        try:
            body = answer.json()
        except ValueError:
            body = {}
        if answer.status_code != 200 or "access_token" not in body:
            # Entra's own description (AADSTS...) says what is wrong; it never echoes the secret.
            detail = str(body.get("error_description") or body.get("error") or "")[:200]
            status = answer.status_code
            code = str(body.get("error") or "")
            raise TokenError(
                f"Entra refused the bot's credentials ({status}): {detail}",
                status=status,
                code=code,
            )
        return str(body["access_token"]), float(body.get("expires_in", 3599))
