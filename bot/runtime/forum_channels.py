"""Whether the bot can post in each forum's channel: `forum check`, and joining it on Slack."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from bot.runtime.sending import SendError
from bot.runtime.settings import Settings
from handlers.core.context import Context
from handlers.forum.channel import EXAMPLES
from handlers.forum.channel_problems import BOT_MENTION, TEAMS_ADMIN_STEPS, ChannelProblem
from store import addresses, outbox
from store.forums import list_forums

if TYPE_CHECKING:  # Slack's and Teams' libraries load only when a channel is on them
    from slack_sdk import WebClient

    from bot.slack.channels import SlackChannel
    from bot.teams.sender import TeamsSender

log = logging.getLogger(__name__)

CHOOSE_ANOTHER = 'choose another channel: qi-nudge forum set "{forum}" --channel {platform}:<id>'
ADD_APP_BACK = "add qi-nudge to that team again (in Teams: Apps, find qi-nudge, Add to a team)"


@dataclass(frozen=True)
class ChannelCheck:
    """One forum's channel: `ok` if the bot can post there (or will join it), and why not.

    `checked` is False when the platform could not be asked (not set up here, or not
    answering): then nothing is known about the channel either way.
    """

    ok: bool
    text: str
    checked: bool = True


def slack_words(forum: str, channel_id: str, seen: SlackChannel) -> ChannelCheck:
    """What a Slack channel's state means for the forum, and what to do about it."""
    from bot.slack.channels import Access

    name = f"#{seen.name}" if seen.name else f"the channel {channel_id}"
    if seen.access is Access.MEMBER:
        return ChannelCheck(True, f"qi-nudge can post in {name}.")
    if seen.access is Access.JOINED:
        return ChannelCheck(True, f"qi-nudge joined {name}, so it can post there.")
    if seen.access is Access.PUBLIC:
        return ChannelCheck(
            True,
            f"{name} is public and qi-nudge is not in it yet: it joins by itself before it "
            "first posts there.",
        )
    if seen.access is Access.ARCHIVED:
        return ChannelCheck(
            False,
            f"{name} is archived, so nothing can be posted there. Unarchive it, or "
            + CHOOSE_ANOTHER.format(forum=forum, platform="slack")
            + ".",
        )
    return ChannelCheck(
        False,
        f"qi-nudge cannot see the channel {channel_id}: it is private and qi-nudge has not been "
        f"invited, or there is no such channel. If it is private, type /invite {BOT_MENTION} in "
        "it. If not, check the id (in Slack, the channel's details show it at the bottom).",
    )


class ChannelChecker:
    """Checks channels on the platforms configured here, making each client once."""

    def __init__(self, settings: Settings | None, sessions: sessionmaker[Session]) -> None:
        self._settings = settings
        self._sessions = sessions
        self._slack: WebClient | None = None
        self._teams: TeamsSender | None = None

    def close(self) -> None:
        """Stop the Teams sender's loop, if one was started."""
        if self._teams is not None:
            self._teams.close()

    def check(self, forum: str, channel: str, *, join: bool = False) -> ChannelCheck:
        """Whether the bot can post in `channel` ("slack:C0123"); `join`: join it if public."""
        platform, channel_id = outbox.split_channel(channel) or ("", "")
        if platform == "slack":
            return self._check_slack(forum, channel_id, join=join)
        if platform == "teams":
            return self._check_teams(forum, channel_id)
        return ChannelCheck(
            False,
            f'"{channel}" is not a Slack or Teams channel. Write it as {EXAMPLES}: '
            f'qi-nudge forum set "{forum}" --channel slack:C0123',
        )

    def _check_slack(self, forum: str, channel_id: str, *, join: bool) -> ChannelCheck:
        if self._settings is None or not self._settings.has_slack:
            return ChannelCheck(
                False,
                "its channel is on Slack, but Slack is not set up here (SLACK_BOT_TOKEN), so "
                "it could not be checked.",
                checked=False,
            )
        from bot.slack.channels import SlackCheckFailed, join_channel, look_at_channel

        look: Callable[[WebClient, str], SlackChannel] = join_channel if join else look_at_channel
        try:
            seen = look(self._slack_client(), channel_id)
        except SlackCheckFailed as failed:
            return ChannelCheck(
                False, f"could not check it on Slack: {failed.reason}.", checked=False
            )
        return slack_words(forum, channel_id, seen)

    def _check_teams(self, forum: str, channel_id: str) -> ChannelCheck:
        if self._settings is None or not self._settings.has_teams:
            return ChannelCheck(
                False,
                "its channel is on Teams, but Teams is not set up here (TEAMS_APP_ID, "
                "TEAMS_APP_PASSWORD, TEAMS_TENANT_ID), so it could not be checked.",
                checked=False,
            )
        with self._sessions() as session:
            known = addresses.channel_of(session, "teams", channel_id)
            name = f'"{known.name}"' if known is not None and known.name else None
        try:
            self._teams_sender().check_channel(channel_id)
        except SendError as error:
            if error.channel_problem is ChannelProblem.APP_BLOCKED:
                return ChannelCheck(
                    False,
                    "your organisation's Teams administrator has blocked the qi-nudge app, so it "
                    "cannot post anywhere in Teams. Please ask your IT team to allow it again "
                    f"({TEAMS_ADMIN_STEPS}).",
                )
            if error.channel_problem is ChannelProblem.APP_REMOVED:
                team = f"the team of {name}" if name else "its team"
                return ChannelCheck(
                    False,
                    f"qi-nudge was removed from {team} (or the channel was deleted), so it "
                    f"cannot post there. Please {ADD_APP_BACK}; if the channel is gone, "
                    f"{CHOOSE_ANOTHER.format(forum=forum, platform='teams')}.",
                )
            return ChannelCheck(
                False, f"could not check it on Teams: {error.reason}.", checked=False
            )
        return ChannelCheck(True, f"qi-nudge can post in {name or 'the channel'} on Teams.")

    def _slack_client(self) -> WebClient:
        if self._slack is None:
            assert self._settings is not None
            from bot.slack.app import build_web_client
            from bot.slack.sender import build_sending_client

            # One try per call: a person is waiting for the answer at a terminal.
            self._slack = build_sending_client(build_web_client(self._settings), timeout=5)
        return self._slack

    def _teams_sender(self) -> TeamsSender:
        if self._teams is None:
            assert self._settings is not None
            from bot.teams.app import build_token_provider  # loads the Teams SDK (~2 s)
            from bot.teams.sender import TeamsSender

            provider = build_token_provider(self._settings)
            self._teams = TeamsSender.for_settings(
                self._settings, self._sessions, provider, timeout=10
            )
        return self._teams


