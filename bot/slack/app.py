"""The Slack transport: Bolt listeners that turn Slack payloads into handler calls and back."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, BoltRequest, BoltResponse
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.settings import Settings
from bot.slack.blocks import (
    build_home_view,
    build_modal,
    build_reply_blocks,
    fallback_text,
    handler_action_id,
    read_modal_values,
)
from bot.slack.directory import SlackDirectory
from bot.slack.worker import AfterAck
from handlers.dispatch import COMMANDS, Dispatcher
from handlers.reply import Actor, Notice, Reply, Section
from store.people import identity_on

log = logging.getLogger(__name__)

PLATFORM = "slack"
DEFAULT_API_URL = "https://slack.com/api/"
ANY = re.compile(r".+")
ACK_LOOKUP_TIMEOUT = 1.0  # seconds


def build_web_client(settings: Settings) -> WebClient:
    """A Web API client that waits out 429s (Retry-After) and retries 5xx and dropped lines."""
    assert settings.slack_bot_token is not None
    return WebClient(
        token=settings.slack_bot_token.reveal(),
        base_url=settings.slack_api_url or DEFAULT_API_URL,
        timeout=10,
        retry_handlers=[
            RateLimitErrorRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=2),
            ConnectionErrorRetryHandler(max_retry_count=2),
        ],
    )


class SlackTransport:
    """Everything Slack-specific: who is acting, how answers look, and what is sent after."""

    def __init__(self, bot: Dispatcher, client: WebClient) -> None:
        self.bot = bot
        self.client = client
        # users.info on first contact runs before the ack: it gets its own short budget and no
        # retries, so a slow Slack costs a fallback name, never the 3-second deadline.
        self.directory = SlackDirectory(
            WebClient(
                token=client.token,
                base_url=client.base_url,
                timeout=ACK_LOOKUP_TIMEOUT,
                retry_handlers=[],
            )
        )
        self.after = AfterAck()
        self._dm_channels: dict[str, str] = {}
        self._dm_lock = threading.Lock()

    # --- who is acting -------------------------------------------------------------------

    def actor(self, user_id: str, team_id: str, fallback_name: str) -> Actor:
        """The acting Slack user; their first request asks users.info, later ones use the cache."""
        profile = self.directory.cached(user_id)
        if profile is None:
            profile = self.directory.fetch(user_id, fallback_name or user_id)
        return Actor(PLATFORM, team_id, user_id, profile.name, verified_email=profile.email)

    def must_look_up(self, body: dict[str, Any]) -> bool:
        """Whether handling this request starts with a users.info call (a person not cached)."""
        user = body.get("user_id") or (body.get("user") or {}).get("id")
        if user is None and isinstance(body.get("event"), dict):
            user = body["event"].get("user")
        return bool(user) and self.directory.cached(str(user)) is None

    # --- sending -------------------------------------------------------------------------

    def dm_channel(self, user_id: str) -> str:
        """The DM channel with a user; conversations.open is rate-limited, so keep the id."""
        with self._dm_lock:
            known = self._dm_channels.get(user_id)
        if known:
            return known
        channel = self.client.conversations_open(users=user_id)["channel"]["id"]
        with self._dm_lock:
            self._dm_channels[user_id] = channel
        return channel

    def send_notices(self, notices: tuple[Notice, ...]) -> None:
        """Queue DMs for people told about something (a lead told of a new member)."""
        for notice in notices:
            self.after.submit("notice", lambda notice=notice: self._send_notice(notice))

    def _send_notice(self, notice: Notice) -> None:
        with self.bot.ctx.sessions() as session:
            identity = identity_on(session, notice.person_id, PLATFORM)
            user_id = identity.user_id if identity else None
        if user_id is None:
            return  # not on Slack (yet): nothing to send here
        message = Reply(sections=(Section(text=notice.text),))
        self.client.chat_postMessage(
            channel=self.dm_channel(user_id),
            text=fallback_text(message),
            blocks=build_reply_blocks(message),
        )

    def open_form(self, reply: Reply, trigger_id: str, channel_id: str) -> None:
        """Open a reply's form as a modal (must happen within 3 s of the click or command)."""
        assert reply.form is not None
        intro = reply.text
        self.client.views_open(
            trigger_id=trigger_id,
            view=build_modal(reply.form, intro=intro, channel_id=channel_id),
        )

    def publish_home(self, actor: Actor) -> None:
        """Refresh the person's App Home."""
        self.client.views_publish(user_id=actor.user_id, view=build_home_view(self.bot.home(actor)))

    def answer_privately(self, reply: Reply, user_id: str, channel_id: str) -> None:
        """Post a reply only the person sees: ephemeral in the channel, or a DM."""
        blocks = build_reply_blocks(reply)
        if channel_id and not channel_id.startswith("D"):
            self.client.chat_postEphemeral(
                channel=channel_id, user=user_id, text=fallback_text(reply), blocks=blocks
            )
        else:
            self.client.chat_postMessage(
                channel=self.dm_channel(user_id), text=fallback_text(reply), blocks=blocks
            )

    # --- listeners -----------------------------------------------------------------------

    def on_command(self, ack: Ack, body: dict[str, Any]) -> None:
        """A slash command: answer in the ack (only the person sees it), or open a modal."""
        actor = self.actor(body["user_id"], body.get("team_id", ""), body.get("user_name", ""))
        reply = self.bot.command(actor, body["command"], body.get("text", ""))
        if reply.form is not None and body.get("trigger_id"):
            ack()
            self.after.submit(
                "open form",
                lambda: self.open_form(reply, body["trigger_id"], body.get("channel_id", "")),
            )
        else:
            ack(
                response_type="ephemeral",
                text=fallback_text(reply),
                blocks=build_reply_blocks(reply),
            )
        self.send_notices(reply.notices)

    def on_action(self, ack: Ack, body: dict[str, Any], respond: Callable[..., Any]) -> None:
        """A button: run its handler, then update the message, the home tab, or open a form."""
        ack()
        action = (body.get("actions") or [{}])[0]
        user = body.get("user") or {}
        team_id = (body.get("team") or {}).get("id") or user.get("team_id", "")
        actor = self.actor(user.get("id", ""), team_id, user.get("username", ""))
        value = action.get("value", "")
        reply = self.bot.action(
            actor, handler_action_id(action.get("action_id", "")), "" if value == "-" else value
        )
        channel_id = (body.get("channel") or {}).get("id", "")
        if reply.form is not None and body.get("trigger_id"):
            self.after.submit(
                "open form", lambda: self.open_form(reply, body["trigger_id"], channel_id)
            )
        elif (body.get("container") or {}).get("type") == "view":
            self.after.submit("home", lambda: self.publish_home(actor))
            if not reply.ok:
                self.after.submit(
                    "refusal", lambda: self.answer_privately(reply, actor.user_id, channel_id)
                )
        else:
            # A fresh card replaces the one clicked; a refusal comes as a new message so the
            # card with its buttons stays where it was.
            self.after.submit(
                "respond",
                lambda: respond(
                    text=fallback_text(reply),
                    blocks=build_reply_blocks(reply),
                    response_type="ephemeral",
                    replace_original=reply.ok,
                ),
            )
        self.send_notices(reply.notices)

    def on_view_submission(self, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        """A submitted modal: close it and answer, or keep it open with the reason."""
        user = body.get("user") or {}
        team_id = (body.get("team") or {}).get("id") or user.get("team_id", "")
        actor = self.actor(user.get("id", ""), team_id, user.get("username", ""))
        values, context, channel_id = read_modal_values(view)
        reply = self.bot.submit(actor, view.get("callback_id", ""), values, context)
        if not reply.ok and values:
            # Keep the modal open with the answers typed so far: nothing is lost.
            ack(response_action="errors", errors={next(iter(values)): reply.text[:150]})
            return
        ack()
        self.after.submit(
            "form answer", lambda: self.answer_privately(reply, actor.user_id, channel_id)
        )
        self.send_notices(reply.notices)

    def on_home_opened(self, ack: Ack, event: dict[str, Any], body: dict[str, Any]) -> None:
        """Publish the App Home when the person opens it."""
        ack()
        if event.get("tab", "home") != "home":
            return
        actor = self.actor(event.get("user", ""), body.get("team_id", ""), "")
        self.after.submit("home", lambda: self.publish_home(actor))


def skip_event_retries(
    req: BoltRequest,
    resp: BoltResponse,
    next: Callable[[], BoltResponse],
) -> BoltResponse:
    """Slack retries an event it thinks we missed; events are handled once, so say 'got it'."""
    if req.headers.get("x-slack-retry-num") and req.body.get("type") == "event_callback":
        return BoltResponse(status=200, body="")
    return next()


def build_slack_app(settings: Settings, transport: SlackTransport) -> App:
    """The Bolt app with every route qi-nudge answers; the table of contents for Slack."""
    assert settings.slack_signing_secret is not None
    app = App(
        client=transport.client,
        signing_secret=settings.slack_signing_secret.reveal(),
        # Our handlers take milliseconds: answer in the HTTP response itself, with no 10 ms
        # polling for the ack (measured in bench/slack_ack.py).
        process_before_response=True,
        # auth.test at start-up: a wrong token fails the deploy, not the first person's click.
        token_verification_enabled=True,
        raise_error_for_unhandled_request=False,
    )
    app.middleware(skip_event_retries)
    for name in COMMANDS:
        app.command(f"/{name}")(transport.on_command)
    app.action(ANY)(transport.on_action)
    app.view(ANY)(transport.on_view_submission)
    app.event("app_home_opened")(transport.on_home_opened)
    return app
