"""E-mail and texts through GOV.UK Notify, from templates the trust sets up in its Notify account.

Notify sends only from templates. The trust makes two, and gives their IDs in the settings:
- an e-mail template (NOTIFY_EMAIL_TEMPLATE_ID) whose subject is `((subject))` and whose
  message is `((body))`;
- a text message template (NOTIFY_TEXT_TEMPLATE_ID) whose message is `((body))`.
Each message carries its delivery key as Notify's `reference`: after a crash, or an answer lost
on the way back, the deliverer asks Notify for that reference before sending again.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import requests
from notifications_python_client.errors import APIError, InvalidResponse
from notifications_python_client.notifications import NotificationsAPIClient
from sqlalchemy.orm import Session, sessionmaker
from urllib3.exceptions import NameResolutionError, NewConnectionError

from bot.outside.compose import OutsideMessage
from bot.outside.links import Links
from bot.outside.sender import OutsideSender
from bot.runtime.outside_settings import OutsideSettings
from bot.runtime.sending import SendError
from handlers.core.context import system_clock
from store import contacts

# Seconds to connect, and to wait for Notify's answer (the client's own default is 30 for both).
TIMEOUT = (5.0, 20.0)
# Notify's 429 seldom says when to come back; its rate limit counts over 60 seconds.
DEFAULT_RETRY_AFTER = 60.0
# Notify's mistune reads these at the start of a line as formatting: headings (#), lists
# (*, -, •, "1."), inset text (^), lines (---, ***, ___, and === or --- under a line), tables (|)
# and indented blocks. A zero-width space in front makes the line plain text (Notify itself
# breaks "GOV.UK" links with one); it is invisible and Notify keeps it in message bodies.
_FORMATTING_AT_START = re.compile(r"^(?: {4}|\t| *(?:[#*\-•^=_|:]|\d+\.))")
ZERO_WIDTH_SPACE = "\u200b"
# Inside a line, [text](address) would hide an address behind words, and | can make a table:
# a backslash makes Notify show the character itself (and \ must then be written \\).
_INLINE_MARKS = re.compile(r"([\\\[\]|])")
# Web addresses stay exactly as written, so Notify makes them plain links.
_URL = re.compile(r"https?://[^\s<>]+")


def plain_for_notify(text: str) -> str:
    """The text as Notify shows it, word for word: nothing in it becomes formatting."""
    return "\n".join(_plain_line(line) for line in text.split("\n"))


def _plain_line(line: str) -> str:
    parts: list[str] = []
    last = 0
    for url in _URL.finditer(line):
        parts.append(_INLINE_MARKS.sub(r"\\\1", line[last : url.start()]))
        parts.append(url.group())
        last = url.end()
    parts.append(_INLINE_MARKS.sub(r"\\\1", line[last:]))
    plain = "".join(parts)
    return ZERO_WIDTH_SPACE + plain if _FORMATTING_AT_START.match(plain) else plain


class _NotifySender(OutsideSender):
    """What the e-mail and text senders share: the client, the reference, and Notify's errors."""

    can_look_back = True
    notification_type: str  # Notify's name for it: "email" or "sms"
    what: str  # the person's address, in words: "e-mail address" or "mobile number"
    template_setting: str  # the setting naming its template
    placeholders: tuple[str, ...]  # what its template must have for us to fill
    template_shape: str  # the template it needs, in words

    def _template_id(self) -> str | None:
        raise NotImplementedError

    def __init__(
        self,
        sessions: sessionmaker[Session],
        links: Links,
        zone: ZoneInfo,
        *,
        settings: OutsideSettings,
        clock: Callable[[], datetime] = system_clock,
        timeout: float | tuple[float, float] = TIMEOUT,
    ) -> None:
        super().__init__(sessions, links, zone, settings=settings, clock=clock)
        self._timeout = timeout
        self._client: NotificationsAPIClient | None = None
        # The client keeps one requests.Session, which is not safe to share between threads.
        self._lock = threading.Lock()

    def find_sent(self, channel: str, key: str, *, since: datetime) -> str | None:
        """The id of the notification Notify holds with this reference, made since `since`."""
        try:
            with self._lock:
                answer = self._api().get_all_notifications(
                    reference=key, template_type=self.notification_type
                )
        except APIError as error:
            raise _send_error(error, looking=True) from None
        for notification in _notifications(answer):
            # A reference is unique to a delivery of this database; one from before `since`
            # belongs to another (a test database, one restored from a backup).
            if notification.get("reference") == key and _made_since(notification, since):
                return str(notification["id"])
        return None

    def check(self) -> SendError | None:
        """Whether Notify accepts the key, and the template exists with the placeholders we fill."""
        template_id = self._template_id()
        if not template_id:
            return SendError(f"{self.template_setting} is not set", retryable=False)
        try:
            with self._lock:
                template = self._api().get_template(template_id)
        except APIError as error:
            if error.status_code == 404:
                return SendError(
                    f"{self.template_setting}: GOV.UK Notify has no template {template_id} in "
                    "this service (copy the template's ID from Notify)",
                    retryable=False,
                )
            return _send_error(error, looking=True)
        wanted = [f"(({name}))" for name in self.placeholders]
        said = f"{template.get('subject') or ''} {template.get('body') or ''}"
        missing = [p for p in wanted if p not in said]
        if template.get("type") != self.notification_type or missing:
            return SendError(
                f"{self.template_setting}: that Notify template must be {self.template_shape} "
                f"(it lacks {', '.join(missing) or 'the right type'})",
                retryable=False,
            )
        return None

    def transmit(self, address: str, message: OutsideMessage, key: str) -> str | None:
        """Send through Notify, the delivery key as its reference; Notify's notification id."""
        try:
            with self._lock:
                answer = self._send(self._api(), address, message, key)
        except APIError as error:
            raise _send_error(error, what=self.what, address=address) from None
        return str(answer["id"]) if isinstance(answer, dict) and "id" in answer else None

    def _send(
        self, client: NotificationsAPIClient, address: str, message: OutsideMessage, key: str
    ) -> Any:
        raise NotImplementedError

    def _api(self) -> NotificationsAPIClient:
        if self._client is None:
            if self.settings.notify_api_key is None:
                raise SendError("NOTIFY_API_KEY is not set", retryable=False)
            self._client = NotificationsAPIClient(
                self.settings.notify_api_key.reveal(),
                base_url=self.settings.notify_api_url,
                timeout=self._timeout,
            )
        return self._client


