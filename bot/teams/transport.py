"""The Teams transport: SDK activities in, handler calls, Adaptive Cards out.

Each SDK handler is async and thin: it works out who is acting, runs the (synchronous,
database-bound) handler in a worker thread, and answers. In a personal chat the answer comes
in place; when someone @mentions the bot in a channel or group chat, the answer goes to their
1:1 chat with the bot (a reply is for the person who asked, as Slack's are ephemeral) and the
thread gets one short line saying so.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Mapping
from contextlib import AbstractContextManager
from typing import Any

import anyio.to_thread
from microsoft_teams.api import InvokeResponse, MessageActivityInput
from sqlalchemy.orm import Session

from bot.runtime.delivery import Deliverer
from bot.runtime.http import LIMITER
from bot.teams import once
from bot.teams.cards import (
    ButtonPress,
    FormSubmission,
    build_command_reply,
    build_image_card,
    build_image_words_card,
    build_invoke_response,
    build_message,
    read_card_action,
)
from bot.teams.commands import bot_mention_texts, parse_command_text
from bot.teams.directory import TeamsDirectory
from bot.teams.sender import personal_chat
from handlers.core.reply import Actor, Image, Reply, refuse, say
from handlers.dispatch import Dispatcher
from store import addresses
from store.deadline import waiting_at_most
from store.people import email_digest

log = logging.getLogger(__name__)

PLATFORM = "teams"
PERSONAL = "personal"
ANSWERED_IN_CHAT = "I've answered you in our 1:1 chat (look for qi-nudge in your chats)."
COULD_NOT_REACH = (
    "I couldn't message you privately. Open a chat with qi-nudge (Apps, then qi-nudge) and "
    "type the same thing there."
)
KNOWN_FOR = 3600.0  # seconds an address written is trusted to be still there
KNOWN_MAX = 50_000  # entries before the expired ones are swept out
OLD_BUTTON = "Sorry, that button no longer works. Type qi-help to see what I can do."


class TeamsTransport:
    """Everything Teams-specific on the way in: who is acting, where to answer, what follows."""

    def __init__(self, bot: Dispatcher) -> None:
        self.bot = bot
        self.directory = TeamsDirectory()
        # The deliverer, to edit posted messages whose content changed (RSVP counts). (What a
        # request planned wakes it by itself: outbox.when_planned.)
        self.deliverer: Deliverer | None = None
        # Addresses and channels stored lately (key -> when): most messages then write nothing.
        # Kept for an hour only, so a row removed elsewhere (an erasure, another replica
        # forgetting an uninstalled chat) is written again soon; and never grows without end.
        self._known: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()
        self._after: set[asyncio.Task[None]] = set()
        self._idle = threading.Event()
        self._idle.set()

    # --- who is acting -------------------------------------------------------------------

    async def actor(self, ctx: Any) -> Actor:
        """The person behind an activity: their AAD object id, which outlives bot registrations."""
        activity = ctx.activity
        user = activity.from_
        aad = user.aad_object_id or user.id
        email = await self.directory.email(ctx.api, activity.conversation.id, user.id, aad)
        name = (user.name or "").strip()
        return Actor(
            PLATFORM,
            _tenant(activity),
            aad,
            name or aad,
            verified_email=email,
            name_verified=bool(name),
        )

    def _waiting_since(self, arrived: float) -> AbstractContextManager[None]:
        """The request's wait for the database, counted from when it arrived.

        The worker threads are shared with Slack: time spent waiting for one, or for Teams'
        lookup of the person, is part of the wait, so the answer still comes in time.
        """
        return waiting_at_most(self.bot.database_wait - (time.monotonic() - arrived))

    # --- listeners -----------------------------------------------------------------------

    async def on_message(self, ctx: Any) -> None:
        """A message: a command typed in the 1:1 chat, or the bot @mentioned in a channel."""
        arrived = time.monotonic()
        activity = ctx.activity
        if not activity.text and activity.value is not None:
            return  # an old-style Action.Submit card, which qi-nudge never sends
        actor = await self.actor(ctx)
        parsed = parse_command_text(
            activity.text, bot_mentions=bot_mention_texts(activity.entities, activity.recipient.id)
        )

        def work() -> Reply | None:
            with self._waiting_since(arrived):
                if not once.first_time():
                    return None
                if (trouble := self._remember_first(activity, actor)) is not None:
                    return trouble
                if parsed is None:
                    return self.bot.command(actor, "qi-help", "")
                return self.bot.command(actor, *parsed)

        reply = await anyio.to_thread.run_sync(work, limiter=LIMITER)
        if reply is None:
            return  # acted on already: a 200 and nothing else
        message = build_command_reply(reply)
        if _personal(activity):
            await ctx.send(_activity(message))
            conversation = activity.conversation.id
        else:
            conversation = await self._answer_in_chat(ctx, message)
        self.follow_up(ctx.api, reply, conversation, activity.service_url)

    async def on_card_action(self, ctx: Any) -> dict[str, Any] | InvokeResponse[Any]:
        """A button or a form on one of our cards: the answer replaces the card for the clicker."""
        arrived = time.monotonic()
        activity = ctx.activity
        press = read_card_action(activity.value)
        if press is None:
            return build_invoke_response(refuse(OLD_BUTTON))
        actor = await self.actor(ctx)

        def work() -> tuple[Reply, dict[str, Any]] | None:
            with self._waiting_since(arrived):
                if not once.first_time():
                    return None
                # Someone who only ever clicks (an RSVP in a channel) can still be messaged.
                if (trouble := self._remember_first(activity, actor)) is not None:
                    return trouble, build_invoke_response(trouble)
                if isinstance(press, ButtonPress):
                    reply = self.bot.action(actor, press.action_id, press.value)
                    return reply, build_invoke_response(reply)
                return self._submit(actor, press)

        done = await anyio.to_thread.run_sync(work, limiter=LIMITER)
        if done is None:
            return InvokeResponse(status=200)  # acted on already: a 200 and nothing else
        reply, response = done
        conversation = activity.conversation.id if _personal(activity) else None
        self.follow_up(ctx.api, reply, conversation, activity.service_url)
        return response

    async def on_installation_update(self, ctx: Any) -> None:
        """Installed for a person: keep how to reach them and say hello; removed: forget it."""
        arrived = time.monotonic()
        activity = ctx.activity
        if not _personal(activity):
            return  # a team install: its channels arrive as conversationUpdate
        if activity.action == "remove":
            await anyio.to_thread.run_sync(self.forget_chat, activity, limiter=LIMITER)
            return
        actor = await self.actor(ctx)

        def work() -> Reply | None:
            with self._waiting_since(arrived):
                if not once.first_time():
                    return None
                if (trouble := self._remember_first(activity, actor)) is not None:
                    return trouble
                return self.bot.home(actor)  # the welcome; stores nothing about them

        reply = await anyio.to_thread.run_sync(work, limiter=LIMITER)
        if reply is None:
            return
        await ctx.send(_activity(build_command_reply(reply)))

    async def on_conversation_update(self, ctx: Any) -> None:
        """The bot added to a team (note its General channel) or removed from one."""
        activity = ctx.activity
        team = getattr(activity.channel_data, "team", None)
        bot_id = activity.recipient.id
        if team is None:
            return
        added = any(m.id == bot_id for m in activity.members_added or ())
        removed = any(m.id == bot_id for m in activity.members_removed or ())
        if added or removed:
            await anyio.to_thread.run_sync(self.note_team, activity, team, removed, limiter=LIMITER)

    # --- storing addresses ---------------------------------------------------------------

    def _remember_first(self, activity: Any, actor: Actor | None = None) -> Reply | None:
        """Keep how to reach the sender; or, if the database can't be used, the reply saying so."""

        def remembered() -> Reply:
            self.remember(activity, actor)
            return say("")

        reply = self.bot.run(remembered, what="keeping a Teams address")
        return None if reply.ok else reply

    def remember(self, activity: Any, actor: Actor | None = None) -> None:
        """Keep how to reach the sender (and the channel they wrote in) for messages later.

        With the actor, the digest of the e-mail address Teams verified for them is kept too,
        so that export and erasure find them by the address they give.
        """
        user = activity.from_
        tenant = _tenant(activity)
        aad = user.aad_object_id or user.id
        personal = _personal(activity)
        conversation = activity.conversation.id if personal else None
        key = (aad, activity.service_url, user.id, conversation or "")
        channel = _channel_of(activity)
        channel_key = (channel["id"], activity.service_url) if channel else None
        with self._lock:
            now = time.monotonic()
            if len(self._known) > KNOWN_MAX:
                self._known = {k: t for k, t in self._known.items() if now - t < KNOWN_FOR}
            new_address = self._stale(key, now)
            new_channel = channel_key is not None and self._stale(channel_key, now)
        if not (new_address or new_channel):
            return  # the common case: nothing new, no write
        ctx = self.bot.ctx
        with ctx.sessions.begin() as session:
            if new_address:
                digest = email_digest(actor.verified_email) if actor is not None else None
                self._keep_address(session, activity, dm_channel=conversation, email_sha256=digest)
            if new_channel and channel is not None:
                addresses.remember_channel(
                    session,
                    platform=PLATFORM,
                    workspace=tenant,
                    channel_id=channel["id"],
                    name=channel["name"],
                    address=channel["address"],
                    now=ctx.now(),
                )
        with self._lock:
            self._known[key] = time.monotonic()
            if channel_key is not None:
                self._known[channel_key] = time.monotonic()

    def _stale(self, key: tuple[str, ...], now: float) -> bool:
        """Whether `key` was not written lately (call with the lock held)."""
        written = self._known.get(key)
        return written is None or now - written >= KNOWN_FOR

    def _keep_address(
        self,
        session: Session,
        activity: Any,
        *,
        dm_channel: str | None,
        email_sha256: str | None = None,
    ) -> None:
        """Store how to reach the sender: Teams' id for them, and their 1:1 chat if known."""
        user = activity.from_
        addresses.remember_address(
            session,
            platform=PLATFORM,
            workspace=_tenant(activity),
            user_id=user.aad_object_id or user.id,
            address={"serviceUrl": activity.service_url, "userId": user.id},
            dm_channel=dm_channel,
            email_sha256=email_sha256,
            now=self.bot.ctx.now(),
        )

    def forget_chat(self, activity: Any) -> None:
        """The person uninstalled the app: their 1:1 conversation can no longer be used."""
        if not once.first_time():
            return
        user = activity.from_
        ctx = self.bot.ctx
        # Bounded like a request; a failure is an error answer, and Teams sends it again.
        with waiting_at_most(self.bot.database_wait), ctx.sessions.begin() as session:
            row = addresses.address_of(
                session, PLATFORM, _tenant(activity), user.aad_object_id or user.id
            )
            if row is not None:
                addresses.set_dm_channel(session, row.id, None)
        with self._lock:
            gone = user.aad_object_id or user.id
            self._known = {k: t for k, t in self._known.items() if k[0] != gone}

    def note_team(self, activity: Any, team: Any, removed: bool) -> None:
        """Record the team's General channel (its id is the team's), or mark the team's gone."""
        if not once.first_time():
            return
        ctx = self.bot.ctx
        tenant = _tenant(activity)
        with waiting_at_most(self.bot.database_wait), ctx.sessions.begin() as session:
            if removed:
                addresses.forget_channels(
                    session, platform=PLATFORM, workspace=tenant, team_id=team.id, now=ctx.now()
                )
            else:
                addresses.remember_channel(
                    session,
                    platform=PLATFORM,
                    workspace=tenant,
                    channel_id=team.id,
                    name=f"{team.name or 'Team'} > General",
                    address=_channel_address(activity.service_url, team),
                    now=ctx.now(),
                )
        with self._lock:
            self._known = {k: t for k, t in self._known.items() if k[0] != team.id}

    # --- answering -----------------------------------------------------------------------

    async def _answer_in_chat(self, ctx: Any, message: dict[str, Any]) -> str | None:
        """Send an answer to the person's 1:1 chat, and a line in the thread saying where it is."""
        activity = ctx.activity
        try:
            conversation = await self._personal_conversation(ctx)
            await ctx.api.conversations.create_activity(
                conversation, _activity(message), service_url=activity.service_url
            )
        except Exception as error:  # the person is told; IT sees why
            log.warning("could not answer a Teams user in their chat: %s", type(error).__name__)
            await ctx.send(MessageActivityInput(text=COULD_NOT_REACH, text_format="plain"))
            return None
        await ctx.send(MessageActivityInput(text=ANSWERED_IN_CHAT, text_format="plain"))
        return conversation

    async def _personal_conversation(self, ctx: Any) -> str:
        """The 1:1 chat between the bot and the sender: known, or created (and then kept)."""
        activity = ctx.activity
        user = activity.from_
        tenant = _tenant(activity)
        aad = user.aad_object_id or user.id

        def known() -> str | None:
            with waiting_at_most(self.bot.database_wait), self.bot.ctx.sessions() as session:
                row = addresses.address_of(session, PLATFORM, tenant, aad)
                return row.dm_channel if row is not None else None

        conversation = await anyio.to_thread.run_sync(known, limiter=LIMITER)
        if conversation:
            return conversation
        created = await ctx.api.conversations.create(
            personal_chat(user.id, tenant, activity.recipient.id)
        )

        def keep() -> None:
            with waiting_at_most(self.bot.database_wait), self.bot.ctx.sessions.begin() as session:
                self._keep_address(session, activity, dm_channel=created.id)

        await anyio.to_thread.run_sync(keep, limiter=LIMITER)
        return str(created.id)

    def _submit(self, actor: Actor, form: FormSubmission) -> tuple[Reply, dict[str, Any]]:
        """A submitted form: its answer, or the form again under the reason, answers kept."""
        reply = self.bot.submit(actor, form.form_id, form.values, form.context)
        if reply.ok:
            return reply, build_invoke_response(reply)
        # As Slack keeps its modal open: nothing typed is lost, and the reason is on top.
        # Drawn again from its id and context, so any replica, after any restart, can.
        again = self.bot.form(form.form_id, form.context)
        return reply, build_invoke_response(reply, form=again, values=form.values)

    # --- after the answer ----------------------------------------------------------------

    def follow_up(
        self, api: Any, reply: Reply, conversation: str | None, service_url: str | None
    ) -> None:
        """After the answer: its chart, then queued outbox sends and in-place edits."""
        image = reply.image
        if image is not None and conversation:
            self._later(self._post_image(api, image, conversation, service_url))
        if not reply.ok:
            return
        deliverer = self.deliverer
        if deliverer is not None:
            for prefix in reply.refresh:
                self._later(anyio.to_thread.run_sync(deliverer.refresh, prefix, limiter=LIMITER))

    async def _post_image(
        self, api: Any, image: Image, conversation: str, service_url: str | None
    ) -> None:
        """Draw the chart (in a thread: it takes a moment) and send it as a second message."""
        try:
            card = await anyio.to_thread.run_sync(build_image_card, image, limiter=LIMITER)
        except Exception:
            log.exception("could not draw a chart for Teams")
            card = build_image_words_card(image)
        try:
            await api.conversations.create_activity(
                conversation, _activity(build_message(card)), service_url=service_url
            )
        except Exception as error:  # refused: say it in words
            log.warning("Teams refused a chart: %s", type(error).__name__)
            await api.conversations.create_activity(
                conversation,
                _activity(build_message(build_image_words_card(image))),
                service_url=service_url,
            )

    def _later(self, work: Awaitable[Any]) -> None:
        """Run `work` on this event loop after the answer, keeping hold of it until it ends."""

        async def run() -> None:
            try:
                await work
            except Exception:
                log.exception("work after a Teams answer failed")

        task = asyncio.get_running_loop().create_task(run())
        with self._lock:
            self._after.add(task)
            self._idle.clear()
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        with self._lock:
            self._after.discard(task)
            if not self._after:
                self._idle.set()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block (from another thread) until the work after answers is done; tests settle on it."""
        return self._idle.wait(timeout)


def _activity(message: Mapping[str, Any]) -> MessageActivityInput:
    """Our message JSON (cards.build_message) as the SDK's outgoing activity."""
    return MessageActivityInput.model_validate(dict(message))


def _personal(activity: Any) -> bool:
    return getattr(activity.conversation, "conversation_type", None) == PERSONAL


def _tenant(activity: Any) -> str:
    tenant = getattr(activity.conversation, "tenant_id", None)
    if not tenant:
        info = getattr(activity.channel_data, "tenant", None)
        tenant = getattr(info, "id", None)
    return str(tenant or "")


def _channel_address(service_url: str | None, team: Any) -> dict[str, Any]:
    return {"serviceUrl": service_url, "teamId": team.id, "teamName": team.name}


def _channel_of(activity: Any) -> dict[str, Any] | None:
    """The team channel a message was posted in, if any: id, name and how to post there."""
    data = activity.channel_data
    channel = getattr(data, "channel", None)
    team = getattr(data, "team", None)
    if channel is None or team is None or not getattr(channel, "id", None):
        return None
    team_name = team.name or "Team"
    name = f"{team_name} > {channel.name or 'General'}"
    return {
        "id": channel.id,
        "name": name,
        "address": _channel_address(activity.service_url, team),
    }
