"""The Slack transport: Bolt listeners that turn Slack payloads into handler calls and back."""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, BoltRequest, BoltResponse
from slack_bolt.logger import get_bolt_app_logger
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.webhook import WebhookClient

from bot.runtime.delivery import Deliverer
from bot.runtime.http import MALFORMED, is_shape_error, raised_at
from bot.runtime.seen import SeenEvents
from bot.runtime.settings import Settings
from bot.slack.blocks import (
    build_home_view,
    build_image_block,
    build_modal,
    build_reply_blocks,
    fallback_text,
    handler_action_id,
    read_modal_values,
)
from bot.slack.directory import SlackDirectory, SlackProfile
from bot.slack.worker import AfterAck
from handlers.core import ids
from handlers.core.reply import Actor, Image, Reply, say
from handlers.dispatch import COMMANDS, TOO_LITTLE_LEFT, Dispatcher
from store.deadline import WouldWait, seconds_left
from store.seen_requests import AlreadyActedOn

log = logging.getLogger(__name__)

PLATFORM = "slack"
DEFAULT_API_URL = "https://slack.com/api/"
ANY = re.compile(r".+")
ACK_LOOKUP_TIMEOUT = 1.0  # seconds
# What files.completeUploadExternal answers when the bot may not share files where the person
# asked (a channel it was not added to, a private channel or someone else's DM).
NOT_A_MEMBER_ERRORS = frozenset({"not_in_channel", "channel_not_found"})
MAX_ALT_TEXT = 1000  # characters; Slack refuses longer alt text (alt_txt_too_large)
FORM_NOT_OPENED = "Sorry, the form didn't open in time."
# Forms that a command can do as well: the person is told how to type it instead.
TYPE_IT = {
    ids.JOIN_FORM: " You can type it instead, for example: /qi-join Falls prevention as carer",
}
IMAGE_MOVED_TO_DM = "I couldn't post this chart in that channel (I'm not a member), so here it is."
IMAGE_NOT_POSTED = (
    "Sorry, I couldn't post the chart here. What it shows: {alt_text}\n"
    "Whoever looks after qi-nudge for your trust can make the chart outside chat with: "
    "qi-nudge stats --chart FILE.png"
)
IMAGE_DROPPED = (
    "Sorry, I'm too busy to post the chart just now: please ask again in a minute. "
    "What it shows: {alt_text}"
)
KEPT_HOME_IMAGES = 64  # App Home charts' Slack file ids, by digest (a trust has a few charts)
KEPT_POSTED_IMAGES = 256  # charts already shared, by (digest, channel): a few charts, some channels
# What chat.postMessage answers when a picture by reference cannot be shown (the file was
# deleted, or Slack has not finished processing it): the picture is uploaded again instead.
STALE_FILE_ERRORS = frozenset({"invalid_blocks", "file_not_found", "file_deleted"})
RATE_LIMITED = "ratelimited"


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
        self.quick_client = WebClient(
            token=client.token,
            base_url=client.base_url,
            timeout=ACK_LOOKUP_TIMEOUT,
            retry_handlers=[],
        )
        self.directory = SlackDirectory(self.quick_client)
        # A chart posted by reference is one message, and Slack allows about one a second per
        # channel: rather than wait out a 429 there, the picture is uploaded as before.
        self.reference_client = WebClient(
            token=client.token,
            base_url=client.base_url,
            timeout=client.timeout,
            retry_handlers=[
                ServerErrorRetryHandler(max_retry_count=2),
                ConnectionErrorRetryHandler(max_retry_count=2),
            ],
        )
        self.after = AfterAck()
        # Modals must open within 3 s of the click: their own threads, never queued behind DMs
        # that are waiting out a rate limit.
        self.forms = AfterAck(workers=2, name="slack-forms")
        self.events = SeenEvents()
        # The sender, to edit posted messages whose content changed (RSVP counts). (What a
        # request planned wakes it by itself: outbox.when_planned.)
        self.deliverer: Deliverer | None = None
        self._dm_channels: dict[str, str] = {}
        self._dm_lock = threading.Lock()
        self._home_images: OrderedDict[str, str] = OrderedDict()  # chart digest -> file id
        self._home_images_lock = threading.Lock()
        # (chart digest, channel) -> the file id shared there: the same chart asked for again in
        # the same channel is posted by reference (one chat.postMessage) rather than uploaded
        # again (three calls and the bytes). Only where it was shared: everyone there can see it.
        self._posted_images: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._posted_images_lock = threading.Lock()

    # --- who is acting -------------------------------------------------------------------

    def actor(self, user_id: str, team_id: str, fallback_name: str) -> Actor:
        """The acting Slack user; their first request asks users.info, later ones use the cache."""
        profile = self.directory.cached(user_id)
        if profile is None and _no_time_to_look_up():
            # The request spent its time waiting for a worker thread: as when users.info is
            # slow, the person acts under the name Slack sent (not kept), and is looked up
            # next time, rather than answered after Slack's 3 seconds.
            profile = SlackProfile(name=fallback_name or user_id, email=None, verified=False)
        elif profile is None:
            profile = self.directory.fetch(user_id, fallback_name or user_id)
        return Actor(
            PLATFORM,
            team_id,
            user_id,
            profile.name,
            verified_email=profile.email,
            name_verified=profile.verified,
        )

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

    def follow_up(
        self, reply: Reply, *, user_id: str, channel_id: str = "", response_url: str = ""
    ) -> None:
        """After the answer: its picture, queued outbox sends (news for others), in-place edits."""
        image = reply.image
        if image is not None and user_id:
            # Under a flood the chart is what gives way (the answer itself was in the ack),
            # and the person is told, with what the chart shows.
            dropped = say(IMAGE_DROPPED.format(alt_text=image.alt_text))
            self.after.submit(
                "image",
                lambda: self.post_image(image, user_id, channel_id, response_url),
                if_dropped=lambda: self.answer_privately(dropped, user_id, response_url),
            )
        if not reply.ok:
            return
        deliverer = self.deliverer
        if deliverer is not None:
            for prefix in reply.refresh:
                self.after.submit("refresh", lambda prefix=prefix: deliverer.refresh(prefix))

    def send_dm(self, user_id: str, reply: Reply) -> None:
        """Post a reply in the person's DM with the bot."""
        self.client.chat_postMessage(
            channel=self.dm_channel(user_id),
            text=fallback_text(reply),
            blocks=build_reply_blocks(reply),
        )

    def post_image(self, image: Image, user_id: str, channel_id: str, response_url: str) -> None:
        """Upload a reply's picture where the person asked, else in their DM, else say so kindly."""
        try:
            self._upload_here_or_in_dm(image, user_id, channel_id)
            return
        except (SlackClientError, OSError) as error:
            code = _slack_error(error) if isinstance(error, SlackApiError) else None
            log.warning("image not posted: %s", code or type(error).__name__)
        except Exception:
            log.exception("image not posted")
        told = say(IMAGE_NOT_POSTED.format(alt_text=image.alt_text))
        self.answer_privately(told, user_id, response_url)

    def _upload_here_or_in_dm(self, image: Image, user_id: str, channel_id: str) -> None:
        comment = None
        if channel_id:
            try:
                self.upload_image(image, channel_id)
                return
            except SlackApiError as error:
                if _slack_error(error) not in NOT_A_MEMBER_ERRORS:
                    raise
            comment = IMAGE_MOVED_TO_DM
        dm = self.dm_channel(user_id)
        if dm == channel_id:
            raise SlackClientError("not a member of the person's own DM")
        self.upload_image(image, dm, comment=comment)

    def upload_image(self, image: Image, channel_id: str, *, comment: str | None = None) -> None:
        """Share a picture in a channel with its alt text; the client waits out 429s.

        files_upload_v2 is Slack's upload flow: files.getUploadURLExternal (which takes the alt
        text), a POST of the bytes to the URL it gives, then files.completeUploadExternal. A
        picture already shared in this channel is posted again by reference instead.
        """
        digest = image.drawn_from or hashlib.sha256(image.png).hexdigest()
        key = (digest, channel_id)
        if self._post_shared_image(image, key, comment):
            return
        answer = self.client.files_upload_v2(
            file=image.png,
            filename=image.filename,
            title=image.title,
            alt_txt=image.alt_text[:MAX_ALT_TEXT],
            channel=channel_id,
            initial_comment=comment,
        )
        try:
            file_id = str(answer["files"][0]["id"])
        except (KeyError, IndexError, TypeError):
            return  # shared all the same; next time it is uploaded again
        with self._posted_images_lock:
            self._posted_images[key] = file_id
            while len(self._posted_images) > KEPT_POSTED_IMAGES:
                self._posted_images.popitem(last=False)

    def _post_shared_image(self, image: Image, key: tuple[str, str], comment: str | None) -> bool:
        """Post a picture already shared in the channel, by its file id; False if not possible."""
        with self._posted_images_lock:
            file_id = self._posted_images.get(key)
            if file_id is not None:
                self._posted_images.move_to_end(key)
        if file_id is None:
            return False
        blocks = [build_image_block(image, file_id)]
        if comment:
            blocks.insert(0, {"type": "section", "text": {"type": "plain_text", "text": comment}})
        try:
            self.reference_client.chat_postMessage(
                channel=key[1], text=comment or image.title, blocks=blocks
            )
        except SlackApiError as error:
            if _slack_error(error) == RATE_LIMITED:
                return False
            if _slack_error(error) not in STALE_FILE_ERRORS:
                raise
            # The file is gone or not ready: forget it, and upload the picture again.
            log.warning("chart by reference refused (%s); uploading it", _slack_error(error))
            with self._posted_images_lock:
                if self._posted_images.get(key) == file_id:
                    del self._posted_images[key]
            return False
        return True

    def open_form(self, reply: Reply, trigger_id: str, channel_id: str, response_url: str) -> None:
        """Open a reply's form as a modal (within 3 s of the click), or say how to type it."""
        assert reply.form is not None
        view = build_modal(
            reply.form, intro=reply.text, channel_id=channel_id, response_url=response_url
        )
        try:
            self.quick_client.views_open(trigger_id=trigger_id, view=view)
        except (SlackApiError, OSError, TimeoutError) as error:
            log.warning("views.open failed: %s", type(error).__name__)
            if response_url:
                self.respond_to(
                    response_url,
                    say(FORM_NOT_OPENED + TYPE_IT.get(reply.form.form_id, " Please try again.")),
                    replace=False,
                )

    def publish_home(self, actor: Actor) -> None:
        """Refresh the person's App Home (organisers' shows the run chart too)."""
        reply = self.bot.home(actor)
        file_id = self.home_image(reply.image) if reply.image is not None else None
        try:
            self.client.views_publish(
                user_id=actor.user_id, view=build_home_view(reply, image_file_id=file_id)
            )
        except SlackApiError as error:
            if file_id is None or error.response.get("error") != "invalid_blocks":
                raise
            # Slack finishes an upload in the background: a file this fresh can be refused.
            # The words say what the chart shows; the next opening will try the picture again.
            log.warning("App Home refused the chart image; published without it")
            with self._home_images_lock:
                self._home_images = OrderedDict(
                    (k, v) for k, v in self._home_images.items() if v != file_id
                )
            self.client.views_publish(user_id=actor.user_id, view=build_home_view(reply))

    def home_image(self, image: Image) -> str | None:
        """The Slack file id of a picture for App Home, uploaded once per picture.

        Not shared in any channel; kept, so opening the tab again uploads nothing until the
        chart changes.
        """
        try:
            # The chart's data fingerprint when it has one: no drawing just to recognise it.
            digest = image.drawn_from or hashlib.sha256(image.png).hexdigest()
            with self._home_images_lock:
                known = self._home_images.get(digest)
                if known:
                    self._home_images.move_to_end(digest)
            if known:
                return known
            png = image.png  # drawn here, once per distinct chart
        except Exception:
            # A chart that cannot be drawn must not cost the organiser their whole tab.
            log.exception("could not draw the App Home chart")
            return None
        try:
            answer = self.client.files_upload_v2(
                file=png,
                filename=image.filename,
                title=image.title,
                alt_txt=image.alt_text[:MAX_ALT_TEXT],
            )
            file_id = str(answer["files"][0]["id"])
        except (SlackApiError, OSError, TimeoutError, KeyError, IndexError) as error:
            # The tab still shows the headline and what the chart says, in words.
            log.warning("could not upload the App Home chart: %s", type(error).__name__)
            return None
        with self._home_images_lock:
            self._home_images[digest] = file_id
            while len(self._home_images) > KEPT_HOME_IMAGES:
                self._home_images.popitem(last=False)
        return file_id

    def respond_to(self, response_url: str, reply: Reply, *, replace: bool) -> bool:
        """Answer through a response_url (works in any channel, for 30 minutes); True if sent."""
        result = WebhookClient(response_url, timeout=10).send(
            text=fallback_text(reply),
            blocks=build_reply_blocks(reply),
            response_type="ephemeral",
            replace_original=replace,
        )
        return result.status_code == 200

    def answer_privately(self, reply: Reply, user_id: str, response_url: str) -> None:
        """A reply only the person sees: through the response_url, or else in a DM.

        Not chat.postEphemeral: that fails in every channel the bot has not been added to.
        """
        if not (response_url and self.respond_to(response_url, reply, replace=False)):
            self.send_dm(user_id, reply)

    # --- listeners -----------------------------------------------------------------------

    def on_command(self, ack: Ack, body: dict[str, Any]) -> None:
        """A slash command: answer in the ack (only the person sees it), or open a modal."""
        actor = self.actor(body["user_id"], body.get("team_id", ""), body.get("user_name", ""))
        reply = self.bot.command(actor, body["command"], typed_text(body.get("text", "")))
        if reply.form is not None and body.get("trigger_id"):
            ack()
            self.forms.submit(
                "open form",
                lambda: self.open_form(
                    reply,
                    body["trigger_id"],
                    body.get("channel_id", ""),
                    body.get("response_url", ""),
                ),
            )
        else:
            ack(
                response_type="ephemeral",
                text=fallback_text(reply),
                blocks=build_reply_blocks(reply),
            )
        self.follow_up(
            reply,
            user_id=actor.user_id,
            channel_id=body.get("channel_id", ""),
            response_url=body.get("response_url", ""),
        )

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
        response_url = body.get("response_url", "")
        container = body.get("container") or {}
        if reply.form is not None and body.get("trigger_id"):
            self.forms.submit(
                "open form",
                lambda: self.open_form(reply, body["trigger_id"], channel_id, response_url),
            )
        elif container.get("type") == "view":
            self.after.submit("home", lambda: self.publish_home(actor))
            if not reply.ok:
                self.after.submit(
                    "refusal",
                    lambda: self.answer_privately(reply, actor.user_id, ""),
                    essential=True,
                )
        elif response_url:
            # Replace only a card that was the person's own (ephemeral, or in their DM with the
            # bot); a card in a channel is everyone's, so they get their answer beside it.
            own = bool(container.get("is_ephemeral")) or channel_id.startswith("D")
            self.after.submit(
                "respond",
                lambda: self.respond_to(response_url, reply, replace=reply.ok and own),
                essential=True,
            )
        self.follow_up(
            reply, user_id=actor.user_id, channel_id=channel_id, response_url=response_url
        )

    def on_view_submission(self, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        """A submitted modal: close it and answer, or keep it open with the reason."""
        user = body.get("user") or {}
        team_id = (body.get("team") or {}).get("id") or user.get("team_id", "")
        actor = self.actor(user.get("id", ""), team_id, user.get("username", ""))
        values, context, channel_id, response_url = read_modal_values(view)
        reply = self.bot.submit(actor, view.get("callback_id", ""), values, context)
        if not reply.ok and values:
            # Keep the modal open with the answers typed so far: nothing is lost.
            ack(response_action="errors", errors={next(iter(values)): reply.text[:150]})
            return
        ack()
        self.after.submit(
            "form answer",
            lambda: self.answer_privately(reply, actor.user_id, response_url),
            essential=True,
        )
        self.follow_up(
            reply, user_id=actor.user_id, channel_id=channel_id, response_url=response_url
        )

    def on_home_opened(self, ack: Ack, event: dict[str, Any], body: dict[str, Any]) -> None:
        """Publish the App Home when the person opens it (once per event, retries or not)."""
        ack()
        if event.get("tab", "home") != "home" or self.events.seen(body.get("event_id", "")):
            return
        actor = self.actor(event.get("user", ""), body.get("team_id", ""), "")
        self.after.submit("home", lambda: self.publish_home(actor))


def _no_time_to_look_up() -> bool:
    left = seconds_left()
    return left is not None and left < ACK_LOOKUP_TIMEOUT + TOO_LITTLE_LEFT


def typed_text(text: str) -> str:
    """A slash command's text as the person typed it.

    Slack sends all message text with &, < and > as HTML entities (its control characters), so
    "Falls & fractures" arrives as "Falls &amp; fractures"; stored like that it would show as
    "&amp;" everywhere and not match the same name typed in a form or on Teams. (Escaped again,
    once, whenever it goes back into mrkdwn.)
    """
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _slack_error(error: SlackApiError) -> str | None:
    """Slack's error code ("not_in_channel"), if its answer had one."""
    data = error.response.data
    return data.get("error") if isinstance(data, dict) else None


def build_slack_app(settings: Settings, transport: SlackTransport) -> App:
    """The Bolt app with every route qi-nudge answers; the table of contents for Slack."""
    signing = settings.slack_signing_secret
    app = _OneClientApp(
        client=transport.client,
        logger=_bolt_logger(),
        signing_secret=signing.reveal() if signing else None,
        # Verified once, before Bolt: bot.runtime.http checks every request's signature before it
        # reads the body (and refuses to serve Slack without a secret); Socket Mode has
        # nothing to verify (Slack is on the other end of our own connection). A second check
        # here cost an HMAC and a header parse per request.
        request_verification_enabled=False,
        # Our handlers take milliseconds: answer in the HTTP response itself, with no 10 ms
        # polling for the ack (measured in bench/slack_ack.py).
        process_before_response=True,
        # auth.test at start-up: a wrong token fails the deploy, not the first person's click.
        token_verification_enabled=True,
        raise_error_for_unhandled_request=False,
    )
    for name in COMMANDS:
        app.command(f"/{name}")(transport.on_command)
    app.action(ANY)(transport.on_action)
    app.view(ANY)(transport.on_view_submission)
    app.event("app_home_opened")(transport.on_home_opened)
    app.error(refuse_unreadable)
    return app


class _OneClientApp(App):
    """Bolt's App, handing every listener our one Web API client instead of a copy per request.

    Bolt builds a new WebClient for each request (so that an app changing its token mid-request
    changes no other request's): a cost on every ack for nothing here, since the token is fixed
    and no listener of ours takes Bolt's `client` (the transport keeps its own).
    """

    def _init_context(self, req: BoltRequest) -> None:
        if req.context.get("function_bot_access_token") is not None:
            # Bolt puts a custom function's own token on the client: never on our shared one.
            super()._init_context(req)
            return
        req.context["logger"] = get_bolt_app_logger(
            app_name=self.name, base_logger=self._base_logger
        )
        req.context["token"] = self._token
        req.context["client"] = self._client
        req.context["listener_runner"] = self.listener_runner


def refuse_unreadable(error: Exception) -> BoltResponse:
    """A listener failed on a payload bot.slack.payload_shape let through: 400, one line.

    The last resort: Bolt's own answer is a 500 and a traceback, whose messages can carry what
    was sent. (Handlers' own failures never come here: the dispatcher answers those kindly.)
    A failure that is not about the payload's shape is still a 500, logged as Bolt would. A
    request that met a busy database on the event loop (WouldWait) is not logged at all:
    bot.runtime.http runs it again in a worker thread. Nor is a replayed request (AlreadyActedOn).
    """
    if isinstance(error, WouldWait):
        return BoltResponse(status=500, body="")
    if isinstance(error, AlreadyActedOn):
        return BoltResponse(
            status=200, body=""
        )  # a replay: bot.runtime.http acknowledges it and logs it
    if not is_shape_error(error):
        log.error("Slack listener failed: %s", type(error).__name__, exc_info=error)
        return BoltResponse(status=500, body="")
    log.warning("malformed Slack request refused: %s at %s", type(error).__name__, raised_at(error))
    return BoltResponse(status=400, body=MALFORMED)


class _NotTheTokenWarning(logging.Filter):
    """Drops Bolt's warning that SLACK_BOT_TOKEN is unused when we hand it a client.

    Bolt reads SLACK_BOT_TOKEN from the environment by itself and then warns that our client
    (built from that same token) wins: true, harmless, and alarming in IT's logs at every start.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


def _bolt_logger() -> logging.Logger:
    logger = logging.getLogger("slack_bolt.App")
    if not any(isinstance(f, _NotTheTokenWarning) for f in logger.filters):
        logger.addFilter(_NotTheTokenWarning())
    return logger