class NotifyEmailSender(_NotifySender):
    """E-mail through Notify's e-mail template: subject ((subject)), message ((body))."""

    platform = contacts.EMAIL
    notification_type = "email"
    what = "e-mail address"
    attaches_calendar = False  # Notify sends no attachment: the calendar entry is a link
    template_setting = "NOTIFY_EMAIL_TEMPLATE_ID"
    placeholders = ("subject", "body")
    template_shape = "an e-mail template with subject ((subject)) and message ((body))"

    def _template_id(self) -> str | None:
        return self.settings.notify_email_template_id

    def _send(
        self, client: NotificationsAPIClient, address: str, message: OutsideMessage, key: str
    ) -> Any:
        template = self.settings.notify_email_template_id
        if not template:
            raise SendError("NOTIFY_EMAIL_TEMPLATE_ID is not set", retryable=False)
        return client.send_email_notification(
            email_address=address,
            template_id=template,
            personalisation={"subject": message.subject, "body": plain_for_notify(message.body)},
            reference=key,
        )


class NotifyTextSender(_NotifySender):
    """Texts through Notify's text message template: message ((body))."""

    platform = contacts.TEXT
    notification_type = "sms"
    what = "mobile number"
    template_setting = "NOTIFY_TEXT_TEMPLATE_ID"
    placeholders = ("body",)
    template_shape = "a text message template with message ((body))"

    def _template_id(self) -> str | None:
        return self.settings.notify_text_template_id

    def _send(
        self, client: NotificationsAPIClient, address: str, message: OutsideMessage, key: str
    ) -> Any:
        template = self.settings.notify_text_template_id
        if not template:
            raise SendError("NOTIFY_TEXT_TEMPLATE_ID is not set", retryable=False)
        # Texts are not formatted by Notify: the body goes as it is.
        return client.send_sms_notification(
            phone_number=address,
            template_id=template,
            personalisation={"body": message.body},
            reference=key,
        )


def _notifications(answer: Any) -> Iterator[dict[str, Any]]:
    found = answer.get("notifications") if isinstance(answer, dict) else None
    for notification in found or ():
        if isinstance(notification, dict) and notification.get("id"):
            yield notification


