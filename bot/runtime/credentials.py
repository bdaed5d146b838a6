"""Whether the platforms accept the bot's credentials: checked before `serve` listens, and by check.

Each check asks the platform once (Slack's auth.test, Entra's token endpoint) and returns the
problems found, each one plain line that starts with the setting to look at. An empty list
means the platform answered and accepted them (or is not configured here). A problem is
`passing` when the platform answered with its own error (5xx, 429): the credentials were not
refused, and serve starts anyway (its outbox waits for the platform) instead of failing a deploy.
"""

from __future__ import annotations

import logging
import socket
import ssl
import urllib.error
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.runtime.settings import Settings

if TYPE_CHECKING:
    from slack_sdk import WebClient

CHECK_TIMEOUT = 10.0  # seconds: a person (or a deployment) is waiting for the answer
# Slack's answers that mean the token itself is no good (not a passing fault).
SLACK_TOKEN_REFUSED = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "token_expired",
        "account_inactive",
        "no_permission",
        "not_allowed_token_type",
    }
)
# slack_sdk logs a failed connection at ERROR itself: the check's own line says it better.
QUIET = logging.getLogger(__name__ + ".slack_sdk")
QUIET.disabled = True
REACH_ADVICE = "Check that this server can make HTTPS connections to it (firewall, proxy)"


@dataclass(frozen=True)
class Problem:
    """One plain line naming the setting to check; `passing` if it is the platform's own fault."""

    text: str
    passing: bool = False

    def __str__(self) -> str:
        return self.text


def check_slack(settings: Settings, *, timeout: float = CHECK_TIMEOUT) -> list[Problem]:
    """Problems with the Slack settings: the bot token (auth.test), and Socket Mode's app token."""
    if not settings.has_slack or settings.slack_bot_token is None:
        return []
    from slack_sdk import WebClient  # Slack's library loads only when Slack is configured

    from bot.slack.app import DEFAULT_API_URL

    url = settings.slack_api_url or DEFAULT_API_URL
    problems: list[Problem] = []
    tokens = [("SLACK_BOT_TOKEN", settings.slack_bot_token.reveal(), "auth.test")]
    if settings.slack_app_token is not None:
        app_token = settings.slack_app_token.reveal()
        tokens.append(("SLACK_APP_TOKEN", app_token, "apps.connections.open"))
    for setting, token, method in tokens:
        client = WebClient(
            token=token, base_url=url, timeout=int(timeout), retry_handlers=[], logger=QUIET
        )
        problem = _ask_slack(client, method, setting, url, settings.slack_api_url is not None)
        if problem:
            problems.append(problem)
            break  # Slack unreachable or refusing: the next token would only say the same
    return problems


def _ask_slack(
    client: WebClient, method: str, setting: str, url: str, url_set: bool
) -> Problem | None:
    """None if Slack accepts the token for `method`; else the line that says what to check."""
    from slack_sdk.errors import SlackApiError

    try:
        client.api_call(method)
    except SlackApiError as error:
        code = str(error.response.get("error") or "")
        status = error.response.status_code
        if code in SLACK_TOKEN_REFUSED:
            if setting == "SLACK_APP_TOKEN":
                return Problem(
                    f"SLACK_APP_TOKEN: Slack refused the app-level token ({code}). Create one "
                    "with connections:write under the Slack app's Basic Information, App-Level "
                    "Tokens, and copy it (xapp-...) again."
                )
            return Problem(
                f"SLACK_BOT_TOKEN: Slack refused the token ({code}). Copy the Bot User OAuth "
                "Token (xoxb-...) again from the Slack app's Install App page; if the app was "
                "removed from the workspace, install it again."
            )
        if code == "socket_mode_not_enabled":
            return Problem(
                "SLACK_APP_TOKEN: Socket Mode is turned off for this Slack app. Turn it on in "
                "the app's settings (Socket Mode), or remove SLACK_APP_TOKEN to use HTTP."
            )
        if status >= 500 or status == 429:
            return Problem(
                f"{_url_setting(url_set)}: Slack answered with an error (HTTP {status}); it may "
                "be having problems (status.slack.com). Try again in a few minutes.",
                passing=True,
            )
        return Problem(f"{setting}: Slack did not accept it ({code or f'HTTP {status}'}).")
    except (urllib.error.URLError, OSError) as error:
        return Problem(
            f"{_url_setting(url_set)}: could not reach Slack at {url} ({network_reason(error)}). "
            f"{REACH_ADVICE}" + (", and that SLACK_API_URL is right." if url_set else ".")
        )
    return None


