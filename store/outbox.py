"""The outbox: messages the bot sends on its own initiative, each exactly once.

A delivery is planned as a row with a unique key (kind, occurrence, recipient), claimed before it
is sent and marked sent afterwards. Planning twice finds the row; claiming is atomic, so two
senders never take the same row; a claim left behind by a crash is taken again after a lease,
marked as uncertain so that the sender first looks on the platform for the message it may
already have posted. Where a post was started and nothing proved the platform refused it, the row
keeps when and where (`post_started_at`, `platform`, `channel_id`): on a platform that cannot be
asked what it received, the message is then taken as sent rather than risk sending it twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    String,
    and_,
    case,
    cast,
    event,
    exists,
    func,
    literal,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import Session, SessionTransaction, aliased, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from store import contacts
from store.models import ChatIdentity, Delivery, OutsideContact
from store.upsert import insert_for

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
WITHDRAWN = "withdrawn"

# A send takes seconds at most (client timeouts and retries included); a claim older than this
# belongs to a sender that died, and its row is taken again.
CLAIM_LEASE = timedelta(minutes=5)
ERROR_MAX = 300


def person_recipient(person_id: int) -> str:
    """The recipient key for a direct message to a person."""
    return f"person:{person_id}"


def channel_recipient(channel: str) -> str:
    """The recipient key for a post in a channel given as "<platform>:<channel id>"."""
    return f"channel:{channel}"


def recipient_person_id(recipient: str) -> int | None:
    """The person a recipient key names, or None for a channel."""
    kind, _, rest = recipient.partition(":")
    return int(rest) if kind == "person" and rest.isdigit() else None


def split_channel(channel: str) -> tuple[str, str] | None:
    """(platform, channel id) of a channel given as "<platform>:<channel id>"; None if not so."""
    platform, _, channel_id = channel.partition(":")
    return (platform, channel_id) if platform and channel_id else None


def recipient_channel(recipient: str) -> tuple[str, str] | None:
    """(platform, channel id) for a channel recipient key, or None for a person."""
    kind, _, rest = recipient.partition(":")
    return split_channel(rest) if kind == "channel" else None


@dataclass(frozen=True)
class Planned:
    """A message to send once: its key, the ids it is about, and when it is due (None: now)."""

    kind: str
    occurrence: str
    recipient: str
    payload: dict[str, Any] = field(default_factory=dict)
    due_at: datetime | None = None


@dataclass(frozen=True)
class Claimed:
    """A delivery taken by one sender; `uncertain` if an earlier claim may have sent it.

    `post_started_at` is set if an earlier attempt began posting it, to `platform` and
    `channel_id`, and nothing proved the platform refused: it may be there already.
    `sent` is set for a message already posted, drawn again to edit it in place.
    """

    id: int
    kind: str
    occurrence: str
    recipient: str
    payload: dict[str, Any]
    attempts: int
    uncertain: bool
    post_started_at: datetime | None = None
    platform: str | None = None
    channel_id: str | None = None
    sent: bool = False
    planned_at: datetime | None = None


@dataclass(frozen=True)
class Elsewhere:
    """Platforms not set up in this process: their deliveries stay queued for one that is.

    A channel, or a post already started, on one of `platforms` is theirs; so is a person who
    is on one of them and on none of `unless_on` (the platforms this process really sends on).
    """

    platforms: tuple[str, ...]
    unless_on: tuple[str, ...] = ()


def as_claimed(row: Any, *, uncertain: bool = False) -> Claimed:
    """A delivery row (or a row of its columns) as the sender works with it."""
    return Claimed(
        id=row.id,
        kind=row.kind,
        occurrence=row.occurrence,
        recipient=row.recipient,
        payload=row.payload or {},
        attempts=row.attempts,
        uncertain=uncertain,
        post_started_at=row.post_started_at,
        platform=row.platform,
        channel_id=row.channel_id,
        sent=row.status == SENT,
        planned_at=getattr(row, "created_at", None),
    )


def plan(session: Session, planned: Sequence[Planned], *, now: datetime) -> int:
    """Add deliveries that are not planned yet (one statement); how many were new."""
    if not planned:
        return 0
    rows = [
        {
            "kind": p.kind,
            "occurrence": p.occurrence,
            "recipient": p.recipient,
            "payload": p.payload,
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": p.due_at or now,
            "created_at": now,
        }
        for p in planned
    ]
    statement = (
        insert_for(session, Delivery.__table__)
        .on_conflict_do_nothing(index_elements=["kind", "occurrence", "recipient"])
        .returning(Delivery.__table__.c.id)
    )
    new = len(session.connection().execute(statement, rows).all())
    if new:
        session.info[_PLANNED] = True  # its commit wakes the sender (see when_planned)
    return new


def plan_message_to(
    session: Session,
    person_id: int,
    kind: str,
    occurrence: str,
    payload: dict[str, Any],
    *,
    now: datetime,
    due_at: datetime | None = None,
) -> bool:
    """Plan one direct message to a person (sent at `due_at`, or now); False if planned already."""
    planned = Planned(kind, occurrence, person_recipient(person_id), payload, due_at)
    return plan(session, [planned], now=now) == 1


# Set in a session's info by `plan` when it added a delivery; read (and cleared) at its end.
_PLANNED = "qi_nudge_outbox_planned"


def when_planned(sessions: sessionmaker[Session], wake: Callable[[], None]) -> Callable[[], None]:
    """Call `wake` after each commit of these sessions that planned a delivery; an undo.

    The sender is woken by what planned something, not by every request: a read, or a join
    that tells nobody, costs it nothing.
    """

    def after_commit(session: Session) -> None:
        if session.info.pop(_PLANNED, False):
            wake()

    def after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
        if transaction.parent is None:  # rolled back (a commit has cleared it already)
            session.info.pop(_PLANNED, None)

    event.listen(sessions, "after_commit", after_commit)
    event.listen(sessions, "after_transaction_end", after_transaction_end)

    def undo() -> None:
        event.remove(sessions, "after_commit", after_commit)
        event.remove(sessions, "after_transaction_end", after_transaction_end)

    return undo


def _meant_for(elsewhere: Elsewhere) -> ColumnElement[bool]:
    """Deliveries that only a process set up on `elsewhere.platforms` can send (see Elsewhere)."""
    platforms = list(elsewhere.platforms)

    def on(platform_list: list[str]) -> ColumnElement[bool]:
        # The recipient key of a person is "person:<id>": compared as text, never cast.
        chat = exists().where(
            ChatIdentity.platform.in_(platform_list),
            literal("person:") + cast(ChatIdentity.person_id, String) == Delivery.recipient,
        )
        # E-mail and text are "platforms" too: a person with a way to be reached there is on it.
        methods = [p for p in platform_list if p in contacts.METHODS]
        if not methods:
            return chat
        outside = exists().where(
            OutsideContact.method.in_(methods),
            OutsideContact.stopped_at.is_(None),
            literal("person:") + cast(OutsideContact.person_id, String) == Delivery.recipient,
        )
        return or_(chat, outside)

    person = and_(Delivery.recipient.startswith("person:"), on(platforms))
    if elsewhere.unless_on:
        person = and_(person, ~on(list(elsewhere.unless_on)))
    return or_(
        *(Delivery.recipient.startswith(f"channel:{p}:", autoescape=True) for p in platforms),
        and_(Delivery.post_started_at.is_not(None), Delivery.platform.in_(platforms)),
        person,
    )


def claim_due(
    session: Session,
    *,
    now: datetime,
    limit: int = 50,
    lease: timedelta = CLAIM_LEASE,
    elsewhere: Elsewhere | None = None,
    skip: Iterable[int] = (),
) -> list[Claimed]:
    """Take up to `limit` due deliveries for this sender, oldest first.

    A claim older than `lease` is due again: its sender died (or is far slower than any send).
    `elsewhere`: deliveries for platforms not set up here are left alone, unclaimed; so are
    the ones in `skip` (found, once claimed, to be for such a platform).
    """
    stale = now - lease
    query = (
        select(Delivery.id, Delivery.status)
        .where(
            or_(
                and_(Delivery.status == PENDING, Delivery.next_attempt_at <= now),
                and_(Delivery.status == SENDING, Delivery.claimed_at < stale),
            )
        )
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(limit)
    )
    if elsewhere is not None and elsewhere.platforms:
        query = query.where(~_meant_for(elsewhere))
    if skipped := sorted(skip):
        query = query.where(Delivery.id.not_in(skipped))
    if session.get_bind().dialect.name == "postgresql":
        # Replicas claim side by side without waiting on each other's rows.
        query = query.with_for_update(skip_locked=True)
    # (SQLite: BEGIN IMMEDIATE already makes this transaction the only writer.)
    found = session.execute(query).all()
    if not found:
        return []
    was_sending = {row.id for row in found if row.status == SENDING}
    claimed = session.execute(
        update(Delivery.__table__)
        .where(Delivery.__table__.c.id.in_([row.id for row in found]))
        .values(status=SENDING, claimed_at=now, attempts=Delivery.__table__.c.attempts + 1)
        .returning(
            Delivery.__table__.c.id,
            Delivery.__table__.c.kind,
            Delivery.__table__.c.occurrence,
            Delivery.__table__.c.recipient,
            Delivery.__table__.c.payload,
            Delivery.__table__.c.attempts,
            # Loaded with the claim: whether to post again is decided without another query.
            Delivery.__table__.c.post_started_at,
            Delivery.__table__.c.platform,
            Delivery.__table__.c.channel_id,
            Delivery.__table__.c.status,
            Delivery.__table__.c.created_at,
        )
    ).all()
    result = [as_claimed(row, uncertain=row.id in was_sending) for row in claimed]
    return sorted(result, key=lambda c: c.id)


def next_due(
    session: Session,
    *,
    now: datetime,
    lease: timedelta = CLAIM_LEASE,
    elsewhere: Elsewhere | None = None,
    skip: Iterable[int] = (),
) -> datetime | None:
    """When `claim_due` will next find something to claim (one query); None if nothing waits.

    The first pending row's next attempt, or the first claim's lease running out (its sender
    died), whichever comes first; with the same exclusions as `claim_due`.
    """
    excluded: list[ColumnElement[bool]] = []
    if elsewhere is not None and elsewhere.platforms:
        excluded.append(~_meant_for(elsewhere))
    if skipped := sorted(skip):
        excluded.append(Delivery.id.not_in(skipped))
    # Each an index range scan (status, next_attempt_at) stopped at its first row.
    pending = (
        select(Delivery.next_attempt_at)
        .where(Delivery.status == PENDING, *excluded)
        .order_by(Delivery.next_attempt_at)
        .limit(1)
        .scalar_subquery()
    )
    claimed = (
        select(Delivery.claimed_at)
        .where(Delivery.status == SENDING, *excluded)
        .order_by(Delivery.claimed_at)
        .limit(1)
        .scalar_subquery()
    )
    first_pending, first_claim = session.execute(select(pending, claimed)).one()
    times = [_aware(first_pending)] if first_pending is not None else []
    if first_claim is not None:
        times.append(_aware(first_claim) + lease)
    return min(times, default=None)


def renew_claim(
    session: Session,
    delivery_id: int,
    *,
    attempts: int,
    now: datetime,
    platform: str,
    channel_id: str,
) -> bool:
    """Restart our claim's lease (the claim that made `attempts`) just before posting.

    Also notes that a post to `platform`/`channel_id` starts now: committed before the post, so
    if its answer never comes the next attempt knows the message may be there. False if the row
    was taken over (then do not post).
    """
    table = Delivery.__table__
    result = session.execute(
        update(table)
        .where(table.c.id == delivery_id, table.c.status == SENDING, table.c.attempts == attempts)
        .values(claimed_at=now, post_started_at=now, platform=platform, channel_id=channel_id)
    )
    return result.rowcount == 1


# A post the platform is known to have refused (it answered with an error) left nothing behind.
_NO_POST_STARTED = {"post_started_at": None, "platform": None, "channel_id": None}


def put_back(
    session: Session,
    delivery_id: int,
    *,
    attempts: int,
    at: datetime,
    error: str,
    post_refused: bool = False,
) -> bool:
    """Return our claim (the one that made `attempts`) unused: due again at `at`, uncounted.

    For a send that never reached the platform (it refused for its rate limit, or we waited
    it out): the claim's attempt is taken back. `post_refused`: this claim's post was refused,
    so no post is in doubt any more. False if another sender took the row over.
    """
    table = Delivery.__table__
    result = session.execute(
        update(table)
        .where(table.c.id == delivery_id, table.c.status == SENDING, table.c.attempts == attempts)
        .values(
            status=PENDING,
            next_attempt_at=at,
            attempts=attempts - 1,
            error=error[:ERROR_MAX],
            **(_NO_POST_STARTED if post_refused else {}),
        )
    )
    return result.rowcount == 1


def put_back_many(
    session: Session, claims: Sequence[tuple[int, int]], *, at: datetime, error: str
) -> int:
    """`put_back` for several claims at once, given as (id, attempts) (one statement).

    For claims not yet tried when a platform's rate limit began: nothing was posted, and a
    post in doubt from an earlier attempt stays so. How many were still ours.
    """
    if not claims:
        return 0
    table = Delivery.__table__
    result = session.execute(
        update(table)
        .where(tuple_(table.c.id, table.c.attempts).in_(list(claims)), table.c.status == SENDING)
        .values(
            status=PENDING,
            next_attempt_at=at,
            attempts=table.c.attempts - 1,
            error=error[:ERROR_MAX],
        )
    )
    return result.rowcount or 0


def rate_limited_since(session: Session, delivery_id: int, *, now: datetime) -> datetime | None:
    """Since when the platform has refused this delivery for its rate limit (from `now` if new).

    Counted from the first refusal, not from when it was planned: a message planned before
    the bot was down for a day has not been refused for a day (None: no such delivery).
    """
    table = Delivery.__table__
    return session.scalar(
        update(table)
        .where(table.c.id == delivery_id)
        # The first refusal's time stays; `now` is typed as the column, stored as it stores.
        .values(
            rate_limited_since=func.coalesce(
                table.c.rate_limited_since, literal(now, table.c.rate_limited_since.type)
            )
        )
        .returning(table.c.rate_limited_since)
    )


def mark_sent(
    session: Session,
    delivery_id: int,
    *,
    now: datetime,
    platform: str,
    channel_id: str,
    message_ts: str | None,
    claim: int | None = None,
    note: str | None = None,
) -> bool:
    """Record that the message is out, and where it is (to edit it later).

    `note` qualifies it for admins (an unconfirmed send); it is kept where errors are.
    """
    return _set(
        session,
        delivery_id,
        claim,
        status=SENT,
        sent_at=now,
        platform=platform,
        channel_id=channel_id,
        message_ts=message_ts,
        error=note[:ERROR_MAX] if note else None,
    )


def mark_retry(
    session: Session,
    delivery_id: int,
    *,
    at: datetime,
    error: str,
    claim: int | None = None,
    post_refused: bool = False,
) -> bool:
    """Put the delivery back to be tried again at `at` (`post_refused`: see `put_back`)."""
    return _set(
        session,
        delivery_id,
        claim,
        status=PENDING,
        next_attempt_at=at,
        error=error[:ERROR_MAX],
        **(_NO_POST_STARTED if post_refused else {}),
    )


def mark_failed(
    session: Session, delivery_id: int, *, error: str, claim: int | None = None
) -> bool:
    """Give up on the delivery, saying why (admins see it in `qi-nudge deliveries --failed`)."""
    return _set(session, delivery_id, claim, status=FAILED, error=error[:ERROR_MAX])


def mark_withdrawn(
    session: Session, delivery_id: int, *, reason: str, claim: int | None = None
) -> bool:
    """Drop a delivery that is no longer needed (the project found a partner, say)."""
    return _set(session, delivery_id, claim, status=WITHDRAWN, error=reason[:ERROR_MAX])


def withdraw_pending(
    session: Session,
    *,
    kinds: Iterable[str],
    occurrence_prefix: str,
    keep: str | None = None,
    reason: str = "no longer needed",
) -> int:
    """Withdraw what is still waiting to go for these kinds and occurrences; how many.

    `keep`: an occurrence under the prefix that stays (the one that replaces the others).
    """
    statement = update(Delivery).where(
        Delivery.kind.in_(list(kinds)),
        Delivery.occurrence.startswith(occurrence_prefix, autoescape=True),
        Delivery.status == PENDING,
    )
    if keep is not None:
        statement = statement.where(Delivery.occurrence != keep)
    result = session.execute(statement.values(status=WITHDRAWN, error=reason[:ERROR_MAX]))
    return result.rowcount or 0


def restore_withdrawn(
    session: Session, *, kinds: Iterable[str], occurrence_prefix: str, reason: str, now: datetime
) -> int:
    """Put back to wait for sending what was withdrawn for exactly `reason`; how many.

    For an undone change (a meeting un-cancelled): only what that change withdrew comes back,
    not what was withdrawn for another reason (a later announcement that replaced it).
    """
    result = session.execute(
        update(Delivery)
        .where(
            Delivery.kind.in_(list(kinds)),
            Delivery.occurrence.startswith(occurrence_prefix, autoescape=True),
            Delivery.status == WITHDRAWN,
            Delivery.error == reason[:ERROR_MAX],
        )
        .values(status=PENDING, error=None, next_attempt_at=now)
    )
    restored = result.rowcount or 0
    if restored:
        session.info[_PLANNED] = True  # its commit wakes the sender, as a new plan does
    return restored


def gone_out(session: Session, *, kind: str, occurrences: Iterable[str]) -> list[tuple[str, str]]:
    """(occurrence, recipient) of these messages that went out or were tried: not waiting."""
    rows = session.execute(
        select(Delivery.occurrence, Delivery.recipient)
        .where(
            Delivery.kind == kind,
            Delivery.occurrence.in_(list(occurrences)),
            Delivery.status.not_in((PENDING, WITHDRAWN)),
        )
        .order_by(Delivery.id)
    )
    return [(occurrence, recipient) for occurrence, recipient in rows]


def withdraw_waiting(
    session: Session, *, kind: str, occurrences: Iterable[str], reason: str
) -> int:
    """Withdraw these messages (by exact occurrence) that are still waiting to go; how many."""
    result = session.execute(
        update(Delivery)
        .where(
            Delivery.kind == kind,
            Delivery.occurrence.in_(list(occurrences)),
            Delivery.status == PENDING,
        )
        .values(status=WITHDRAWN, error=reason[:ERROR_MAX])
    )
    return result.rowcount or 0


def redirect_pending(
    session: Session, recipient: str, *, kinds: Iterable[str], to: str | None
) -> int:
    """What is still waiting to go to `recipient`, of these kinds, goes to `to` instead.

    Two statements. A row whose post may already be at the old recipient, or that `to` already
    has, is withdrawn instead, as is everything when `to` is None. How many were moved.
    """
    if to == recipient:
        return 0
    waiting = (
        Delivery.kind.in_(list(kinds)),
        Delivery.recipient == recipient,
        Delivery.status == PENDING,
    )
    moved = 0
    if to is not None:
        twin = aliased(Delivery)
        result = session.execute(
            update(Delivery)
            .where(
                *waiting,
                Delivery.post_started_at.is_(None),
                ~exists().where(
                    twin.kind == Delivery.kind,
                    twin.occurrence == Delivery.occurrence,
                    twin.recipient == to,
                ),
            )
            .values(recipient=to, error=None)
        )
        moved = result.rowcount or 0
    session.execute(
        update(Delivery)
        .where(*waiting)
        .values(status=WITHDRAWN, error="its channel changed before it could be posted")
    )
    return moved


def last_sent_id(session: Session, recipient: str) -> int:
    """The latest delivery that reached this recipient (its id; 0 if none ever did)."""
    return (
        session.scalar(
            select(func.max(Delivery.id)).where(
                Delivery.recipient == recipient, Delivery.status == SENT
            )
        )
        or 0
    )


def planned_at(session: Session, delivery_id: int) -> datetime | None:
    """When the delivery was planned (None: no such delivery)."""
    return session.scalar(select(Delivery.created_at).where(Delivery.id == delivery_id))


def sent_messages(session: Session, *, occurrence_prefix: str, platform: str) -> list[Delivery]:
    """Channel posts already made on a platform under these occurrences (to edit in place)."""
    return list(
        session.scalars(
            select(Delivery)
            .where(
                Delivery.occurrence.startswith(occurrence_prefix, autoescape=True),
                Delivery.recipient.startswith("channel:"),
                Delivery.platform == platform,
                Delivery.status == SENT,
                Delivery.message_ts.is_not(None),
            )
            .order_by(Delivery.id)
        )
    )


def deliveries(session: Session, *, status: str | None = None, limit: int = 200) -> list[Delivery]:
    """The latest deliveries, optionally of one status, newest first."""
    query = select(Delivery).order_by(Delivery.id.desc()).limit(limit)
    if status is not None:
        query = query.where(Delivery.status == status)
    return list(session.scalars(query))


# What holds back a delivery that is still to go (see `waiting`).
CLAIMED = "claimed"  # another process (maybe one that died) took it and has not finished
SCHEDULED = "scheduled"  # not tried yet, planned for later (a lead's news at the hour's end)
RETRY = "retry"  # tried and put back: it goes again at its next attempt
DUE = "due"  # due now, and free for any sender to take
ELSEWHERE = "elsewhere"  # for a platform not set up in this process (see Elsewhere)


@dataclass(frozen=True)
class Waiting:
    """Deliveries still to go for one reason: how many, and when the first and last may go.

    Also when the oldest was planned, and (for ELSEWHERE) which platforms they wait for.
    """

    count: int
    first: datetime
    last: datetime
    planned_first: datetime | None = field(default=None, compare=False)
    platforms: tuple[str, ...] = field(default=(), compare=False)


def waiting(
    session: Session,
    *,
    now: datetime,
    lease: timedelta = CLAIM_LEASE,
    elsewhere: Elsewhere | None = None,
    left: Sequence[int] = (),
) -> dict[str, Waiting]:
    """Deliveries not yet out, however long ago planned, by what holds them (one query).

    A claimed delivery may go when its claim's lease runs out (if its sender died meanwhile);
    one put back for a retry goes at its next attempt. Keyed by CLAIMED, RETRY, DUE, ELSEWHERE.
    `left`: deliveries this process gave back, unsent, for a process set up on a platform of
    `elsewhere` (their recipient is on it, and cannot be reached here): ELSEWHERE too.
    """
    stale = now - lease
    holds: list[tuple[ColumnElement[bool], str]] = []
    for_elsewhere: list[ColumnElement[bool]] = []
    if elsewhere is not None and elsewhere.platforms:
        for_elsewhere.append(_meant_for(elsewhere))
        if left:
            for_elsewhere.append(Delivery.id.in_(sorted(left)))
        holds.append((or_(*for_elsewhere), ELSEWHERE))
    later = and_(Delivery.status == PENDING, Delivery.next_attempt_at > now)
    holds += [
        (and_(Delivery.status == SENDING, Delivery.claimed_at >= stale), CLAIMED),
        (and_(later, Delivery.attempts == 0, Delivery.error.is_(None)), SCHEDULED),
        (later, RETRY),
    ]
    reason = case(*holds, else_=literal(DUE)).label("reason")
    goes_at = case(
        (Delivery.status == SENDING, Delivery.claimed_at), else_=Delivery.next_attempt_at
    )
    # Whatever its date: a message stuck since last week is still a message not sent.
    rows = session.execute(
        select(
            reason,
            func.count(),
            func.min(goes_at),
            func.max(goes_at),
            func.min(Delivery.created_at),
        )
        .where(Delivery.status.in_([PENDING, SENDING]))
        .group_by(reason)
    ).all()
    found: dict[str, Waiting] = {}
    for why, count, first, last, planned_first in rows:
        # A claim is free to be taken again once its lease is over.
        shift = lease if why == CLAIMED else timedelta(0)
        platforms = (
            _platforms_waited_for(session, elsewhere, left)
            if why == ELSEWHERE and elsewhere
            else ()
        )
        found[why] = Waiting(
            count,
            max(_aware(first) + shift, now),
            max(_aware(last) + shift, now),
            _aware(planned_first),
            platforms,
        )
    return found


def _aware(moment: datetime) -> datetime:
    """A time read back from SQLite (which keeps no zone) as UTC, like PostgreSQL's."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _platforms_waited_for(
    session: Session, elsewhere: Elsewhere, left: Sequence[int]
) -> tuple[str, ...]:
    """Of the platforms not set up here, the ones some delivery still to go is waiting for."""
    if len(elsewhere.platforms) == 1:
        return elsewhere.platforms
    concerned = []
    for platform in elsewhere.platforms:
        one = Elsewhere(platforms=(platform,), unless_on=elsewhere.unless_on)
        theirs = _meant_for(one)
        if left:
            theirs = or_(
                theirs, and_(Delivery.id.in_(sorted(left)), _meant_for(Elsewhere((platform,))))
            )
        if session.scalar(
            select(Delivery.id).where(Delivery.status.in_([PENDING, SENDING]), theirs).limit(1)
        ):
            concerned.append(platform)
    return tuple(concerned) or elsewhere.platforms


