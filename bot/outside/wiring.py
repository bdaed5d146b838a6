"""Which outside-chat senders and pages a process has, from its settings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from bot.outside.links import Links
from bot.runtime.settings import Settings
from handlers.core.context import Context, system_clock

if TYPE_CHECKING:
    from bot.outside.sender import OutsideSender


def links_for(settings: Settings, clock: Callable[[], datetime] = system_clock) -> Links | None:
    """The link maker, if PUBLIC_URL and LINK_SECRET are set."""
    outside = settings.outside
    if outside.public_url is None or outside.link_secret is None:
        return None
    return Links(outside.public_url, outside.link_secret.reveal(), clock=clock)


def outside_senders(
    settings: Settings, ctx: Context, sessions: sessionmaker[Session] | None = None
) -> list[OutsideSender]:
    """The e-mail and text senders configured (none, one or both), after the chat platforms."""
    links = links_for(settings, ctx.clock)
    if links is None:
        return []
    # Loaded only when configured: every command builds a context, few send e-mail.
    from bot.outside.notify import NotifyEmailSender, NotifyTextSender
    from bot.outside.smtp import SmtpSender

    sessions = sessions or ctx.sessions
    senders: list[OutsideSender] = []
    outside = settings.outside
    if outside.email_by == "smtp":
        senders.append(SmtpSender(sessions, links, ctx.timezone, settings=outside, clock=ctx.clock))
    elif outside.email_by == "notify":
        senders.append(
            NotifyEmailSender(sessions, links, ctx.timezone, settings=outside, clock=ctx.clock)
        )
    if outside.has_text:
        senders.append(
            NotifyTextSender(sessions, links, ctx.timezone, settings=outside, clock=ctx.clock)
        )
    return senders
