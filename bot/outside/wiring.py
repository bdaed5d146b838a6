"""Which outside-chat senders and pages a process has, from its settings."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from bot.outside.links import Links
from bot.outside.notify import NotifyEmailSender, NotifyTextSender
from bot.outside.sender import OutsideSender
from bot.outside.smtp import SmtpSender
from bot.runtime.settings import Settings
from handlers.core.context import Context


def links_for(settings: Settings, ctx: Context) -> Links | None:
    """The link maker, if PUBLIC_URL and LINK_SECRET are set."""
    outside = settings.outside
    if outside.public_url is None or outside.link_secret is None:
        return None
    return Links(outside.public_url, outside.link_secret.reveal(), clock=ctx.clock)


def outside_senders(
    settings: Settings, ctx: Context, sessions: sessionmaker[Session] | None = None
) -> list[OutsideSender]:
    """The e-mail and text senders configured (none, one or both), after the chat platforms."""
    links = links_for(settings, ctx)
    if links is None:
        return []
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