def for_a_platform_not_here(session: Session, delivery_id: int, elsewhere: Elsewhere) -> bool:
    """Whether the delivery's channel, or its recipient, is on a platform of `elsewhere`."""
    anywhere = Elsewhere(platforms=elsewhere.platforms)  # even if also on one set up here
    return bool(
        elsewhere.platforms
        and session.scalar(
            select(Delivery.id).where(Delivery.id == delivery_id, _meant_for(anywhere))
        )
    )


def give_back(session: Session, delivery_id: int, *, attempts: int) -> bool:
    """Undo our claim (the one that made `attempts`): the row is as it was before we took it."""
    table = Delivery.__table__
    result = session.execute(
        update(table)
        .where(table.c.id == delivery_id, table.c.status == SENDING, table.c.attempts == attempts)
        .values(status=PENDING, attempts=attempts - 1, claimed_at=None)
    )
    return result.rowcount == 1


def counts_by_status(session: Session) -> dict[str, int]:
    """How many deliveries there are in each status."""
    rows = session.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
    return {status: count for status, count in rows}


def _set(session: Session, delivery_id: int, claim: int | None, **values: Any) -> bool:
    """Update one delivery; with `claim` (the attempt that claimed it), only if still ours.

    A sender slower than its lease may find its row taken over: its result must not overwrite
    the other sender's (which looks on the platform first, so nothing is posted twice).
    """
    table = Delivery.__table__
    statement = update(table).where(table.c.id == delivery_id)
    if claim is not None:
        statement = statement.where(table.c.status == SENDING, table.c.attempts == claim)
    return session.execute(statement.values(**values)).rowcount == 1


