"""After `remind --now` or `run-due`: what messages are still waiting, and why."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, time, timedelta

from bot.runtime.settings import Settings
from handlers.core.context import Context
from store import outbox

# The chat platforms a delivery can be meant for, as people name them, and the settings that
# set each one up (the console is only a stand-in for trying the bot).
# E-mail and text messages reach forum members outside chat (issue 18).
PLATFORM_NAMES = {
    "slack": "Slack",
    "teams": "Microsoft Teams",
    "email": "e-mail",
    "text": "text message",
}
PLATFORM_SETTINGS = {
    "slack": "SLACK_BOT_TOKEN with SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN)",
    "teams": "TEAMS_APP_ID, TEAMS_TENANT_ID and TEAMS_APP_PASSWORD",
    "email": "SMTP_URL with SMTP_FROM (or NOTIFY_API_KEY), and PUBLIC_URL with LINK_SECRET",
    "text": "NOTIFY_API_KEY with NOTIFY_TEXT_TEMPLATE_ID, and PUBLIC_URL with LINK_SECRET",
}


def platforms_here(settings: Settings) -> tuple[str, ...]:
    """The chat platforms this process is set up to send on."""
    return tuple(
        platform
        for platform, configured in (
            ("slack", settings.has_slack),
            ("teams", settings.has_teams),
            ("email", settings.has_email),
            ("text", settings.has_text),
        )
        if configured
    )


def elsewhere_for(settings: Settings) -> outbox.Elsewhere:
    """The chat platforms not set up here, whose messages this process must leave queued."""
    here = platforms_here(settings)
    return outbox.Elsewhere(
        platforms=tuple(p for p in PLATFORM_NAMES if p not in here), unless_on=here
    )


def report_waiting(
    ctx: Context,
    *,
    elsewhere: outbox.Elsewhere | None,
    lease: timedelta,
    left: Sequence[int] = (),
    nothing_sent: bool = False,
    say: Callable[[str], None] = print,
) -> bool:
    """Say what messages are still to go, and when, whenever planned; True if any is overdue.

    Overdue: left for a platform not set up here, held by another process (perhaps one that
    died), or due and not sent. A retry waiting for its time is not overdue. `left`: the
    deliveries this process gave back for a platform not set up here. `nothing_sent`: this
    run sent nothing; said first, in words that fit what is still waiting.
    """
    now = ctx.now()
    with ctx.sessions() as session:
        found = outbox.waiting(session, now=now, lease=lease, elsewhere=elsewhere, left=left)
    since = week_start(ctx)
    overdue = {outbox.ELSEWHERE, outbox.CLAIMED, outbox.DUE} & found.keys()
    if nothing_sent:
        # Not "nothing is due" when a message due now is held, or left for another platform.
        say("Nothing was sent." if overdue else "Nothing is due to be sent.")
    if held := found.get(outbox.ELSEWHERE):
        say(_left_for_elsewhere(held.count, held.platforms))
    if claimed := found.get(outbox.CLAIMED):
        say(
            f"{_still(claimed, since)} held by another qi-nudge process (qi-nudge serve, or a run "
            "that stopped before it finished). If that process has stopped, they can be sent "
            f"from {_when(claimed.last, ctx)}, when its hold on them runs out: run this again "
            "then, or leave them to qi-nudge serve."
        )
    if due := found.get(outbox.DUE):
        say(f"{_still(due, since)} due and not sent: run this again to send them.")
    if later := found.get(outbox.SCHEDULED):
        say(f"{_still(later, since)} planned for later: they go {_at(later, ctx)}.")
    if retry := found.get(outbox.RETRY):
        say(f"{_still(retry, since)} waiting to be tried again {_at(retry, ctx)}.")
    return bool(held or claimed or due)


def _at(waiting: outbox.Waiting, ctx: Context) -> str:
    """'at 10:00', or 'between 10:00 and 11:00'."""
    if waiting.first == waiting.last:
        return f"at {_when(waiting.first, ctx)}"
    return f"between {_when(waiting.first, ctx)} and {_when(waiting.last, ctx)}"


def week_start(ctx: Context) -> datetime:
    """Midnight at the start of this week (Monday), local time, in UTC."""
    today = ctx.now().astimezone(ctx.timezone).date()
    monday = today - timedelta(days=today.weekday())
    return datetime.combine(monday, time(0), tzinfo=ctx.timezone).astimezone(UTC)


def _still(waiting: outbox.Waiting, since: datetime) -> str:
    """'2 of this week's messages are still', or, if one is older, '2 messages are still'."""
    this_week = waiting.planned_first is not None and waiting.planned_first >= since
    if waiting.count == 1:
        return "1 of this week's messages is still" if this_week else "1 message is still"
    which = "of this week's messages" if this_week else "messages"
    return f"{waiting.count} {which} are still"


def _left_for_elsewhere(count: int, platforms: tuple[str, ...]) -> str:
    names = " or ".join(PLATFORM_NAMES[p] for p in platforms)
    settings = " and ".join(
        f"{PLATFORM_SETTINGS[p]} for {PLATFORM_NAMES[p]}"
        if len(platforms) > 1
        else PLATFORM_SETTINGS[p]
        for p in platforms
    )
    they, them = ("it is", "it") if len(platforms) == 1 else ("they are", "them")
    waits = f"1 message for {them} is" if count == 1 else f"{count} messages for {them} are"
    return (
        f"Sent nothing to {names}: {they} not set up here. {waits} still waiting, for "
        f"qi-nudge serve to send where {they} set up. "
        f"To send them from here, set {settings} (see .env.example and the README's set-up "
        "steps)."
    )


def _when(moment: datetime, ctx: Context) -> str:
    """'14:05 today' or '14:05 on Tuesday 24 November', in the trust's time."""
    local = moment.astimezone(ctx.timezone)
    today = ctx.now().astimezone(ctx.timezone).date()
    clock = local.strftime("%H:%M")
    if local.date() == today:
        return f"{clock} today"
    return f"{clock} on {local.strftime('%A')} {local.day} {local.strftime('%B')}"
