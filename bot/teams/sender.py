"""Sending outbox deliveries through the Bot Connector: 1:1 chats and team channels."""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

import httpx
from microsoft_teams.api import (
    Account,
    ApiClient,
    CreateConversationParams,
    MessageActivityInput,
)
from microsoft_teams.common.http import ClientOptions
from sqlalchemy.orm import Session, sessionmaker

from bot.runtime.sending import SendError
from bot.runtime.settings import Settings
from bot.teams.auth import TokenError
from bot.teams.cards import build_message, build_reply_card
from handlers.core.reply import Reply
from handlers.forum.channel_problems import ChannelProblem
from store import addresses, outbox
from store.people import identity_on

log = logging.getLogger(__name__)

PLATFORM = "teams"
CALL_TIMEOUT = 30.0  # seconds for one Connector call
# Teams documents no Retry-After on its 429s; without one, back off exponentially with jitter,
# as Microsoft asks: 2 s, 4 s, 8 s ... up to a minute, starting again after a send goes through.
FIRST_BACKOFF = 2.0  # seconds
MAX_BACKOFF = 60.0  # seconds
# Teams answers these when trying again later may work (Microsoft asks bots to retry them).
RETRYABLE_STATUSES = frozenset({408, 412, 500, 502, 503, 504})
# Of those, the ones that can come back after Teams has already posted the message (a gateway
# or a timeout between us and the service): a post answered so may be there. 503 and 412 are
# Teams declining the request itself.
MAYBE_POSTED_STATUSES = frozenset({408, 500, 502, 504})
# The conversation is gone for the bot: the app was uninstalled, or the person left the tenant.
GONE_STATUSES = frozenset({403, 404})
# Of those, the one that says the organisation's Teams admin blocked the app everywhere: the
# conversation is still there, and only IT can let the app in again.
BLOCKED_BY_ADMIN = "BotDisabledByAdmin"
# What the codes Teams documents with those statuses mean, for the outbox's record (Microsoft's
# "Status codes from bot conversational APIs"); anything else is taken as the app being removed.
GONE_REASONS = {
    "ConversationBlockedByUser": "the person blocked qi-nudge in Teams",
    "ConversationNotFound": "Teams has no such chat or channel (or qi-nudge was never added there)",
}
GONE_REASON = "qi-nudge was removed from that chat or channel in Teams"
MEMBERS_PAGE = 50  # the smallest page Teams serves: checking a channel reads no more than this


