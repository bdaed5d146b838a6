"""Which platform a person uses most: where messages to them should go."""

from datetime import date

import pytest

from store.models import ChatIdentity, Person
from store.people import email_digest, preferred_platform


def _person_on(session, clock, **last_active):
    person = Person(display_name="Ben Okafor", created_at=clock())
    for number, (platform, day) in enumerate(last_active.items()):
        person.identities.append(
            ChatIdentity(platform=platform, workspace="W", user_id=f"U{number}", last_active_on=day)
        )
    session.add(person)
    session.flush()
    return person.id


def test_the_platform_used_most_recently_is_preferred(sessions, clock):
    with sessions.begin() as session:
        ben = _person_on(session, clock, slack=date(2026, 11, 2), teams=date(2026, 11, 20))

        assert preferred_platform(session, ben, ["slack", "teams"]) == "teams"
        assert preferred_platform(session, ben, ["slack"]) == "slack"  # only where we can send


@pytest.mark.parametrize(
    ("slack", "teams", "preferred"),
    [
        (None, None, "slack"),  # never seen: the first platform listed
        (None, date(2026, 1, 1), "teams"),  # any day beats never
        (date(2026, 1, 1), date(2026, 1, 1), "slack"),  # a tie: the first platform listed
    ],
)
def test_never_seen_counts_oldest_and_ties_go_to_the_first_listed(
    sessions, clock, slack, teams, preferred
):
    with sessions.begin() as session:
        ben = _person_on(session, clock, slack=slack, teams=teams)

        assert preferred_platform(session, ben, ["slack", "teams"]) == preferred
        if slack == teams:
            assert preferred_platform(session, ben, ["teams", "slack"]) == "teams"


def test_nobody_on_those_platforms_has_no_preference(sessions, clock):
    with sessions.begin() as session:
        ben = _person_on(session, clock, console=date(2026, 1, 1))

        assert preferred_platform(session, ben, ["slack", "teams"]) is None
        assert preferred_platform(session, ben, []) is None


def test_the_digest_is_of_the_tidied_address_only():
    assert email_digest(" Ben.Okafor@NHS.net ") == email_digest("ben.okafor@nhs.net")
    assert len(email_digest("ben.okafor@nhs.net")) == 64
    assert email_digest(None) is None
    assert email_digest("  ") is None