def _made_since(notification: dict[str, Any], since: datetime) -> bool:
    try:
        created = datetime.fromisoformat(str(notification.get("created_at")))
    except ValueError:
        return True  # no readable time: the reference alone says it is this delivery's
    return created.tzinfo is None or created >= since


def _errors(error: APIError) -> list[tuple[str, str]]:
    """Notify's (error, message) pairs: {"status_code": ..., "errors": [{"error", "message"}]}."""
    try:
        body = error.response.json() if error.response is not None else None
    except ValueError:
        return []
    found = body.get("errors") if isinstance(body, dict) else None
    return [
        (str(item.get("error", "")), str(item.get("message", "")))
        for item in found or ()
        if isinstance(item, dict)
    ]


def _never_reached(cause: BaseException | None) -> bool:
    """Whether the request cannot have reached Notify (no connection was ever made)."""
    if isinstance(cause, requests.ConnectTimeout):
        return True
    seen: set[int] = set()
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, NewConnectionError | NameResolutionError):
            return True
        reason = getattr(cause, "reason", None)
        nested = cause.args[0] if cause.args and isinstance(cause.args[0], BaseException) else None
        cause = reason if isinstance(reason, BaseException) else nested or cause.__cause__
    return False


def _send_error(
    error: APIError, *, looking: bool = False, what: str = "", address: str = ""
) -> SendError:
    """Notify's refusal (or silence) as the deliverer needs it; never naming the address."""
    cause = error.__cause__
    status = error.status_code if error.response is not None else None
    if status is None:
        if isinstance(error, InvalidResponse):
            return SendError(
                "GOV.UK Notify's answer could not be read", retryable=True, maybe_sent=True
            )
        if isinstance(cause, requests.ReadTimeout):
            return SendError(
                "no answer from GOV.UK Notify in time", retryable=True, maybe_sent=not looking
            )
        return SendError(
            "could not reach GOV.UK Notify (check NOTIFY_API_URL and the network)",
            retryable=True,
            maybe_sent=not looking and not _never_reached(cause),
        )
    kinds = [kind for kind, _ in _errors(error)]
    said = "; ".join(message for _, message in _errors(error) if message)
    if address:
        said = said.replace(address, f"(their {what})")  # Notify does not echo it; never log it
    if status == 429:
        if "TooManyRequestsError" in kinds:
            # The daily limit: waiting a minute would not help, and holding every platform
            # until midnight would stop Slack and Teams too. Tried again later, then failed.
            return SendError(
                "GOV.UK Notify's daily limit of messages for this service is used up (it starts "
                "again at midnight; Notify can raise it)",
                retryable=True,
            )
        return SendError(
            "GOV.UK Notify asked us to slow down",
            retryable=True,
            retry_after=_retry_after(error),
        )
    if status in (401, 403):
        return SendError(
            "GOV.UK Notify refused our API key: check NOTIFY_API_KEY (copy the whole key from "
            "Notify's API integration page) and that this computer's clock is right "
            f"(Notify said: {said or status})",
            retryable=False,
        )
    if status >= 500:
        return SendError(f"GOV.UK Notify had a problem ({status})", retryable=True)
    if status == 400 and _about_the_address(said):
        return SendError(
            f"GOV.UK Notify cannot send to this person's {what}: please check it with them "
            "and correct it",
            retryable=False,
        )
    if status == 400 and ("team-only" in said or "trial mode" in said):
        return SendError(
            f"GOV.UK Notify only sends to your own team with this key ({said}): use a live "
            "API key in NOTIFY_API_KEY",
            retryable=False,
        )
    if status == 400:
        return SendError(
            f"GOV.UK Notify refused the message ({said or status}): check the Notify templates "
            "(e-mail: subject ((subject)) and message ((body)); text: ((body))) and the "
            "NOTIFY_*_TEMPLATE_ID settings",
            retryable=False,
        )
    return SendError(
        f"GOV.UK Notify answered {status} ({said or 'no reason given'}): check NOTIFY_API_URL",
        retryable=False,
    )


def _about_the_address(said: str) -> bool:
    """Whether Notify's message is about the number or address ("phone_number Not a UK ...")."""
    return "phone_number" in said or "email_address" in said


def _retry_after(error: APIError) -> float:
    header = error.response.headers.get("Retry-After") if error.response is not None else None
    try:
        return max(1.0, float(header)) if header else DEFAULT_RETRY_AFTER
    except ValueError:
        return DEFAULT_RETRY_AFTER