NO_CHANNEL = (
    '"{name}": no channel yet, so its meetings are not announced. Choose one: '
    'qi-nudge forum set "{name}" --channel slack:C0123'
)


def check_forum_channels(
    settings: Settings | None,
    sessions: sessionmaker[Session],
    *,
    not_asking: Mapping[str, str] | None = None,
) -> Iterator[tuple[str, str | None, ChannelCheck | None]]:
    """Each forum's name, channel and whether the bot can post there (None: no channel).

    `not_asking`: platforms ("slack", "teams") already known not to work, with why: their
    channels are not asked about (each would only wait for the same failure again).
    """
    with sessions() as session:
        forums = [(forum.name, forum.channel) for forum in list_forums(session)]
    checker = ChannelChecker(settings, sessions)
    skip = not_asking or {}
    try:
        for name, channel in forums:
            if not channel:
                yield name, channel, None
            elif (platform := channel.split(":", 1)[0]) in skip:
                yield name, channel, ChannelCheck(False, skip[platform], checked=False)
            else:
                yield name, channel, checker.check(name, channel)
    finally:
        checker.close()


def join_after_setting(settings: Settings | None, ctx: Context, forum: str, channel: str) -> None:
    """Once a forum's channel is set: on Slack, join it now (or say how to let the bot in)."""
    if not channel.startswith("slack:"):
        return
    result = ChannelChecker(settings, ctx.sessions).check(forum, channel, join=True)
    print(result.text)
    if not result.checked:
        print(
            "Nothing is lost meanwhile: the forum is set, and qi-nudge joins the channel (if "
            "it can) when it first posts there. qi-nudge forum check says whether it can, once "
            "it can reach Slack."
        )
    elif not result.ok:
        print(
            "Nothing is lost meanwhile: messages for the channel wait, and the organisers are "
            "told what to do. qi-nudge forum check shows when it is fixed."
        )


def join_slack_forum_channels(sessions: sessionmaker[Session], client: WebClient) -> int:
    """Join every forum's public Slack channel the bot is not in yet (at start); how many failed.

    A private channel cannot be joined: the log says how to invite the bot. Slack being
    unreachable now is no loss: the sender joins when it next posts there.
    """
    from bot.slack.channels import SlackCheckFailed, join_channel

    with sessions() as session:
        forums = [(f.name, f.channel) for f in list_forums(session) if f.channel]
    failed = 0
    for name, channel in forums:
        platform, channel_id = outbox.split_channel(channel) or ("", "")
        if platform != "slack":
            continue
        try:
            seen = join_channel(client, channel_id)
        except SlackCheckFailed as problem:
            log.warning(
                "could not check the Slack channel of %r now (%s); qi-nudge joins it when it "
                "next posts there",
                name,
                problem.reason,
            )
            failed += 1
            continue
        words = slack_words(name, channel_id, seen)
        if words.ok:
            log.info("forum %r: %s", name, words.text)
        else:
            log.warning("forum %r: %s", name, words.text)
            failed += 1
    return failed
