"""A Teams user's verified e-mail, asked of the Bot Connector once and kept."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

log = logging.getLogger(__name__)

LOOKUP_TIMEOUT = 1.0  # seconds: a slow Connector costs the person their linking, never the answer


class TeamsDirectory:
    """E-mail addresses by AAD object id, from the Connector's member profile.

    Teams' member profile carries `email` and `userPrincipalName`, both managed by the trust's
    Entra directory (not typed by the person), so either can recognise an imported lead.
    """

    def __init__(self) -> None:
        self._emails: dict[str, str | None] = {}
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
        # A channel conversation id names its thread (";messageid=..."); members are the channel's.
        conversation = conversation_id.split(";", 1)[0]
        try:
            member = await asyncio.wait_for(
                api.conversations.get_member_by_id(conversation, user_id), LOOKUP_TIMEOUT
            )
        except Exception as error:  # any failure: "not known this time"
            log.warning("Teams member lookup failed: %s", type(error).__name__)
            return None  # not cached: the next message tries again
        email = getattr(member, "email", None) or getattr(member, "user_principal_name", None)
        email = str(email).strip() if email else None
        with self._lock:
            self._emails[aad_object_id] = email
        return email
