"""Who a Slack user is: display name and verified e-mail from users.info, cached and refreshed."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)

PROFILE_TTL_SECONDS = 6 * 3600


@dataclass(frozen=True)
class SlackProfile:
    """What we keep about a Slack user: how they are named, and their verified address."""

    name: str
    email: str | None
    verified: bool = True


class SlackDirectory:
    """users.info behind a small cache: one call per person every few hours, not per request."""

    def __init__(self, client: WebClient, *, ttl: float = PROFILE_TTL_SECONDS) -> None:
        self.client = client
        self.ttl = ttl
        self._cache: dict[str, tuple[float, SlackProfile]] = {}
        self._lock = threading.Lock()

    def cached(self, user_id: str) -> SlackProfile | None:
        """The profile if we have a fresh one, without calling Slack."""
        with self._lock:
            entry = self._cache.get(user_id)
        if entry is None or time.monotonic() - entry[0] > self.ttl:
            return None
        return entry[1]

    def fetch(self, user_id: str, fallback_name: str) -> SlackProfile:
        """Ask Slack for the profile (kept for next time); the fallback if Slack can't say."""
        try:
            user = self.client.users_info(user=user_id)["user"]
        except (SlackApiError, KeyError, TypeError, OSError, TimeoutError) as error:
            log.warning("users.info failed for a user: %s", type(error).__name__)
            return SlackProfile(name=fallback_name, email=None, verified=False)
        profile = user.get("profile") or {}
        name = (
            profile.get("display_name")
            or profile.get("real_name")
            or user.get("real_name")
            or user.get("name")
            or fallback_name
        )
        found = SlackProfile(name=name, email=profile.get("email") or None)
        with self._lock:
            self._cache[user_id] = (time.monotonic(), found)
        return found
