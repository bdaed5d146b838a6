"""The scheduler's lease and the overdue count, as `qi-nudge check` and /healthz read them."""

from __future__ import annotations

from datetime import timedelta

from store import leadership, outbox

TTL = timedelta(seconds=150)


def test_nobody_leads_until_a_replica_takes_the_lease(sessions, clock):
    with sessions.begin() as session:
        assert leadership.current_leader(session, clock()) is None
        assert leadership.last_lease(session) is None


def test_the_leader_is_named_with_since_when_until_its_lease_runs_out(sessions, clock):
    started = clock()
    with sessions.begin() as session:
        leadership.record_sole(session, holder="web-1:7", now=started, ttl=TTL)
    clock.advance(seconds=60)
    with sessions.begin() as session:
        leadership.record_sole(session, holder="web-1:7", now=clock(), ttl=TTL)

    with sessions.begin() as session:
        leader = leadership.current_leader(session, clock())
    assert leader is not None
    assert (leader.name, leader.since, leader.renewed_at) == ("web-1:7", started, clock())

    clock.advance(seconds=151)
    with sessions.begin() as session:
        assert leadership.current_leader(session, clock()) is None
        assert leadership.last_lease(session).name == "web-1:7"  # who led last, for the logs


def test_only_the_holder_renews_and_stepping_down_ends_the_lease_at_once(sessions, clock):
    with sessions.begin() as session:
        leadership.record_sole(session, holder="web-1:7", token="a" * 32, now=clock(), ttl=TTL)
        assert not leadership.renew(session, token="b" * 32, now=clock(), ttl=TTL)
        leadership.step_down(session, token="b" * 32, now=clock())  # not its lease to end
        assert leadership.current_leader(session, clock()) is not None
        leadership.step_down(session, token="a" * 32, now=clock())
        assert leadership.current_leader(session, clock()) is None


def test_deliveries_unsent_long_after_they_were_due_are_overdue(sessions, clock):
    now = clock()
    due = [outbox.Planned("nudge", "2026-W48", outbox.person_recipient(n), {}) for n in range(4)]
    with sessions.begin() as session:
        outbox.plan(session, due[:3], now=now - timedelta(hours=2))
        outbox.plan(session, due[3:], now=now - timedelta(minutes=5))  # due, not overdue yet
        found = outbox.delivery_problems(session, now)
        assert (found.overdue, found.oldest_due) == (3, now - timedelta(hours=2))
        # One is sent, one is being sent (not overdue until its claim outlives the lease), one
        # failed for good (counted as failed, not overdue).
        sent, sending, failed = outbox.claim_due(session, now=now, limit=3)
        outbox.mark_sent(
            session,
            sent.id,
            now=now,
            platform="slack",
            channel_id="D1",
            message_ts="1.1",
            claim=sent.attempts,
        )
        outbox.mark_failed(session, failed.id, error="gone", claim=failed.attempts)

        found = outbox.delivery_problems(session, now)
        assert (found.overdue, found.failed) == (0, 1)
        assert sending.id not in (sent.id, failed.id)
        later = now + outbox.CLAIM_LEASE + outbox.OVERDUE_AFTER + timedelta(minutes=1)
        # By then its sender has died, and the one planned five minutes ago is late too.
        assert outbox.delivery_problems(session, later).overdue == 2


def test_nothing_overdue_says_so(sessions, clock):
    with sessions.begin() as session:
        found = outbox.delivery_problems(session, clock())
        assert (found.overdue, found.oldest_due, found.any) == (0, None, False)