class TeamsSender:
    """Posts deliveries as Adaptive Cards; a sync Sender over the SDK's async API client.

    The delivery loop is a plain thread. The SDK's HTTP pool belongs to the event loop that
    first uses it, so this sender owns one private loop thread and its own ApiClient, and
    waits on each call; nothing here shares a loop with the web server.
    """

    platform = PLATFORM
    # The Bot Connector cannot read messages back: after a crash mid-post, the outbox must not
    # look (it can't) and must not post blindly again (see bot/runtime/delivery.py).
    can_look_back = False

    def __init__(
        self,
        *,
        service_url: str,
        app_id: str,
        tenant_id: str,
        token_provider: Any,
        sessions: sessionmaker[Session],
        timeout: float = CALL_TIMEOUT,
    ) -> None:
        self._default_service_url = service_url
        self._app_id = app_id
        self._tenant_id = tenant_id
        self._sessions = sessions
        self._timeout = timeout
        self._service_urls: dict[str, str] = {}  # conversation id -> where it lives
        self._throttled = 0  # 429s in a row without Retry-After, for the back-off
        self._urls_lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="qi-teams-sender", daemon=True
        )
        self._thread.start()
        self._api = ApiClient(
            service_url, ClientOptions(timeout=timeout), token_provider=token_provider
        )

    @classmethod
    def for_settings(
        cls,
        settings: Settings,
        sessions: sessionmaker[Session],
        token_provider: Any,
        *,
        timeout: float = CALL_TIMEOUT,
    ) -> TeamsSender:
        """The sender for this deployment's bot registration."""
        assert settings.teams_app_id and settings.teams_tenant_id
        return cls(
            service_url=settings.teams_service_url,
            app_id=settings.teams_app_id,
            tenant_id=settings.teams_tenant_id,
            token_provider=token_provider,
            sessions=sessions,
            timeout=timeout,
        )

    def close(self) -> None:
        """Stop the private event loop."""
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    # --- the Sender protocol -------------------------------------------------------------

    def destination(self, sessions: sessionmaker[Session], recipient: str) -> str | None:
        """A person's 1:1 chat (created once, then kept), or a team channel's id."""
        person_id = outbox.recipient_person_id(recipient)
        if person_id is None:
            target = outbox.recipient_channel(recipient)
            if target is None or target[0] != PLATFORM:
                return None
            with sessions() as session:
                channel = addresses.channel_of(session, PLATFORM, target[1])
                if channel is not None and channel.address.get("serviceUrl"):
                    self._learn(target[1], str(channel.address["serviceUrl"]))
            return target[1]
        with sessions() as session:
            identity = identity_on(session, person_id, PLATFORM)
            if identity is None:
                return None
            address = addresses.address_of(session, PLATFORM, identity.workspace, identity.user_id)
            if address is None:
                return None  # never installed nor messaged the bot: Teams gives no way in
            address_id, known = address.id, address.dm_channel
            service_url = str(address.address.get("serviceUrl") or self._default_service_url)
            user_id = address.address.get("userId")
        if known:
            self._learn(known, service_url)
            return known
        if not user_id:
            return None
        # The database is not held while Teams answers (SQLite would make every request wait).
        created = self._call(
            self._api.clone(service_url=service_url).conversations.create(
                personal_chat(str(user_id), self._tenant_id, f"28:{self._app_id}")
            ),
            conversation=None,
        )
        conversation = str(created.id)
        with sessions.begin() as session:
            addresses.set_dm_channel(session, address_id, conversation)
        self._learn(conversation, service_url)
        return conversation

    def find_sent(self, channel: str, key: str, *, since: datetime) -> str | None:
        """Nothing can be found: the Bot Connector has no way to read a message back."""
        return None

    def post(self, channel: str, reply: Reply, key: str) -> str | None:
        """Post the reply as a card; Teams assigns the message id."""
        sent = self._call(
            self._api.conversations.create_activity(
                channel, _activity(reply), service_url=self._service_url(channel)
            ),
            conversation=channel,
            posting=True,
        )
        return str(sent.id) if sent is not None and sent.id else None

    def update(self, channel: str, message_id: str, reply: Reply) -> None:
        """Edit a posted card in place (RSVP counts)."""
        self._call(
            self._api.conversations.update_activity(
                channel, message_id, _activity(reply), service_url=self._service_url(channel)
            ),
            conversation=channel,
        )

    def check_channel(self, channel: str) -> None:
        """Ask Teams whether the bot is still in a channel (one page of its members).

        Raises SendError: `channel_problem` is set if the app was removed from the team.
        """
        service_url = self._service_url(channel)
        self._call(
            self._api.clone(service_url=service_url).conversations.get_paged_members(
                channel, page_size=MEMBERS_PAGE
            ),
            conversation=channel,
        )

    # --- helpers -------------------------------------------------------------------------

    def _learn(self, conversation: str, service_url: str) -> None:
        with self._urls_lock:
            self._service_urls[conversation] = service_url

    def _service_url(self, conversation: str) -> str:
        """Where a conversation lives: learned, stored (after a restart), else the default."""
        with self._urls_lock:
            known = self._service_urls.get(conversation)
        if known:
            return known
        with self._sessions() as session:
            channel = addresses.channel_of(session, PLATFORM, conversation)
            stored = channel.address.get("serviceUrl") if channel is not None else None
            if stored is None:
                row = addresses.address_with_chat(session, PLATFORM, conversation)
                stored = row.address.get("serviceUrl") if row is not None else None
        url = str(stored or self._default_service_url)
        self._learn(conversation, url)
        return url

    def _call(
        self, work: Coroutine[Any, Any, Any], *, conversation: str | None, posting: bool = False
    ) -> Any:
        """Run one Connector call on the private loop; its failures as SendErrors.

        `posting`: the call posts a message, which must not be posted twice.
        """
        future = asyncio.run_coroutine_threadsafe(work, self._loop)
        try:
            answer = future.result(self._timeout + 5)
            self._throttled = 0
            return answer
        except httpx.HTTPStatusError as error:
            raise self._refused(error, conversation, posting=posting) from None
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            # Nothing reached Teams: safe to post again later.
            raise SendError(
                f"could not reach Teams ({type(error).__name__})", retryable=True
            ) from None
        except TokenError as error:
            # No token, so nothing was sent: an expired client secret must not turn every
            # message into "unconfirmed" (sent, as far as the outbox knows) and lose it.
            raise SendError(f"could not sign in to Teams: {error}", retryable=True) from None
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as error:
            # Sent, then no answer: Teams may have posted it (see SendError.maybe_sent).
            future.cancel()
            raise SendError(
                f"no answer from Teams ({type(error).__name__})", retryable=True, maybe_sent=True
            ) from None
        except TimeoutError:
            # Our own wait ran out: the request may be on its way or answered.
            future.cancel()
            raise SendError(
                "no answer from Teams in time", retryable=True, maybe_sent=True
            ) from None
        except Exception as error:
            # Anything else failed before or while building the request (the SDK's own checks):
            # nothing reached Teams. Logged for IT, tried again later.
            log.exception("Teams call failed before it was sent")
            raise SendError(
                f"could not send to Teams ({type(error).__name__})", retryable=True
            ) from None

    def _refused(
        self, error: httpx.HTTPStatusError, conversation: str | None, *, posting: bool
    ) -> SendError:
        status = error.response.status_code
        code = _error_code(error.response)
        reason = f"Teams said {status}{f' {code}' if code else ''}"
        if posting and status in MAYBE_POSTED_STATUSES:
            # Teams cannot be asked whether it has the message: it may, so it is not posted
            # again (see SendError.maybe_sent), rather than risk a lead getting it twice.
            return SendError(reason, retryable=True, maybe_sent=True)
        if status == 429:
            return SendError(reason, retryable=True, retry_after=self._retry_after(error.response))
        if status in GONE_STATUSES and code == BLOCKED_BY_ADMIN:
            return SendError(
                f"{reason}: the organisation's Teams admin has blocked the qi-nudge app",
                retryable=False,
                channel_problem=ChannelProblem.APP_BLOCKED,
            )
        if status in GONE_STATUSES and conversation is not None:
            # Final for a direct message; a channel's post waits for an organiser to add the
            # app (bot/runtime/delivery.py). A blocked chat is forgotten too: Teams asks bots to
            # drop it.
            self._forget(conversation)
            return SendError(
                f"{reason}: {GONE_REASONS.get(code or '', GONE_REASON)}",
                retryable=False,
                channel_problem=ChannelProblem.APP_REMOVED,
            )
        return SendError(reason, retryable=status in RETRYABLE_STATUSES or status == 401)

    def _retry_after(self, response: httpx.Response) -> float:
        """Seconds to hold all sending: Teams' Retry-After if it gave one, else the back-off."""
        try:
            return max(1.0, float(response.headers.get("Retry-After", "")))
        except ValueError:
            pass
        self._throttled += 1
        backoff = min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** (self._throttled - 1))
        # Jitter: replicas and other bots in the tenant do not all come back at the same moment.
        return backoff * random.uniform(0.8, 1.2)

    def _forget(self, conversation: str) -> None:
        """A 1:1 chat Teams no longer lets us use: the next message opens a new one."""
        with self._sessions.begin() as session:
            row = addresses.address_with_chat(session, PLATFORM, conversation)
            if row is not None:
                addresses.set_dm_channel(session, row.id, None)
        with self._urls_lock:
            self._service_urls.pop(conversation, None)


def personal_chat(user_id: str, tenant_id: str, bot_id: str) -> CreateConversationParams:
    """What POST /v3/conversations takes to open (or find) the bot's 1:1 chat with a user."""
    return CreateConversationParams(
        members=[Account(id=user_id)],
        tenant_id=tenant_id,
        channel_data={"tenant": {"id": tenant_id}},
        # Not fields of the SDK's model, but the Connector wants them (extra keys pass through).
        **{"bot": {"id": bot_id}, "isGroup": False},
    )


def _activity(reply: Reply) -> MessageActivityInput:
    return MessageActivityInput.model_validate(build_message(build_reply_card(reply)))


def _error_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return str(code) if code else None
