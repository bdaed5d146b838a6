"""`qi-nudge check`: after installing and after any change, is everything working? Line by line.

Each check is a function in CHECKS that returns lines marked OK, PROBLEM or NOTE (for
information only). A check that breaks is one PROBLEM line, never a traceback; the database
is looked at, never migrated, so that an out-of-date schema is reported rather than changed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.runtime.credentials import check_outside, check_slack, check_teams
from bot.runtime.forum_channels import NO_CHANNEL, check_forum_channels
from bot.runtime.settings import Settings
from bot.runtime.startup import build_context
from handlers.core.context import Context
from handlers.core.wording import plural, when
from store import leadership
from store.engine import make_engine
from store.migrate import current_revision, head_revision
from store.outbox import FAILED_RECENTLY, delivery_problems

log = logging.getLogger(__name__)

OK = "OK"
PROBLEM = "PROBLEM"
NOTE = "NOTE"


@dataclass(frozen=True)
class Line:
    """One line of the report: OK, PROBLEM, or a NOTE that is neither."""

    mark: str
    text: str


@dataclass
class Setup:
    """What the checks look at; `database_ready` once the database check found it up to date."""

    settings: Settings
    engine: Engine
    ctx: Context
    database_ready: bool = False
    # Platforms whose credentials check failed, with what to say instead of asking them again.
    not_working: dict[str, str] = field(default_factory=dict)


Check = Callable[[Setup], list[Line]]


def check_database(setup: Setup) -> list[Line]:
    """Whether the database answers, and has the latest schema."""
    url = make_url(setup.settings.database_url)
    shown = url.render_as_string(hide_password=True)
    on_disk = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
    # Connecting would create an empty file: a wrong path is said, not papered over.
    if on_disk and not Path(str(url.database)).is_file():
        return [
            Line(
                PROBLEM,
                f"Database: there is no database file at {url.database}. Check DATABASE_URL "
                "(and the folder qi-nudge runs in); qi-nudge db upgrade creates a new one.",
            )
        ]
    try:
        with setup.engine.connect() as connection:
            connection.execute(text("select 1"))
        revision = current_revision(setup.engine)
    except SQLAlchemyError as error:
        log.debug("database check failed", exc_info=True)
        reason = str(getattr(error, "orig", None) or type(error).__name__).strip()
        reason = reason.splitlines()[0][:200] if reason else type(error).__name__
        return [
            Line(
                PROBLEM,
                f"Database: could not connect to {shown} ({reason}). Check DATABASE_URL, and "
                "that the database server is running and reachable from here.",
            )
        ]
    head = head_revision()
    if revision is None:
        return [
            Line(
                PROBLEM,
                f"Database: {shown} answers but is empty (no tables yet). Run: qi-nudge db upgrade",
            )
        ]
    if revision != head:
        return [
            Line(
                PROBLEM,
                f"Database: the schema is at {revision}, and this qi-nudge needs {head}. Run: "
                "qi-nudge db upgrade (if the database is newer, update qi-nudge instead).",
            )
        ]
    setup.database_ready = True
    return [Line(OK, f"Database: {shown} answers, and its schema is up to date ({head}).")]


def check_platform_credentials(setup: Setup) -> list[Line]:
    """Whether Slack and Teams accept the bot's credentials (the same checks as serve's)."""
    settings = setup.settings
    if not (settings.has_slack or settings.has_teams):
        return [
            Line(
                PROBLEM,
                "Neither Slack nor Teams is set up here, so qi-nudge serve will not start. Set "
                "SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET, or TEAMS_APP_ID, TEAMS_TENANT_ID and "
                "TEAMS_APP_PASSWORD (see .env.example).",
            )
        ]
    lines: list[Line] = []
    if settings.has_slack:
        problems = check_slack(settings)
        if problems:
            setup.not_working["slack"] = "not checked, since Slack is not working (see above)."
        socket = " and SLACK_APP_TOKEN (Socket Mode)" if settings.slack_app_token else ""
        lines += [Line(PROBLEM, p.text) for p in problems] or [
            Line(OK, f"Slack: Slack accepts SLACK_BOT_TOKEN{socket}.")
        ]
    else:
        lines.append(Line(NOTE, "Slack: not set up here (no SLACK_BOT_TOKEN)."))
    if settings.has_teams:
        problems = check_teams(settings)
        if problems:
            setup.not_working["teams"] = "not checked, since Teams is not working (see above)."
        lines += [Line(PROBLEM, p.text) for p in problems] or [
            Line(OK, "Teams: Microsoft Entra accepts TEAMS_APP_ID and TEAMS_APP_PASSWORD.")
        ]
    else:
        lines.append(Line(NOTE, "Teams: not set up here (no TEAMS_APP_ID)."))
    return lines + _outside_lines(settings)


def _outside_lines(settings: Settings) -> list[Line]:
    """Whether the relay and Notify accept the settings for people outside chat."""
    if not (settings.has_email or settings.has_text):
        return [
            Line(
                NOTE,
                "E-mail and texts: not set up here, so forum members outside chat hear "
                "nothing from the bot (see README: Reaching people outside chat).",
            )
        ]
    problems = check_outside(settings)
    ways = [w for w, on in (("e-mail", settings.has_email), ("texts", settings.has_text)) if on]
    return [Line(PROBLEM, p.text) for p in problems] or [
        Line(OK, f"{' and '.join(ways).capitalize()}: accepted by the provider, nothing sent.")
    ]


def check_forums(setup: Setup) -> list[Line]:
    """Whether the bot can post in each forum's channel (as `qi-nudge forum check`)."""
    if not setup.database_ready:
        return [Line(NOTE, "Forum channels: not checked, since the database is not ready.")]
    lines: list[Line] = []
    channels = check_forum_channels(
        setup.settings, setup.ctx.sessions, not_asking=setup.not_working
    )
    for name, channel, result in channels:
        if result is None:
            lines.append(Line(NOTE, "Forum " + NO_CHANNEL.format(name=name)))
        else:
            skipped = not result.checked and str(channel).split(":", 1)[0] in setup.not_working
            mark = OK if result.ok and result.checked else NOTE if skipped else PROBLEM
            lines.append(Line(mark, f'Forum "{name}" ({channel}): {result.text}'))
    return lines or [Line(NOTE, "Forums: none yet (qi-nudge forum add).")]


