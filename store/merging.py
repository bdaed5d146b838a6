"""Two records of one person made one: every row of one moves to the other, a set at a time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    Integer,
    Text,
    and_,
    cast,
    delete,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Session, aliased

from store.models import (
    AdminGrant,
    AuditEvent,
    ChartNote,
    ChatIdentity,
    Delivery,
    Forum,
    ForumMember,
    InvolvementAnswer,
    MatchOffer,
    Membership,
    OutsideContact,
    Person,
    Project,
    Rsvp,
    SlotRequest,
)
from store.outbox import PENDING, person_recipient
from store.roles import Involvement, Role

# Columns that only say who someone is or what they did: they simply change hands.
REASSIGNED: tuple[Column[Any], ...] = (
    ChatIdentity.__table__.c.person_id,
    Project.__table__.c.lead_person_id,
    Membership.__table__.c.consent_recorded_by_id,
    AdminGrant.__table__.c.granted_by_id,
    SlotRequest.__table__.c.requested_by_id,
    SlotRequest.__table__.c.decided_by_id,
    ChartNote.__table__.c.created_by_id,
    AuditEvent.__table__.c.actor_person_id,
    OutsideContact.__table__.c.consent_recorded_by_id,
    InvolvementAnswer.__table__.c.recorded_by_id,
)
# Columns where both records may hold "the same" row (one per project, forum, meeting...):
# twins are settled first, in move_everything.
COMBINED = (
    "memberships",
    "forum_members",
    "rsvps",
    "admin_grants",
    "match_offers",
    "outside_contacts",
    "involvement_answers",
)
_kept_contact = aliased(OutsideContact)
# Keys of outbox payloads that hold a person's number ("who asked the forum"), not a column:
# merging points them at the kept record, erasure takes them out.
PAYLOAD_PERSON_KEYS = ("asked_by",)
# Every column that refers to a person, handled here; a test compares it with the models.
PERSON_COLUMNS = frozenset(
    {f"{c.table.name}.{c.name}" for c in REASSIGNED} | {f"{t}.person_id" for t in COMBINED}
)


@dataclass(frozen=True)
class Clash:
    """One project or forum both records are on, in ways that disagree."""

    place: str  # "project" or "forum"
    name: str
    keep_role: Role | None
    merge_role: Role | None
    keep_involvement: Involvement | None = None
    merge_involvement: Involvement | None = None


@dataclass(frozen=True)
class Moved:
    """How many rows of each kind changed hands (twins counted apart)."""

    identities: int
    memberships: int
    memberships_combined: int
    forum_signups: int
    forum_signups_combined: int
    rsvps: int
    rsvps_combined: int
    admin_grants: int
    match_offers: int
    match_offers_combined: int
    projects_led: int
    deliveries: int
    deliveries_withdrawn: int  # waiting, and the same as one already going to the kept record
    deliveries_combined: int = 0  # waiting, and now part of the kept record's (more projects)
    deliveries_superseded: int = 0  # waiting, and different from the kept record's: dropped


def clashes(session: Session, keep_id: int, merge_id: int) -> list[Clash]:
    """Where both are current members of one project or forum with a different role or say."""
    kept, other = aliased(Membership), aliased(Membership)
    teams = session.execute(
        select(Project.name, kept.role, other.role, kept.involvement, other.involvement)
        .join(kept, kept.project_id == Project.id)
        .join(other, other.project_id == Project.id)
        .where(
            kept.person_id == keep_id,
            other.person_id == merge_id,
            kept.left_at.is_(None),
            other.left_at.is_(None),
            or_(kept.role != other.role, kept.involvement != other.involvement),
        )
        .order_by(Project.name)
    )
    found = [Clash("project", *row) for row in teams]
    kept_f, other_f = aliased(ForumMember), aliased(ForumMember)
    # A forum role left blank is not a disagreement: nobody has to label themselves.
    forums = session.execute(
        select(Forum.name, kept_f.role, other_f.role)
        .join(kept_f, kept_f.forum_id == Forum.id)
        .join(other_f, other_f.forum_id == Forum.id)
        .where(
            kept_f.person_id == keep_id,
            other_f.person_id == merge_id,
            kept_f.left_at.is_(None),
            other_f.left_at.is_(None),
            kept_f.role != other_f.role,
        )
        .order_by(Forum.name)
    )
    return found + [Clash("forum", *row) for row in forums]


Prefer = Callable[[Any, Any], ColumnElement[bool]]


def _earlier(column: str) -> Prefer:
    return lambda twin, row: getattr(twin, column) < getattr(row, column)


def _later(column: str) -> Prefer:
    return lambda twin, row: getattr(twin, column) > getattr(row, column)


def _loses_to_twin(
    model: Any,
    place: str,
    keep_id: int,
    merge_id: int,
    *,
    prefer: Prefer,
    same: str,
    current: str | None = None,
) -> ColumnElement[bool]:
    """Rows of either person that have a better twin of the other's at the same place.

    `prefer(twin, row)` says the twin wins; on a tie (`same` equal) the kept person's wins.
    """
    twin = aliased(model)
    ids = (keep_id, merge_id)
    twin_matches = [
        getattr(twin, place) == getattr(model, place),
        twin.person_id.in_(ids),
        twin.person_id != model.person_id,
    ]
    mine = [model.person_id.in_(ids)]
    if current is not None:
        twin_matches.append(getattr(twin, current).is_(None))
        mine.append(getattr(model, current).is_(None))
    wins = or_(
        prefer(twin, model),
        and_(getattr(twin, same) == getattr(model, same), twin.person_id == keep_id),
    )
    return and_(*mine, exists().where(*twin_matches, wins))


def _run(session: Session, statement: Any) -> int:
    # Set-based statements; the caller's objects are refreshed once at the end instead.
    result = session.execute(statement, execution_options={"synchronize_session": False})
    return int(result.rowcount or 0)


def _move(session: Session, model: Any, keep_id: int, merge_id: int) -> int:
    return _run(session, update(model).where(model.person_id == merge_id).values(person_id=keep_id))


def _combine_forum_signups(session: Session, keep_id: int, merge_id: int) -> None:
    """Both current on one forum: each row takes the role either gave and a wish for a match."""
    twin = aliased(ForumMember)
    pair = (
        twin.forum_id == ForumMember.forum_id,
        twin.person_id.in_((keep_id, merge_id)),
        twin.person_id != ForumMember.person_id,
        twin.left_at.is_(None),
    )
    _run(
        session,
        update(ForumMember)
        .where(
            ForumMember.person_id.in_((keep_id, merge_id)),
            ForumMember.left_at.is_(None),
            exists().where(*pair),
        )
        .values(
            role=func.coalesce(ForumMember.role, select(twin.role).where(*pair).scalar_subquery()),
            wants_match=or_(
                ForumMember.wants_match, select(twin.wants_match).where(*pair).scalar_subquery()
            ),
        ),
    )


def replace_person_in_payloads(session: Session, person_id: int, new_id: int | None) -> int:
    """Make outbox payloads that name `person_id` name `new_id`, or nobody with None; how many.

    One statement per key. The JSON is edited in the database: SQLite's json_set/json_remove,
    PostgreSQL's jsonb operators (the column is json there, so it is cast to jsonb and back).
    """
    on_postgres = session.get_bind().dialect.name == "postgresql"
    changed = 0
    for key in PAYLOAD_PERSON_KEYS:
        edited: ColumnElement[Any]
        if on_postgres:
            as_jsonb = cast(Delivery.payload, JSONB)
            if new_id is None:
                edited = as_jsonb.op("-")(key)
            else:
                path = cast([key], ARRAY(Text))
                edited = func.jsonb_set(as_jsonb, path, func.to_jsonb(cast(new_id, Integer)))
            edited = cast(edited, JSON)
        else:
            path_text = f'$."{key}"'
            edited = (
                func.json_remove(Delivery.payload, path_text)
                if new_id is None
                else func.json_set(Delivery.payload, path_text, new_id)
            )
        changed += _run(
            session,
            update(Delivery)
            .where(Delivery.payload[key].as_integer() == person_id)
            .values(payload=edited),
        )
    return changed


@dataclass(frozen=True)
class _Deliveries:
    """What became of the merged person's outbox rows."""

    moved: int
    same: int
    combined: int
    superseded: int


