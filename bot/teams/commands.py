"""Reading a Teams message as one of our commands.

Teams has no slash commands: people type the command as a message. The same command arrives as
- "qi-join Falls prevention as carer" or "/qi-join …" in a personal chat;
- "<at>qi-nudge</at> qi-join …" in a channel, where the bot must be @mentioned (Teams puts the
  mention in the text and adds a `mention` entity whose `text` is exactly that `<at>…</at>`);
- "qi-join" from the bot's command menu, which puts the command's title in the message;
and may carry HTML entities (`&nbsp;`, `&amp;`), a wrapping `<p>`, or stray spaces.
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from handlers.dispatch import COMMANDS, command_name

_LEADING_MENTION = re.compile(r"^\s*<at\b[^>]*>.*?</at>", re.IGNORECASE | re.DOTALL)
_MENTION = re.compile(r"<at\b[^>]*>(.*?)</at>", re.IGNORECASE | re.DOTALL)
# Formatting Teams may wrap a message in (rich text compose): dropped, keeping the words.
_TAG = re.compile(r"</?(?:p|div|span|b|strong|i|em|u|s|code|pre|br)\b[^>]*>", re.IGNORECASE)
# Invisible characters that rich editors leave behind; they would split or glue words.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))


def bot_mention_texts(entities: Iterable[Any] | None, bot_id: str) -> list[str]:
    """The `text` of each mention entity that mentions the bot, not the people mentioned.

    `bot_id` is the activity's `recipient.id` ("28:<app id>"); `entities` are the activity's
    entities as SDK objects or raw JSON.
    """
    texts = []
    for entity in entities or ():
        if _get(entity, "type") != "mention":
            continue
        mentioned = _get(entity, "mentioned")
        if _get(mentioned, "id") != bot_id:
            continue
        text = _get(entity, "text")
        if isinstance(text, str) and text:
            texts.append(text)
    return texts


def parse_command_text(
    text: str | None,
    *,
    bot_mentions: Iterable[str] = (),
    commands: Collection[str] = COMMANDS.keys(),
) -> tuple[str, str] | None:
    """(command name, arguments) for a message such as "<at>qi-nudge</at> /QI-Join Falls".

    The name comes back as the dispatcher spells it ("qi-join"); arguments are trimmed, with
    runs of spaces collapsed. `bot_mentions` are the bot's mention texts (`bot_mention_texts`):
    they are removed wherever they are; without them, any `<at>…</at>` before the command is
    taken as the bot's. Other mentions keep just the name. Text that isn't one of `commands`
    gives None (the transport answers with help).
    """
    if not text:
        return None
    raw = text
    for mention in bot_mentions:
        if mention:
            raw = raw.replace(mention, " ")
    while _LEADING_MENTION.match(raw):
        raw = _LEADING_MENTION.sub(" ", raw, count=1)
    raw = _MENTION.sub(r"\1", raw)
    raw = _TAG.sub(" ", raw)
    # Entities last, so "&lt;at&gt;" typed by a person is text, never a mention or a tag.
    words = html.unescape(raw).translate(_INVISIBLE).split()  # split() also takes \xa0
    if len(words) > 1 and words[0].startswith("@") and command_name(words[1]) in commands:
        words = words[1:]  # "@qi-nudge qi-join …": a mention that arrived as plain text
    if not words:
        return None
    name = command_name(words[0])
    if name not in commands:
        return None
    return name, " ".join(words[1:])


def _get(obj: Any, key: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)
