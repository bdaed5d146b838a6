"""Keeping people out of the logs: quiet chatty libraries, and redact ids that slip through."""

from __future__ import annotations

import logging
import re

# Libraries that log people's data: request and answer bodies at DEBUG, and (httpx, httpcore)
# every request's URL at INFO, which on Teams holds user and conversation ids. Only their
# warnings and errors reach IT's logs, whatever LOG_LEVEL says.
CHAT_SDK_LOGGERS = ("slack_sdk", "slack_bolt", "microsoft_teams", "httpx", "httpcore", "urllib3")
REDACTED = "[redacted]"

# What an id or address looks like in a URL, an error or a traceback. Over-matching costs a
# little debugging; under-matching puts a person in IT's logs.
_PERSONAL = re.compile(
    "|".join(
        (
            r"[\w.+'-]+(?:@|%40)[\w-]+(?:\.[\w-]+)+",  # an e-mail address
            # Teams: a user (29:), a bot (28:), a personal (a:) or group/channel (19:) chat,
            # plain or percent-encoded in a URL; long, and with a letter (not a time, 19:30).
            r"(?:\b|(?<=%2[fF]))(?:29|28|a|19)(?::|%3[aA])(?=[^\s/\"'?&#,;)]*[A-Za-z])[^\s/\"'?&#,;)]{10,}",
            # An Entra (AAD) object id, or any GUID: tenants and apps look the same.
            r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b",
            # Slack users and direct-message channels (U0123ABCD, W..., D...), with a digit
            # (not a shouted word such as DEPRECATED).
            r"\b[UWD](?=[A-Z0-9]*[0-9])[A-Z0-9]{8,}\b",
        )
    )
)


def redact(text: str) -> str:
    """The text with e-mail addresses and chat ids replaced by a marker."""
    return _PERSONAL.sub(REDACTED, text)


class RedactPersonalIds(logging.Filter):
    """Rewrites a record's message (and traceback) with personal ids redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact in place; never drops the record."""
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: logging reports it when it formats the record
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            # An exception's text often quotes the URL it failed on (httpx does).
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def protect_logs(logger_names: tuple[str, ...] = ("", "uvicorn", "uvicorn.error")) -> None:
    """Quiet the chatty libraries and redact ids on every handler of these loggers."""
    for chatty in CHAT_SDK_LOGGERS:
        logger = logging.getLogger(chatty)
        if logger.getEffectiveLevel() < logging.WARNING:
            logger.setLevel(logging.WARNING)
    for name in logger_names:
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, RedactPersonalIds) for f in handler.filters):
                handler.addFilter(RedactPersonalIds())