def _combined_projects(ours: dict[str, Any], theirs: dict[str, Any]) -> list[Any] | None:
    """The kept row's projects, then the merged row's others; None unless both list projects."""
    mine, other = ours.get("projects"), theirs.get("projects")
    if not isinstance(mine, list) or not isinstance(other, list):
        return None
    return mine + [p for p in dict.fromkeys(other) if p not in mine]


def _move_deliveries(session: Session, keep_id: int, merge_id: int) -> _Deliveries:
    """Re-address the merged person's messages; settle those the kept person has a twin of.

    The key (kind, occurrence, recipient) is unique, so a message planned for both cannot be
    moved: the kept person's row is the record (and is sent once). A waiting twin that says
    the same goes; one about other projects (each record's own weekly reminder) adds them to
    the kept row while that is still waiting, so no project's reminder is lost; any other goes,
    and is counted apart. Twins go rather than stay under a number that no longer exists,
    where export and erasure would never find them.
    """
    kept, merged = person_recipient(keep_id), person_recipient(merge_id)
    twin = aliased(Delivery)
    has_twin = exists().where(
        twin.kind == Delivery.kind, twin.occurrence == Delivery.occurrence, twin.recipient == kept
    )
    moved = _run(
        session,
        update(Delivery).where(Delivery.recipient == merged, ~has_twin).values(recipient=kept),
    )
    # Few rows (one person's waiting twins): compared here, as JSON is not comparable in SQL
    # on every database.
    waiting_twins = session.execute(
        select(Delivery.payload, twin.id, twin.status, twin.payload)
        .join(
            twin,
            and_(
                twin.kind == Delivery.kind,
                twin.occurrence == Delivery.occurrence,
                twin.recipient == kept,
            ),
        )
        .where(Delivery.recipient == merged, Delivery.status == PENDING)
        .order_by(Delivery.id)
    ).all()
    same = combined = superseded = 0
    for their_payload, twin_id, twin_status, our_payload in waiting_twins:
        theirs, ours = their_payload or {}, our_payload or {}
        projects = _combined_projects(ours, theirs)
        if theirs == ours or (projects is not None and projects == ours["projects"]):
            same += 1  # the kept row already says all the merged one did
        elif (
            projects is not None
            and twin_status == PENDING
            and _add_projects(session, twin_id, {**ours, "projects": projects})
        ):
            combined += 1
        else:
            superseded += 1
    _run(session, delete(Delivery).where(Delivery.recipient == merged))
    return _Deliveries(moved, same, combined, superseded)


