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
        leadership.record_sole(session, holder="web-1:7", now=clock(), ttl=TTL)
        assert not leadership.renew(session, holder="web-2:9", now=clock(), ttl=TTL)
        leadership.step_down(session, holder="web-1:7", now=clock())
        assert leadership.current_leader(session, clock()) is None


def test_deliveries_unsent_long_after_they_were_due_are_overdue(sessions, clock):
    now = clock()
    due = [outbox.Planned("nudge", "2026-W48", outbox.person_recipient(n), {}) for n in range(4)]
    with sessions.begin() as session:
        outbox.plan(session, due[:3], now=now - timedelta(hours=2))
        outbox.plan(session, due[3:], now=now - timedelta(minutes=5))  # due, not overdue yet
        assert outbox.overdue_deliveries(session, now) == (3, now - timedelta(hours=2))
        # One is sent, one is being sent (still overdue), one failed for good (told elsewhere).
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

        assert outbox.overdue_deliveries(session, now) == (1, now - timedelta(hours=2))
        assert sending.id not in (sent.id, failed.id)


def test_nothing_overdue_says_so(sessions, clock):
    with sessions.begin() as session:
        assert outbox.overdue_deliveries(session, clock()) == (0, None)
