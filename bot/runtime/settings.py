"""Configuration, read once from the environment (and a .env file) into one typed object."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

from bot.runtime.outside_settings import OutsideSettings, read_outside
from handlers.nudges.weekly import NudgePolicy
from store.engine import DEFAULT_DATABASE_URL
from store.involvement import DEFAULT_EVERY_WEEKS
from store.outbox import CLAIM_LEASE

TEAMS_LOGIN_URL = "https://login.microsoftonline.com"
TEAMS_OPENID_METADATA_URL = "https://login.botframework.com/v1/.well-known/openidconfiguration"
TEAMS_SERVICE_URL = "https://smba.trafficmanager.net/teams/"
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


class SettingsError(ValueError):
    """The configuration is wrong; the message names every key at fault."""


@dataclass(frozen=True)
class Secret:
    """A value that never shows itself in logs, reprs or tracebacks."""

    _value: str

    def reveal(self) -> str:
        """The secret itself, for the one place that sends it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__


@dataclass(frozen=True)
class Settings:
    """Everything qi-nudge reads from its environment."""

    database_url: str
    timezone: ZoneInfo
    log_level: str
    slack_bot_token: Secret | None
    slack_signing_secret: Secret | None
    slack_app_token: Secret | None = None
    slack_api_url: str | None = None
    host: str = "0.0.0.0"  # noqa: S104 - a server in a container listens on every interface
    port: int = 3000
    # The reverse proxies whose X-Forwarded-For is believed (uvicorn's forwarded_allow_ips): the
    # sign-up page limits each person's network address, not the proxy's.
    forwarded_allow_ips: str = "127.0.0.1"
    nudge_policy: NudgePolicy = field(default_factory=NudgePolicy)
    # How often service users and carers are asked how involved they feel on their teams.
    involvement_every_weeks: int = DEFAULT_EVERY_WEEKS
    # Advanced: how long a sender's claim on a message lasts before another takes it over, and
    # how often the scheduler ticks (and so how soon a replica takes over from a dead leader).
    delivery_claim_lease: timedelta = CLAIM_LEASE
    scheduler_tick_seconds: int = 60  # bot.runtime.scheduler.TICK_SECONDS
    # Microsoft Teams (issue 6): the Azure Bot registration, all three or none.
    teams_app_id: str | None = None
    teams_app_password: Secret | None = None
    teams_tenant_id: str | None = None
    teams_login_url: str = TEAMS_LOGIN_URL
    teams_openid_metadata_url: str = TEAMS_OPENID_METADATA_URL
    teams_service_url: str = TEAMS_SERVICE_URL
    # People outside chat (issue 18): the web pages' address, SMTP and GOV.UK Notify.
    outside: OutsideSettings = field(default_factory=OutsideSettings)

    def __repr__(self) -> str:
        return (
            f"Settings(database_url={_hide_password(self.database_url)!r}, "
            f"timezone={self.timezone.key!r}, log_level={self.log_level!r}, "
            f"slack_bot_token={self.slack_bot_token!r}, "
            f"slack_signing_secret={self.slack_signing_secret!r}, "
            f"slack_app_token={self.slack_app_token!r}, slack_api_url={self.slack_api_url!r}, "
            f"host={self.host!r}, port={self.port!r}, nudge_policy={self.nudge_policy!r}, "
            f"involvement_every_weeks={self.involvement_every_weeks!r}, "
            f"forwarded_allow_ips={self.forwarded_allow_ips!r}, "
            f"delivery_claim_lease={self.delivery_claim_lease!r}, "
            f"scheduler_tick_seconds={self.scheduler_tick_seconds!r}, "
            f"teams_app_id={self.teams_app_id!r}, "
            f"teams_app_password={self.teams_app_password!r}, "
            f"teams_tenant_id={self.teams_tenant_id!r}, "
            f"teams_login_url={self.teams_login_url!r}, "
            f"teams_openid_metadata_url={self.teams_openid_metadata_url!r}, "
            f"teams_service_url={self.teams_service_url!r}, outside={self.outside!r})"
        )

    @property
    def has_slack(self) -> bool:
        """Whether Slack is configured: a bot token, and a way to receive (HTTP or Socket Mode)."""
        receives = self.slack_signing_secret is not None or self.slack_app_token is not None
        return self.slack_bot_token is not None and receives

    @property
    def has_email(self) -> bool:
        """Whether e-mail can go to people outside chat (SMTP or Notify, and the pages' address)."""
        return self.outside.email_by is not None

    @property
    def has_text(self) -> bool:
        """Whether texts can go to people outside chat (Notify, and the pages' address)."""
        return self.outside.has_text

    @property
    def has_teams(self) -> bool:
        """Whether Microsoft Teams is configured (load_settings allows all three or none)."""
        return (
            self.teams_app_id is not None
            and self.teams_app_password is not None
            and self.teams_tenant_id is not None
        )


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _nudge_policy(values: Mapping[str, str], problems: list[str]) -> NudgePolicy:
    """NUDGE_DAY, NUDGE_TIME and NUDGE_ESCALATE_AFTER, checked."""
    default = NudgePolicy()
    day_text = (values.get("NUDGE_DAY") or "monday").strip().lower()
    matches = [i for i, day in enumerate(WEEKDAYS) if day.startswith(day_text[:3])]
    if len(day_text) < 3 or not matches:
        problems.append(f"NUDGE_DAY: {day_text!r} is not a day of the week (try monday)")
    time_text = (values.get("NUDGE_TIME") or "09:30").strip()
    try:
        at = time.fromisoformat(time_text)
    except ValueError:
        problems.append(f"NUDGE_TIME: {time_text!r} is not a time like 09:30")
        at = default.at
    after_text = (values.get("NUDGE_ESCALATE_AFTER") or "3").strip()
    if not after_text.isdecimal() or not 1 <= int(after_text) <= 52:
        problems.append(f"NUDGE_ESCALATE_AFTER: {after_text!r} is not a number of weeks (1-52)")
        after_text = str(default.escalate_after)
    return NudgePolicy(
        weekday=matches[0] if matches and len(day_text) >= 3 else default.weekday,
        at=at,
        escalate_after=int(after_text),
    )