def _add_projects(session: Session, delivery_id: int, payload: dict[str, Any]) -> bool:
    """Give a waiting delivery its combined payload; False if a sender took it meanwhile."""
    # Only while still waiting: a row being sent has been rendered from its old payload.
    return bool(
        _run(
            session,
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.status == PENDING)
            .values(payload=payload),
        )
    )


def _combine_involvement_answers(
    session: Session, keep_id: int, merge_id: int, *, losing: Any
) -> None:
    """Answers of team places that lose to a twin go to the twin: one per place per period.

    Where both places have a row for a period, the answered one stays (the later answer if
    both were answered, the kept record's on a tie): it is what the person last told us.
    """
    losers = set(session.scalars(losing))
    if not losers:
        return
    places = {
        m.id: (m.project_id, m.person_id)
        for m in session.scalars(
            select(Membership).where(
                Membership.person_id.in_((keep_id, merge_id)), Membership.left_at.is_(None)
            )
        )
    }
    twin_of = {
        loser: winner
        for loser in losers
        for winner, (project_id, person_id) in places.items()
        if winner not in losers and project_id == places[loser][0] and person_id != places[loser][1]
    }
    rows = list(
        session.scalars(
            select(InvolvementAnswer).where(
                InvolvementAnswer.membership_id.in_(sorted(losers | set(twin_of.values())))
            )
        )
    )
    by_place_period = {(a.membership_id, a.period): a for a in rows}
    for row in rows:
        winner = twin_of.get(row.membership_id)
        if winner is None:
            continue
        twin = by_place_period.get((winner, row.period))
        if twin is not None and _answer_rank(twin, keep_id) >= _answer_rank(row, keep_id):
            session.delete(row)
            continue
        if twin is not None:
            session.delete(twin)
            session.flush()  # the twin's place in the (membership, period) key is free now
        row.membership_id = winner
        by_place_period[(winner, row.period)] = row
    session.flush()


def _answer_rank(row: InvolvementAnswer, keep_id: int) -> tuple[bool, float, bool]:
    """Which of two rows for one place and period stays: answered, answered later, kept's."""
    when = row.answered_at.timestamp() if row.answered_at else 0.0
    return (row.answer is not None, when, row.person_id == keep_id)


def _combine_people(keep: Person, merged: Person) -> None:
    """The kept record takes what only the merged one knew."""
    keep.email = keep.email or merged.email
    keep.created_at = min(keep.created_at, merged.created_at)
    muted = [m for m in (keep.nudges_muted_at, merged.nudges_muted_at) if m is not None]
    # Asking for no reminders on either account still means no reminders.
    keep.nudges_muted_at = min(muted) if muted else None
    stopped = [
        m
        for m in (keep.involvement_questions_muted_at, merged.involvement_questions_muted_at)
        if m is not None
    ]
    keep.involvement_questions_muted_at = min(stopped) if stopped else None


