"""The after-ack pool: bounded under a flood, answers owed to people first, nothing raised."""

import logging
import threading

from bot.slack.worker import AfterAck


def blocked_pool(**bounds):
    """A pool whose tasks all wait for `release`, so work piles up as under a flood."""
    release = threading.Event()
    pool = AfterAck(workers=2, name="test-after-ack", **bounds)
    return pool, release


def test_under_a_flood_pending_work_never_exceeds_the_bound_and_nothing_raises(caplog):
    pool, release = blocked_pool(limit=8, essential_room=2)
    seen: list[int] = []
    ran: list[int] = []
    lock = threading.Lock()

    def flood() -> None:
        for i in range(50):
            pool.submit("image", lambda i=i: release.wait(10) and ran.append(i))
            with lock:
                seen.append(pool.pending())

    with caplog.at_level(logging.WARNING, logger="bot.slack.worker"):
        threads = [threading.Thread(target=flood) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    release.set()
    pool.drain()
    pool.close()

    assert max(seen) <= 8  # ordinary work stops at the limit
    assert len(ran) == 8 and pool.dropped == 192
    assert "dropped: image" in caplog.text


def test_the_answer_a_person_is_owed_still_gets_room_when_charts_fill_the_pool():
    pool, release = blocked_pool(limit=4, essential_room=2)
    answered: list[str] = []
    for _ in range(10):
        pool.submit("image", lambda: release.wait(10))
    answer = pool.submit("respond", lambda: answered.append("yes"), essential=True)
    release.set()
    pool.drain()
    pool.close()

    assert answer is not None
    assert answered == ["yes"]


def test_dropped_work_says_so_instead_and_that_too_stays_within_the_bound():
    pool, release = blocked_pool(limit=2, essential_room=1)
    told: list[int] = []
    for i in range(6):
        pool.submit("image", lambda: release.wait(10), if_dropped=lambda i=i: told.append(i))
    assert pool.pending() == 3  # two charts, and one "sorry" in the room kept for answers
    release.set()
    pool.drain()
    pool.close()

    assert told == [2]  # the first dropped chart's notice; later ones only logged


def test_a_failing_task_or_notice_is_logged_not_raised(caplog):
    pool = AfterAck(workers=1, limit=0, essential_room=1)

    def broken() -> None:
        raise RuntimeError("Slack is down")

    with caplog.at_level(logging.WARNING, logger="bot.slack.worker"):
        assert pool.submit("image", broken, if_dropped=broken) is None
        pool.drain()
    pool.close()

    assert "after-ack work failed: image (dropped notice)" in caplog.text
