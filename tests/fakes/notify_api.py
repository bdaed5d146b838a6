"""A fake GOV.UK Notify API on 127.0.0.1, as strict as Notify about what it sends.

Point NOTIFY_API_URL at `FakeNotify.root_url` and use `FakeNotify.api_key` as NOTIFY_API_KEY.
It serves the part of Notify's v2 API the bot uses:

* ``POST /v2/notifications/email`` (email_address, template_id, personalisation, reference) and
  ``POST /v2/notifications/sms`` (phone_number, ...): 201 with Notify's answer (id, reference,
  content, uri, template), and the notification recorded in `notifications`.
* ``GET /v2/notifications`` (reference, template_type, status): the notifications that match,
  newest first, as ``{"notifications": [...], "links": {"current": ...}}``.
* ``GET /v2/notifications/{id}``: one notification, or 404.
* ``GET /v2/template/{id}``: one template (how qi-nudge check reads the placeholders), or 404.

Every request needs ``Authorization: Bearer <JWT>`` as the Notify clients make it: HS256,
header typ JWT, iss the service id, iat now; signed with the key's secret (its last 36
characters; the service id is the 36 before them). As Notify: no token 401; an unknown service
id, a token not signed with the secret, or another algorithm 403; an iat more than 30 seconds
from the fake's clock 403 "Error: Your system clock must be accurate to within 30 seconds".
Errors are Notify's JSON: ``{"status_code": 400, "errors": [{"error": "BadRequestError",
"message": "..."}]}``. Sends are refused as Notify refuses them (400): an unknown template or
one of the other type, a template_id that is no UUID, a placeholder with no value ("Missing
personalisation: body"), a text longer than 918 characters (counted as Notify counts, in
UTF-16 units), a phone number or e-mail address Notify would not take, a reference over 1000
characters. Stricter than Notify in one way: personalisation values must be strings (Notify
would print a number, but our senders only ever mean to send text).

Misbehaviour on demand: `fail` (the next N requests answer 429 RateLimitError, 5xx, or any
error, optionally with Retry-After) and `hang` (the next N requests wait before answering,
either before acting or after: then the notification exists but the caller may hear nothing).
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import phonenumbers

from tests.fakes.local_server import JsonHandler, LocalFake

SERVICE_ID = "2f6b1d0e-7c1a-4f1e-9a57-3f6f4c1b2a10"
SECRET = "8c1d6b4e-2a5f-4b7c-9d3e-1f0a2b3c4d5e"
EMAIL_TEMPLATE_ID = "0b9e3c1a-5d2f-4e8a-b7c6-9a1d2e3f4a5b"
TEXT_TEMPLATE_ID = "7d4c2b1a-9e8f-4a6b-8c5d-3e2f1a0b9c8d"
TEXT_MAX = 918  # Notify's SMS_CHAR_COUNT_LIMIT
REFERENCE_MAX = 1000
CLOCK_BOUND = 30  # seconds either way, as Notify's authentication allows
CLOCK_ERROR = "Error: Your system clock must be accurate to within 30 seconds"

# Route names, for `fail`, `hang` and `calls_to`.
SEND_EMAIL = "send_email"
SEND_SMS = "send_sms"
SEND = "send"  # either of the two
LIST = "list"
GET_ONE = "get_one"
GET_TEMPLATE = "get_template"

_PLACEHOLDER = re.compile(r"\(\(([^()]+)\)\)")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
# Notify's e-mail check (notifications-utils): a local part of these characters, a domain of
# dot-separated labels (letters, digits, hyphens; none empty or over 63), a TLD of letters.
_EMAIL_LOCAL = re.compile(r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~\-]+$")
_DOMAIN_LABEL = re.compile(r"^(?!-)[a-zA-Z0-9\-]{1,63}(?<!-)$")
# What Notify's markdown (mistune, with Notify's grammar) reads as formatting in an e-mail body:
# headings, lists, inset text, lines, tables, indented blocks and [text](address) links.
_BLOCK_FORMATTING = re.compile(
    r"^(?: *#{1,6}(?:\s|$)| *[•*-] | *\d+\. | *\^| {0,3}(?:[-*_] *){3,}$| *[=-]+ *$| {4}| *\|)"
)
# Notify's markdown shows a backslashed punctuation mark as the mark itself (mistune's escape).
_ESCAPED = re.compile(r"\\([\\`*{}\[\]()#+\-.!_>~|])")
_INLINE_LINK = re.compile(r"(?<!\\)\[[^\]\n]*(?<!\\)\]\(")
_ERROR_NAMES = {
    400: "BadRequestError",
    401: "AuthError",
    403: "AuthError",
    404: "NoResultFound",
    429: "RateLimitError",
    500: "Exception",
    502: "Exception",
    503: "Exception",
}
_ERROR_MESSAGES = {
    429: "Exceeded rate limit for key type LIVE of 3000 requests per 60 seconds",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
}


def api_key(service_id: str = SERVICE_ID, secret: str = SECRET, name: str = "qi-nudge") -> str:
    """A Notify API key as Notify shows it: "<name>-<service id>-<secret>"."""
    return f"{name}-{service_id}-{secret}"


@dataclass(frozen=True)
class Template:
    """A template as the trust sets it up in Notify."""

    template_id: str
    type: str  # "email" or "sms"
    body: str
    subject: str | None = None


@dataclass(frozen=True)
class Notification:
    """One message Notify accepted."""

    id: str
    type: str  # "email" or "sms"
    to: str  # the e-mail address or phone number, as given
    template_id: str
    personalisation: dict[str, Any]
    reference: str | None
    subject: str | None
    body: str  # the template with its placeholders filled in
    created_at: datetime

    @property
    def formatting(self) -> list[str]:
        """The body's lines Notify would show as formatting (e-mail only): there should be none."""
        if self.type != "email":
            return []
        return [
            line
            for line in self.body.split("\n")
            if _BLOCK_FORMATTING.match(line) or _INLINE_LINK.search(line)
        ]

    @property
    def shown(self) -> str:
        """The e-mail as its reader sees it: escaped marks as themselves, no zero-width spaces."""
        return _ESCAPED.sub(r"\1", self.body).replace("\u200b", "")

    def as_notify(self) -> dict[str, Any]:
        """The notification as GET /v2/notifications answers it."""
        return {
            "id": self.id,
            "reference": self.reference,
            "email_address": self.to if self.type == "email" else None,
            "phone_number": self.to if self.type == "sms" else None,
            "type": self.type,
            "status": "created",
            "template": {"id": self.template_id, "version": 1, "uri": ""},
            "body": self.body,
            "subject": self.subject,
            "created_at": self.created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "created_by_name": None,
            "sent_at": None,
            "completed_at": None,
            "scheduled_for": None,
        }


