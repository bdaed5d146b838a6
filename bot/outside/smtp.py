"""E-mail through an SMTP relay (NHSmail and most trusts offer one), with the meeting's .ics.

SMTP_URL is smtp://user:password@host:587 (STARTTLS when the server offers it, and required
before a password goes to any host but this machine) or smtps://user:password@host:465
(TLS from the start). Each e-mail is one connection: a relay closes idle ones, and a few
invitations a week need no pool.

The log and every failure reason name no address and no password: a reason is kept in the
outbox and shown by `qi-nudge deliveries`, where anyone who runs the bot can read it.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import smtplib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from bot.outside.compose import OutsideMessage
from bot.outside.links import Links
from bot.outside.sender import OutsideSender
from bot.runtime.outside_settings import OutsideSettings
from bot.runtime.sending import SendError
from handlers.core.context import system_clock

log = logging.getLogger(__name__)

# Seconds for the connection and each reply: a relay slower than this is not answering.
TIMEOUT = 30.0
PORTS = {"smtp": 587, "smtps": 465}
CALENDAR_FILE = "invite.ics"
CALENDAR_PARAMS = {"method": "PUBLISH", "charset": "UTF-8"}
# The outbox keeps a message id this long at most (Delivery.message_ts).
MESSAGE_ID_MAX = 100
CHECK_SMTP_URL = "check SMTP_URL"
# CRLF lines of at most 78 characters; a header already folded (the subject) is sent as it is.
WIRE = policy.SMTP.clone(refold_source="none")


@dataclass(frozen=True)
class Relay:
    """Where SMTP_URL points, and how to sign in there."""

    implicit_tls: bool
    host: str
    port: int
    user: str | None
    password: str | None

    @property
    def is_loopback(self) -> bool:
        """Whether the relay runs on this machine (a password sent in clear stays here)."""
        if self.host.casefold() == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def read_relay(url: str) -> Relay:
    """The relay SMTP_URL names (already checked to be smtp:// or smtps:// by the settings)."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise SendError("SMTP_URL names no mail server: check SMTP_URL", retryable=False)
    try:
        port = parts.port or PORTS[parts.scheme]
    except ValueError:
        raise SendError(
            "SMTP_URL has a port that is not a number: check SMTP_URL", retryable=False
        ) from None
    return Relay(
        implicit_tls=parts.scheme == "smtps",
        host=parts.hostname,
        port=port,
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


def message_id(key: str, sender: str) -> str:
    """A Message-ID naming the delivery: a retry carries the same one, so it is recognised."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "qi-nudge.invalid"
    return f"<{key}@{domain}>"


def build_email(
    message: OutsideMessage, *, to: str, sender: str, key: str, now: datetime
) -> EmailMessage:
    """The e-mail: plain text, and the calendar entry both inline (for Outlook) and attached."""
    email = EmailMessage(policy=WIRE)
    email["From"] = sender
    email["To"] = to
    if message.subject.isascii():
        email["Subject"] = message.subject
    else:
        # Python's header folder drops the space between two encoded words it splits at
        # ("كبار السن" arrives as "كبارالسن"): the older encoder keeps spaces inside them.
        email.set_raw("Subject", Header(message.subject, "utf-8", header_name="Subject").encode())
    email["Date"] = format_datetime(now)
    email["Message-ID"] = message_id(key, sender)
    # An automatic message: mail programs and out-of-office rules should not answer it.
    email["Auto-Submitted"] = "auto-generated"
    email["X-Auto-Response-Suppress"] = "All"
    if message.stop_url:
        email["List-Unsubscribe"] = f"<{message.stop_url}>"
    email.set_content(message.body)
    if message.calendar is not None:
        # Outlook shows the entry as a meeting from the alternative part; other mail programs
        # offer the attachment.
        email.add_alternative(
            message.calendar, maintype="text", subtype="calendar", params=CALENDAR_PARAMS
        )
        email.add_attachment(
            message.calendar,
            maintype="text",
            subtype="calendar",
            filename=CALENDAR_FILE,
            params=CALENDAR_PARAMS,
        )
    return email


def _reply_failure(code: int, refused: str, *, permanent: str) -> SendError:
    """A failure the server answered with: 4xx is for now (retry), 5xx for good."""
    if 400 <= code < 500:
        return SendError(f"{refused} for now ({code}); trying again later", retryable=True)
    return SendError(f"{refused} ({code}): {permanent}", retryable=False)


class SmtpSender(OutsideSender):
    """E-mail through SMTP_URL, from SMTP_FROM, with the meeting's .ics attached."""

    platform = "email"

    def __init__(
        self,
        sessions: sessionmaker[Session],
        links: Links,
        zone: ZoneInfo,
        *,
        settings: OutsideSettings,
        clock: Callable[[], datetime] = system_clock,
        timeout: float = TIMEOUT,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(sessions, links, zone, settings=settings, clock=clock)
        self.timeout = timeout
        # The system's trusted certificates unless told otherwise (a test's own authority).
        self.tls = tls or ssl.create_default_context()

    def transmit(self, address: str, message: OutsideMessage, key: str) -> str | None:
        """Send one e-mail; its Message-ID."""
        if self.settings.smtp_url is None or not self.settings.smtp_from:
            raise SendError("SMTP_URL and SMTP_FROM are not both set", retryable=False)
        relay = read_relay(self.settings.smtp_url.reveal())
        sender = self.settings.smtp_from
        email = build_email(message, to=address, sender=sender, key=key, now=self.clock())
        connection = self._connect(relay)
        try:
            self._sign_in(connection, relay)
            self._send(connection, email, parseaddr(sender)[1], address)
        except SendError:
            # Hang up: after a timeout, a polite goodbye would only wait out another one.
            connection.close()
            raise
        _close(connection)
        log.info("e-mail %s accepted by the mail server", key)
        sent_id = str(email["Message-ID"])
        return sent_id if len(sent_id) <= MESSAGE_ID_MAX else None

    def check(self) -> SendError | None:
        """Connect, start TLS and sign in as a send would, then hang up: sending nothing."""
        if self.settings.smtp_url is None:
            return SendError("SMTP_URL is not set", retryable=False)
        try:
            connection = self._connect(read_relay(self.settings.smtp_url.reveal()))
            try:
                self._sign_in(connection, read_relay(self.settings.smtp_url.reveal()))
            finally:
                _close(connection)
        except SendError as error:
            return error
        return None

    def _connect(self, relay: Relay) -> smtplib.SMTP:
        """An open connection to the relay, over TLS where it can be (required with a password)."""
        try:
            if relay.implicit_tls:
                connection: smtplib.SMTP = smtplib.SMTP_SSL(
                    relay.host, relay.port, timeout=self.timeout, context=self.tls
                )
            else:
                connection = smtplib.SMTP(relay.host, relay.port, timeout=self.timeout)
        except smtplib.SMTPConnectError as error:
            raise _reply_failure(
                error.smtp_code,
                "the mail server refused the connection",
                permanent=CHECK_SMTP_URL,
            ) from None
        except (OSError, smtplib.SMTPException) as error:
            raise _unreachable(error) from None
        try:
            connection.ehlo()
            if not relay.implicit_tls:
                if connection.has_extn("starttls"):
                    connection.starttls(context=self.tls)
                    connection.ehlo()
                elif relay.user is not None and not relay.is_loopback:
                    raise SendError(
                        "the mail server does not offer STARTTLS, so the password would go "
                        "unencrypted: use smtps:// or a server that offers it (check SMTP_URL)",
                        retryable=False,
                    )
        except SendError:
            connection.close()
            raise
        except smtplib.SMTPResponseException as error:
            connection.close()
            raise _reply_failure(
                error.smtp_code, "the mail server refused to start", permanent=CHECK_SMTP_URL
            ) from None
        except (OSError, smtplib.SMTPException) as error:
            connection.close()
            raise _unreachable(error) from None
        return connection

    def _sign_in(self, connection: smtplib.SMTP, relay: Relay) -> None:
        """Log in with SMTP_URL's user and password, if it has them."""
        if relay.user is None:
            return
        try:
            connection.login(relay.user, relay.password or "")
        except smtplib.SMTPAuthenticationError as error:
            raise _reply_failure(
                error.smtp_code,
                "the mail server did not accept the user name and password",
                permanent=CHECK_SMTP_URL,
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise SendError(
                "the mail server does not take a user name and password: check SMTP_URL",
                retryable=False,
            ) from None
        except smtplib.SMTPResponseException as error:
            raise _reply_failure(
                error.smtp_code, "the mail server refused to sign in", permanent=CHECK_SMTP_URL
            ) from None
        except (OSError, smtplib.SMTPServerDisconnected) as error:
            raise _unreachable(error) from None
        except smtplib.SMTPException:
            # smtplib found no sign-in method that both sides know.
            raise SendError(
                "the mail server offers no way of signing in that qi-nudge knows: check SMTP_URL",
                retryable=False,
            ) from None

    def _send(
        self, connection: smtplib.SMTP, email: EmailMessage, envelope_from: str, to: str
    ) -> None:
        """MAIL, RCPT and DATA, one at a time: a failure says which step, so whether it went."""
        options: list[str] = []
        if not to.isascii():
            if not connection.has_extn("smtputf8"):
                raise SendError(
                    "the address has letters the mail server cannot take (it lacks SMTPUTF8)",
                    retryable=False,
                )
            options.append("SMTPUTF8")
        content = email.as_bytes(policy=WIRE.clone(utf8=True) if options else WIRE)
        try:
            code, _ = connection.mail(envelope_from, options)
            if code != 250:
                raise _reply_failure(
                    code,
                    "the mail server refused to send from SMTP_FROM",
                    permanent="check SMTP_FROM is an address the relay may send from",
                )
            code, _ = connection.rcpt(to)
            if code not in (250, 251):
                raise _reply_failure(
                    code,
                    "the mail server refused the address",
                    permanent="it may be wrong or no longer in use; please check it with them",
                )
        except (OSError, smtplib.SMTPException) as error:
            raise _unreachable(error) from None
        try:
            code, _ = connection.docmd("DATA")
        except (OSError, smtplib.SMTPException) as error:
            raise _unreachable(error) from None
        if code != 354:
            raise _refused_message(code)
        try:
            # From here the message may be with the server even if no answer comes back.
            connection.send(_data_block(content))
            code, _ = connection.getreply()
        except (OSError, smtplib.SMTPException) as error:
            raise SendError(
                f"no answer from the mail server after the message was sent ({_kind(error)})",
                retryable=True,
                maybe_sent=True,
            ) from None
        if code != 250:
            raise _refused_message(code)


def _data_block(content: bytes) -> bytes:
    """The message as DATA sends it: lines starting with a dot doubled, ended by a lone dot."""
    quoted = re.sub(rb"(?m)^\.", b"..", content)
    if not quoted.endswith(b"\r\n"):
        quoted += b"\r\n"
    return quoted + b".\r\n"


def _refused_message(code: int) -> SendError:
    return _reply_failure(
        code,
        "the mail server refused the message",
        permanent="it may be too large, or look like spam to the server",
    )


def _unreachable(error: BaseException) -> SendError:
    """The server could not be reached, or dropped the line before the message was sent."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return SendError(
            "the mail server's certificate could not be trusted: check SMTP_URL names the "
            "server as its certificate does",
            retryable=False,
        )
    if isinstance(error, socket.gaierror):
        return SendError(
            "the mail server's name could not be looked up; trying again later", retryable=True
        )
    return SendError(
        f"could not reach the mail server ({_kind(error)}); trying again later", retryable=True
    )


def _kind(error: BaseException) -> str:
    """What went wrong, in words that name no address (the exception's text might)."""
    kinds: dict[type[BaseException], str] = {
        ConnectionRefusedError: "connection refused",
        TimeoutError: "timed out",
        smtplib.SMTPServerDisconnected: "the connection closed",
        ConnectionResetError: "the connection was reset",
        ssl.SSLError: "a TLS error",
    }
    for kind, words in kinds.items():
        if isinstance(error, kind):
            return words
    return type(error).__name__


def _close(connection: Any) -> None:
    """Say goodbye, or just hang up: the e-mail's fate is already known."""
    try:
        connection.quit()
    except (OSError, smtplib.SMTPException):
        connection.close()
