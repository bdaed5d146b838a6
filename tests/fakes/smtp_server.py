"""A real SMTP server in the test process (aiosmtpd on 127.0.0.1) that keeps what it receives.

It can be told to refuse: the next RCPT or DATA answered with a given reply ("451 ...",
"550 ..."), a pause after the message arrives (the client times out with the message already
here), a user name and password to require, and STARTTLS with a certificate of its own.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session


@dataclass(frozen=True)
class Received:
    """One message the server accepted (or kept before a pause)."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes

    @property
    def email(self) -> EmailMessage:
        """The message as a mail program reads it."""
        parsed = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class _AnyPortController(Controller):
    """aiosmtpd's controller on a free port: port 0, and the real one read back once bound."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class _Handler:
    def __init__(self, fake: FakeSmtpServer) -> None:
        self.fake = fake

    async def handle_RCPT(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        self.fake.rcpts_tried += 1
        if self.fake.rcpt_answers:
            answer = self.fake.rcpt_answers.popleft()
            if not answer.startswith("250"):
                return answer.format(address=address)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        answer = self.fake.data_answers.popleft() if self.fake.data_answers else "250 OK"
        if not answer.startswith("250"):
            return answer
        assert isinstance(envelope.content, bytes)
        self.fake.received.append(
            Received(str(envelope.mail_from), tuple(envelope.rcpt_tos), envelope.content)
        )
        if self.fake.pause_after_data:
            # The message is here; the answer comes too late for the client.
            pause, self.fake.pause_after_data = self.fake.pause_after_data, 0.0
            await asyncio.sleep(pause)
        return "250 Message accepted for delivery"


class FakeSmtpServer:
    """An SMTP server on a free port of 127.0.0.1; use it as a context manager."""

    def __init__(
        self,
        *,
        login: tuple[str, str] | None = None,
        certificate_dir: Path | None = None,
        implicit_tls: bool = False,
        host: str = "127.0.0.1",
    ) -> None:
        """`login` (user, password) is required when given; `certificate_dir` turns on TLS.

        TLS is STARTTLS (required before anything is sent), or from the first byte with
        `implicit_tls` (as on port 465). `host` is the address it listens on.
        """
        self.host = host
        self.login = login
        self.received: list[Received] = []
        self.rcpt_answers: deque[str] = deque()
        self.data_answers: deque[str] = deque()
        self.pause_after_data = 0.0
        self.rcpts_tried = 0
        self.sign_ins: list[tuple[str, bool]] = []  # (user, accepted)
        self.certificate: Path | None = None
        kwargs: dict[str, Any] = {}
        if certificate_dir is not None:
            self.certificate, key = self_signed_certificate(certificate_dir)
            server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            server_tls.load_cert_chain(self.certificate, key)
            if implicit_tls:
                kwargs.update(ssl_context=server_tls)
            else:
                kwargs.update(tls_context=server_tls, require_starttls=True)
        if login is not None:
            kwargs.update(
                authenticator=self._authenticate,
                auth_required=True,
                auth_require_tls=certificate_dir is not None and not implicit_tls,
            )
        self._controller = _AnyPortController(_Handler(self), hostname=host, port=0, **kwargs)

    def __enter__(self) -> Self:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self._controller.port)

    def url(self, *, scheme: str = "smtp", login: tuple[str, str] | None = None) -> str:
        """SMTP_URL for this server, with a user name and password if given."""
        who = f"{login[0]}:{login[1]}@" if login else ""
        return f"{scheme}://{who}{self.host}:{self.port}"

    def client_tls(self) -> ssl.SSLContext:
        """A client's TLS settings that trust this server's own certificate."""
        assert self.certificate is not None
        return ssl.create_default_context(cafile=str(self.certificate))

    def answer_rcpt(self, *replies: str) -> None:
        """Answer the next RCPTs with these replies ("{address}" is filled in), then 250."""
        self.rcpt_answers.extend(replies)

    def answer_data(self, *replies: str) -> None:
        """Answer the next messages with these replies (nothing is kept), then 250."""
        self.data_answers.extend(replies)

    def emails_to(self, address: str) -> list[EmailMessage]:
        """The messages received for this address, oldest first."""
        return [r.email for r in self.received if address in r.rcpt_tos]

    def _authenticate(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        assert self.login is not None
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, password = auth_data.login.decode(), auth_data.password.decode()
        accepted = (user, password) == self.login
        self.sign_ins.append((user, accepted))
        # Not "handled": aiosmtpd then answers 535 itself, as a relay does.
        return AuthResult(success=accepted, handled=False)


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as files in `folder`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path