# How late a message due to go may be before it counts as overdue: the sender looks every few
# seconds and the scheduler every minute, so a quarter of an hour means nothing is sending.
OVERDUE_AFTER = timedelta(minutes=15)
# Failed messages this recent count as a problem; older ones are history (`deliveries --failed`).
FAILED_RECENTLY = timedelta(days=7)


@dataclass(frozen=True)
class DeliveryProblems:
    """What is wrong with the outbox now: what failed lately, what is retrying, what is late."""

    failed: int  # given up on, planned within FAILED_RECENTLY
    retrying: int  # waiting to be tried again after an error
    overdue: int  # due more than OVERDUE_AFTER ago and not sent (or claimed by a dead sender)
    oldest_due: datetime | None  # when the longest-overdue one was due

    @property
    def any(self) -> bool:
        """Whether anything is failing or overdue."""
        return bool(self.failed or self.retrying or self.overdue)


def delivery_problems(
    session: Session, now: datetime, *, lease: timedelta = CLAIM_LEASE
) -> DeliveryProblems:
    """Failing and overdue deliveries, counted in one query (no row is loaded)."""
    late = now - OVERDUE_AFTER
    overdue = or_(
        and_(Delivery.status == PENDING, Delivery.next_attempt_at < late),
        # A claim older than its lease belongs to a dead sender; by now another should have it.
        and_(Delivery.status == SENDING, Delivery.claimed_at < late - lease),
    )
    failed = and_(Delivery.status == FAILED, Delivery.created_at >= now - FAILED_RECENTLY)
    retrying = and_(Delivery.status == PENDING, Delivery.error.is_not(None))
    row = session.execute(
        select(
            func.count().filter(failed),
            func.count().filter(retrying),
            func.count().filter(overdue),
            func.min(Delivery.next_attempt_at).filter(overdue),
        ).where(Delivery.status.in_([PENDING, SENDING, FAILED]))
    ).one()
    return DeliveryProblems(
        failed=row[0] or 0, retrying=row[1] or 0, overdue=row[2] or 0, oldest_due=row[3]
    )