def _url_setting(url_set: bool) -> str:
    return "SLACK_API_URL" if url_set else "SLACK_BOT_TOKEN (Slack)"


def check_teams(settings: Settings, *, timeout: float = CHECK_TIMEOUT) -> list[Problem]:
    """Problems with the Teams settings: whether Entra gives the bot a token for the Connector."""
    if not settings.has_teams:
        return []
    assert settings.teams_app_id and settings.teams_app_password and settings.teams_tenant_id
    from bot.teams import auth  # httpx only, not the Teams SDK

    provider = auth.BotConnectorToken(
        settings.teams_login_url,
        settings.teams_tenant_id,
        settings.teams_app_id,
        settings.teams_app_password.reveal(),
    )
    try:
        provider.fetch(auth.BOT_FRAMEWORK_SCOPE)
    except auth.TokenError as error:
        return [_teams_words(settings, error)]
    return []


def _teams_words(settings: Settings, error: Exception) -> Problem:
    """What an Entra refusal (or silence) means, naming the setting to look at."""
    status: int | None = getattr(error, "status", None)
    code: str = getattr(error, "code", "")
    login = settings.teams_login_url
    if status is None:
        cause = error.__context__  # the network error behind it
        reason = network_reason(cause) if cause is not None else "no answer"
        return Problem(
            f"TEAMS_LOGIN_URL: could not reach Microsoft's sign-in at {login} ({reason}). "
            f"{REACH_ADVICE}."
        )
    if code == "invalid_client":
        return Problem(
            "TEAMS_APP_PASSWORD: Microsoft Entra refused the client secret (invalid_client). "
            "Check it is the secret's Value (not its Secret ID) from the app registration's "
            "Certificates & secrets, and that it has not expired; if it has, create a new one."
        )
    if code in ("unauthorized_client", "invalid_resource"):
        return Problem(
            f"TEAMS_APP_ID: Microsoft Entra does not know this app in the tenant ({code}). "
            "Check TEAMS_APP_ID is the Azure Bot's Microsoft App ID and TEAMS_TENANT_ID its App "
            "Tenant ID (both on the Azure Bot's Configuration page)."
        )
    if "tenant" in str(error).lower() or code == "invalid_tenant":
        return Problem(
            f"TEAMS_TENANT_ID: Microsoft Entra does not know this tenant ({code}). Copy the App "
            "Tenant ID again from the Azure Bot's Configuration page."
        )
    if status >= 500 or status == 429:
        return Problem(
            f"TEAMS_LOGIN_URL: Microsoft's sign-in answered with an error (HTTP {status}). "
            "Try again in a few minutes.",
            passing=True,
        )
    return Problem(
        f"TEAMS_APP_ID, TEAMS_TENANT_ID and TEAMS_APP_PASSWORD: Microsoft Entra refused the "
        f"bot's sign-in (HTTP {status} {code}). Check all three against the Azure Bot's "
        "Configuration page."
    )


def network_reason(error: BaseException) -> str:
    """A few words for why a connection failed: refused, no answer in time, name not found."""
    import httpx

    reason: object = getattr(error, "reason", error)
    if isinstance(reason, ConnectionRefusedError) or (
        isinstance(reason, httpx.ConnectError) and "refused" in str(reason).lower()
    ):
        return "connection refused"
    if isinstance(reason, TimeoutError | socket.timeout | httpx.TimeoutException):
        return "no answer in time"
    if isinstance(reason, socket.gaierror):
        return "the name was not found"
    if isinstance(reason, ssl.SSLError):
        return "the secure connection failed"
    if isinstance(reason, str) and reason:
        return reason
    return type(reason).__name__


def check_outside(settings: Settings) -> list[Problem]:
    """Problems with the e-mail and text settings: each provider asked once, sending nothing.

    A provider that cannot be reached, or answered with its own error, is `passing`: the bot
    starts and its outbox waits. Refused credentials or a wrong template are not.
    """
    from sqlalchemy.orm import sessionmaker

    from bot.outside.wiring import outside_senders
    from handlers.core.context import Context

    # The checks send nothing and read nothing: no database is needed.
    problems = []
    for sender in outside_senders(settings, Context(sessions=sessionmaker())):
        error = sender.check()
        if error is not None:
            problems.append(Problem(f"{sender.platform}: {error.reason}", passing=error.retryable))
    return problems


def check_platforms(settings: Settings) -> list[Problem]:
    """Every configured platform's credential problems, Slack first, e-mail and texts last."""
    return check_slack(settings) + check_teams(settings) + check_outside(settings)