def _involvement_every_weeks(values: Mapping[str, str], problems: list[str]) -> int:
    """INVOLVEMENT_EVERY_WEEKS: how often people are asked how involved they feel (1-52)."""
    text = (values.get("INVOLVEMENT_EVERY_WEEKS") or str(DEFAULT_EVERY_WEEKS)).strip()
    if not text.isdecimal() or not 1 <= int(text) <= 52:
        problems.append(f"INVOLVEMENT_EVERY_WEEKS: {text!r} is not a number of weeks (1-52)")
        return DEFAULT_EVERY_WEEKS
    return int(text)


def _seconds(
    values: Mapping[str, str], key: str, default: int, most: int, problems: list[str]
) -> int:
    """A whole number of seconds from 1 to `most`, or `default` when the key is not set."""
    text = (values.get(key) or str(default)).strip()
    if not text.isdecimal() or not 1 <= int(text) <= most:
        problems.append(f"{key}: {text!r} is not a number of seconds (1-{most})")
        return default
    return int(text)


def _url(values: Mapping[str, str], key: str, default: str, problems: list[str]) -> str:
    """An http(s) URL, or `default` when the key is not set."""
    url = (values.get(key) or "").strip() or default
    if not url.startswith(("http://", "https://")):
        problems.append(f"{key}: {url!r} is not an http(s) URL")
        return default
    return url


def _teams(values: Mapping[str, str], problems: list[str]) -> dict[str, Any]:
    """The TEAMS_* settings, checked: the registration's three values come together."""
    given = {
        key: (values.get(key) or "").strip()
        for key in ("TEAMS_APP_ID", "TEAMS_APP_PASSWORD", "TEAMS_TENANT_ID")
    }
    missing = [key for key, value in given.items() if not value]
    if missing and len(missing) < len(given):
        present = [key for key, value in given.items() if value]
        problems.append(
            f"{' and '.join(missing)}: needed too when {' and '.join(present)} "
            f"{'is' if len(present) == 1 else 'are'} given. Teams needs all three: the Microsoft "
            "App ID and App Tenant ID from the Azure Bot's Configuration page, and a client "
            "secret of that app as the password."
        )
    where = {"TEAMS_APP_ID": "Microsoft App ID", "TEAMS_TENANT_ID": "App Tenant ID"}
    for key, label in where.items():
        if given[key] and not GUID.fullmatch(given[key]):
            problems.append(
                f"{key}: {given[key]!r} is not a GUID (32 hex digits in groups of 8-4-4-4-12); "
                f"copy the {label} from the Azure Bot's Configuration page"
            )
    password = given["TEAMS_APP_PASSWORD"]
    login_url = _url(values, "TEAMS_LOGIN_URL", TEAMS_LOGIN_URL, problems).rstrip("/")
    service_url = _url(values, "TEAMS_SERVICE_URL", TEAMS_SERVICE_URL, problems)
    return {
        "teams_app_id": given["TEAMS_APP_ID"] or None,
        "teams_app_password": Secret(password) if password else None,
        "teams_tenant_id": given["TEAMS_TENANT_ID"] or None,
        "teams_login_url": login_url,
        "teams_openid_metadata_url": _url(
            values, "TEAMS_OPENID_METADATA_URL", TEAMS_OPENID_METADATA_URL, problems
        ),
        "teams_service_url": service_url if service_url.endswith("/") else service_url + "/",
    }


