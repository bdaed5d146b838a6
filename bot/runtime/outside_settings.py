"""The settings for reaching people outside chat: the public address, SMTP and GOV.UK Notify."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

NOTIFY_API_URL = "https://api.notifications.service.gov.uk"
LINK_SECRET_MIN = 32
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
# A Notify API key ends with the service id and the secret, two GUIDs: "<name>-<sid>-<secret>".
NOTIFY_KEY = re.compile(
    r"^[\w-]*-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class OutsideSettings:
    """PUBLIC_URL, LINK_SECRET, SMTP_* and NOTIFY_*, checked (secrets stay wrapped)."""

    public_url: str | None = None
    link_secret: Any = None  # a settings.Secret
    smtp_url: Any = None  # a settings.Secret: it may hold the relay's password
    smtp_from: str | None = None
    notify_api_key: Any = None  # a settings.Secret
    notify_email_template_id: str | None = None
    notify_text_template_id: str | None = None
    notify_api_url: str = NOTIFY_API_URL

    @property
    def has_links(self) -> bool:
        """Whether messages outside chat can carry working links (the page's address and key)."""
        return self.public_url is not None and self.link_secret is not None

    @property
    def email_by(self) -> str | None:
        """How e-mail goes: "smtp" (preferred when both are set), "notify", or None."""
        if not self.has_links:
            return None
        if self.smtp_url is not None and self.smtp_from:
            return "smtp"
        if self.notify_api_key is not None and self.notify_email_template_id:
            return "notify"
        return None

    @property
    def has_text(self) -> bool:
        """Whether texts can go (through Notify: SMTP cannot send a text)."""
        return (
            self.has_links
            and self.notify_api_key is not None
            and bool(self.notify_text_template_id)
        )


def read_outside(values: Mapping[str, str], problems: list[str], secret: Any) -> OutsideSettings:
    """The outside-chat settings from `values`; each problem found is added to `problems`.

    `secret` wraps a secret value (settings.Secret), passed in to keep this module standalone.
    """

    def get(key: str) -> str:
        return (values.get(key) or "").strip()

    public_url = get("PUBLIC_URL").rstrip("/") or None
    if public_url is not None:
        parts = urlsplit(public_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            problems.append(
                f"PUBLIC_URL: {public_url!r} is not a web address like https://qi.example.nhs.uk"
            )
            public_url = None
    link_secret = get("LINK_SECRET") or None
    if link_secret is not None and len(link_secret) < LINK_SECRET_MIN:
        problems.append(
            f"LINK_SECRET: needs at least {LINK_SECRET_MIN} characters (make one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
        link_secret = None
    smtp_url = get("SMTP_URL") or None
    if smtp_url is not None and urlsplit(smtp_url).scheme not in ("smtp", "smtps"):
        problems.append("SMTP_URL: use smtp://user:password@host:587 (or smtps:// for port 465)")
        smtp_url = None
    smtp_from = get("SMTP_FROM") or None
    if smtp_url and not smtp_from:
        problems.append("SMTP_FROM: needed with SMTP_URL (the address e-mails come from)")
    api_key = get("NOTIFY_API_KEY") or None
    if api_key is not None and not NOTIFY_KEY.match(api_key):
        problems.append("NOTIFY_API_KEY: not a GOV.UK Notify API key (copy it whole from Notify)")
        api_key = None
    templates = {}
    for key in ("NOTIFY_EMAIL_TEMPLATE_ID", "NOTIFY_TEXT_TEMPLATE_ID"):
        value = get(key) or None
        if value is not None and not GUID.match(value):
            problems.append(f"{key}: {value!r} is not a template ID (it looks like a GUID)")
            value = None
        templates[key] = value
    if api_key and not any(templates.values()):
        problems.append(
            "NOTIFY_EMAIL_TEMPLATE_ID or NOTIFY_TEXT_TEMPLATE_ID: needed with NOTIFY_API_KEY"
        )
    api_url = get("NOTIFY_API_URL") or NOTIFY_API_URL
    if not api_url.startswith(("http://", "https://")):
        problems.append(f"NOTIFY_API_URL: {api_url!r} is not an http(s) URL")
        api_url = NOTIFY_API_URL
    senders = smtp_url or api_key
    if senders and not (public_url and link_secret):
        problems.append(
            "PUBLIC_URL and LINK_SECRET: needed to send e-mail or texts (their links open pages "
            "that qi-nudge serve shows at PUBLIC_URL)"
        )
    return OutsideSettings(
        public_url=public_url,
        link_secret=secret(link_secret) if link_secret else None,
        smtp_url=secret(smtp_url) if smtp_url else None,
        smtp_from=smtp_from,
        notify_api_key=secret(api_key) if api_key else None,
        notify_email_template_id=templates["NOTIFY_EMAIL_TEMPLATE_ID"],
        notify_text_template_id=templates["NOTIFY_TEXT_TEMPLATE_ID"],
        notify_api_url=api_url.rstrip("/"),
    )
