"""A Teams user's verified e-mail, asked of the Bot Connector once and kept."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

log = logging.getLogger(__name__)

LOOKUP_TIMEOUT = 1.0  # seconds: a slow Connector costs the person their linking, never the answer
RETRY_AFTER_FAILURE = 300.0  # seconds before a failed lookup is tried again


class TeamsDirectory:
    """E-mail addresses by AAD object id, from the Connector's member profile.

    Teams' member profile carries `email` and `userPrincipalName`, both managed by the trust's
    Entra directory (not typed by the person), so either can recognise an imported lead.
    """

    def __init__(self) -> None:
        self._emails: dict[str, str | None] = {}
        self._failed: dict[str, float] = {}  # aad object id -> when a lookup last failed
        self._lock = threading.Lock()

    def cached(self, aad_object_id: str) -> tuple[bool, str | None]:
        """(known, e-mail): whether this user was looked up, and what was found."""
        with self._lock:
            if aad_object_id in self._emails:
                return True, self._emails[aad_object_id]
        return False, None

    async def email(
        self, api: Any, conversation_id: str, user_id: str, aad_object_id: str
    ) -> str | None:
        """The user's directory e-mail, looked up on first contact within LOOKUP_TIMEOUT."""
        known, email = self.cached(aad_object_id)
        if known:
            return email
        with self._lock:
            failed = self._failed.get(aad_object_id)
        if failed is not None and time.monotonic() - failed < RETRY_AFTER_FAILURE:
            return None  # a Connector that failed just now: don't make every message wait
        # A channel conversation id names its thread (";messageid=..."); members are the channel's.
        conversation = conversation_id.split(";", 1)[0]
        try:
            member = await asyncio.wait_for(
                api.conversations.get_member_by_id(conversation, user_id), LOOKUP_TIMEOUT
            )
        except Exception as error:  # any failure: "not known this time"
            log.warning("Teams member lookup failed: %s", type(error).__name__)
            with self._lock:
                self._failed[aad_object_id] = time.monotonic()
            return None  # not cached as "no e-mail": tried again a few minutes later
        email = getattr(member, "email", None) or getattr(member, "user_principal_name", None)
        email = str(email).strip() if email else None
        with self._lock:
            self._emails[aad_object_id] = email
            self._failed.pop(aad_object_id, None)
        return email