def _hide_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable>"


def _database_url_problem(url: str) -> str | None:
    """Why DATABASE_URL cannot be used (unreadable, or a database qi-nudge does not run on)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from store.engine import normalise_url

    try:
        parsed = make_url(normalise_url(url))
    except ArgumentError:
        # Never echo the value: it may hold a password.
        return (
            "DATABASE_URL: not a database address (try sqlite:///qi.db or "
            "postgresql+psycopg://user@host/dbname)"
        )
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        return (
            f"DATABASE_URL: qi-nudge runs on SQLite or PostgreSQL, not "
            f"{parsed.get_backend_name()} (try sqlite:///qi.db or "
            "postgresql+psycopg://user@host/dbname)"
        )
    try:
        parsed.get_dialect().import_dbapi()
    except Exception:  # an unknown driver, or one that is not installed here
        return (
            f"DATABASE_URL: the database driver {parsed.get_driver_name()!r} is not installed "
            "here; use postgresql+psycopg:// (installed with qi-nudge) or sqlite:///"
        )
    return None


def load_settings(
    environ: Mapping[str, str] | None = None, *, env_file: str | None = ".env"
) -> Settings:
    """Read settings from `environ` (default: the process) over a .env file; fail on bad values."""
    values: dict[str, str] = {}
    if env_file and os.path.exists(env_file):
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if environ is None else environ)

    problems: list[str] = []
    zone_name = values.get("QI_TIMEZONE", "Europe/London") or "Europe/London"
    try:
        timezone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"QI_TIMEZONE: {zone_name!r} is not a time zone (try Europe/London)")
        timezone = ZoneInfo("Europe/London")
    log_level = (values.get("LOG_LEVEL") or "INFO").upper()
    if log_level not in LOG_LEVELS:
        problems.append(f"LOG_LEVEL: {log_level!r} is not one of {', '.join(LOG_LEVELS)}")
    token = values.get("SLACK_BOT_TOKEN") or None
    signing = values.get("SLACK_SIGNING_SECRET") or None
    app_token = values.get("SLACK_APP_TOKEN") or None
    # HTTP mode needs the signing secret; Socket Mode (an app token) has no requests to sign.
    if token and not (signing or app_token):
        problems.append("SLACK_SIGNING_SECRET: needed with SLACK_BOT_TOKEN (or SLACK_APP_TOKEN)")
    if (signing or app_token) and not token:
        problems.append("SLACK_BOT_TOKEN: needed too when the other Slack settings are given")
    if app_token and not app_token.startswith("xapp-"):
        problems.append("SLACK_APP_TOKEN: an app-level token starts with xapp-")
    api_url = values.get("SLACK_API_URL") or None
    if api_url and not api_url.startswith(("http://", "https://")):
        problems.append(f"SLACK_API_URL: {api_url!r} is not an http(s) URL")
    elif api_url and not api_url.endswith("/"):
        api_url += "/"
    port_text = values.get("PORT") or "3000"
    port = int(port_text) if port_text.isdecimal() and 0 < int(port_text) < 65536 else 0
    if not port:
        problems.append(f"PORT: {port_text!r} is not a port number")
    nudge_policy = _nudge_policy(values, problems)
    involvement_every_weeks = _involvement_every_weeks(values, problems)
    default_lease = int(CLAIM_LEASE.total_seconds())
    lease = _seconds(values, "DELIVERY_CLAIM_LEASE", default_lease, 24 * 3600, problems)
    tick = _seconds(
        values, "SCHEDULER_TICK_SECONDS", Settings.scheduler_tick_seconds, 3600, problems
    )
    teams = _teams(values, problems)
    outside = read_outside(values, problems, Secret)
    database_url = values.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    if (database_problem := _database_url_problem(database_url)) is not None:
        problems.append(database_problem)
    if problems:
        raise SettingsError("Configuration problems:\n  " + "\n  ".join(problems))
    return Settings(
        database_url=database_url,
        timezone=timezone,
        log_level=log_level,
        slack_bot_token=Secret(token) if token else None,
        slack_signing_secret=Secret(signing) if signing else None,
        slack_app_token=Secret(app_token) if app_token else None,
        slack_api_url=api_url,
        host=values.get("HOST") or "0.0.0.0",  # noqa: S104
        forwarded_allow_ips=(values.get("FORWARDED_ALLOW_IPS") or "127.0.0.1").strip(),
        port=port,
        nudge_policy=nudge_policy,
        involvement_every_weeks=involvement_every_weeks,
        delivery_claim_lease=timedelta(seconds=lease),
        scheduler_tick_seconds=tick,
        outside=outside,
        **teams,
    )
