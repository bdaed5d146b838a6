"""Queries behind matchmaking: who from the forum would like a project, and what was offered."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from store.models import ChatIdentity, ForumMember, MatchOffer, Membership, Project
from store.roles import LIVED_EXPERIENCE_ROLES, ProjectStatus, Role

OFFERED = "offered"
ASKED = "asked"
JOINED = "joined"
LEAD_DECLINED = "lead_declined"
PERSON_DECLINED = "person_declined"
EXPIRED = "expired"
OPEN = (OFFERED, ASKED)
# How long someone has to answer an invitation before they are free for other projects.
ASK_LIFETIME = timedelta(days=14)


@dataclass(frozen=True)
class Willing:
    """A service user or carer on a forum who said they would like to join a project."""

    person_id: int
    role: Role


def willing_people(session: Session) -> list[Willing]:
    """Who may be offered this week: willing, reachable in chat, with no open offer; one query.

    Longest-waiting first, so everyone gets a turn.
    """
    open_offer = exists().where(
        MatchOffer.person_id == ForumMember.person_id, MatchOffer.status.in_(OPEN)
    )
    reachable = exists().where(ChatIdentity.person_id == ForumMember.person_id)
    rows = session.execute(
        select(ForumMember.person_id, ForumMember.role, func.min(ForumMember.joined_at))
        .where(
            ForumMember.wants_match.is_(True),
            ForumMember.left_at.is_(None),
            ForumMember.role.in_(sorted(LIVED_EXPERIENCE_ROLES)),
            reachable,
            ~open_offer,
        )
        .group_by(ForumMember.person_id, ForumMember.role)
        .order_by(func.min(ForumMember.joined_at), ForumMember.person_id)
    )
    seen: set[int] = set()
    willing = []
    for person_id, role, _joined in rows:
        if person_id not in seen:  # signed up to two forums: one turn, not two
            seen.add(person_id)
            willing.append(Willing(person_id, role))
    return willing


def unavailable_pairs(session: Session, person_ids: Collection[int]) -> set[tuple[int, int]]:
    """(project, person) pairs never to offer: offered before, or already on that team."""
    if not person_ids:
        return set()
    ids = list(person_ids)
    offered = session.execute(
        select(MatchOffer.project_id, MatchOffer.person_id).where(MatchOffer.person_id.in_(ids))
    )
    on_team = session.execute(
        select(Membership.project_id, Membership.person_id).where(
            Membership.person_id.in_(ids), Membership.left_at.is_(None)
        )
    )
    return {(row[0], row[1]) for row in offered} | {(row[0], row[1]) for row in on_team}


def add_offers(
    session: Session, pairs: Sequence[tuple[int, int, Role]], *, week: str, now: datetime
) -> None:
    """Record new offers (project, person, role) in one statement."""
    if not pairs:
        return
    session.execute(
        MatchOffer.__table__.insert(),
        [
            {
                "project_id": project_id,
                "person_id": person_id,
                "role": role.value,
                "status": OFFERED,
                "week": week,
                "created_at": now,
                "updated_at": now,
            }
            for project_id, person_id, role in pairs
        ],
    )


def expire_stale(session: Session, *, week: str, now: datetime) -> list[int]:
    """Free people whose introduction went unanswered: a lead's by the next week, theirs later.

    Returns the invitations that lapsed unanswered by the person: their leads are waiting.
    """
    session.execute(
        update(MatchOffer)
        .where(MatchOffer.status == OFFERED, MatchOffer.week != week)
        .values(status=EXPIRED, updated_at=now)
    )
    # One statement, the status checked as each row is changed: a "yes" that commits while
    # the sweep runs is not overwritten (a select, then an update by id, would lose it).
    lapsed = session.scalars(
        update(MatchOffer)
        .where(MatchOffer.status == ASKED, MatchOffer.updated_at <= now - ASK_LIFETIME)
        .values(status=EXPIRED, updated_at=now)
        .returning(MatchOffer.id)
    )
    return sorted(lapsed)


def expire_open_of_project(session: Session, project_id: int, *, now: datetime) -> int:
    """Close the project's open introductions (it is no longer active); how many.

    The people offered are free for other projects at the next sweep, and a lead whose project
    has finished or paused is not later told "I'll suggest someone else".
    """
    result = session.execute(
        update(MatchOffer)
        .where(MatchOffer.project_id == project_id, MatchOffer.status.in_(OPEN))
        .values(status=EXPIRED, updated_at=now)
    )
    return result.rowcount or 0


def leads_of(session: Session, offer_ids: Collection[int]) -> list[tuple[int, int]]:
    """(offer, lead) for these offers' projects that are active and have a lead."""
    if not offer_ids:
        return []
    rows = session.execute(
        select(MatchOffer.id, Project.lead_person_id)
        .join(Project, Project.id == MatchOffer.project_id)
        .where(
            MatchOffer.id.in_(list(offer_ids)),
            Project.lead_person_id.is_not(None),
            # A lead whose project is no longer active is waiting for nobody.
            Project.status == ProjectStatus.ACTIVE,
        )
    )
    return [(offer_id, lead_id) for offer_id, lead_id in rows]


def locked(session: Session, offer_id: int | None) -> MatchOffer | None:
    """The offer, locked until this transaction ends: two presses at once take turns."""
    if offer_id is None:
        return None
    return session.get(MatchOffer, offer_id, with_for_update=True)


def open_offers_for(session: Session, project_ids: Collection[int]) -> dict[int, MatchOffer]:
    """The open offer of each of these projects, if any."""
    if not project_ids:
        return {}
    offers = session.scalars(
        select(MatchOffer).where(
            MatchOffer.project_id.in_(list(project_ids)), MatchOffer.status.in_(OPEN)
        )
    )
    return {offer.project_id: offer for offer in offers}


def projects_with_open_offers(session: Session) -> set[int]:
    """Every project with an open offer (a few at a time: one per willing person at most)."""
    return set(session.scalars(select(MatchOffer.project_id).where(MatchOffer.status.in_(OPEN))))


def still_willing(session: Session, person_id: int) -> bool:
    """Whether the person is still on a forum and still wants to be offered a project."""
    return bool(
        session.scalar(
            select(ForumMember.id)
            .where(
                ForumMember.person_id == person_id,
                ForumMember.wants_match.is_(True),
                ForumMember.left_at.is_(None),
            )
            .limit(1)
        )
    )
