"""After a project register import: find imported leads on Slack by their e-mail address."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import exists, select
from sqlalchemy.orm import Session, sessionmaker

from store.models import ChatIdentity, Person, Project

log = logging.getLogger(__name__)
PLATFORM = "slack"


# Slack errors that would answer every other lead the same way: stop asking, keep what was found.
STOPS_EVERYTHING = {
    "missing_scope": (
        "the app lacks the users:read.email permission: reinstall it from deploy/slack-manifest.yml"
    ),
    "ratelimited": "Slack is limiting look-ups for now: import the register again later",
    "invalid_auth": "SLACK_BOT_TOKEN is not accepted: check it",
    "not_authed": "SLACK_BOT_TOKEN is not accepted: check it",
    "token_revoked": "SLACK_BOT_TOKEN has been revoked: install the app again",
    "account_inactive": "the app's Slack account is deactivated: install the app again",
}
SAVE_EVERY = 200  # leads found: kept as the look-ups go, so a late failure loses none of them


@dataclass(frozen=True)
class LeadLinking:
    """How many imported leads were found on Slack, not found, not checked, or already there."""

    linked: int
    not_on_slack: int
    conflicts: list[str]
    not_checked: int = 0
    problem: str | None = None  # why some were not checked, in words for whoever runs it


def link_leads_by_email(sessions: sessionmaker[Session], client: WebClient) -> LeadLinking:
    """Give each imported lead (e-mail, no Slack account yet) their Slack identity.

    A lead Slack cannot be asked about now (an error, no answer) is left for the next import,
    which asks again about every lead not yet linked.
    """
    with sessions() as session:
        leads = session.execute(
            select(Person.id, Person.email)
            .where(
                Person.email.is_not(None),
                exists().where(Project.lead_person_id == Person.id),
                ~exists().where(
                    ChatIdentity.person_id == Person.id, ChatIdentity.platform == PLATFORM
                ),
            )
            .order_by(Person.id)
        ).all()
    found: dict[int, tuple[str, str]] = {}
    missing = unchecked = linked = 0
    conflicts: list[str] = []
    problem: str | None = None
    # One Web API call per lead is unavoidable; the client waits out 429s (Tier 3 method).
    for done, (person_id, email) in enumerate(leads):
        try:
            user = client.users_lookupByEmail(email=email)["user"]
        except SlackApiError as error:
            code = str(error.response.get("error") or "")
            if code == "users_not_found":
                missing += 1
                continue
            log.warning("users.lookupByEmail failed: %s", code or "no error code")
            problem = STOPS_EVERYTHING.get(code, f"Slack answered {code or 'with an error'}")
            if code in STOPS_EVERYTHING:
                unchecked += len(leads) - done
                break
            unchecked += 1
            continue
        except (SlackClientError, OSError) as error:
            log.warning("users.lookupByEmail failed: %s", type(error).__name__)
            problem = "Slack could not be reached: import the register again later"
            unchecked += len(leads) - done
            break
        found[person_id] = (user.get("team_id") or "", user["id"])
        if len(found) >= SAVE_EVERY:
            linked += _save(sessions, found, conflicts)
            found = {}
    linked += _save(sessions, found, conflicts)
    return LeadLinking(linked, missing, conflicts, not_checked=unchecked, problem=problem)


def _save(
    sessions: sessionmaker[Session], found: dict[int, tuple[str, str]], conflicts: list[str]
) -> int:
    """Record the Slack accounts found; those already someone else's go to `conflicts`."""
    if not found:
        return 0
    linked = 0
    with sessions.begin() as session:
        taken = {
            (row.workspace, row.user_id)
            for row in session.scalars(
                select(ChatIdentity).where(
                    ChatIdentity.platform == PLATFORM,
                    ChatIdentity.user_id.in_([user for _, user in found.values()]),
                )
            )
        }
        for person_id, (team, user_id) in found.items():
            if (team, user_id) in taken:
                # They already talked to the bot before the import: two records for one person.
                conflicts.append(f"#{person_id}")
                continue
            session.add(
                ChatIdentity(
                    person_id=person_id, platform=PLATFORM, workspace=team, user_id=user_id
                )
            )
            linked += 1
    return linked
