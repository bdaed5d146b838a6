"""Wiring: settings to a migrated database and the handlers' context."""

from __future__ import annotations

import logging

from sqlalchemy import Engine

from bot.outside.wiring import links_for
from bot.runtime.log_privacy import CHAT_SDK_LOGGERS, protect_logs
from bot.runtime.settings import Settings
from handlers.core.context import Context
from store.contacts import EMAIL, TEXT
from store.engine import make_engine, make_sessions
from store.migrate import upgrade

CONSOLE_LOG_FILE = "qi-nudge.log"
__all__ = ["CHAT_SDK_LOGGERS", "build_context", "configure_logging", "open_database"]


def configure_logging(settings: Settings, *, to_file: str | None = None) -> None:
    """Plain, timestamped logs at the configured level, on stderr or in a file."""
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        filename=to_file,
    )
    if settings.log_level != "DEBUG":
        # Alembic narrates every start-up at INFO; only its warnings matter to an operator.
        logging.getLogger("alembic").setLevel(logging.WARNING)
        # APScheduler logs every one-minute tick at INFO; our jobs log what they actually do.
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # The chat SDKs and their HTTP clients log people's names, e-mail addresses, messages and
    # ids (Teams puts user and conversation ids in its URLs). IT's logs must hold none of them.
    protect_logs()


def open_database(settings: Settings, *, migrate: bool = True) -> Engine:
    """The engine for DATABASE_URL, brought up to the latest schema unless told not to."""
    engine = make_engine(settings.database_url)
    if migrate:
        upgrade(engine)
    return engine


def build_context(settings: Settings, engine: Engine) -> Context:
    """The handlers' context for this process."""
    methods = {EMAIL: settings.has_email, TEXT: settings.has_text}
    return Context(
        sessions=make_sessions(engine),
        timezone=settings.timezone,
        outside_methods=frozenset(method for method, on in methods.items() if on),
        pages=links_for(settings),
        involvement_every_weeks=settings.involvement_every_weeks,
    )
