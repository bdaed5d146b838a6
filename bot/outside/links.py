"""Signed, expiring links for people outside chat: answer, stop, confirm, and calendars.

Each link carries a token naming one person (and one meeting) and what it is for, signed with
LINK_SECRET: a forged or altered token, or one past its time, is refused. A token gives no
log-in: it only opens the page for its purpose, where a button press does the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from itsdangerous import BadSignature, URLSafeSerializer

from handlers.core.context import system_clock

# What a token is for: a token made for one purpose is refused for any other.
ANSWER = "answer"  # one person's answer to one meeting
STOP = "stop"  # one person's "stop these messages"
CONFIRM = "confirm"  # one person confirming an address they signed up with
MEETING_CALENDAR = "meeting-ics"  # one meeting's calendar entry
FORUM_CALENDAR = "forum-ics"  # a forum's calendar feed (no person; no expiry)
# How long the links in a message keep working.
ANSWER_GRACE = timedelta(days=7)  # after the meeting's start: its page still says what happened
STOP_FOR = timedelta(days=730)
CONFIRM_FOR = timedelta(days=7)


@dataclass(frozen=True)
class Token:
    """What a valid token names."""

    purpose: str
    person_id: int | None = None
    meeting_id: int | None = None
    forum_id: int | None = None
    role: str | None = None  # a confirmation to join a forum: the role they signed up in


class Links:
    """Makes and reads the links in messages to people outside chat."""

    def __init__(
        self,
        public_url: str,
        secret: str,
        *,
        clock: Callable[[], datetime] = system_clock,
    ) -> None:
        self.public_url = public_url.rstrip("/")
        self._serializer = URLSafeSerializer(secret, salt="qi-nudge-links")
        self._clock = clock

    def _token(
        self, purpose: str, expires: datetime | None, *, role: str | None = None, **ids: int
    ) -> str:
        data: dict[str, Any] = {"u": purpose, **{k[0]: v for k, v in ids.items()}}
        if expires is not None:
            data["x"] = int(expires.timestamp())
        if role is not None:
            data["r"] = role
        return str(self._serializer.dumps(data))

    def answer(self, person_id: int, meeting_id: int, starts_at: datetime, answer: str) -> str:
        """The page where the person answers for the meeting, with `answer` picked."""
        token = self._token(ANSWER, starts_at + ANSWER_GRACE, person=person_id, meeting=meeting_id)
        return f"{self.public_url}/answer/{token}?choice={quote(answer)}"

    def stop(self, person_id: int) -> str:
        """The page where the person stops every message from qi-nudge."""
        token = self._token(STOP, self._clock() + STOP_FOR, person=person_id)
        return f"{self.public_url}/stop/{token}"

    def confirm(self, person_id: int, forum_id: int | None = None, role: str | None = None) -> str:
        """The page where someone who signed up confirms the address is theirs.

        With a forum: an address already confirmed, signed up to one more forum (in `role`),
        which its owner must agree to, as whoever typed it may not be them.
        """
        ids = {"person": person_id} if forum_id is None else {"person": person_id, "f": forum_id}
        token = self._token(CONFIRM, self._clock() + CONFIRM_FOR, role=role, **ids)
        return f"{self.public_url}/confirm/{token}"

    def meeting_calendar(self, meeting_id: int, starts_at: datetime) -> str:
        """One meeting's calendar entry (.ics), for a text message that cannot attach it."""
        token = self._token(MEETING_CALENDAR, starts_at + ANSWER_GRACE, meeting=meeting_id)
        return f"{self.public_url}/calendar/meeting/{token}.ics"

    def forum_calendar(self, forum_id: int) -> str:
        """A forum's calendar feed, for Outlook or Google Calendar to subscribe to."""
        token = self._token(FORUM_CALENDAR, None, forum=forum_id)
        return f"{self.public_url}/calendar/forum/{token}.ics"

    def signup(self, forum_name_key: str) -> str:
        """The forum's public sign-up page (shown only if the forum has it turned on)."""
        return f"{self.public_url}/join/{quote(forum_name_key)}"

    def read(self, token: str, purpose: str) -> Token | None:
        """What the token names, if it is genuine, for `purpose`, and still in time; else None."""
        try:
            data = self._serializer.loads(token)
        except (BadSignature, ValueError, TypeError):
            return None
        if not isinstance(data, dict) or data.get("u") != purpose:
            return None
        expires = data.get("x")
        if expires is not None and (
            not isinstance(expires, int) or expires <= self._clock().timestamp()
        ):
            return None
        ids = {key: data.get(key) for key in ("p", "m", "f")}
        if any(value is not None and not isinstance(value, int) for value in ids.values()):
            return None
        role = data.get("r")
        if role is not None and not isinstance(role, str):
            return None
        return Token(purpose, person_id=ids["p"], meeting_id=ids["m"], forum_id=ids["f"], role=role)
