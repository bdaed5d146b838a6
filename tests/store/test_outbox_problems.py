"""delivery_problems: what `qi-nudge check` says about the outbox, counted by one query."""

from datetime import timedelta

from sqlalchemy import update

from store import outbox
from store.models import Delivery
from store.outbox import CLAIM_LEASE, OVERDUE_AFTER, Planned, delivery_problems


def plan(session, now, *people):
    """One delivery to each person number, due `now`; their ids, in that order."""
    planned = [Planned("nudge", "2026-W48", outbox.person_recipient(n)) for n in people]
    outbox.plan(session, planned, now=now)
    return [row.id for row in reversed(outbox.deliveries(session))]


def test_a_quiet_outbox_has_no_problems(sessions, clock):
    with sessions.begin() as session:
        (sent,) = plan(session, clock(), 1)
        outbox.mark_sent(
            session, sent, now=clock(), platform="slack", channel_id="D1", message_ts="1.0"
        )
        plan(session, clock(), 2)  # due now: not late yet

        found = delivery_problems(session, clock() + OVERDUE_AFTER - timedelta(seconds=1))

    assert not found.any
    assert (found.failed, found.retrying, found.overdue) == (0, 0, 0)


def test_overdue_retrying_and_recently_failed_deliveries_are_counted(sessions, clock):
    due = clock()
    with sessions.begin() as session:
        _, claimed, retrying, failed, old_failed = plan(session, due, 1, 2, 3, 4, 5)
        outbox.mark_retry(session, retrying, at=due + timedelta(days=1), error="not_in_channel")
        outbox.mark_failed(session, failed, error="user_not_found")
        # A sender claimed one and died; another failed a month ago.
        session.execute(
            update(Delivery)
            .where(Delivery.id == claimed)
            .values(status=outbox.SENDING, claimed_at=due)
        )
        session.execute(
            update(Delivery)
            .where(Delivery.id == old_failed)
            .values(status=outbox.FAILED, created_at=due - timedelta(days=30))
        )
        now = due + CLAIM_LEASE + OVERDUE_AFTER + timedelta(minutes=1)

        found = delivery_problems(session, now)

    assert found.any
    assert found.overdue == 2  # the one never sent, and the one its dead sender left claimed
    assert found.oldest_due == due
    assert found.retrying == 1
    assert found.failed == 1  # the one that failed a month ago is history