def move_everything(session: Session, keep: Person, merged: Person, *, now: datetime) -> Moved:
    """Move every row of `merged` to `keep`, settle twins, and delete `merged`.

    The caller has checked `clashes` is empty. Twins: one current membership per project or
    forum (the earlier joined stays), one current admin grant (the later is revoked), one
    answer per meeting and one introduction per project (the more recent stays: it is what
    the person last told us, or where the introduction has got to).
    """
    keep_id, merge_id = keep.id, merged.id
    _combine_people(keep, merged)
    session.flush()
    twins_by_joined = {"prefer": _earlier("joined_at"), "same": "joined_at", "current": "left_at"}
    # Answers hang from team places: those of a place about to be combined move to its twin.
    _combine_involvement_answers(
        session,
        keep_id,
        merge_id,
        losing=select(Membership.id).where(
            _loses_to_twin(Membership, "project_id", keep_id, merge_id, **twins_by_joined)
        ),
    )
    memberships_combined = _run(
        session,
        delete(Membership).where(
            _loses_to_twin(Membership, "project_id", keep_id, merge_id, **twins_by_joined)
        ),
    )
    _combine_forum_signups(session, keep_id, merge_id)
    forum_combined = _run(
        session,
        delete(ForumMember).where(
            _loses_to_twin(ForumMember, "forum_id", keep_id, merge_id, **twins_by_joined)
        ),
    )
    rsvps_combined = _run(
        session,
        delete(Rsvp).where(
            _loses_to_twin(
                Rsvp,
                "meeting_id",
                keep_id,
                merge_id,
                prefer=_later("answered_at"),
                same="answered_at",
            )
        ),
    )
    offers_combined = _run(
        session,
        delete(MatchOffer).where(
            _loses_to_twin(
                MatchOffer,
                "project_id",
                keep_id,
                merge_id,
                prefer=_later("updated_at"),
                same="updated_at",
            )
        ),
    )
    # Admin grants are history of who could do what: the later twin is revoked, not deleted.
    grant = aliased(AdminGrant)
    _run(
        session,
        update(AdminGrant)
        .where(
            AdminGrant.person_id.in_((keep_id, merge_id)),
            AdminGrant.revoked_at.is_(None),
            exists().where(
                grant.person_id.in_((keep_id, merge_id)),
                grant.person_id != AdminGrant.person_id,
                grant.revoked_at.is_(None),
                or_(
                    grant.granted_at < AdminGrant.granted_at,
                    and_(grant.granted_at == AdminGrant.granted_at, grant.person_id == keep_id),
                ),
            ),
        )
        .values(revoked_at=now),
    )
    # One way to reach someone outside chat: the kept record's, if it has one.
    _run(
        session,
        delete(OutsideContact).where(
            OutsideContact.person_id == merge_id,
            exists().where(_kept_contact.person_id == keep_id),
        ),
    )
    _move(session, OutsideContact, keep_id, merge_id)
    counts = {
        "memberships": _move(session, Membership, keep_id, merge_id),
        "forum_signups": _move(session, ForumMember, keep_id, merge_id),
        "rsvps": _move(session, Rsvp, keep_id, merge_id),
        "admin_grants": _move(session, AdminGrant, keep_id, merge_id),
        "match_offers": _move(session, MatchOffer, keep_id, merge_id),
    }
    _move(session, InvolvementAnswer, keep_id, merge_id)
    reassigned = {
        f"{column.table.name}.{column.name}": _run(
            session,
            update(column.table).where(column == merge_id).values({column.name: keep_id}),
        )
        for column in REASSIGNED
    }
    # Before the outbox rows are compared: a twin naming the merged number names the kept one.
    replace_person_in_payloads(session, merge_id, keep_id)
    deliveries = _move_deliveries(session, keep_id, merge_id)
    session.expunge(merged)
    _run(session, delete(Person).where(Person.id == merge_id))
    # Everything loaded before now may be stale: read it afresh when next asked.
    session.expire_all()
    return Moved(
        identities=reassigned["chat_identities.person_id"],
        memberships_combined=memberships_combined,
        forum_signups_combined=forum_combined,
        rsvps_combined=rsvps_combined,
        match_offers_combined=offers_combined,
        projects_led=reassigned["projects.lead_person_id"],
        deliveries=deliveries.moved,
        deliveries_withdrawn=deliveries.same,
        deliveries_combined=deliveries.combined,
        deliveries_superseded=deliveries.superseded,
        **counts,
    )