def check_deliveries(setup: Setup) -> list[Line]:
    """Whether any of the messages the bot sends on its own are failing or overdue."""
    if not setup.database_ready:
        return [Line(NOTE, "Messages: not checked, since the database is not ready.")]
    ctx = setup.ctx
    with ctx.sessions() as session:
        found = delivery_problems(session, ctx.now(), lease=setup.settings.delivery_claim_lease)
    if not found.any:
        return [Line(OK, "Messages: none failing or overdue.")]
    lines: list[Line] = []
    if found.overdue:
        oldest = found.oldest_due
        since = f" (the oldest was due {when(oldest, ctx.timezone)})" if oldest else ""
        lines.append(
            Line(
                PROBLEM,
                f"Messages: {plural(found.overdue, 'message')} overdue{since}: nothing is "
                "sending them. Is qi-nudge "
                "serve running? If it is, its log says why.",
            )
        )
    if found.retrying:
        lines.append(
            Line(
                PROBLEM,
                f"Messages: {plural(found.retrying, 'message')} waiting to be tried again after "
                "an error. qi-nudge deliveries says why.",
            )
        )
    if found.failed:
        lines.append(
            Line(
                PROBLEM,
                f"Messages: {plural(found.failed, 'message')} failed in the last "
                f"{FAILED_RECENTLY.days} days. qi-nudge deliveries --failed says why.",
            )
        )
    return lines


def check_scheduler(setup: Setup) -> list[Line]:
    """Whether a qi-nudge serve is running the scheduler (and so sending) on this database."""
    if not setup.database_ready:
        return [Line(NOTE, "Scheduler: not checked, since the database is not ready.")]
    ctx = setup.ctx
    now = ctx.now()
    with ctx.sessions() as session:
        last = leadership.last_lease(session)
        now = leadership.lease_clock(session, now)  # serve writes leases by PostgreSQL's clock
    if last is None:
        return [
            Line(
                PROBLEM,
                "Scheduler: no qi-nudge serve has run the scheduler on this database yet, so "
                "nothing is reminded or announced. Start qi-nudge serve, then check again.",
            )
        ]
    if not last.expired(now):
        return [
            Line(OK, f"Scheduler: {last.name} runs it (since {when(last.since, ctx.timezone)}).")
        ]
    # When a leader dies its lease runs out a little before another replica takes over.
    tick = timedelta(seconds=setup.settings.scheduler_tick_seconds)
    if now - last.expires_at <= tick:
        return [Line(NOTE, f"Scheduler: changing hands ({last.name} has just stopped).")]
    return [
        Line(
            PROBLEM,
            f"Scheduler: nobody has run it since {when(last.expires_at, ctx.timezone)} (it was "
            f"{last.name}), so nothing is reminded or announced. Is qi-nudge serve running? If it "
            "is, its log says why (a WARNING names what holds the scheduler's lock).",
        )
    ]


# In this order: the database check comes first, as the later ones need it.
CHECKS: list[Check] = [
    check_database,
    check_platform_credentials,
    check_forums,
    check_scheduler,
    check_deliveries,
]


def run_checks(setup: Setup, checks: list[Check] = CHECKS) -> list[Line]:
    """Every check's lines, printed as they come (a slow platform shows where it is waiting)."""
    lines: list[Line] = []
    for check in checks:
        try:
            found = check(setup)
        except Exception as error:
            # A check that breaks is a problem to report, never the end of the report.
            log.debug("check %s failed", check.__name__, exc_info=True)
            about = (check.__doc__ or check.__name__).rstrip(".")
            found = [Line(PROBLEM, f"{about}: could not be checked ({type(error).__name__}).")]
        for line in found:
            print(f"{line.mark:<8} {line.text}", flush=True)
        lines.extend(found)
    return lines


def cmd_check(settings: Settings) -> int:
    """Run every check; 1 if anything is wrong."""
    engine = make_engine(settings.database_url)
    try:
        lines = run_checks(Setup(settings, engine, build_context(settings, engine)))
    finally:
        engine.dispose()
    problems = sum(1 for line in lines if line.mark == PROBLEM)
    if problems:
        print(f"{plural(problems, 'problem')} found: see the lines marked {PROBLEM} above.")
        return 1
    print("Everything checked is working.")
    return 0