@dataclass(frozen=True)
class Call:
    """One request as the fake received it, with the status it answered."""

    method: str
    path: str  # with the query string
    route: str | None
    body: Any
    status: int


@dataclass
class _Failure:
    status: int
    error: str
    message: str
    retry_after: int | None
    remaining: int


@dataclass
class _Hang:
    seconds: float
    after_acting: bool
    remaining: int
    started: threading.Event = field(default_factory=threading.Event)


@dataclass
class _Answer:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class FakeNotify(LocalFake):
    """GOV.UK Notify's v2 notifications API for one service, with an e-mail and a text template."""

    def __init__(
        self,
        *,
        service_id: str = SERVICE_ID,
        secret: str = SECRET,
        clock: Callable[[], float] = time.time,
        stamp: Callable[[], datetime] | None = None,
    ) -> None:
        """`clock` checks tokens' iat (real time: the client signs with it); `stamp` dates the
        notifications (by default `clock`): a test on a frozen clock gives its own, as Notify's
        clock and ours agree in life."""
        super().__init__(_Handler, "fake-notify")
        self.service_id = service_id
        self.secret = secret
        self.clock = clock
        self.stamp = stamp or (lambda: datetime.fromtimestamp(self.clock(), UTC))
        self.calls: list[Call] = []
        self.notifications: list[Notification] = []
        self.templates: dict[str, Template] = {}
        self._lock = threading.RLock()
        self._failures: dict[str, deque[_Failure]] = {}
        self._hangs: dict[str, deque[_Hang]] = {}
        self.add_template(Template(EMAIL_TEMPLATE_ID, "email", "((body))", "((subject))"))
        self.add_template(Template(TEXT_TEMPLATE_ID, "sms", "((body))"))

    @property
    def api_key(self) -> str:
        """The service's API key, as the trust copies it from Notify."""
        return api_key(self.service_id, self.secret)

    def add_template(self, template: Template) -> None:
        """Set up (or change) a template."""
        with self._lock:
            self.templates[template.template_id] = template

    def fail(
        self,
        status: int,
        *,
        times: int = 1,
        route: str = SEND,
        error: str | None = None,
        message: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next `times` requests to `route` with `status` and Notify's error JSON.

        Nothing is sent. 429 is RateLimitError unless `error` says otherwise (Notify's daily
        limit is "TooManyRequestsError"); Retry-After is sent only when `retry_after` is given
        (Notify seldom sends it).
        """
        if status < 400 or times < 1:
            raise ValueError("fail() needs an error status and at least one time")
        entry = _Failure(
            status,
            error or _ERROR_NAMES.get(status, "Exception"),
            message or _ERROR_MESSAGES.get(status, "Request failed"),
            retry_after,
            times,
        )
        with self._lock:
            self._failures.setdefault(route, deque()).append(entry)

    def hang(
        self, seconds: float, *, times: int = 1, route: str = SEND, after_acting: bool = False
    ) -> threading.Event:
        """Wait `seconds` before answering the next `times` requests to `route`.

        With `after_acting`, the request is done first (the notification exists) and only the
        answer is late: the caller's read timeout leaves it not knowing. The event is set when
        the first wait begins.
        """
        if times < 1:
            raise ValueError("times must be at least 1")
        entry = _Hang(seconds, after_acting, times)
        with self._lock:
            self._hangs.setdefault(route, deque()).append(entry)
        return entry.started

    def calls_to(self, route: str) -> list[Call]:
        """The requests made to a route (SEND for both kinds of send)."""
        with self._lock:
            return [c for c in self.calls if c.route == route or _in_group(c.route, route)]

    def sent(self, kind: str | None = None) -> list[Notification]:
        """The notifications accepted ("email", "sms", or both), oldest first."""
        with self._lock:
            return [n for n in self.notifications if kind is None or n.type == kind]

    # -- serving -----------------------------------------------------------------------------

    def _serve(self, request: _Handler) -> _Answer:
        url = urlsplit(request.path)
        raw = request.read_body()
        route, notification_id = _route(request.command, url.path)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")

        def record(answer: _Answer) -> _Answer:
            with self._lock:
                self.calls.append(Call(request.command, request.path, route, body, answer.status))
            return answer

        if route is None:
            return record(_error(404, "NoResultFound", "Not found"))
        hang = self._take(self._hangs, route)
        if hang is not None and not hang.after_acting:
            hang.started.set()
            if self._closing.wait(hang.seconds):
                return record(_error(503, "Exception", "Service unavailable"))
        failure = self._take(self._failures, route)
        if failure is not None:
            answer = _error(failure.status, failure.error, failure.message)
            if failure.retry_after is not None:
                answer.headers["Retry-After"] = str(failure.retry_after)
            return record(answer)
        answer = record(
            self._handle(
                route, request.headers.get("Authorization", ""), body, url.query, notification_id
            )
        )
        if hang is not None and hang.after_acting:
            hang.started.set()
            self._closing.wait(hang.seconds)
        return answer

    def _handle(
        self, route: str, authorization: str, body: Any, query: str, notification_id: str | None
    ) -> _Answer:
        refused = self._refuse_token(authorization)
        if refused is not None:
            return refused
        if route == LIST:
            return self._list(query)
        if route == GET_TEMPLATE:
            return self._template(notification_id or "")
        if route == GET_ONE:
            with self._lock:
                found = next((n for n in self.notifications if n.id == notification_id), None)
            if found is None:
                return _error(404, "NoResultFound", "No result found")
            return _Answer(200, found.as_notify())
        if not isinstance(body, dict):
            return _error(400, "BadRequestError", "Invalid JSON supplied in POST data")
        return self._send("email" if route == SEND_EMAIL else "sms", body)

    def _refuse_token(self, authorization: str) -> _Answer | None:
        scheme, _, token = authorization.partition(" ")
        if not authorization:
            return _error(401, "AuthError", "Unauthorized: authentication token must be provided")
        if scheme.lower() != "bearer" or not token.strip():
            return _error(
                401, "AuthError", "Unauthorized: authentication bearer scheme must be used"
            )
        token = token.strip()
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return _error(403, "AuthError", "Invalid token: signature, api token is not valid")
        issuer = claims.get("iss")
        if not isinstance(issuer, str) or not _UUID.match(issuer):
            return _error(403, "AuthError", "Invalid token: service id is not the right data type")
        if issuer != self.service_id:
            return _error(403, "AuthError", "Invalid token: service not found")
        if header.get("alg") != "HS256":
            return _error(403, "AuthError", "Invalid token: algorithm used is not HS256")
        try:
            # Notify checks iat itself (below), with its own 30-second bound.
            jwt.decode(
                token,
                key=self.secret,
                algorithms=["HS256"],
                options={"verify_iat": False, "verify_exp": False, "verify_nbf": False},
            )
        except jwt.InvalidSignatureError:
            return _error(403, "AuthError", "Invalid token: API key not found")
        except jwt.PyJWTError:
            return _error(403, "AuthError", "Invalid token: signature, api token is not valid")
        iat = claims.get("iat")
        if not isinstance(iat, int | float):
            return _error(403, "AuthError", "Invalid token: API key not found")
        if abs(self.clock() - iat) > CLOCK_BOUND:
            return _error(403, "AuthError", CLOCK_ERROR)
        return None

    def _template(self, template_id: str) -> _Answer:
        """GET /v2/template/{id}: the template as Notify shows it, or 400/404 as Notify does."""
        if not _UUID.match(template_id):
            return _error(400, "ValidationError", "id is not a valid UUID")
        with self._lock:
            found = self.templates.get(template_id)
        if found is None:
            return _error(404, "NoResultFound", "No result found")
        return _Answer(
            200,
            {
                "id": found.template_id,
                "type": found.type,
                "name": f"qi-nudge {found.type}",
                "version": 1,
                "body": found.body,
                "subject": found.subject,
                "created_at": "2026-11-01T09:00:00.000000Z",
                "updated_at": None,
                "created_by": "someone@example.nhs.uk",
                "postage": None,
                "letter_contact_block": None,
            },
        )

    def _list(self, query: str) -> _Answer:
        params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        kind = params.get("template_type")
        if kind is not None and kind not in ("email", "sms", "letter"):
            return _error(
                400, "ValidationError", f"template_type {kind} is not one of [sms, email, letter]"
            )
        with self._lock:
            found = [
                n.as_notify()
                for n in reversed(self.notifications)
                if (kind is None or n.type == kind)
                and ("reference" not in params or n.reference == params["reference"])
                and params.get("status", "created") == "created"
            ]
        return _Answer(
            200, {"notifications": found, "links": {"current": f"{self.root_url}/v2/notifications"}}
        )

    def _send(self, kind: str, body: dict[str, Any]) -> _Answer:
        to_field = "email_address" if kind == "email" else "phone_number"
        errors: list[tuple[str, str]] = []
        for required in (to_field, "template_id"):
            if required not in body:
                errors.append(("ValidationError", f"{required} is a required property"))
        if errors:
            return _errors(400, errors)
        template_id = body["template_id"]
        if not isinstance(template_id, str) or not _UUID.match(template_id):
            return _errors(400, [("ValidationError", "template_id is not a valid UUID")])
        personalisation = body.get("personalisation") or {}
        if not isinstance(personalisation, dict):
            return _errors(400, [("ValidationError", "personalisation is not of type object")])
        for name, value in personalisation.items():
            if not isinstance(value, str):
                errors.append(("ValidationError", f"personalisation {name} is not a string"))
        reference = body.get("reference")
        if reference is not None and (
            not isinstance(reference, str) or len(reference) > REFERENCE_MAX
        ):
            errors.append(
                ("ValidationError", "reference is not a string of at most 1000 characters")
            )
        to = body[to_field]
        problem = _email_problem(to) if kind == "email" else _phone_problem(to)
        if problem is not None:
            errors.append(("ValidationError", f"{to_field} {problem}"))
        if errors:
            return _errors(400, errors)
        with self._lock:
            template = self.templates.get(template_id)
        if template is None:
            return _errors(400, [("BadRequestError", "Template not found")])
        if template.type != kind:
            return _errors(
                400,
                [
                    (
                        "BadRequestError",
                        f"{template.type} template is not suitable for {kind} notification",
                    )
                ],
            )
        values = {str(k).casefold(): v for k, v in personalisation.items()}
        wanted = [
            name
            for text in (template.subject or "", template.body)
            for name in _PLACEHOLDER.findall(text)
        ]
        missing = [name for name in dict.fromkeys(wanted) if name.casefold() not in values]
        if missing:
            return _errors(
                400, [("BadRequestError", f"Missing personalisation: {', '.join(missing)}")]
            )
        filled = _PLACEHOLDER.sub(lambda m: values[m.group(1).casefold()], template.body)
        subject = (
            _PLACEHOLDER.sub(lambda m: values[m.group(1).casefold()], template.subject)
            if template.subject is not None
            else None
        )
        if kind == "sms":
            length = len(filled.strip().encode("utf-16-le")) // 2
            if length > TEXT_MAX:
                return _errors(
                    400,
                    [
                        (
                            "BadRequestError",
                            f"Text messages cannot be longer than {TEXT_MAX} characters. "
                            f"Your message is {length} characters long.",
                        )
                    ],
                )
        notification = Notification(
            id=str(uuid.uuid4()),
            type=kind,
            to=to,
            template_id=template_id,
            personalisation=dict(personalisation),
            reference=reference,
            subject=subject,
            body=filled,
            created_at=self.stamp(),
        )
        with self._lock:
            self.notifications.append(notification)
        content: dict[str, Any] = {"body": filled}
        if kind == "email":
            content.update(subject=subject, from_email="qi.forum@notifications.service.gov.uk")
        else:
            content.update(from_number="QIForum")
        return _Answer(
            201,
            {
                "id": notification.id,
                "reference": reference,
                "content": content,
                "uri": f"{self.root_url}/v2/notifications/{notification.id}",
                "template": {"id": template_id, "version": 1, "uri": ""},
                "scheduled_for": None,
            },
        )

    def _take(self, queues: dict[str, deque[Any]], route: str) -> Any:
        with self._lock:
            for name in (route, SEND if route in (SEND_EMAIL, SEND_SMS) else None):
                queue = queues.get(name) if name else None
                if queue:
                    entry = queue[0]
                    entry.remaining -= 1
                    if entry.remaining <= 0:
                        queue.popleft()
                    return entry
            return None


def _in_group(route: str | None, group: str) -> bool:
    return group == SEND and route in (SEND_EMAIL, SEND_SMS)


def _route(method: str, path: str) -> tuple[str | None, str | None]:
    path = path.rstrip("/")
    if method == "POST" and path == "/v2/notifications/email":
        return SEND_EMAIL, None
    if method == "POST" and path == "/v2/notifications/sms":
        return SEND_SMS, None
    if method == "GET" and path == "/v2/notifications":
        return LIST, None
    if method == "GET" and path.startswith("/v2/notifications/"):
        return GET_ONE, path.rsplit("/", 1)[1]
    if method == "GET" and path.startswith("/v2/template/"):
        return GET_TEMPLATE, path.rsplit("/", 1)[1]
    return None, None


def _email_problem(address: Any) -> str | None:
    """Why Notify would refuse the e-mail address, or None."""
    bad = "Not a valid email address"
    if not isinstance(address, str) or len(address) > 320 or address.count("@") != 1:
        return bad
    local, domain = address.strip().split("@")
    labels = domain.split(".")
    if not local or not _EMAIL_LOCAL.match(local) or ".." in local or len(labels) < 2:
        return bad
    if not all(_DOMAIN_LABEL.match(label) for label in labels) or not labels[-1].isalpha():
        return bad
    return None


def _phone_problem(number: Any) -> str | None:
    """Why Notify would refuse the phone number, or None (UK mobiles and international)."""
    if not isinstance(number, str):
        return "Not a UK mobile number"
    digits = re.sub(r"[\s()\-]", "", number)
    if not re.fullmatch(r"\+?\d+", digits):
        return "Mobile numbers can only include: 0 1 2 3 4 5 6 7 8 9 ( ) + -"
    # As Notify: a number starting 0 (not 00), 7 or 44 is a UK number, which must be a mobile.
    if digits.startswith(("+44", "0044", "44", "7")) or (
        digits.startswith("0") and not digits.startswith("00")
    ):
        national = digits.removeprefix("+").removeprefix("0044").removeprefix("44")
        national = national.removeprefix("0")
        if not national.startswith("7"):
            return "Not a UK mobile number"
        if len(national) > 10:
            return "Too many digits"
        if len(national) < 10:
            return "Not enough digits"
        return None
    try:
        parsed = phonenumbers.parse("+" + digits.removeprefix("+").removeprefix("00"))
    except phonenumbers.NumberParseException:
        return "Not a valid country prefix"
    if not phonenumbers.is_possible_number(parsed):
        return "Not a valid international number"
    return None


def _error(status: int, error: str, message: str) -> _Answer:
    return _errors(status, [(error, message)])


def _errors(status: int, errors: list[tuple[str, str]]) -> _Answer:
    """Notify's v2 error JSON."""
    return _Answer(
        status,
        {"status_code": status, "errors": [{"error": e, "message": m} for e, m in errors]},
    )


class _Handler(JsonHandler):
    typed_when_empty = True  # Notify names its type even on an empty answer
