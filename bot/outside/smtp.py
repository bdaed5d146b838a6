"""E-mail through an SMTP relay (NHSmail and most trusts offer one). To be written (helper A)."""

from __future__ import annotations

from bot.outside.compose import OutsideMessage
from bot.outside.sender import OutsideSender


class SmtpSender(OutsideSender):
    """E-mail through SMTP_URL, from SMTP_FROM, with the meeting's .ics attached."""

    platform = "email"

    def transmit(self, address: str, message: OutsideMessage, key: str) -> str | None:
        """Send one e-mail."""
        raise NotImplementedError
