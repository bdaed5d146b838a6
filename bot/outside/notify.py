"""E-mail and texts through GOV.UK Notify. To be written (helper B)."""

from __future__ import annotations

from bot.outside.compose import OutsideMessage
from bot.outside.sender import OutsideSender


class NotifyEmailSender(OutsideSender):
    """E-mail through Notify's e-mail template."""

    platform = "email"

    def transmit(self, address: str, message: OutsideMessage, key: str) -> str | None:
        """Send one e-mail."""
        raise NotImplementedError


class NotifyTextSender(OutsideSender):
    """Texts through Notify's text template."""

    platform = "text"

    def transmit(self, address: str, message: OutsideMessage, key: str) -> str | None:
        """Send one text."""
        raise NotImplementedError
