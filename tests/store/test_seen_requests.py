"""Requests already acted on: the first sighting of a key wins, once, until it expires."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from threading import Barrier

from sqlalchemy import func, select

from store.models import SeenRequest
from store.seen_requests import forget_expired, note_first_sighting


def test_a_key_is_new_once_until_it_expires(sessions, clock):
    now = clock()
    with sessions.begin() as session:
        first = note_first_sighting(session, "k1", now + timedelta(minutes=6), now)
        again = note_first_sighting(session, "k1", now + timedelta(minutes=6), now)
        later = now + timedelta(minutes=6)
        after_expiry = note_first_sighting(session, "k1", later + timedelta(minutes=6), later)
        and_again = note_first_sighting(session, "k1", later + timedelta(minutes=6), later)

    assert (first, again, after_expiry, and_again) == (True, False, True, False)


def test_forgetting_removes_only_the_expired_keys(sessions, clock):
    now = clock()
    with sessions.begin() as session:
        note_first_sighting(session, "old", now - timedelta(seconds=1), now)
        note_first_sighting(session, "current", now + timedelta(minutes=1), now)

        assert forget_expired(session, now) == 1
        keys = session.scalars(select(SeenRequest.key)).all()
    assert keys == ["current"]


def test_two_replicas_given_the_same_request_at_once_act_on_it_once(migrated_engine, clock):
    """Eight sessions at the same instant: the key decides, not who read first."""
    from store.engine import make_sessions

    sessions = make_sessions(migrated_engine)
    key = f"race-{id(clock)}"
    start = Barrier(8)

    def try_once(_: int) -> bool:
        start.wait()
        with sessions.begin() as session:
            return note_first_sighting(session, key, clock() + timedelta(minutes=6), clock())

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(try_once, range(8)))
    with sessions() as session:
        stored = session.scalar(select(func.count()).where(SeenRequest.key == key))
        session.execute(SeenRequest.__table__.delete().where(SeenRequest.key == key))
        session.commit()

    assert outcomes.count(True) == 1
    assert stored == 1
