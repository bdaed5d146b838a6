"""After a project register import: find imported leads on Slack by their e-mail address."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import exists, select
from sqlalchemy.orm import Session, sessionmaker

from store.models import ChatIdentity, Person, Project

log = logging.getLogger(__name__)
PLATFORM = "slack"


@dataclass(frozen=True)
class LeadLinking:
    """How many imported leads were found on Slack, not found, or already there as someone else."""

    linked: int
    not_on_slack: int
    conflicts: list[str]


def link_leads_by_email(sessions: sessionmaker[Session], client: WebClient) -> LeadLinking:
    """Give each imported lead (e-mail, no Slack account yet) their Slack identity."""
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
    missing = 0
    # One Web API call per lead is unavoidable; the client waits out 429s (Tier 3 method).
    for person_id, email in leads:
        try:
            user = client.users_lookupByEmail(email=email)["user"]
        except SlackApiError as error:
            if error.response.get("error") != "users_not_found":
                raise
            missing += 1
            continue
        found[person_id] = (user.get("team_id") or "", user["id"])
    conflicts: list[str] = []
    with sessions.begin() as session:
        taken = {
            (row.workspace, row.user_id)
            for row in session.scalars(
                select(ChatIdentity).where(
                    ChatIdentity.platform == PLATFORM,
                    ChatIdentity.user_id.in_([user for _, user in found.values()] or [""]),
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
    return LeadLinking(
        linked=len(found) - len(conflicts), not_on_slack=missing, conflicts=conflicts
    )
