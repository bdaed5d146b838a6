"""Sending outbox deliveries through the Slack Web API."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from bot.runtime.pacing import TokenBucket
from bot.runtime.sending import SendError
from bot.slack.blocks import build_reply_blocks, fallback_text
from handlers.core.reply import Reply
from handlers.forum.channel_problems import ChannelProblem
from store import outbox
from store.models import ChatIdentity
from store.people import identity_on

log = logging.getLogger(__name__)

PLATFORM = "slack"
METADATA_EVENT = "qi_nudge_delivery"
# Slack answers these when trying again later may work; anything else needs a person to fix.
RETRYABLE_ERRORS = frozenset({"internal_error", "fatal_error", "service_unavailable"})
# Slack's "slow down" (HTTP 429, or chat.postMessage's own "too many messages" in a 200).
RATE_LIMITED_ERRORS = frozenset({"ratelimited", "rate_limited"})
HISTORY_PAGE = 200  # messages per conversations.history call (Slack allows up to 999)
HISTORY_PAGES_MAX = 50  # a look back this long is a channel far busier than any forum
DEFAULT_RETRY_AFTER = 30.0  # seconds, if Slack refused for its rate limit without Retry-After
# Slack's answers when the bot may not use a channel: a person has to let it in (or unarchive).
CHANNEL_ERRORS = {
    "not_in_channel": ChannelProblem.NOT_IN_CHANNEL,
    "channel_not_found": ChannelProblem.NOT_FOUND,
    "is_archived": ChannelProblem.ARCHIVED,
}
# conversations.open is Tier 3: 50+ calls a minute, short bursts welcome. Paced as Slack counts
# (a burst below its 5), so that a first week of many new leads earns no 429: each one holds
# every send for a whole second at least, where pacing waits 1.2 s for the next open only.
OPEN_INTERVAL = 60 / 50  # seconds per DM opened, on average
OPEN_BURST = 4


def build_sending_client(client: WebClient, *, timeout: int = 10) -> WebClient:
    """A client that tries each call once: every failure goes back to the deliverer.

    No retry handlers, on purpose. slack_sdk's RateLimitErrorRetryHandler would sleep out a
    429 inside the HTTP call, where nothing else can see it: the pacer would let other sends
    (in-place edits) carry on into the same limit, the wait would run after the claim was
    renewed (five 60-second Retry-Afters can outlast the lease, and then another sender posts
    the message as well), and a storm longer than its five retries would use up the delivery's
    attempts. Instead a 429 is a SendError with `retry_after`: the deliverer holds its pacer,
    so that the rest of the batch and the edits wait too, and puts the delivery back,
    uncounted, for when Slack allows. 5xx and timeouts go back to the outbox too (with
    backoff), which looks for the message before posting again.
    """
    return WebClient(
        token=client.token,
        base_url=client.base_url,
        timeout=timeout,
        retry_handlers=[],
    )


class SlackSender:
    """Posts deliveries to DMs and channels, tagged so that they can be found again."""

    platform = PLATFORM
    can_look_back = True  # conversations.history shows each message's metadata (its key)

    def __init__(
        self,
        client: WebClient,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self._clock = clock
        self._sleep = sleep
        self._opens = TokenBucket(OPEN_INTERVAL, OPEN_BURST)
        self._opens_lock = threading.Lock()

    def destination(self, sessions: sessionmaker[Session], recipient: str) -> str | None:
        """The DM channel for a person (kept in the database), or a channel of this workspace."""
        person_id = outbox.recipient_person_id(recipient)
        if person_id is None:
            target = outbox.recipient_channel(recipient)
            return target[1] if target is not None and target[0] == PLATFORM else None
        with sessions() as session:
            identity = identity_on(session, person_id, PLATFORM)
            if identity is None:
                return None
            identity_id, user_id, known = identity.id, identity.user_id, identity.dm_channel
        if known is not None:
            return known
        # conversations.open allows only about 50 calls a minute: open once, keep the id. The
        # database is not held while Slack answers (SQLite would make every sign-up wait).
        self._wait_to_open()
        channel = str(self._call(self.client.conversations_open, users=user_id)["channel"]["id"])
        with sessions.begin() as session:
            session.execute(
                update(ChatIdentity)
                .where(ChatIdentity.id == identity_id)
                .values(dm_channel=channel)
            )
        return channel

    def _wait_to_open(self) -> None:
        """Sleep until conversations.open may be called within Slack's limit, and count it."""
        with self._opens_lock:
            while (ready := self._opens.ready_at(now := self._clock())) > now:
                self._sleep(ready - now)
            self._opens.take(self._clock())

    def find_sent(self, channel: str, key: str, *, since: datetime) -> str | None:
        """The ts of a message in `channel`, posted since `since`, that carries this delivery key.

        Every page back to `since` is read: a busy channel can take far more than one page of
        messages between a lost answer and the retry, and a page missed is a duplicate post.
        """
        cursor: str | None = None
        for _ in range(HISTORY_PAGES_MAX):
            answer = self._in_channel(
                self.client.conversations_history,
                channel=channel,
                oldest=f"{since.timestamp():.6f}",
                limit=HISTORY_PAGE,
                include_all_metadata=True,
                **({"cursor": cursor} if cursor else {}),
            )
            for message in answer.get("messages", []):
                metadata = message.get("metadata") or {}
                payload = metadata.get("event_payload") or {}
                if metadata.get("event_type") == METADATA_EVENT and payload.get("key") == key:
                    return str(message["ts"])
            cursor = (answer.get("response_metadata") or {}).get("next_cursor") or None
            if not answer.get("has_more") or cursor is None:
                return None
        # Not looked all the way back: posting again might post twice, so try again later.
        raise SendError(
            f"could not look through the channel's last {HISTORY_PAGES_MAX * HISTORY_PAGE} "
            "messages for this one",
            retryable=True,
        )

    def post(self, channel: str, reply: Reply, key: str) -> str | None:
        """chat.postMessage with the delivery key in the message's metadata."""
        answer = self._in_channel(
            self.client.chat_postMessage,
            channel=channel,
            text=fallback_text(reply),
            blocks=build_reply_blocks(reply),
            metadata={"event_type": METADATA_EVENT, "event_payload": {"key": key}},
        )
        return answer.get("ts")

    def update(self, channel: str, ts: str, reply: Reply) -> None:
        """Edit a message in place (RSVP counts)."""
        self._in_channel(
            self.client.chat_update,
            channel=channel,
            ts=ts,
            text=fallback_text(reply),
            blocks=build_reply_blocks(reply),
        )

    def _in_channel(self, method: Callable[..., Any], *, channel: str, **kwargs: Any) -> Any:
        """Call a method on a channel, joining it first if it is public and the bot is not in.

        A forum channel set before the bot joined it, or one it was removed from, then just
        works; if Slack will not let it join (a missing scope), the not_in_channel error stands
        and the deliverer tells the organisers; if the join finds the channel archived (or
        gone), that is the problem they are told of.
        """
        try:
            return self._call(method, channel=channel, **kwargs)
        except SendError as error:
            if error.channel_problem is not ChannelProblem.NOT_IN_CHANNEL:
                raise
            try:
                self._call(self.client.conversations_join, channel=channel)
            except SendError as join_error:
                # The join's own answer says more (is_archived: inviting the bot would not
                # help, unarchiving would); a refusal without one (missing_scope) needs an invite.
                problem = join_error.channel_problem or error.channel_problem
                raise SendError(
                    f"{error.reason} (and could not join it: {join_error.reason})",
                    retryable=join_error.retryable,
                    retry_after=join_error.retry_after,
                    channel_problem=None if join_error.retryable else problem,
                ) from None
            log.info("joined Slack channel %s to post there", channel)
        return self._call(method, channel=channel, **kwargs)

    @staticmethod
    def _call(method: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return method(**kwargs)
        except SlackApiError as error:
            status = error.response.status_code
            code = error.response.get("error") if isinstance(error.response.data, dict) else None
            reason = f"Slack said {code or status}"
            needed = error.response.get("needed") if code == "missing_scope" else None
            if needed:  # the IT person adds it to the manifest and reinstalls the app
                reason += f" (the app needs the scope {needed}: reinstall it)"
            if status == 429 or code in RATE_LIMITED_ERRORS:
                retry_after = _retry_after(error.response.headers)
                raise SendError(reason, retryable=True, retry_after=retry_after) from None
            retryable = status >= 500 or code in RETRYABLE_ERRORS
            raise SendError(
                reason, retryable=retryable, channel_problem=CHANNEL_ERRORS.get(code or "")
            ) from None
        except (OSError, TimeoutError) as error:
            # Slack may or may not have acted (unless it was never reached): the next attempt
            # looks before posting again.
            raise SendError(
                f"no answer from Slack ({type(error).__name__})",
                retryable=True,
                maybe_sent=not _refused(error),
            ) from None


def _refused(error: BaseException) -> bool:
    """Whether the connection was refused: the request never reached Slack."""
    reason = error.reason if isinstance(error, URLError) else error
    return isinstance(reason, ConnectionRefusedError)


def _retry_after(headers: dict[str, Any] | None) -> float:
    """Seconds Slack asked us to wait (its Retry-After header), at least one."""
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            if isinstance(value, list):  # (some slack_sdk clients keep every value)
                value = value[0] if value else None
            try:
                return max(1.0, float(value))
            except (TypeError, ValueError):
                break
    return DEFAULT_RETRY_AFTER
